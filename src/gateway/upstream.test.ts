// The upstream leg against real servers: node:http upstreams, raw net upstreams that send
// hand-written bytes, a node:http front server calling `forward`/`upgrade`, and real clients
// (undici, raw sockets). Every address is 127.0.0.1.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EgressDenied } from '../domain/egress/policy.js';
import { errorBody } from '../http/errors.js';
import type { Admit, ForwardOutcome, UpstreamPool, UpstreamTarget } from './contract.js';
import { createUpstreamPool, HOP_BY_HOP, parseUpstreamUrl, type PoolOptions } from './upstream.js';

// ---------------------------------------------------------------------------------------------
// Plumbing

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const client = new Agent({ keepAliveTimeout: 1000, connections: 64 });
afterAll(() => client.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A node:http upstream; counts the connections it accepted and keeps track of the open ones. */
async function httpUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void, configure?: (server: Server) => void) {
  const server = createServer(handler);
  configure?.(server);
  const sockets = new Set<Socket>();
  const stats = { connections: 0, closed: 0 };
  server.on('connection', (socket) => {
    stats.connections++;
    sockets.add(socket);
    socket.on('close', () => {
      stats.closed++;
      sockets.delete(socket);
    });
  });
  const port = await listen(server);
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { server, port, stats, sockets, target: parseUpstreamUrl(`http://127.0.0.1:${port}`) };
}

interface RawRequest {
  method: string;
  path: string;
  head: string;
  headers: Map<string, string>;
  body: Buffer;
}

interface RawContext {
  /** 1 for the first connection the server accepted. */
  connection: number;
  /** 1 for the first request on this connection. */
  index: number;
}

/**
 * A raw TCP upstream: reads HTTP/1.1 requests (heads, Content-Length or chunked bodies) and lets
 * the test write whatever bytes it likes. `onHead` may answer 'kill' to destroy the socket as
 * soon as a head arrives.
 */
async function rawUpstream(onRequest: (req: RawRequest, socket: Socket, ctx: RawContext) => void, onHead?: (head: string, socket: Socket, ctx: RawContext) => 'kill' | void) {
  const stats = { connections: 0, requests: 0, heads: 0, closed: 0 };
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    const ctx: RawContext = { connection: ++stats.connections, index: 0 };
    sockets.add(socket);
    socket.on('close', () => {
      stats.closed++;
      sockets.delete(socket);
    });
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    let pending: { head: string; method: string; path: string; headers: Map<string, string>; bodyStart: number } | null = null;
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (pending === null) {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buffer.subarray(0, end).toString('latin1');
          const [line, ...lines] = head.split('\r\n');
          const [method, path] = line!.split(' ');
          const headers = new Map<string, string>();
          for (const l of lines) {
            const colon = l.indexOf(':');
            headers.set(l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim());
          }
          ctx.index++;
          stats.heads++;
          pending = { head, method: method!, path: path!, headers, bodyStart: end + 4 };
          if (onHead?.(head, socket, ctx) === 'kill') {
            socket.destroy();
            return;
          }
        }
        const { headers, bodyStart } = pending;
        let body: Buffer;
        let consumed: number;
        if (headers.has('content-length')) {
          const length = Number(headers.get('content-length'));
          if (buffer.length < bodyStart + length) return;
          body = buffer.subarray(bodyStart, bodyStart + length);
          consumed = bodyStart + length;
        } else if (headers.get('transfer-encoding') === 'chunked') {
          const parts: Buffer[] = [];
          let at = bodyStart;
          let complete = false;
          for (;;) {
            const lineEnd = buffer.indexOf('\r\n', at);
            if (lineEnd < 0) break;
            const size = parseInt(buffer.subarray(at, lineEnd).toString('latin1'), 16);
            if (size === 0) {
              if (buffer.length < lineEnd + 4) break;
              at = lineEnd + 4;
              complete = true;
              break;
            }
            if (buffer.length < lineEnd + 2 + size + 2) break;
            parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
            at = lineEnd + 2 + size + 2;
          }
          if (!complete) return;
          body = Buffer.concat(parts);
          consumed = at;
        } else {
          body = Buffer.alloc(0);
          consumed = bodyStart;
        }
        const req: RawRequest = { method: pending.method, path: pending.path, head: pending.head, headers, body: Buffer.from(body) };
        buffer = buffer.subarray(consumed);
        pending = null;
        stats.requests++;
        onRequest(req, socket, { ...ctx });
      }
    });
  });
  const port = await listen(server);
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port, stats, sockets, target: parseUpstreamUrl(`http://127.0.0.1:${port}`) };
}

const loopback: Admit = async () => '127.0.0.1';

function pool(target: UpstreamTarget, options: Partial<PoolOptions> = {}): UpstreamPool {
  const p = createUpstreamPool(target, { admit: loopback, ...options });
  cleanups.push(() => p.close());
  return p;
}

interface FrontOptions {
  timeoutMs?: number;
  /** Read the client's body first and forward it as a Buffer. */
  bufferBody?: boolean;
  extraHeaders?: string[] | null;
  /** Added to the forwarded request headers as they are (to try what the pool refuses). */
  requestHeaders?: string[];
}

const STATUS_OF: Record<string, [number, string]> = {
  timeout: [504, 'upstream_timeout'],
  unreachable: [502, 'upstream_unreachable'],
  bad_response: [502, 'upstream_unreachable'],
  egress_denied: [502, 'egress_denied'],
  invalid_request: [400, 'invalid_request'],
};

/** The front: a node:http server forwarding every request (and upgrade) through `upstream`. */
async function front(upstream: UpstreamPool, options: FrontOptions = {}) {
  const outcomes: ForwardOutcome[] = [];
  const forwardHeaders = (raw: string[], keep: (lower: string) => boolean) => {
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase();
      if (lower === 'host' || !keep(lower)) continue;
      headers.push(raw[i]!, raw[i + 1]!);
    }
    return [...headers, ...(options.requestHeaders ?? [])];
  };
  const server = createServer((req, res) => {
    const headers = forwardHeaders(req.rawHeaders, (lower) => !HOP_BY_HOP.has(lower));
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const go = (body: IncomingMessage | Buffer | null) =>
      upstream.forward({ method: req.method!, path: req.url!, headers, body, timeoutMs: options.timeoutMs ?? 10_000 }, res, options.extraHeaders ?? null, (outcome) => {
        outcomes.push(outcome);
        if (outcome.failure !== null && !outcome.headersSent && !res.destroyed) {
          const [status, code] = STATUS_OF[outcome.failure.kind]!;
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(errorBody(code, outcome.failure.message)));
        }
      });
    if (options.bufferBody && hasBody) {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => go(Buffer.concat(parts)));
    } else {
      go(hasBody ? req : null);
    }
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const headers = forwardHeaders(req.rawHeaders, () => true);
    upstream.upgrade({ method: req.method!, path: req.url!, headers, body: null, timeoutMs: options.timeoutMs ?? 10_000 }, socket, head, (outcome) => {
      outcomes.push(outcome);
      if (outcome.failure !== null && !outcome.headersSent) socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { url: `http://127.0.0.1:${port}`, port, outcomes };
}

async function get(url: string, options: Parameters<typeof request>[1] = {}) {
  const res = await request(url, { dispatcher: client, ...options });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

/** Sends raw bytes to the front and reads until it closes (or `until` matches). */
async function rawExchange(port: number, bytes: string, until?: (received: string) => boolean): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.write(bytes);
  let received = '';
  socket.setEncoding('latin1');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer; got ${JSON.stringify(received.slice(0, 300))}`));
    }, 5000);
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (until?.(received)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(received);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.on('error', reject);
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** An upstream that answers what it received: the framing of the request body, its length and digest. */
function echoHandler(req: IncomingMessage, res: ServerResponse): void {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    const body = Buffer.concat(parts);
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        host: req.headers.host,
        contentLength: req.headers['content-length'] ?? null,
        transferEncoding: req.headers['transfer-encoding'] ?? null,
        length: body.length,
        sha: sha(body),
        rawHeaders: req.rawHeaders,
      }),
    );
  });
}

let gc: () => void;
beforeAll(() => {
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc') as () => void;
});

/** The largest growth of live ArrayBuffer memory (after a full GC) while `work` runs. */
async function peakGrowth(work: () => Promise<void>): Promise<number> {
  gc();
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      gc();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
      await sleep(25);
    }
  })();
  try {
    await work();
  } finally {
    running = false;
    await sampler;
  }
  return peak;
}

// ---------------------------------------------------------------------------------------------

describe('parseUpstreamUrl', () => {
  it.each([
    ['http://api.internal', { protocol: 'http:', hostname: 'api.internal', port: 80, hostHeader: 'api.internal', basePath: '' }],
    ['https://api.stripe.com/v1', { protocol: 'https:', hostname: 'api.stripe.com', port: 443, hostHeader: 'api.stripe.com', basePath: '/v1' }],
    ['https://api.stripe.com/v1/', { protocol: 'https:', hostname: 'api.stripe.com', port: 443, hostHeader: 'api.stripe.com', basePath: '/v1' }],
    ['http://127.0.0.1:3000/', { protocol: 'http:', hostname: '127.0.0.1', port: 3000, hostHeader: '127.0.0.1:3000', basePath: '' }],
    ['http://[::1]:8080/base', { protocol: 'http:', hostname: '::1', port: 8080, hostHeader: '[::1]:8080', basePath: '/base' }],
    ['https://[2001:db8::1]', { protocol: 'https:', hostname: '2001:db8::1', port: 443, hostHeader: '[2001:db8::1]', basePath: '' }],
    ['https://example.com:443/a/b', { protocol: 'https:', hostname: 'example.com', port: 443, hostHeader: 'example.com', basePath: '/a/b' }],
    ['http://example.com//api//', { protocol: 'http:', hostname: 'example.com', port: 80, hostHeader: 'example.com', basePath: '//api' }],
    ['HTTP://Example.COM:80', { protocol: 'http:', hostname: 'example.com', port: 80, hostHeader: 'example.com', basePath: '' }],
  ])('parses %s', (url, expected) => {
    expect(parseUpstreamUrl(url)).toEqual(expected);
  });

  it.each([
    ['not a url', /not a valid URL/],
    ['ftp://files.example', /http or https/],
    ['file:///etc/passwd', /http or https/],
    ['http://user:pass@example.com', /credentials/],
    ['http://example.com/?a=1', /query or a fragment/],
    ['http://example.com/#x', /query or a fragment/],
  ])('refuses %s', (url, message) => {
    expect(() => parseUpstreamUrl(url)).toThrow(message);
  });
});

describe('forward: bodies and framing', () => {
  it('relays a content-length response with its length, and a chunked one as it is written', async () => {
    const up = await httpUpstream((req, res) => {
      if (req.url === '/cl') {
        res.end('hello');
        return;
      }
      res.write('one,');
      res.write('two,');
      res.end('three');
    });
    const { url } = await front(pool(up.target));
    const cl = await get(`${url}/cl`);
    expect(cl.status).toBe(200);
    expect(cl.headers['content-length']).toBe('5');
    expect(cl.body.toString()).toBe('hello');
    const chunked = await get(`${url}/chunked`);
    expect(chunked.headers['content-length']).toBeUndefined();
    expect(chunked.headers['transfer-encoding']).toBe('chunked');
    expect(chunked.body.toString()).toBe('one,two,three');
  });

  it.each([0, 1, 1024 * 1024])('sends a %i-byte request body with its content-length', async (size) => {
    const up = await httpUpstream(echoHandler);
    const { url } = await front(pool(up.target));
    const body = randomBytes(size);
    const res = await get(`${url}/echo?x=1`, { method: 'POST', body });
    const seen = JSON.parse(res.body.toString());
    expect(seen).toMatchObject({ method: 'POST', url: '/echo?x=1', contentLength: String(size), transferEncoding: null, length: size, sha: sha(body) });
  });

  it.each([1, 1024 * 1024])('re-chunks a %i-byte chunked request body', async (size) => {
    const up = await httpUpstream(echoHandler);
    const { url } = await front(pool(up.target));
    const body = randomBytes(size);
    // A stream without a known length: undici sends it chunked.
    const pieces = [body.subarray(0, Math.ceil(size / 3)), body.subarray(Math.ceil(size / 3))];
    const res = await get(`${url}/echo`, { method: 'PUT', body: Readable.from(pieces) });
    const seen = JSON.parse(res.body.toString());
    expect(seen).toMatchObject({ method: 'PUT', contentLength: null, transferEncoding: 'chunked', length: size, sha: sha(body) });
  });

  it('re-chunks an empty chunked request body', async () => {
    // undici sends an empty stream with a zero length, so this client is a raw socket.
    const up = await httpUpstream(echoHandler);
    const { port } = await front(pool(up.target));
    const answer = await rawExchange(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n');
    const seen = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    expect(seen).toMatchObject({ method: 'POST', contentLength: null, transferEncoding: 'chunked', length: 0 });
  });

  it.each([0, 1, 1024 * 1024])('sends a %i-byte Buffer body with its content-length', async (size) => {
    const up = await httpUpstream(echoHandler);
    const { url } = await front(pool(up.target), { bufferBody: true });
    const body = randomBytes(size);
    const res = await get(`${url}/echo`, { method: 'POST', body: Readable.from(size === 0 ? [] : [body]) });
    const seen = JSON.parse(res.body.toString());
    expect(seen).toMatchObject({ contentLength: String(size), transferEncoding: null, length: size, sha: sha(body) });
  });

  it.each([0, 1, 1024 * 1024])('relays a %i-byte response body', async (size) => {
    const payload = randomBytes(size);
    const up = await httpUpstream((req, res) => (req.url === '/cl' ? res.end(payload) : (res.write(payload.subarray(0, size >> 1)), res.end(payload.subarray(size >> 1)))));
    const { url } = await front(pool(up.target));
    for (const path of ['/cl', '/chunked']) {
      const res = await get(`${url}${path}`);
      expect(res.body.equals(payload), path).toBe(true);
    }
  });

  it('sends no body and no framing for a request without one, and sends the upstream Host', async () => {
    const up = await rawUpstream((req, socket) => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${req.head.length}\r\n\r\n${req.head}`));
    const { url } = await front(pool(up.target));
    const head = (await get(`${url}/x?q=1`, { headers: { 'x-one': '1' } })).body.toString();
    expect(head.split('\r\n')[0]).toBe('GET /x?q=1 HTTP/1.1');
    expect(head).toContain(`Host: 127.0.0.1:${up.port}\r\n`);
    expect(head).not.toMatch(/content-length|transfer-encoding/i);
    expect(head).toContain('x-one: 1');
  });

  it('answers HEAD, 204 and 304 without a body, and the connection goes on', async () => {
    const up = await httpUpstream((req, res) => {
      if (req.url === '/204') res.writeHead(204).end();
      else if (req.url === '/304') res.writeHead(304, { etag: '"v1"' }).end();
      else res.writeHead(200, { 'content-length': '1234', 'content-type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234));
    });
    const { url } = await front(pool(up.target));
    const head = await get(`${url}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('1234');
    expect(head.body.length).toBe(0);
    expect((await get(`${url}/204`)).status).toBe(204);
    const notModified = await get(`${url}/304`);
    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe('"v1"');
    expect(notModified.body.length).toBe(0);
    const after = await get(`${url}/`);
    expect(after.body.length).toBe(1234);
    expect(up.stats.connections).toBe(1);
  });

  it('skips a 100 Continue before the final response', async () => {
    const up = await rawUpstream((_req, socket) => socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nok'));
    const { url } = await front(pool(up.target));
    const res = await get(`${url}/`);
    expect(res.status).toBe(200);
    expect(res.headers['x-final']).toBe('yes');
    expect(res.body.toString()).toBe('ok');
  });

  it('relays a body delimited by the close of the connection, and does not reuse it', async () => {
    const payload = randomBytes(300_000);
    const up = await rawUpstream((_req, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n');
      socket.end(payload);
    });
    const { url } = await front(pool(up.target));
    const first = await get(`${url}/`);
    expect(first.body.equals(payload)).toBe(true);
    expect((await get(`${url}/`)).body.equals(payload)).toBe(true);
    expect(up.stats.connections).toBe(2);
  });

  it('normalises equal Content-Length fields into one and drops a length sent along with chunked', async () => {
    const up = await rawUpstream((req, socket) => {
      if (req.path === '/both') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 999\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc');
    });
    const { url, port } = await front(pool(up.target));
    const both = await get(`${url}/both`);
    expect(both.body.toString()).toBe('abc');
    expect(both.headers['content-length']).toBeUndefined();
    const equal = await rawExchange(port, 'GET /equal HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(equal.match(/content-length/gi)).toHaveLength(1);
    expect(equal).toMatch(/\r\ncontent-length: 3\r\n/i);
    expect(equal.endsWith('\r\n\r\nabc')).toBe(true);
  });
});

describe('forward: connections', () => {
  it('reuses one connection for 100 sequential requests', async () => {
    const up = await httpUpstream((_req, res) => res.end('ok'));
    const { url } = await front(pool(up.target));
    for (let i = 0; i < 100; i++) expect((await get(`${url}/${i}`)).status).toBe(200);
    expect(up.stats.connections).toBe(1);
  });

  it('keeps the connection after an upstream 500', async () => {
    const up = await httpUpstream((req, res) => {
      res.statusCode = req.url === '/fail' ? 500 : 200;
      res.end('x');
    });
    const { url, outcomes } = await front(pool(up.target));
    expect((await get(`${url}/fail`)).status).toBe(500);
    expect((await get(`${url}/ok`)).status).toBe(200);
    expect(up.stats.connections).toBe(1);
    expect(outcomes.map((o) => [o.status, o.failure])).toEqual([
      [500, null],
      [200, null],
    ]);
  });

  it('closes a connection that sent a malformed response; the next request gets a new one', async () => {
    const up = await rawUpstream((_req, socket, ctx) => {
      if (ctx.connection === 1) socket.write('HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n');
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const { url, outcomes } = await front(pool(up.target));
    const bad = await get(`${url}/`);
    expect(bad.status).toBe(502);
    expect(JSON.parse(bad.body.toString()).error.code).toBe('upstream_unreachable');
    expect(outcomes[0]!.failure).toMatchObject({ kind: 'bad_response', message: expect.stringMatching(/invalid header name/) });
    expect(outcomes[0]!.headersSent).toBe(false);
    expect((await get(`${url}/`)).body.toString()).toBe('ok');
    expect(up.stats.connections).toBe(2);
    await until(() => up.stats.closed >= 1, 'the bad connection to close');
  });

  it('does not reuse a connection the upstream said to close', async () => {
    const up = await httpUpstream((_req, res) => res.setHeader('connection', 'close').end('bye'));
    const { url } = await front(pool(up.target));
    for (let i = 0; i < 3; i++) expect((await get(`${url}/`)).body.toString()).toBe('bye');
    expect(up.stats.connections).toBe(3);
  });

  it('does not reuse an HTTP/1.0 connection without keep-alive, nor one with bytes after the response', async () => {
    const up = await rawUpstream((req, socket) => {
      if (req.path === '/old') socket.write('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA');
    });
    const { url } = await front(pool(up.target));
    expect((await get(`${url}/old`)).body.toString()).toBe('ok');
    expect((await get(`${url}/extra`)).body.toString()).toBe('ok');
    expect((await get(`${url}/old`)).body.toString()).toBe('ok');
    expect(up.stats.connections).toBe(3);
  });

  it('queues requests beyond maxConnections and serves them all', async () => {
    const up = await httpUpstream((_req, res) => setTimeout(() => res.end('ok'), 20));
    const { url } = await front(pool(up.target, { maxConnections: 2 }));
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => get(`${url}/${i}`)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(up.stats.connections).toBe(2);
  });

  it('drops a queued request whose client went away, and serves the next one', async () => {
    let release: (() => void) | null = null;
    const up = await rawUpstream((req, socket) => {
      const answer = () => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${req.path.length}\r\n\r\n${req.path}`);
      if (req.path === '/hold') release = answer;
      else answer();
    });
    const { url, port, outcomes } = await front(pool(up.target, { maxConnections: 1 }));
    const held = get(`${url}/hold`);
    await until(() => release !== null, 'the first request upstream');
    const gone = connect(port, '127.0.0.1');
    gone.write('GET /gone HTTP/1.1\r\nHost: x\r\n\r\n');
    const next = get(`${url}/next`);
    await sleep(50);
    gone.destroy();
    await until(() => outcomes.length === 1, 'the abandoned request to end');
    expect(outcomes[0]).toMatchObject({ status: 0, clientAborted: true });
    release!();
    expect((await held).body.toString()).toBe('/hold');
    expect((await next).body.toString()).toBe('/next');
    expect(up.stats.requests).toBe(2);
  });

  it('closes a connection idle for longer than keepAliveMs', async () => {
    const up = await httpUpstream((_req, res) => res.end('ok'));
    const { url } = await front(pool(up.target, { keepAliveMs: 100 }));
    await get(`${url}/`);
    expect(up.stats.closed).toBe(0);
    await until(() => up.stats.closed === 1, 'the idle connection to close', 2000);
    await get(`${url}/`);
    expect(up.stats.connections).toBe(2);
  });

  it('closes an idle connection a second before the Keep-Alive timeout the upstream announced', async () => {
    const up = await rawUpstream((_req, socket) => socket.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=3\r\nContent-Length: 2\r\n\r\nok'));
    const { url } = await front(pool(up.target));
    await get(`${url}/`);
    const idle = Date.now();
    await until(() => up.stats.closed === 1, 'the idle connection to close', 4000);
    expect(Date.now() - idle).toBeGreaterThanOrEqual(1900);
    expect(Date.now() - idle).toBeLessThan(2900);
  });

  it('close() closes idle connections at once and busy ones after their exchange', async () => {
    const up = await httpUpstream((req, res) => (req.url === '/slow' ? setTimeout(() => res.end('late'), 200) : res.end('ok')));
    const p = createUpstreamPool(up.target, { admit: loopback });
    const { url } = await front(p);
    await Promise.all([get(`${url}/a`), get(`${url}/b`)]);
    const slow = get(`${url}/slow`);
    await until(() => up.stats.connections >= 2 && up.sockets.size >= 2, 'the connections');
    await sleep(20);
    let closed = false;
    const closing = p.close().then(() => (closed = true));
    expect((await slow).body.toString()).toBe('late');
    await closing;
    expect(closed).toBe(true);
    await until(() => up.sockets.size === 0, 'every connection to close');
  });
});

describe('forward: the keep-alive race', () => {
  /** Answers the first request on each connection; the second one finds the connection closed. */
  const racingUpstream = () =>
    rawUpstream(
      (req, socket) => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${req.body.length + 2}\r\n\r\nok${req.body.toString('latin1')}`),
      (_head, _socket, ctx) => (ctx.index > 1 ? 'kill' : undefined),
    );

  it('sends a request again on a fresh connection when a reused one was closed before answering', async () => {
    const up = await racingUpstream();
    const { url, outcomes } = await front(pool(up.target));
    for (let i = 0; i < 5; i++) expect((await get(`${url}/${i}`)).status).toBe(200);
    expect(outcomes.every((o) => o.failure === null)).toBe(true);
    expect(outcomes).toHaveLength(5);
    // Request 1 on connection 1; then each request is killed on the reused connection and sent again on a new one.
    expect(up.stats.connections).toBe(5);
    expect(up.stats.heads).toBe(9);
  });

  it('sends an idempotent request with a Buffer body again', async () => {
    const up = await racingUpstream();
    const { url } = await front(pool(up.target), { bufferBody: true });
    await get(`${url}/warm`);
    const res = await get(`${url}/post`, { method: 'PUT', body: 'payload' });
    expect(res.body.toString()).toBe('okpayload');
    expect(up.stats.connections).toBe(2);
  });

  it('never sends a POST again, even with its body in memory (the upstream may have acted on it)', async () => {
    const up = await racingUpstream();
    const { url, outcomes } = await front(pool(up.target), { bufferBody: true });
    await get(`${url}/warm`);
    const res = await get(`${url}/post`, { method: 'POST', body: 'payload' });
    expect(res.status).toBe(502);
    expect(up.stats.connections).toBe(1);
    expect(outcomes.at(-1)?.failure?.kind).toBe('unreachable');
  });

  it('never sends a streamed body again', async () => {
    const up = await racingUpstream();
    const { url, outcomes } = await front(pool(up.target));
    await get(`${url}/warm`);
    const res = await get(`${url}/post`, { method: 'POST', body: Readable.from([Buffer.from('part one'), Buffer.from('part two')]) });
    expect(res.status).toBe(502);
    expect(outcomes[1]!.failure!.kind).toBe('unreachable');
    expect(up.stats.heads).toBe(2);
    expect(up.stats.connections).toBe(1);
  });

  it('survives an upstream that closes idle connections after 1 ms', async () => {
    const up = await httpUpstream(
      (_req, res) => res.end('ok'),
      (server) => (server.keepAliveTimeout = 1),
    );
    const { url, outcomes } = await front(pool(up.target));
    for (let i = 0; i < 30; i++) {
      expect((await get(`${url}/${i}`)).status).toBe(200);
      await sleep(i % 3);
    }
    expect(outcomes.filter((o) => o.failure !== null)).toEqual([]);
  });
});

describe('forward: failures', () => {
  it('cuts the client response short when the upstream resets mid-body, and does not reuse the connection', async () => {
    const up = await rawUpstream((_req, socket, ctx) => {
      if (ctx.connection === 1) {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(500)}`);
        setTimeout(() => socket.resetAndDestroy(), 20);
      } else {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    });
    const { url, outcomes } = await front(pool(up.target));
    const res = await request(`${url}/`, { dispatcher: client });
    expect(res.statusCode).toBe(200);
    await expect(res.body.arrayBuffer()).rejects.toThrow();
    await until(() => outcomes.length === 1, 'the outcome');
    expect(outcomes[0]).toMatchObject({ status: 200, headersSent: true, failure: { kind: 'unreachable' } });
    expect((await get(`${url}/`)).body.toString()).toBe('ok');
    expect(up.stats.connections).toBe(2);
  });

  it('fails unreachable when the upstream resets before the head (on a fresh connection: no retry)', async () => {
    const up = await rawUpstream(
      () => {},
      (_head, socket) => {
        socket.resetAndDestroy();
        return 'kill';
      },
    );
    const { url, outcomes } = await front(pool(up.target));
    const res = await get(`${url}/`);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body.toString()).error.code).toBe('upstream_unreachable');
    expect(outcomes[0]).toMatchObject({ status: 0, headersSent: false, failure: { kind: 'unreachable' } });
    expect(up.stats.heads).toBe(1);
  });

  it('fails unreachable when the connection is refused', async () => {
    const server = createNetServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    const { url, outcomes } = await front(pool(parseUpstreamUrl(`http://127.0.0.1:${port}`)));
    const res = await get(`${url}/`);
    expect(res.status).toBe(502);
    expect(outcomes[0]!.failure).toMatchObject({ kind: 'unreachable', message: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('times out when no head arrives within timeoutMs, and closes that connection', async () => {
    const up = await rawUpstream(() => {});
    const { url, outcomes } = await front(pool(up.target), { timeoutMs: 300 });
    const started = Date.now();
    const res = await get(`${url}/`);
    const elapsed = Date.now() - started;
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body.toString()).error.code).toBe('upstream_timeout');
    expect(outcomes[0]!.failure).toMatchObject({ kind: 'timeout', message: expect.stringMatching(/within 300 ms/) });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1000);
    await until(() => up.stats.closed === 1, 'the timed-out connection to close');
  });

  it('does not time out a slow body once the head arrived', async () => {
    const up = await httpUpstream((_req, res) => {
      res.write('first');
      setTimeout(() => res.end(' last'), 500);
    });
    const { url } = await front(pool(up.target), { timeoutMs: 200 });
    expect((await get(`${url}/`)).body.toString()).toBe('first last');
  });

  it('times out a request waiting in the queue for a connection', async () => {
    // The first request holds the only connection: its head comes at once, its body never ends
    // (so it cannot time out and hand the connection on, whatever the machine's timing).
    const up = await rawUpstream((req, socket) => {
      if (req.path === '/a') socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf');
    });
    const { url, outcomes } = await front(pool(up.target, { maxConnections: 1 }), { timeoutMs: 250 });
    const first = await request(`${url}/a`, { dispatcher: client });
    expect(first.statusCode).toBe(200);
    const started = Date.now();
    const second = await get(`${url}/b`);
    expect(second.status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(outcomes.map((o) => o.failure?.message)).toEqual([expect.stringMatching(/no connection .* was free within 250 ms/)]);
    expect(up.stats.connections).toBe(1);
    first.body.destroy();
  });

  it('gives up on a connection (here a TLS handshake) that takes longer than connectTimeoutMs', async () => {
    // A TCP server that accepts and never speaks TLS.
    const up = await rawUpstream(() => {});
    const { url, outcomes } = await front(pool(parseUpstreamUrl(`https://127.0.0.1:${up.port}`), { connectTimeoutMs: 200 }));
    const started = Date.now();
    expect((await get(`${url}/`)).status).toBe(502);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(outcomes[0]!.failure).toMatchObject({ kind: 'unreachable', message: expect.stringMatching(/within 200 ms/) });
    await until(() => up.stats.closed === 1, 'the connection to close');
  });

  it('gives up on an egress check that does not answer within connectTimeoutMs', async () => {
    const up = await httpUpstream((_req, res) => res.end('never'));
    const admit: Admit = () => new Promise(() => {});
    const { url, outcomes } = await front(pool(up.target, { admit, connectTimeoutMs: 150 }));
    expect((await get(`${url}/`)).status).toBe(502);
    expect(outcomes[0]!.failure).toMatchObject({ kind: 'unreachable', message: expect.stringMatching(/within 150 ms/) });
    expect(up.stats.connections).toBe(0);
  });

  it('fails egress_denied with the policy message when admit refuses, without connecting', async () => {
    const up = await httpUpstream((_req, res) => res.end('never'));
    let asked = 0;
    const admit: Admit = async (host) => {
      asked++;
      throw new EgressDenied(host, 'production', 'loopback addresses are denied in production');
    };
    const { url, outcomes } = await front(pool(up.target, { admit }));
    const res = await get(`${url}/`);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body.toString()).error).toMatchObject({ code: 'egress_denied', message: 'egress to 127.0.0.1 is denied in production: loopback addresses are denied in production' });
    expect(outcomes[0]!.failure!.kind).toBe('egress_denied');
    expect(asked).toBe(1);
    expect(up.stats.connections).toBe(0);
  });

  it('refuses to write a header value with CR, LF or NUL and connects to no one', async () => {
    for (const value of ['a\r\nInjected: yes', 'a\nb', 'a\0b']) {
      const up = await httpUpstream((_req, res) => res.end('never'));
      const { url, outcomes } = await front(pool(up.target), { requestHeaders: ['x-bad', value] });
      const res = await get(`${url}/`);
      expect(res.status).toBe(400);
      expect(outcomes[0]!.failure!.kind).toBe('invalid_request');
      // The value (which may be a secret) is not repeated in the message.
      expect(outcomes[0]!.failure!.message).not.toContain(value);
      expect(up.stats.connections).toBe(0);
    }
  });

  it('refuses an invalid header name', async () => {
    const up = await httpUpstream((_req, res) => res.end('never'));
    const { url, outcomes } = await front(pool(up.target), { requestHeaders: ['bad name', 'x'] });
    expect((await get(`${url}/`)).status).toBe(400);
    expect(outcomes[0]!.failure!.kind).toBe('invalid_request');
  });
});

describe('forward: streaming', () => {
  it('passes server-sent events through as they are written', async () => {
    let secondSent = false;
    const up = await httpUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: one\n\n');
      setTimeout(() => {
        secondSent = true;
        res.end('data: two\n\n');
      }, 300);
    });
    const { url } = await front(pool(up.target));
    const res = await request(`${url}/events`, { dispatcher: client });
    expect(res.headers['content-type']).toBe('text/event-stream');
    let text = '';
    let sentWhenFirstArrived: boolean | null = null;
    for await (const chunk of res.body) {
      if (sentWhenFirstArrived === null) sentWhenFirstArrived = secondSent;
      text += chunk.toString();
    }
    expect(sentWhenFirstArrived).toBe(false);
    expect(text).toBe('data: one\n\ndata: two\n\n');
  });

  it('relays 50 MB to a slow reader without holding it in memory', async () => {
    const block = randomBytes(64 * 1024);
    const blocks = 800;
    const up = await httpUpstream(async (_req, res) => {
      res.writeHead(200, { 'content-length': String(block.length * blocks) });
      for (let i = 0; i < blocks; i++) if (!res.write(block)) await once(res, 'drain');
      res.end();
    });
    const { port } = await front(pool(up.target));
    let received = 0;
    const growth = await peakGrowth(
      () =>
        new Promise<void>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1');
          socket.write('GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
          socket.on('data', (chunk) => {
            received += chunk.length;
            socket.pause();
            setTimeout(() => socket.resume(), 2);
          });
          socket.on('close', () => resolve());
          socket.on('error', reject);
        }),
    );
    expect(received).toBeGreaterThan(block.length * blocks);
    expect(growth).toBeLessThan(8 * 1024 * 1024);
  }, 40_000);

  it('streams a 50 MB request body to a slow upstream without holding it in memory', async () => {
    const block = randomBytes(64 * 1024);
    const blocks = 800;
    const up = await httpUpstream((req, res) => {
      let length = 0;
      let mark = 0;
      req.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length - mark < 512 * 1024) return;
        mark = length;
        req.pause();
        setTimeout(() => req.resume(), 10);
      });
      req.on('end', () => res.end(String(length)));
    });
    // Shorter than the upload (100 pauses of 10 ms alone): the clock restarts with every piece the upstream takes.
    const { url } = await front(pool(up.target), { timeoutMs: 800 });
    let answer = '';
    const started = Date.now();
    const growth = await peakGrowth(async () => {
      const body = Readable.from(
        (function* () {
          for (let i = 0; i < blocks; i++) yield block;
        })(),
      );
      answer = (await get(`${url}/upload`, { method: 'POST', body })).body.toString();
    });
    expect(answer).toBe(String(block.length * blocks));
    expect(Date.now() - started).toBeGreaterThan(800);
    expect(growth).toBeLessThan(8 * 1024 * 1024);
  }, 40_000);

  it('closes the upstream connection when the client goes away mid-response', async () => {
    let upstreamClosed = false;
    const up = await httpUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('tick\n'), 10);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed = true;
      });
    });
    const { port, outcomes } = await front(pool(up.target));
    const socket = connect(port, '127.0.0.1');
    socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(socket, 'data');
    socket.destroy();
    await until(() => upstreamClosed, 'the upstream to see its connection close');
    await until(() => outcomes.length === 1, 'the outcome');
    expect(outcomes[0]).toMatchObject({ status: 200, failure: null, headersSent: true, clientAborted: true });
    await until(() => up.sockets.size === 0, 'no upstream socket left');
  });

  it('closes the upstream connection when the client goes away in the middle of its request body', async () => {
    const up = await httpUpstream((req, res) => {
      req.resume();
      req.on('end', () => res.end('complete'));
    });
    const { port, outcomes } = await front(pool(up.target));
    const socket = connect(port, '127.0.0.1');
    socket.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n${'x'.repeat(1000)}`);
    await until(() => up.stats.connections === 1, 'the upstream connection');
    socket.destroy();
    await until(() => outcomes.length === 1, 'the outcome');
    expect(outcomes[0]).toMatchObject({ status: 0, failure: null, clientAborted: true });
    await until(() => up.sockets.size === 0, 'the upstream connection to close');
  });

  it('closes the upstream connection when the client goes away before the head', async () => {
    const up = await rawUpstream(() => {});
    const { port, outcomes } = await front(pool(up.target));
    const socket = connect(port, '127.0.0.1');
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => up.stats.requests === 1, 'the request upstream');
    socket.destroy();
    await until(() => up.stats.closed === 1, 'the upstream connection to close');
    await until(() => outcomes.length === 1, 'the outcome');
    expect(outcomes[0]).toMatchObject({ status: 0, failure: null, headersSent: false, clientAborted: true });
  });
});

describe('forward: headers', () => {
  it('drops hop-by-hop headers and those named in Connection, and keeps prototype-named ones', async () => {
    const up = await rawUpstream((req, socket) =>
      socket.write(
        'HTTP/1.1 200 OK\r\n' +
          'Connection: keep-alive, X-Hop\r\n' +
          'Keep-Alive: timeout=99, max=7\r\n' +
          'X-Hop: secret\r\n' +
          'Proxy-Connection: keep-alive\r\n' +
          'Proxy-Authenticate: Basic\r\n' +
          'Trailer: X-T\r\n' +
          'Upgrade: h2c\r\n' +
          'TE: trailers\r\n' +
          '__proto__: a\r\n' +
          'constructor: b\r\n' +
          'X-Kept: yes\r\n' +
          `X-Request-Head: ${Buffer.from(req.head).toString('base64')}\r\n` +
          'Content-Length: 2\r\n\r\nok',
      ),
    );
    const { port } = await front(pool(up.target), { extraHeaders: ['x-stageline-target', 'canary'] });
    const answer = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n__proto__: p\r\nconstructor: c\r\nConnection: close\r\n\r\n');
    const [head, body] = answer.split('\r\n\r\n');
    const lines = head!.split('\r\n').slice(1);
    const names = lines.map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
    expect(body).toBe('ok');
    for (const name of ['x-hop', 'proxy-connection', 'proxy-authenticate', 'trailer', 'upgrade', 'te', 'transfer-encoding']) expect(names).not.toContain(name);
    expect(lines).not.toContain('Keep-Alive: timeout=99, max=7');
    expect(lines).toEqual(expect.arrayContaining(['__proto__: a', 'constructor: b', 'X-Kept: yes', 'x-stageline-target: canary', 'Content-Length: 2']));
    const sent = Buffer.from(lines.find((l) => l.startsWith('X-Request-Head'))!.split(': ')[1]!, 'base64').toString();
    expect(sent).toContain('\r\n__proto__: p');
    expect(sent).toContain('\r\nconstructor: c');
    expect(sent).not.toMatch(/\r\nconnection:/i);
  });

  it('relays the reason phrase the upstream sent', async () => {
    const up = await rawUpstream((_req, socket) => socket.write('HTTP/1.1 418 Short And Stout\r\nContent-Length: 0\r\n\r\n'));
    const { port } = await front(pool(up.target));
    const answer = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 418 Short And Stout');
  });
});

describe('upgrade', () => {
  it('tunnels a WebSocket after the upstream 101, with the bytes that came with the head', async () => {
    const up = await httpUpstream((_req, res) => res.end('not an upgrade'));
    up.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Path: ${req.url}\r\n\r\n`);
      if (head.length > 0) socket.write(head);
      socket.pipe(socket);
    });
    const { port, outcomes } = await front(pool(up.target));
    const socket = connect(port, '127.0.0.1');
    socket.setEncoding('latin1');
    let received = '';
    socket.on('data', (chunk: string) => (received += chunk));
    socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nEARLY');
    await until(() => received.includes('EARLY'), 'the 101 and the early bytes echoed');
    expect(received.startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
    expect(received).toContain('Upgrade: websocket\r\n');
    expect(received).toContain('X-Path: /ws\r\n');
    received = '';
    socket.write('ping');
    await until(() => received === 'ping', 'the echo');
    socket.end();
    await until(() => outcomes.length === 1, 'the tunnel to end');
    expect(outcomes[0]).toMatchObject({ status: 101, failure: null, headersSent: true });
    await until(() => up.sockets.size === 0, 'the upstream side to close');
  });

  it('does not count a tunnel against maxConnections', async () => {
    const up = await httpUpstream((_req, res) => res.end('plain'));
    up.server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.pipe(socket);
    });
    const { port, url } = await front(pool(up.target, { maxConnections: 1 }));
    const socket = connect(port, '127.0.0.1');
    cleanups.push(() => void socket.destroy());
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await until(() => received.includes('101'), 'the 101');
    expect((await get(`${url}/`)).body.toString()).toBe('plain');
  });

  it('relays a non-101 answer as HTTP bytes and closes', async () => {
    const up = await rawUpstream((req, socket) => {
      expect(req.headers.get('upgrade')).toBe('websocket');
      socket.write('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n');
    });
    const { port, outcomes } = await front(pool(up.target));
    const answer = await rawExchange(port, 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect(answer.startsWith('HTTP/1.1 403 Forbidden\r\n')).toBe(true);
    expect(answer).toContain('Content-Type: text/plain\r\n');
    expect(answer).toContain('Connection: close\r\n');
    expect(answer.endsWith('\r\n\r\n4\r\nnope\r\n0\r\n\r\n')).toBe(true);
    expect(outcomes[0]).toMatchObject({ status: 403, failure: null, headersSent: true });
  });

  it('writes nothing to the client when the upstream cannot be reached', async () => {
    const server = createNetServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    const f = await front(pool(parseUpstreamUrl(`http://127.0.0.1:${port}`)));
    const answer = await rawExchange(f.port, 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    // Only the front's own error answer.
    expect(answer).toBe('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    expect(f.outcomes[0]).toMatchObject({ status: 0, headersSent: false, failure: { kind: 'unreachable' } });
  });
});

// ---------------------------------------------------------------------------------------------
// https: a self-signed certificate for localhost and 127.0.0.1, made here with node:crypto (an
// X.509 v3 certificate is a small DER structure signed with the key).

function selfSigned(): { key: string; cert: string } {
  const length = (n: number) => {
    if (n < 128) return Buffer.from([n]);
    const bytes: number[] = [];
    for (; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
    return Buffer.from([0x80 | bytes.length, ...bytes]);
  };
  const der = (tag: number, ...parts: Buffer[]) => {
    const body = Buffer.concat(parts);
    return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
  };
  const seq = (...parts: Buffer[]) => der(0x30, ...parts);
  const oid = (dotted: string) => {
    const [a, b, ...rest] = dotted.split('.').map(Number);
    const bytes = [40 * a! + b!];
    for (let v of rest) {
      const enc = [v & 0x7f];
      for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) enc.unshift((v & 0x7f) | 0x80);
      bytes.push(...enc);
    }
    return der(0x06, Buffer.from(bytes));
  };
  const time = (d: Date) => der(0x17, Buffer.from(`${d.toISOString().replace(/[-:T]/g, '').slice(2, 14)}Z`));
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const algorithm = seq(oid('1.2.840.10045.4.3.2'));
  const name = seq(der(0x31, seq(oid('2.5.4.3'), der(0x0c, Buffer.from('localhost')))));
  const serial = randomBytes(8);
  serial[0]! &= 0x7f;
  const subjectAltName = seq(oid('2.5.29.17'), der(0x04, seq(der(0x82, Buffer.from('localhost')), der(0x87, Buffer.from([127, 0, 0, 1])))));
  const basicConstraints = seq(oid('2.5.29.19'), der(0x01, Buffer.from([0xff])), der(0x04, seq(der(0x01, Buffer.from([0xff])))));
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))),
    der(0x02, serial),
    algorithm,
    name,
    seq(time(new Date(Date.now() - 86_400_000)), time(new Date(Date.now() + 30 * 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, seq(subjectAltName, basicConstraints)),
  );
  const certificate = seq(tbs, algorithm, der(0x03, Buffer.concat([Buffer.from([0]), sign('sha256', tbs, privateKey)])));
  const cert = `-----BEGIN CERTIFICATE-----\n${certificate.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert };
}

describe('https upstreams', () => {
  let port = 0;
  let cert = '';
  let connections = 0;
  beforeAll(async () => {
    const pair = selfSigned();
    cert = pair.cert;
    const server = createHttpsServer({ key: pair.key, cert: pair.cert }, (req, res) => res.end(`secure ${req.headers.host}`));
    server.on('secureConnection', () => connections++);
    port = await listen(server as unknown as Server);
    return () => {
      server.closeAllConnections();
      server.close();
    };
  });

  it('refuses a certificate it does not trust', async () => {
    const { url, outcomes } = await front(pool(parseUpstreamUrl(`https://localhost:${port}`)));
    const res = await get(`${url}/`);
    expect(res.status).toBe(502);
    expect(outcomes[0]!.failure).toMatchObject({ kind: 'unreachable', message: expect.stringMatching(/self-signed certificate/) });
  });

  it('connects to the admitted address, checks the certificate against the host name and reuses the connection', async () => {
    const before = connections;
    const { url } = await front(pool(parseUpstreamUrl(`https://localhost:${port}/`), { ca: cert }));
    for (let i = 0; i < 3; i++) {
      const res = await get(`${url}/`);
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe(`secure localhost:${port}`);
    }
    expect(connections - before).toBe(1);
  });

  it('checks an IP address against the certificate', async () => {
    const { url } = await front(pool(parseUpstreamUrl(`https://127.0.0.1:${port}`), { ca: cert }));
    expect((await get(`${url}/`)).body.toString()).toBe(`secure 127.0.0.1:${port}`);
  });

  it('refuses a name the certificate does not cover', async () => {
    const admit: Admit = async () => '127.0.0.1';
    const { url, outcomes } = await front(pool(parseUpstreamUrl(`https://other.test:${port}`), { ca: cert, admit }));
    expect((await get(`${url}/`)).status).toBe(502);
    expect(outcomes[0]!.failure).toMatchObject({ kind: 'unreachable', message: expect.stringMatching(/other\.test/) });
  });
});
