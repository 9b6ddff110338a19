/** The one error shape of the HTTP API: `{"error": {"message", "line"?, "column"?}}`. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SqlError } from '../planner/errors.ts';

export interface ApiError {
  readonly error: { readonly message: string; readonly line?: number; readonly column?: number };
}

export function apiError(message: string, pos?: { line: number; column: number }): ApiError {
  return { error: { message, ...(pos ? { line: pos.line, column: pos.column } : {}) } };
}

/** Maps any thrown error to a status and the error shape: SQL errors are the user's (4xx), never a 500. */
export function errorHandler(err: FastifyError | Error, _req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof SqlError) {
    void reply.status(err.status).send(apiError(err.message, { line: err.line, column: err.column }));
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
