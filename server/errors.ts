/** The one error shape of the HTTP API: `{"error": {"message", "line"?, "column"?}}`. */
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
