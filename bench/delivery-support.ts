// Plumbing of the delivery benchmark: server child processes (spawn, readiness, CPU time,
// stop), a small keep-alive JSON client, a server-sent events client over raw http.get, load
// runs with autocannon, throw-away PostgreSQL databases, and a report table whose targets may
// be lower bounds (ratios) or upper bounds (latencies).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { adminQuery, log, machineBusySeconds, PG_ADMIN_URL, processCpuSeconds, type Cleanup } from './support.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`benchmark sanity check failed: ${message}`);
}

/** The middle value, or the mean of the two middle values of an even count. */
export function trueMedian(samples: number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The soft limit of open files a shell started from this process gets. */
export function shellFileLimit(): { soft: number; hard: number } {
  const run = (flag: string) => {
    const out = spawnSync('/bin/sh', ['-c', `ulimit ${flag} -n`], { encoding: 'utf8' }).stdout.trim();
    return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out);
  };
  return { soft: run('-S'), hard: run('-H') };
}

// ---------------------------------------------------------------------------------------------
// Child processes

export interface ChildOptions {
  /** Raise the child's soft open-file limit to at least this (through a /bin/sh wrapper). */
  nofile?: number;
}

export class Child {
  private readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined = undefined;

  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(code);
      });
      proc.once('error', (error) => {
        this.remember(`spawn error: ${error.message}`);
        this.exitCode = -1;
        resolve(-1);
      });
    });
    for (const stream of [proc.stdout, proc.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) this.remember(line);
      });
    }
  }

  /** Starts `command args` with `env` (nothing else of this process's STAGELINE_* leaks in); `stop` is registered with `cleanup`. */
  static start(name: string, cleanup: Cleanup, command: string, args: string[], env: Record<string, string>, options: ChildOptions = {}): Child {
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('STAGELINE_') && k !== 'NODE_OPTIONS') base[k] = v;
    let file = command;
    let argv = args;
    if (options.nofile !== undefined) {
      const limit = shellFileLimit();
      if (limit.soft < options.nofile) {
        const wanted = Math.min(options.nofile, limit.hard);
        // exec keeps the pid: the wrapper becomes the server itself.
        file = '/bin/sh';
        argv = ['-c', `ulimit -S -n ${wanted} || exit 97; exec "$0" "$@"`, command, ...args];
        log(`  ${name}: raising the open-file limit from ${limit.soft} to ${wanted}`);
      }
    }
    const proc = spawn(file, argv, { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: process.cwd() });
    const child = new Child(name, proc);
    child.stopStep = cleanup.add(`stop ${name}`, () => child.terminate());
    return child;
  }

  private stopStep: () => Promise<void> = async () => {};

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  private remember(line: string) {
    this.lines.push(line);
    if (this.lines.length > 200) this.lines.shift();
  }

  tail(n = 30): string {
    return this.lines.slice(-n).join('\n');
  }

  /** User + system CPU seconds used so far (Linux /proc), or NaN. */
  cpuSeconds(): number {
    return processCpuSeconds(this.pid);
  }

  /** Its soft open-file limit, from /proc. */
  fileLimit(): number {
    try {
      const limits = readFileSync(`/proc/${this.pid}/limits`, 'utf8');
      const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
      return Number(line?.split(/\s{2,}/)[1]);
    } catch {
      return Number.NaN;
    }
  }

  /** Stops it now (SIGTERM, SIGKILL after 5 s); also done by the cleanup if never called. */
  stop(): Promise<void> {
    return this.stopStep();
  }

  private async terminate(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.running) this.proc.kill('SIGKILL');
    }, 5_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Polls `url` until it answers 200; fails early if the child exits. */
  async waitForHttp(url: string, timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited (${this.exitCode}) before answering ${url}:\n${this.tail()}`);
      const status = await new Promise<number>((resolve) => {
        const req = http.get(url, { agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', () => resolve(0));
        req.setTimeout(1_000, () => req.destroy());
      });
      if (status === 200) return;
      if (performance.now() > deadline) throw new Error(`${this.name} did not answer ${url} within ${timeoutMs} ms:\n${this.tail()}`);
      await sleep(100);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface Answer<T> {
  status: number;
  body: T;
  text: string;
  /** The response's headers. */
  headers: http.IncomingHttpHeaders;
  /** performance.now() just before the request was handed to the socket, and when the answer ended. */
  sentAt: number;
  doneAt: number;
}

/** A keep-alive client of one server; JSON in, JSON (or text) out. */
export class HttpClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  constructor(
    readonly base: string,
    private readonly token: string,
  ) {}

  async call<T = unknown>(method: string, path: string, body?: unknown, expect: number[] = [200, 201]): Promise<Answer<T>> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const url = new URL(path, this.base);
    return new Promise<Answer<T>>((resolve, reject) => {
      const req = http.request(url, {
        method,
        agent: this.agent,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      });
      let sentAt = 0;
      req.on('error', reject);
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const doneAt = performance.now();
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (!expect.includes(status)) {
            reject(new Error(`${method} ${url.pathname} answered ${status}: ${text.slice(0, 300)}`));
            return;
          }
          let parsed: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json') && text !== '') {
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = text;
            }
          }
          resolve({ status, body: parsed as T, text, headers: res.headers, sentAt, doneAt });
        });
      });
      sentAt = performance.now();
      req.end(payload);
    });
  }

  close() {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Server-sent events

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
  /** performance.now() when the chunk completing it arrived. */
  at: number;
}

interface Waiter {
  match: (event: SseEvent) => boolean;
  resolve: (event: SseEvent) => void;
}

/** One event stream read from a raw http.get; keeps the events it receives (not comments). */
export class SseClient {
  readonly events: SseEvent[] = [];
  private waiters = new Set<Waiter>();
  private buffer = '';
  private req: http.ClientRequest | null = null;
  closed = false;
  closeReason: string | null = null;

  private constructor() {}

  /** Connects and resolves once the server's first event (`ready`) has arrived. */
  static connect(url: string, token: string, timeoutMs = 10_000): Promise<SseClient> {
    const client = new SseClient();
    return new Promise<SseClient>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.close();
        reject(new Error(`no ready event from ${url} within ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        client.markClosed(error.message);
        reject(error);
      };
      const req = http.get(url, { agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          fail(new Error(`${url} answered ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => client.feed(chunk));
        res.on('close', () => client.markClosed('the server closed the stream'));
        res.on('error', (error) => client.markClosed(error.message));
        void client.waitFor((e) => e.event === 'ready', timeoutMs).then(
          () => {
            clearTimeout(timer);
            resolve(client);
          },
          () => {},
        );
      });
      req.on('error', fail);
      client.req = req;
    });
  }

  private markClosed(reason: string) {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
  }

  private feed(chunk: string) {
    const at = performance.now();
    this.buffer += chunk.replace(/\r\n?/g, '\n');
    for (let end = this.buffer.indexOf('\n\n'); end >= 0; end = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      let id: string | null = null;
      const data: string[] = [];
      let any = false;
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id') id = value;
        else continue;
        any = true;
      }
      if (!any || data.length === 0) continue;
      const parsed: SseEvent = { id, event, data: data.join('\n'), at };
      this.events.push(parsed);
      for (const waiter of [...this.waiters]) {
        if (waiter.match(parsed)) {
          this.waiters.delete(waiter);
          waiter.resolve(parsed);
        }
      }
    }
  }

  /** The first event, already received or still to come, that matches. */
  waitFor(match: (event: SseEvent) => boolean, timeoutMs: number): Promise<SseEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<SseEvent>((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no matching event within ${timeoutMs} ms${this.closed ? ` (stream closed: ${this.closeReason})` : ''}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  close() {
    this.markClosed('closed by the benchmark');
    this.req?.destroy();
  }
}

/** `count` streams, opened `batch` at a time so the listen backlog never overflows. */
export async function connectMany(url: string, token: string, count: number, batch = 100): Promise<SseClient[]> {
  const clients: SseClient[] = [];
  try {
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      clients.push(...(await Promise.all(Array.from({ length: n }, () => SseClient.connect(url, token, 30_000)))));
    }
  } catch (error) {
    for (const c of clients) c.close();
    throw error;
  }
  return clients;
}

// ---------------------------------------------------------------------------------------------
// Load

/**
 * Waits (up to `maxWaitMs`) until the rest of the machine uses less than `maxCores` of CPU, so a
 * run does not start in the middle of someone else's burst; false if it never got that quiet.
 * Called between runs, when the benchmark's own processes are idle.
 */
export async function waitForQuiet(maxWaitMs: number, maxCores = 0.25): Promise<{ quiet: boolean; busy: number }> {
  const deadline = performance.now() + maxWaitMs;
  for (;;) {
    const before = machineBusySeconds();
    const start = performance.now();
    await sleep(300);
    const busy = (machineBusySeconds() - before) / ((performance.now() - start) / 1000);
    if (!(busy >= maxCores)) return { quiet: true, busy };
    if (performance.now() >= deadline) return { quiet: false, busy };
    await sleep(700);
  }
}

export interface LoadOptions {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
  /** How long to wait for the machine to be quiet before the run (0: do not wait). */
  quietWaitMs?: number;
}

export interface LoadResult {
  /** Completed 2xx responses per second. */
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  bad: number;
  /** Share of one core the server used, the load generator (this process), and everything else on the machine. */
  serverCpu: number;
  loadCpu: number;
  otherCpu: number;
}

/** One autocannon run in this process; fails if more than 0.1 % of the answers are not 2xx. */
export async function runLoad(options: LoadOptions, server: Child): Promise<LoadResult> {
  if (options.quietWaitMs) {
    const { quiet, busy } = await waitForQuiet(options.quietWaitMs);
    if (!quiet) log(`  (the machine is busy: other processes use ${Math.round(busy * 100)}% CPU; measuring anyway)`);
  }
  const serverBefore = server.cpuSeconds();
  const loadBefore = process.cpuUsage();
  const machineBefore = machineBusySeconds();
  const wallBefore = performance.now();
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    pipelining: 1,
    timeout: 10,
    ...(options.headers ? { headers: options.headers } : {}),
  });
  const wall = (performance.now() - wallBefore) / 1000;
  const load = process.cpuUsage(loadBefore);
  const machine = (machineBusySeconds() - machineBefore) / wall;
  const ok = result['2xx'];
  const bad = result.non2xx + result.errors + result.timeouts;
  check(ok > 0, `no 2xx answer from ${options.url} (${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts)`);
  check(bad <= ok / 1000, `${bad} failed requests of ${ok + bad} to ${options.url}`);
  const serverCpu = (server.cpuSeconds() - serverBefore) / wall;
  const loadCpu = (load.user + load.system) / 1e6 / wall;
  return {
    rps: ok / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: ok,
    bad,
    serverCpu,
    loadCpu,
    otherCpu: Math.max(0, machine - serverCpu - loadCpu),
  };
}

export function describeLoad(r: LoadResult): string {
  const pct = (x: number) => (Number.isNaN(x) ? '?' : `${Math.round(x * 100)}%`);
  return `${Math.round(r.rps).toLocaleString('en-US')} req/s (${((r.serverCpu / r.rps) * 1e6).toFixed(1)} us server cpu each), latency p50 ${r.p50} ms p99 ${r.p99} ms, cpu: server ${pct(r.serverCpu)}, load generator ${pct(r.loadCpu)}, other processes ${pct(r.otherCpu)}`;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL


/** A new empty database `stageline_bench_<label>_<random>`, dropped by `cleanup`. */
export async function createPgDatabase(cleanup: Cleanup, label: string): Promise<string> {
  const name = `stageline_bench_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`create database ${name}`);
  cleanup.add(`drop database ${name}`, () => adminQuery(`drop database if exists ${name} with (force)`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

