// Bodies through the gateway are streamed both ways: a 50 MB upload and download without the
// gateway holding them, server-sent events and chunked responses as they are written, and
// WebSocket upgrades tunnelled.
import { createHash } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/gateway/server.js';
import { commitRoutes, gatewayCall, startHarness, startTestGateway, startUpstream, TEST_DB, type Harness, type TestUpstream } from './support.js';

const MB = 1024 * 1024;
const BODY = 50 * MB;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

let h: Harness;
let sink: TestUpstream;
let source: TestUpstream;
let events: TestUpstream;
let sockets: TestUpstream;
let stalled: TestUpstream;
let gateway: RunningGateway;
let uploaded = 0;
/** Resolved by the test when the client has seen the first event; the upstream waits for it. */
let firstEventSeen: () => void = () => {};

/** A body of `size` bytes made as it is read; `made` counts what was read so far. */
function generated(size: number, made: { bytes: number } = { bytes: 0 }): Readable {
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= chunk.length;
      made.bytes += chunk.length;
      this.push(chunk);
    },
  });
}

/** What the download upstream produced for the last request. */
let produced = { bytes: 0 };

// A full collection before each sample, so what is measured is what is held, not garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The growth of this process's live heap and buffers while `run` runs, sampled every 50 ms (client, gateway and upstream share it). */
async function peakGrowth(run: () => Promise<void>): Promise<number> {
  const used = () => {
    // Twice: V8 frees the buffers a collection found dead in the background, and a second
    // collection waits for that to finish.
    gc();
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const base = used();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, used())), 50);
  try {
    await run();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, used()) - base;
}

function websocketAccept(key: string): string {
  return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}

beforeAll(async () => {
  h = await startHarness();
  sink = await startUpstream(
    (req, res) => {
      uploaded = 0;
      req.on('data', (chunk: Buffer) => (uploaded += chunk.length));
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(String(uploaded)));
    },
    { stream: true },
  );
  source = await startUpstream(
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BODY) });
      produced = { bytes: 0 };
      generated(BODY, produced).pipe(res);
    },
    { stream: true },
  );
  events = await startUpstream(
    (req, res) => {
      if (req.url?.includes('/chunked')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('one,');
        setTimeout(() => res.write('two,'), 20);
        setTimeout(() => res.end('three'), 40);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('id: 1\ndata: first\n\n');
      // The second event comes only once the client has the first: a buffering proxy never delivers it.
      new Promise<void>((resolve) => (firstEventSeen = resolve)).then(() => res.end('id: 2\ndata: second\n\n'));
    },
    { stream: true },
  );
  // Takes a request and never reads its body.
  stalled = await startUpstream((req) => req.pause(), { stream: true });
  sockets = await startUpstream();
  sockets.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const key = String(req.headers['sec-websocket-key']);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${websocketAccept(key)}\r\nX-Path: ${req.url}\r\nX-Env-Header: ${req.headers['x-stageline-env'] ?? 'none'}\r\n\r\n`,
    );
    if (head.length > 0) socket.write(head);
    // Echoes every byte back, upper-cased, so the test sees both directions.
    socket.on('data', (chunk: Buffer) => socket.write(Buffer.from(chunk.toString('latin1').toUpperCase(), 'latin1')));
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
  await commitRoutes(h, {
    upload: { match: { pathPrefix: '/upload' }, upstream: { url: sink.url } },
    // The exchange times out once the upstream has read nothing for a second.
    stalled: { match: { pathPrefix: '/stalled' }, upstream: { url: stalled.url, timeoutMs: 1000 } },
    download: { match: { pathPrefix: '/download' }, upstream: { url: source.url } },
    events: { match: { pathPrefix: '/events' }, upstream: { url: events.url } },
    ws: { match: { pathPrefix: '/ws' }, upstream: { url: `${sockets.url}/socket` }, stripPrefix: true },
  });
  gateway = await startTestGateway(h, { defaultEnvironment: 'development' });
});

afterAll(async () => {
  await gateway?.close();
  for (const upstream of [sink, source, events, sockets, stalled]) await upstream?.close();
  await h?.close();
});

describe(`gateway streaming on ${TEST_DB}`, () => {
  it('streams a 50 MB upload to the upstream without holding it', async () => {
    const url = new URL(gateway.url);
    let answer = '';
    const growth = await peakGrowth(
      () =>
        new Promise<void>((resolve, reject) => {
          const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/upload', headers: { 'content-type': 'application/octet-stream' } }, (res) => {
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (answer += chunk));
            res.on('end', resolve);
          });
          req.on('error', reject);
          // No Content-Length: the body is chunked from the client and re-framed by the gateway.
          generated(BODY).pipe(req);
        }),
    );
    expect(answer).toBe(String(BODY));
    // A gateway holding the body would hold 50 MB; streaming holds a few socket reads.
    expect(growth).toBeLessThan(8 * MB);
  });

  it('holds back an upload the upstream does not read (backpressure), instead of buffering it', async () => {
    const url = new URL(gateway.url);
    let written = 0;
    const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/stalled', headers: { 'content-type': 'application/octet-stream', 'content-length': String(BODY) } });
    req.on('error', () => {});
    await new Promise<void>((resolve) => {
      const started = Date.now();
      const pump = () => {
        while (written < BODY && Date.now() - started < 1500) {
          written += CHUNK.length;
          if (!req.write(CHUNK)) return void req.once('drain', pump);
        }
        resolve();
      };
      pump();
      setTimeout(resolve, 1500);
    });
    req.destroy();
    // Socket buffers and stream high-water marks on three hops: a few MB, never the whole body.
    expect(written).toBeLessThan(16 * MB);
    expect(stalled.requests.length).toBe(1);
  });

  it('streams a 50 MB download to the client without holding it', async () => {
    const url = new URL(gateway.url);
    let received = 0;
    const growth = await peakGrowth(
      () =>
        new Promise<void>((resolve, reject) => {
          const req = request({ host: url.hostname, port: url.port, path: '/download' }, (res) => {
            expect(res.headers['content-length']).toBe(String(BODY));
            res.on('data', (chunk: Buffer) => (received += chunk.length));
            res.on('end', resolve);
          });
          req.on('error', reject);
          req.end();
        }),
    );
    expect(received).toBe(BODY);
    // A gateway holding the body would hold 50 MB; streaming holds a few socket reads.
    expect(growth).toBeLessThan(8 * MB);
  });

  it('holds back a download the client does not read (backpressure), instead of buffering it', async () => {
    const url = new URL(gateway.url);
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/download', agent: false }, (res) => {
        res.pause();
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 1500);
      });
      req.on('error', () => {});
      req.on('close', () => {});
      req.end();
      req.on('timeout', () => reject(new Error('timeout')));
    });
    expect(produced.bytes).toBeGreaterThan(0);
    expect(produced.bytes).toBeLessThan(16 * MB);
  });

  it('passes server-sent events through as they are written', async () => {
    const url = new URL(gateway.url);
    const text = await new Promise<string>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/events', headers: { accept: 'text/event-stream' } }, (res) => {
        expect(res.headers['content-type']).toBe('text/event-stream');
        let seen = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          seen += chunk;
          if (seen.includes('data: first\n\n')) firstEventSeen();
        });
        res.on('end', () => resolve(seen));
      });
      req.setTimeout(5000, () => req.destroy(new Error('the first event never arrived: the response was buffered')));
      req.on('error', reject);
      req.end();
    });
    expect(text).toBe('id: 1\ndata: first\n\nid: 2\ndata: second\n\n');
  });

  it('passes a chunked response through', async () => {
    const res = await gatewayCall(gateway.url, { path: '/events/chunked' });
    expect(res.status).toBe(200);
    expect(res.text).toBe('one,two,three');
    expect(res.headers['transfer-encoding']).toBe('chunked');
  });

  it('tunnels a WebSocket upgrade both ways, without the selecting headers', async () => {
    const url = new URL(gateway.url);
    const key = Buffer.from('0123456789abcdef').toString('base64');
    const { response, socket, head } = await new Promise<{ response: IncomingMessage; socket: Duplex; head: Buffer }>((resolve, reject) => {
      const req = request({
        host: url.hostname,
        port: url.port,
        path: '/ws/chat?room=1',
        headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': '13', 'x-stageline-env': 'development' },
      });
      req.on('upgrade', (res, sock, rest) => resolve({ response: res, socket: sock, head: rest }));
      req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    expect(response.statusCode).toBe(101);
    expect(response.headers['sec-websocket-accept']).toBe(websocketAccept(key));
    expect(response.headers['x-path']).toBe('/socket/chat?room=1');
    expect(response.headers['x-env-header']).toBe('none');
    const echoed = new Promise<string>((resolve) => {
      let got = head.toString('latin1');
      socket.on('data', (chunk: Buffer) => {
        got += chunk.toString('latin1');
        if (got.length >= 11) resolve(got);
      });
    });
    socket.write('hello there');
    expect(await echoed).toBe('HELLO THERE');
    socket.destroy();
  });

  it('answers a refused upgrade in the error shape', async () => {
    const answer = await refusedUpgrade('/nowhere', { upgrade: 'websocket' });
    expect(answer).toMatch(/^404 \{"error":\{"code":"no_route"/);
  });

  it.each(['h2c', 'websocket, h2c', 'tls/1.0'])('refuses Upgrade: %s (only WebSocket upgrades are tunnelled)', async (protocol) => {
    const answer = await refusedUpgrade('/ws/echo', { upgrade: protocol, 'x-stageline-env': 'development' });
    expect(answer).toMatch(/^400 \{"error":\{"code":"invalid_request","message":"only WebSocket upgrades/);
  });
});

/** An Upgrade request the gateway must answer instead of upgrading: `status body`. */
function refusedUpgrade(path: string, headers: Record<string, string>): Promise<string> {
  const url = new URL(gateway.url);
  return new Promise<string>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers: { connection: 'Upgrade', ...headers } });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('upgrade', () => reject(new Error('upgraded')));
    req.on('error', reject);
    req.end();
  });
}
