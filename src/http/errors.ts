// Every error leaves the server as `{"error":{code,message,details}}`. Caller mistakes keep
// their 4xx status and code; anything else is logged and answered without internals.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimitedError, StagelineError } from '../domain/errors.js';

const FRAMEWORK_CODES: Record<number, string> = {
  400: 'invalid_json',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

export function errorBody(code: string, message: string, details: unknown[] = []) {
  return { error: { code, message, details } };
}

function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P03', '53300', 'SQLITE_BUSY'].includes(code);
}

export function handleError(error: FastifyError | StagelineError | Error, request: FastifyRequest, reply: FastifyReply) {
  reply.header('x-request-id', request.id);
  if (error instanceof StagelineError) {
    if (error instanceof RateLimitedError) reply.header('retry-after', String(error.retryAfterSeconds));
    return reply.status(error.status).send(errorBody(error.code, error.message, error.details));
  }
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    const code = FRAMEWORK_CODES[status] ?? 'invalid_request';
    const message =
      code === 'payload_too_large'
        ? 'the request body is larger than the server accepts'
        : code === 'invalid_json'
          ? // The parser's message quotes the body, which may hold a secret.
            'the request body is not valid JSON'
          : error.message;
    return reply.status(status).send(errorBody(code, message));
  }
  if (isUnavailable(error)) {
    request.log.error({ err: error, reqId: request.id }, 'dependency unavailable');
    return reply.status(503).send(errorBody('unavailable', 'a dependency of the server is unavailable; try again')); 
  }
  request.log.error({ err: error, reqId: request.id }, 'unhandled error');
  return reply.status(500).send(errorBody('internal_error', `an internal error occurred (request ${request.id})`));
}
