/**
 * The one error shape of the HTTP API: `{"error": {"message", "line"?, "column"?}}`, for every
 * refusal, whoever makes it: our routes, fastify (validation, body parsing, body limit, unknown
 * route), the router before any route runs (bad percent-encoding, an over-long path segment) and
 * Node's HTTP parser on the socket (header overflow, garbage, timeouts).
 */
import type { Socket } from 'node:net';
import { lingeringClose } from './lingering-close.ts';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SqlError, type SqlErrorKind } from '../planner/errors.ts';

/** The HTTP status of each kind of planner error: the user's mistakes are 4xx, never a 500. */
export const SQL_ERROR_STATUS: Record<SqlErrorKind, 400 | 404 | 409 | 429> = {
  plan: 400, unsupported: 400, limit: 400, not_found: 404, conflict: 409, busy: 429,
};

export interface ApiError {
  readonly error: { readonly message: string; readonly line?: number; readonly column?: number };
}

export function apiError(message: string, pos?: { line: number; column: number }): ApiError {
  return { error: { message, ...(pos ? { line: pos.line, column: pos.column } : {}) } };
}

/** Maps any thrown error to a status and the error shape: SQL errors are the user's (4xx), never a 500. */
export function errorHandler(err: FastifyError | Error, _req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof SqlError) {
    void reply.status(SQL_ERROR_STATUS[err.kind]).send(apiError(err.message, { line: err.line, column: err.column }));
    return;
  }
  const fe = err as FastifyError;
  if (fe.validation || fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500)) {
    void reply.status(fe.statusCode && fe.statusCode < 500 ? fe.statusCode : 400).send(apiError(fe.message));
    return;
  }
  _req.log.error(err);
  void reply.status(500).send(apiError(`internal error: ${err.message}`));
}

/** At most this much of a client's path is echoed back (control characters shown as \uXXXX by JSON). */
const ECHO_MAX = 120;

/** A path for an error message: without the query (it may hold a token), cut to ECHO_MAX. */
export function echoPath(url: string): string {
  const p = url.split('?')[0]!;
  return p.length > ECHO_MAX ? `${p.slice(0, ECHO_MAX)}…` : p;
}

/**
 * Unknown routes. A path with a segment longer than any route parameter takes is a 414 (the router
 * refuses those for parameter routes; the dashboard's wildcard route would make them plain 404s).
 */
export function notFoundHandler(maxParamLength: number) {
  return (req: FastifyRequest, reply: FastifyReply): void => {
    const path = req.url.split('?')[0]!;
    if (path.split('/').some((seg) => seg.length > maxParamLength)) {
      void reply.status(414).send(apiError(`a path segment is longer than ${maxParamLength} characters`));
      return;
    }
    void reply.status(404).send(apiError(`no route ${req.method.slice(0, 20)} ${echoPath(req.url)}`));
  };
}

/**
 * fastify's `frameworkErrors`: errors the router raises before any route (and so before auth) runs.
 * They answer in our shape instead of fastify's `{error, code, message, statusCode}`.
 */
export function frameworkErrors(maxParamLength: number) {
  return (err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void => {
    switch (err.code) {
      case 'FST_ERR_BAD_URL':
        void reply.status(400).send(apiError('malformed URL: invalid percent-encoding in the path'));
        return;
      case 'FST_ERR_MAX_PARAM_LENGTH':
        void reply.status(414).send(apiError(`a path segment is longer than ${maxParamLength} characters`));
        return;
      default:
        void reply.status(err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400).send(apiError(err.message));
    }
  };
}

/**
 * Node's `clientError`: the request could not be parsed at all (no fastify request exists). Answers
 * in our shape when the socket can still take a response, then closes it, as Node's own handler does.
 */
/** Sockets already answered by the handler below: the parser may report more errors on what follows. */
const answered = new WeakSet<Socket>();

export function clientErrorHandler(err: NodeJS.ErrnoException & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed || answered.has(socket)) return;
  const [status, reason, message] =
    err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'request line and headers exceed the size limit']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT' ? [408, 'Request Timeout', 'request timed out']
        : err.code === 'HPE_INVALID_METHOD' ? [400, 'Bad Request', 'unknown HTTP method']
          : [400, 'Bad Request', 'malformed HTTP request'];
  // A response already under way on this socket (keep-alive) must not be followed by another.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify(apiError(message));
    // Closed by a lingering close, not destroyed at once: a client still sending its body must not be
    // reset before it reads the answer (server/lingering-close.ts).
    answered.add(socket);
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    lingeringClose(socket);
    return;
  }
  socket.destroy(err);
}
