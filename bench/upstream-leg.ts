// The upstream leg on its own: one process runs two node:http fronts, one forwarding through our
// pool (src/gateway/upstream.ts), one through undici's Pool.dispatch writing straight into the
// response (the fastest undici variant in /work/shared/notes/gateway-hot-path.md). Both add one
// request header, drop hop-by-hop headers and stream the answer of the same node:http upstream,
// a child process answering 512 bytes of JSON. autocannon (a child too, so it does not share this
// event loop) loads each front with -c32 for 5 s, alternating twice after a warm-up; the table
// gives req/s, the CPU this process spent per request, and the ratio ours / undici. Each run first
// waits for the machine to be quiet; the CPU per request depends least on what else runs.
//
//   npx tsx bench/upstream-leg.ts   BENCH_SECONDS=5 BENCH_CONNECTIONS=32 BENCH_ROUNDS=2 BENCH_QUIET_WAIT_MS=20000
//
// A report, not a test: it exits 0 whatever the numbers.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { Pool, type Dispatcher } from 'undici';
import { createUpstreamPool, HOP_BY_HOP, parseUpstreamUrl } from '../src/gateway/upstream.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const WARMUP_SECONDS = 2;
const QUIET_WAIT_MS = Number(process.env.BENCH_QUIET_WAIT_MS ?? 20_000);

const UPSTREAM = `
const http = require('node:http');
const body = JSON.stringify({ data: 'x'.repeat(490) }).slice(0, 512);
const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

function startUpstream(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['-e', UPSTREAM], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (chunk: Buffer) => resolve({ child, port: Number(chunk.toString().trim()) }));
  });
}

/** The client's headers minus hop-by-hop ones and Host, plus one of ours. */
function requestHeaders(req: IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (lower === 'host' || HOP_BY_HOP.has(lower)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  out.push('x-forwarded-for', req.socket.remoteAddress ?? '');
  return out;
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

function frontServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer({ requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 60_000 }, handler);
  return server;
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/bench`;
}

function ours(port: number): Server {
  const pool = createUpstreamPool(parseUpstreamUrl(`http://127.0.0.1:${port}`), { admit: async () => '127.0.0.1' });
  return frontServer((req, res) => {
    res.sendDate = false;
    pool.forward({ method: req.method!, path: req.url!, headers: requestHeaders(req), body: hasBody(req) ? req : null, timeoutMs: 30_000 }, res, null, (outcome) => {
      if (outcome.failure !== null && !outcome.headersSent) {
        res.writeHead(502);
        res.end();
      }
    });
  });
}

class StreamInto implements Dispatcher.DispatchHandler {
  private resume: (() => void) | null = null;
  constructor(private readonly res: ServerResponse) {}
  onConnect(): void {}
  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    if (status < 200) return true;
    const flat: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1');
      if (HOP_BY_HOP.has(name.toLowerCase())) continue;
      flat.push(name, raw[i + 1]!.toString('latin1'));
    }
    this.res.writeHead(status, flat);
    this.resume = resume;
    return true;
  }
  onData(chunk: Buffer): boolean {
    const more = this.res.write(chunk);
    if (!more) this.res.once('drain', this.resume!);
    return more;
  }
  onComplete(): void {
    this.res.end();
  }
  onError(): void {
    if (this.res.headersSent) this.res.destroy();
    else this.res.writeHead(502).end();
  }
}

function undici(port: number): Server {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 128 });
  return frontServer((req, res) => {
    res.sendDate = false;
    pool.dispatch({ method: req.method!, path: req.url!, headers: requestHeaders(req), body: hasBody(req) ? req : null }, new StreamInto(res));
  });
}

interface Run {
  requests: number;
  seconds: number;
  errors: number;
  non2xx: number;
}

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

async function load(url: string, seconds: number): Promise<Run> {
  const child = spawn(process.execPath, [AUTOCANNON, '-c', String(CONNECTIONS), '-d', String(seconds), '-j', url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.resume();
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`autocannon exited with ${code}`);
  const result = JSON.parse(out) as { requests: { total: number }; duration: number; errors: number; non2xx: number };
  return { requests: result.requests.total, seconds: result.duration, errors: result.errors, non2xx: result.non2xx };
}

/** The machine's busy share of CPU over `ms` (from /proc/stat; 0 where there is none). */
async function busyShare(ms: number): Promise<number> {
  const sample = () => {
    try {
      const fields = readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
      const idle = fields[3]! + (fields[4] ?? 0);
      return { idle, total: fields.reduce((a, b) => a + b, 0) };
    } catch {
      return null;
    }
  };
  const a = sample();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = sample();
  if (a === null || b === null || b.total === a.total) return 0;
  return 1 - (b.idle - a.idle) / (b.total - a.total);
}

/** Others share these two cores: wait (up to QUIET_WAIT_MS) until the machine is nearly idle. */
async function waitQuiet(): Promise<void> {
  const start = Date.now();
  let busy = 1;
  while (Date.now() - start < QUIET_WAIT_MS) {
    busy = await busyShare(500);
    if (busy < 0.15) return;
  }
  console.log(`(the machine stayed ${Math.round(busy * 100)} % busy; measuring anyway)`);
}

async function measure(url: string): Promise<{ rps: number; cpuUs: number; errors: number }> {
  await waitQuiet();
  const before = process.cpuUsage();
  const run = await load(url, SECONDS);
  const cpu = process.cpuUsage(before);
  return { rps: run.requests / run.seconds, cpuUs: (cpu.user + cpu.system) / Math.max(1, run.requests), errors: run.errors + run.non2xx };
}

async function main(): Promise<void> {
  const upstream = await startUpstream();
  const fronts = { ours: ours(upstream.port), undici: undici(upstream.port) };
  const urls = { ours: await listen(fronts.ours), undici: await listen(fronts.undici) };
  try {
    for (const name of ['ours', 'undici'] as const) await load(urls[name], WARMUP_SECONDS);
    const results: Record<'ours' | 'undici', { rps: number; cpuUs: number; errors: number }[]> = { ours: [], undici: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['ours', 'undici'] as const) : (['undici', 'ours'] as const);
      for (const name of order) {
        const r = await measure(urls[name]);
        results[name].push(r);
        console.log(`round ${round + 1} ${name.padEnd(6)} ${r.rps.toFixed(0).padStart(7)} req/s  ${r.cpuUs.toFixed(1).padStart(6)} µs CPU/req  errors ${r.errors}`);
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const oursRps = mean(results.ours.map((r) => r.rps));
    const undiciRps = mean(results.undici.map((r) => r.rps));
    console.log('');
    console.log(`| leg | req/s (mean of ${ROUNDS}) | µs CPU/request (this process) |`);
    console.log('|---|---|---|');
    console.log(`| node:http + our pool | ${oursRps.toFixed(0)} | ${mean(results.ours.map((r) => r.cpuUs)).toFixed(1)} |`);
    console.log(`| node:http + undici Pool.dispatch | ${undiciRps.toFixed(0)} | ${mean(results.undici.map((r) => r.cpuUs)).toFixed(1)} |`);
    console.log(`ratio ours / undici: ${(oursRps / undiciRps).toFixed(2)}  (-c${CONNECTIONS}, ${SECONDS} s runs, ${ROUNDS} rounds)`);
  } finally {
    fronts.ours.closeAllConnections();
    fronts.undici.closeAllConnections();
    fronts.ours.close();
    fronts.undici.close();
    upstream.child.kill();
  }
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
