// Every error leaves the server as `{"error":{code,message,details}}`. Caller mistakes keep
// their 4xx status and code; anything else is logged and answered without internals.
import { STATUS_CODES, maxHeaderSize, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimitedError, StagelineError } from '../domain/errors.js';
import { KeyError } from '../domain/secrets/envelope.js';

const FRAMEWORK_CODES: Record<number, string> = {
  400: 'invalid_json',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

/** Fastify's own errors by code, where the status alone would name the wrong cause. */
const FASTIFY_ERRORS: Record<string, [code: string, message: string]> = {
  // The parser's message quotes the body, which may hold a secret.
  FST_ERR_CTP_INVALID_JSON_BODY: ['invalid_json', 'the request body is not valid JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['invalid_json', 'the request body is empty but its Content-Type is application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['invalid_request', 'the request body does not match its Content-Length'],
  FST_ERR_CTP_BODY_TOO_LARGE: ['payload_too_large', 'the request body is larger than the server accepts'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['unsupported_media_type', 'send the request body as application/json'],
};

/**
 * A stored secret (or the data key behind it) that this node cannot decrypt: altered, moved to
 * another row, or written under a master key the node does not have. Not the caller's to fix and
 * not worth retrying, so a 500 that says what is wrong rather than an anonymous internal error.
 * KeyError messages name the secret or key, never key material or a value.
 */
export const SECRET_UNREADABLE = 'secret_unreadable';

export function secretUnreadableMessage(error: KeyError): string {
  return `${error.message}: its stored value was altered, moved from another row, or written under a key this node does not have`;
}

export function errorBody(code: string, message: string, details: unknown[] = []) {
  return { error: { code, message, details } };
}

/** Errors node-postgres raises without a code when the connection under a query went away (a database restart). */
const LOST_CONNECTION = /^(Connection terminated|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)/;

function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code.startsWith('SQLITE_BUSY') || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '53300', '08000', '08003', '08006'].includes(code);
  return error instanceof Error && LOST_CONNECTION.test(error.message);
}

export function handleError(error: FastifyError | StagelineError | Error, request: FastifyRequest, reply: FastifyReply) {
  reply.header('x-request-id', request.id);
  if (error instanceof StagelineError) {
    if (error instanceof RateLimitedError) reply.header('retry-after', String(error.retryAfterSeconds));
    return reply.status(error.status).send(errorBody(error.code, error.message, error.details));
  }
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    const known = FASTIFY_ERRORS[(error as FastifyError).code];
    const code = known?.[0] ?? FRAMEWORK_CODES[status] ?? 'invalid_request';
    // A JSON parse error without Fastify's code still must not quote the body.
    const message = known?.[1] ?? (code === 'invalid_json' ? 'the request body is not valid JSON' : code === 'payload_too_large' ? 'the request body is larger than the server accepts' : error.message);
    return reply.status(status).send(errorBody(code, message));
  }
  if (error instanceof KeyError) {
    request.log.error({ err: error, reqId: request.id }, 'secret cannot be decrypted');
    return reply.status(500).send(errorBody(SECRET_UNREADABLE, secretUnreadableMessage(error)));
  }
  // The database's disk is full (SQLite SQLITE_FULL, PostgreSQL disk_full): nothing was written.
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_FULL' || code === '53100') {
    request.log.error({ err: error, reqId: request.id }, 'database disk full');
    return reply.status(507).send(errorBody('insufficient_storage', "the database's disk is full: nothing was written; free space and retry"));
  }
  if (isUnavailable(error)) {
    request.log.error({ err: error, reqId: request.id }, 'dependency unavailable');
    return reply.status(503).send(errorBody('unavailable', 'a dependency of the server is unavailable; try again')); 
  }
  request.log.error({ err: error, reqId: request.id }, 'unhandled error');
  return reply.status(500).send(errorBody('internal_error', `an internal error occurred (request ${request.id})`));
}

// Answers given before a request reaches Fastify: Node's HTTP parser refusing the bytes
// (`clientError`), an `Expect` it cannot meet, a CONNECT, a node shutting down. They are
// written raw on the socket, still in the error shape, and close the connection.

/**
 * A complete HTTP/1.1 response carrying `{"error":{code,message,details}}`; with `requestId`, an
 * `x-request-id` header too (the gateway promises one on every answer it makes itself).
 */
export function rawErrorResponse(status: number, code: string, message: string, details: unknown[] = [], requestId?: string): string {
  const body = JSON.stringify(errorBody(code, message, details));
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${requestId ? `x-request-id: ${requestId}\r\n` : ''}Connection: close\r\n\r\n${body}`
  );
}

const FRAMING = ['HPE_INVALID_CONTENT_LENGTH', 'HPE_UNEXPECTED_CONTENT_LENGTH', 'HPE_INVALID_TRANSFER_ENCODING', 'HPE_INVALID_CHUNK_SIZE', 'HPE_CHUNK_EXTENSIONS_OVERFLOW'];

/** What the parser's error means to the caller: status, code, message. */
export function clientErrorAnswer(parserCode: string | undefined): [number, string, string] {
  if (parserCode === 'HPE_HEADER_OVERFLOW') {
    return [431, 'headers_too_large', `the request line and headers are larger than the server accepts (${maxHeaderSize} bytes)`];
  }
  if (parserCode === 'ERR_HTTP_REQUEST_TIMEOUT' || parserCode === 'ERR_HTTP_HEADERS_TIMEOUT') {
    return [408, 'request_timeout', 'the request was not received in time'];
  }
  if (parserCode === 'HPE_INVALID_EOF_STATE') return [400, 'invalid_request', 'the connection ended before the request was complete'];
  if (parserCode && FRAMING.includes(parserCode)) {
    return [400, 'invalid_request', 'the request body framing (Content-Length or Transfer-Encoding) is not valid'];
  }
  if (parserCode === 'HPE_INVALID_METHOD') return [400, 'invalid_request', 'the request method is not valid'];
  return [400, 'invalid_request', 'the request is not valid HTTP/1.1'];
}

/** Fastify's `clientErrorHandler`: the parser's refusals in the error shape. */
export function handleClientError(error: Error & { code?: string }, socket: Duplex, requestId?: string): void {
  // A reset connection has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    const [status, code, message] = clientErrorAnswer(error.code);
    socket.end(rawErrorResponse(status, code, message, error.code ? [{ reason: error.code }] : [], requestId));
  } else {
    socket.destroy();
  }
}

/** A request whose `Expect` header asks for something other than `100-continue`. */
export function refuseExpectation(request: IncomingMessage, response: ServerResponse, requestId?: string): void {
  const body = JSON.stringify(errorBody('expectation_failed', `the server cannot meet "Expect: ${request.headers.expect ?? ''}"; only 100-continue is supported`));
  response.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close', ...(requestId ? { 'x-request-id': requestId } : {}) }).end(body);
}

/** CONNECT: this server is not a forward proxy. */
export function refuseConnect(_request: IncomingMessage, socket: Duplex, requestId?: string): void {
  socket.end(rawErrorResponse(405, 'method_not_allowed', 'CONNECT is not supported: this server is not a forward proxy', [], requestId));
}

/** A request that arrives while the node shuts down: another node should take it. */
export function refuseWhileClosing(response: ServerResponse): void {
  const body = JSON.stringify(errorBody('unavailable', 'the server is shutting down; retry on another node'));
  response.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close', 'retry-after': '1' }).end(body);
}
