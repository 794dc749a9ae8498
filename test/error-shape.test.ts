// Every answer the server gives outside a route's own result is `{"error":{code,message}}`,
// including those Node's HTTP parser gives before Fastify sees the request. Raw sockets on a
// real listening server, because inject() never reaches the parser.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { clientErrorAnswer } from '../src/http/errors.js';
import { startHarness, type Harness } from './support.js';

let h: Harness;
let port: number;
beforeAll(async () => {
  h = await startHarness();
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  port = (h.app.server.address() as { port: number }).port;
});
afterAll(async () => h?.close());

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses the first HTTP response in `text` (Content-Length framed, as every answer here is). */
function parseAnswer(text: string): RawAnswer & { rest: string } {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete response in ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const body = text.slice(end + 4, end + 4 + length);
  return { status: Number(statusLine!.split(' ')[1]), headers, body, rest: text.slice(end + 4 + length) };
}

/** Writes `request` (bytes, then optionally ends the writing side) and reads until the server closes. */
function send(request: string, options: { end?: boolean; port?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(options.port ?? port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error(`no answer to ${JSON.stringify(request.slice(0, 80))}; got ${JSON.stringify(text)}`));
    });
    socket.write(request);
    if (options.end) socket.end();
  });
}

function expectErrorShape(answer: RawAnswer, status: number, code: string) {
  expect({ status: answer.status, type: answer.headers['content-type'] }).toEqual({ status, type: 'application/json; charset=utf-8' });
  const body = JSON.parse(answer.body);
  expect(body).toMatchObject({ error: { code, message: expect.any(String) } });
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(Object.keys(body)).toEqual(['error']);
}

const json = (method: string, path: string, body: string, headers = '') =>
  `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}Connection: close\r\n\r\n${body}`;

const LOGIN = '/api/auth/login';

const cases: [name: string, request: string, status: number, code: string, end?: boolean][] = [
  ['headers over 16 KiB', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
  ['a URL over 16 KiB', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'headers_too_large'],
  ['an unknown route', 'GET /no/such/route HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404, 'not_found'],
  ['a known path with another method', 'DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404, 'not_found'],
  ['OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404, 'not_found'],
  ['a text/plain body', `POST ${LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab`, 415, 'unsupported_media_type'],
  ['an XML body', `POST ${LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Length: 4\r\nConnection: close\r\n\r\n<a/>`, 415, 'unsupported_media_type'],
  ['a body without Content-Type', `POST ${LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`, 415, 'unsupported_media_type'],
  ['malformed JSON', json('POST', LOGIN, '{"email":'), 400, 'invalid_json'],
  ['an empty JSON body', json('POST', LOGIN, ''), 400, 'invalid_json'],
  ['JSON with __proto__', json('POST', LOGIN, '{"__proto__":{"x":1}}'), 400, 'invalid_json'],
  ['a body over the limit by Content-Length', `POST ${LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n{}`, 413, 'payload_too_large'],
  ['a chunked body over the limit', `POST ${LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${'100000\r\n' + ' '.repeat(0x100000) + '\r\n'}100000\r\n${' '.repeat(0x100000)}\r\n0\r\n\r\n`, 413, 'payload_too_large'],
  ['a body cut short of its Content-Length', `POST ${LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":"a"`, 400, 'invalid_request', true],
  ['a chunked body cut short', `POST ${LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{"email"`, 400, 'invalid_request', true],
  ['a Content-Length that is not a number', `POST ${LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n`, 400, 'invalid_request'],
  ['two Content-Lengths', `POST ${LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, 400, 'invalid_request'],
  ['Content-Length with chunked', `POST ${LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, 'invalid_request'],
  ['a bad chunk size', `POST ${LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`, 400, 'invalid_request'],
  ['a URL that does not decode', 'GET /api/workspaces/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400, 'invalid_request'],
  ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 400, 'invalid_request'],
  ['an unknown method', 'FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'invalid_request'],
  ['a header name with a space', 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', 400, 'invalid_request'],
  ['an Expect other than 100-continue', 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n', 417, 'expectation_failed'],
  ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405, 'method_not_allowed'],
  ['no token on the management API', 'GET /api/workspaces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 401, 'unauthenticated'],  ['no token, the target in absolute form', 'GET http://x/api/workspaces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 401, 'unauthenticated'],
];

describe('every answer is in the error shape, on a listening server', () => {
  it.each(cases.map(([name, request, status, code, end]) => ({ name, request, status, code, end })))('$name → $status $code', async ({ request, status, code, end }) => {
    const answer = parseAnswer(await send(request, { end: end ?? false }));
    expectErrorShape(answer, status, code);
    expect(answer.rest).toBe('');
  });

  it('the parser answers name what they refused without echoing the request', async () => {
    const answer = parseAnswer(await send(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Secret: sk_live_abc\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(answer.body).not.toContain('sk_live_abc');
    expect(JSON.parse(answer.body).error.details).toEqual([{ reason: 'HPE_HEADER_OVERFLOW' }]);
  });

  it('a timed-out request is 408 request_timeout', () => {
    expect(clientErrorAnswer('ERR_HTTP_REQUEST_TIMEOUT').slice(0, 2)).toEqual([408, 'request_timeout']);
  });

  it('a target in absolute form is authenticated like its path (it was a 500)', async () => {
    const answer = parseAnswer(await send(`GET http://x/api/workspaces/default/environments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.token}\r\nConnection: close\r\n\r\n`));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).data.map((e: { slug: string }) => e.slug)).toEqual(['development', 'production']);
  });

  it('a request without Host is served, not refused with an empty 400', async () => {
    const answer = parseAnswer(await send('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ status: 'ok' });
  });

  it('a request that arrives while the node closes is 503 unavailable', async () => {
    const app = await buildApp({ deps: h.deps, runtime: h.runtime });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const closingPort = (app.server.address() as { port: number }).port;
    const socket = connect(closingPort, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    // A login keeps the connection busy (scrypt) while the app starts closing.
    socket.write(json('POST', LOGIN, '{"email":"nobody@example.com","password":"wrong password"}').replace('Connection: close\r\n', ''));
    await new Promise((r) => setTimeout(r, 30));
    const closing = app.close();
    await new Promise((r) => setTimeout(r, 30));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed;
    await closing;
    const first = parseAnswer(text);
    expect(first.status).toBe(401);
    const second = parseAnswer(first.rest);
    expectErrorShape(second, 503, 'unavailable');
  });
});
