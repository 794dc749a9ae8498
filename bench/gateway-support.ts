// Plumbing of the gateway benchmark: private nginx processes (the upstreams and the baseline
// proxy), wrk runs that report their own CPU time, the CPU of a process and its descendants
// (cluster workers, nginx workers), a fixed-rate open-loop client, and a keep-alive client that
// checks every answer while a route table is swapped under it.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { check, Child, sleep, waitForQuiet } from './delivery-support.js';
import { clockTicks, log, machineBusySeconds, percentile, processCpuSeconds, type Cleanup } from './support.js';

/** The path of an executable found on PATH or in the sbin folders (nginx lives in /usr/sbin), or null. */
export function findExecutable(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const file = join(dir, name);
    if (existsSync(file)) return file;
  }
  return null;
}

/** A fresh folder under the system temp folder, removed by `cleanup`. */
export function tempDir(cleanup: Cleanup, label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `stageline-bench-${label}-`));
  cleanup.add(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Process trees

/** `root` and every process descended from it now (read from /proc). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone since the listing
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid);
    if (list) list.push(Number(entry));
    else children.set(ppid, [Number(entry)]);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU seconds used so far by these processes together (one that is gone counts nothing). */
export function cpuSecondsOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    const s = processCpuSeconds(pid);
    if (!Number.isNaN(s)) total += s;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// nginx

export interface NginxServer {
  name: string;
  child: Child;
  dir: string;
  /** The master and its workers. */
  pids(): number[];
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * Starts `nginx -p <dir> -c <dir>/nginx.conf -g 'daemon off;'` as a child, with one worker, its
 * pid, logs and temp folders in its own folder, and the `http { … }` body given; never the
 * system's nginx, its configuration or its logs. Resolves once `readyUrl` answers 200.
 */
export async function startNginx(cleanup: Cleanup, name: string, nginx: string, httpBody: string, readyUrl: string): Promise<NginxServer> {
  const dir = tempDir(cleanup, name);
  // Run as root, nginx's worker drops to `nobody`: it must be able to enter the folder.
  chmodSync(dir, 0o755);
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
  const conf = [
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'worker_rlimit_nofile 8192;',
    'events { worker_connections 4096; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${join(dir, 'client_body')};`,
    `  proxy_temp_path ${join(dir, 'proxy')};`,
    `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
    `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
    `  scgi_temp_path ${join(dir, 'scgi')};`,
    // So that nginx never closes the load generator's connections during a run.
    '  keepalive_requests 1000000;',
    '  keepalive_timeout 75s;',
    httpBody,
    '}',
    '',
  ].join('\n');
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, conf);
  const child = Child.start(name, cleanup, nginx, ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', confFile, '-g', 'daemon off;'], {});
  try {
    await child.waitForHttp(readyUrl, 10_000);
  } catch (error) {
    const errors = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8').slice(-2000) : '';
    throw new Error(`${(error as Error).message}\n${errors}`);
  }
  const pids = () => processTree(child.pid);
  return { name, child, dir, pids, cpuSeconds: () => cpuSecondsOf(pids()), stop: () => child.stop() };
}

/** A JSON document of exactly `bytes` bytes, with no character nginx's `return` would read as a variable or escape. */
export function jsonBody(bytes: number): string {
  const items: string[] = [];
  let body = '';
  for (let i = 0; ; i++) {
    const next = `{"id":"item-${i}","enabled":${i % 2 === 0},"weight":${(i * 37) % 100}}`;
    const candidate = `{"name":"gateway benchmark","items":[${[...items, next].join(',')}],"pad":""}`;
    if (candidate.length > bytes) break;
    items.push(next);
    body = candidate;
  }
  const pad = bytes - body.length;
  check(pad >= 0, `no body fits in ${bytes} bytes`);
  return body.replace('"pad":""', `"pad":"${'x'.repeat(pad)}"`);
}

// ---------------------------------------------------------------------------------------------
// wrk

export interface WrkRun {
  /** Completed answers with a status below 400 per second. */
  rps: number;
  ok: number;
  /** Answers of status ≥ 400, socket errors and timeouts. */
  bad: number;
  p50Ms: number;
  p99Ms: number;
  seconds: number;
  /** CPU seconds wrk used. */
  cpuSeconds: number;
}

// wrk's `done` hook prints its figures as one JSON line (latency in microseconds).
const WRK_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
`;

export class Wrk {
  private constructor(
    private readonly cleanup: Cleanup,
    private readonly wrk: string,
    private readonly script: string,
  ) {}

  static create(cleanup: Cleanup, wrk: string): Wrk {
    const dir = tempDir(cleanup, 'wrk');
    const script = join(dir, 'report.lua');
    writeFileSync(script, WRK_SCRIPT);
    return new Wrk(cleanup, wrk, script);
  }

  /** `wrk -t1 -c<connections> -d<seconds>s` against `url`; fails when wrk fails or reports nothing. */
  async run(url: string, headers: Record<string, string>, connections: number, seconds: number): Promise<WrkRun> {
    const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', this.script];
    for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
    args.push(url);
    // The shell waits for wrk, then prints its own /proc stat: cutime + cstime are wrk's CPU time.
    const child = Child.start('wrk', this.cleanup, '/bin/sh', ['-c', '"$0" "$@"; rc=$?; echo "WRK_CPU $(cat /proc/$$/stat)"; exit $rc', this.wrk, ...args], {});
    const code = await child.exited;
    await child.stop();
    // 'exit' may come before the last of its output: the shell's line is the last one.
    for (let i = 0; i < 100 && !child.tail(5).includes('WRK_CPU '); i++) await sleep(10);
    const lines = child.tail(200).split('\n');
    const result = lines.find((l) => l.startsWith('WRK_RESULT '));
    const cpu = lines.find((l) => l.startsWith('WRK_CPU '));
    if (code !== 0 || !result) throw new Error(`wrk exited ${code} against ${url}:\n${child.tail(20)}`);
    const r = JSON.parse(result.slice('WRK_RESULT '.length)) as Record<string, number>;
    let cpuSeconds = Number.NaN;
    if (cpu) {
      const stat = cpu.slice('WRK_CPU '.length);
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // cutime and cstime are fields 16 and 17 of the whole line.
      cpuSeconds = (Number(fields[13]) + Number(fields[14])) / clockTicks();
    }
    const seconds_ = r.durationUs! / 1e6;
    const ok = r.requests! - r.status!;
    return {
      rps: ok / seconds_,
      ok,
      bad: r.status! + r.connect! + r.read! + r.write! + r.timeout!,
      p50Ms: r.p50! / 1000,
      p99Ms: r.p99! / 1000,
      seconds: seconds_,
      cpuSeconds,
    };
  }
}

/** Something whose CPU time a run charges to "the server": a Stageline node with its workers, or nginx. */
export interface Measured {
  name: string;
  pids(): number[];
}

export interface LoadRun extends WrkRun {
  /** Shares of one core during the run: the server measured, the upstream, wrk, this process, the rest of the machine. */
  serverCpu: number;
  upstreamCpu: number;
  loadCpu: number;
  benchCpu: number;
  otherCpu: number;
  /** Server CPU microseconds per answered request (summed over its processes). */
  cpuPerRequestUs: number;
  processes: number;
}

export interface LoadTarget {
  label: string;
  url: string;
  headers: Record<string, string>;
  server: Measured;
}

/** One wrk run against `target`, after waiting up to `quietWaitMs` for the machine to go quiet; fails above 0.1 % bad answers. */
export async function loadRun(wrk: Wrk, target: LoadTarget, upstream: Measured, connections: number, seconds: number, quietWaitMs: number): Promise<LoadRun> {
  if (quietWaitMs > 0) {
    const { quiet, busy } = await waitForQuiet(quietWaitMs);
    if (!quiet) log(`  (the machine is busy: other processes use ${Math.round(busy * 100)}% CPU; measuring anyway)`);
  }
  const serverPids = target.server.pids();
  const upstreamPids = upstream.pids();
  const serverBefore = cpuSecondsOf(serverPids);
  const upstreamBefore = cpuSecondsOf(upstreamPids);
  const benchBefore = process.cpuUsage();
  const machineBefore = machineBusySeconds();
  const wallBefore = performance.now();
  const run = await wrk.run(target.url, target.headers, connections, seconds);
  const wall = (performance.now() - wallBefore) / 1000;
  const bench = process.cpuUsage(benchBefore);
  check(run.ok > 0, `no successful answer from ${target.label} (${target.url}): ${run.bad} bad`);
  check(run.bad <= run.ok / 1000, `${run.bad} failed requests of ${run.ok + run.bad} to ${target.label} (${target.url})`);
  const server = cpuSecondsOf(serverPids) - serverBefore;
  const serverCpu = server / wall;
  const upstreamCpu = (cpuSecondsOf(upstreamPids) - upstreamBefore) / wall;
  const loadCpu = run.cpuSeconds / wall;
  const benchCpu = (bench.user + bench.system) / 1e6 / wall;
  const machine = (machineBusySeconds() - machineBefore) / wall;
  return {
    ...run,
    serverCpu,
    upstreamCpu,
    loadCpu,
    benchCpu,
    otherCpu: Math.max(0, machine - serverCpu - upstreamCpu - loadCpu - benchCpu),
    cpuPerRequestUs: (server / run.ok) * 1e6,
    processes: serverPids.length,
  };
}

const pct = (x: number) => (Number.isNaN(x) ? '?' : `${Math.round(x * 100)}%`);

export function describeRun(r: LoadRun): string {
  return (
    `${Math.round(r.rps).toLocaleString('en-US')} req/s (${r.cpuPerRequestUs.toFixed(1)} us server cpu each${r.processes > 1 ? ` over ${r.processes} processes` : ''}), ` +
    `p50 ${r.p50Ms.toFixed(2)} ms p99 ${r.p99Ms.toFixed(2)} ms; cpu: server ${pct(r.serverCpu)}, upstream ${pct(r.upstreamCpu)}, wrk ${pct(r.loadCpu)}, ` +
    `benchmark ${pct(r.benchCpu)}, other processes ${pct(r.otherCpu)}`
  );
}

// ---------------------------------------------------------------------------------------------
// Fixed-rate open-loop client

export interface RateStream {
  label: string;
  origin: string;
  path: string;
  headers: Record<string, string>;
  /** A response header and the value an answer must carry to count as good. */
  expect?: [string, string];
  /** Whose CPU to report for this stream (the server it calls). */
  server: Measured;
}

export interface RateRun {
  label: string;
  /** Requests scheduled and answered. */
  sent: number;
  ok: number;
  bad: number;
  /** Answered requests per second over the schedule's length. */
  achievedRate: number;
  /** Latency from handing the request to the pool to the end of the answer's body, in ms. */
  p50Ms: number;
  p99Ms: number;
  /** Share of one core its server used during the run. */
  serverCpu: number;
}

export interface RateRuns {
  streams: RateRun[];
  /** The furthest a request was sent behind its scheduled time, in ms. */
  maxLagMs: number;
  /** Share of one core this process (the client) used. */
  clientCpu: number;
}

/**
 * Sends GET requests to every stream at `rate` requests per second each, for `seconds`, on
 * schedule whatever the answers (open loop: a slow answer does not delay the next request), the
 * streams' requests interleaved (stream k's i-th request at (i + k/n) / rate) so that every stream
 * meets the same machine at the same moments; one keep-alive pool of `connections` per stream.
 * An answer that is not 200, or lacks the stream's expected header value, is bad.
 */
export async function fixedRateRun(streams: RateStream[], rate: number, seconds: number, connections: number): Promise<RateRuns> {
  const n = streams.length;
  const state = streams.map((stream) => ({
    stream,
    pool: new Pool(stream.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 10_000, bodyTimeout: 10_000 }),
    latencies: [] as number[],
    ok: 0,
    bad: 0,
    pids: stream.server.pids(),
    cpuBefore: 0,
  }));
  const perStream = Math.max(1, Math.round(rate * seconds));
  const total = perStream * n;
  const intervalMs = 1000 / (rate * n);
  let maxLag = 0;
  let settled = 0;
  let done!: () => void;
  const allSettled = new Promise<void>((resolve) => (done = resolve));
  const finish = () => {
    if (++settled === total) done();
  };
  const send = (s: (typeof state)[number]) => {
    const [expectName, expectValue] = s.stream.expect ?? [null, null];
    const sentAt = performance.now();
    s.pool.request({ path: s.stream.path, method: 'GET', headers: s.stream.headers }).then(
      async (answer) => {
        await answer.body.dump();
        const latency = performance.now() - sentAt;
        if (answer.statusCode === 200 && (expectName === null || answer.headers[expectName] === expectValue)) {
          s.ok += 1;
          s.latencies.push(latency);
        } else s.bad += 1;
        finish();
      },
      () => {
        s.bad += 1;
        finish();
      },
    );
  };
  for (const s of state) s.cpuBefore = cpuSecondsOf(s.pids);
  const clientBefore = process.cpuUsage();
  const start = performance.now();
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * intervalMs <= now) {
        maxLag = Math.max(maxLag, now - (start + next * intervalMs));
        send(state[next % n]!);
        next += 1;
      }
      if (next >= total) resolve();
      else setTimeout(tick, Math.max(0, Math.min(1, start + next * intervalMs - performance.now())));
    };
    tick();
  });
  const scheduleSeconds = (performance.now() - start) / 1000;
  await allSettled;
  const wall = (performance.now() - start) / 1000;
  const client = process.cpuUsage(clientBefore);
  const runs = state.map((s) => ({
    label: s.stream.label,
    sent: perStream,
    ok: s.ok,
    bad: s.bad,
    achievedRate: s.ok / scheduleSeconds,
    p50Ms: percentile(s.latencies, 50),
    p99Ms: percentile(s.latencies, 99),
    serverCpu: (cpuSecondsOf(s.pids) - s.cpuBefore) / wall,
  }));
  await Promise.all(state.map((s) => s.pool.close()));
  return { streams: runs, maxLagMs: maxLag, clientCpu: (client.user + client.system) / 1e6 / wall };
}

// ---------------------------------------------------------------------------------------------
// Checked keep-alive loops (route-table swaps)

export interface SwapTally {
  /** Answers by the value of the upstream's name header ('' when it had none). */
  byUpstream: Map<string, number>;
  ok: number;
  /** Not 200, or no answer at all (connection errors, timeouts). */
  failed: number;
  /** 200 from something that is not one of the expected upstreams. */
  misrouted: number;
  /** How often one loop's consecutive answers came from different upstreams. */
  switches: number;
  /** The first few failures and misroutes, for the log. */
  samples: string[];
}

/**
 * `loops` concurrent request loops over one keep-alive pool, each sending GET `path` as soon as
 * its previous answer ended, every answer checked: 200 with `header` naming one of `expected`.
 * `stop()` ends the loops and resolves with the tally once in-flight requests are answered.
 */
export class CheckedLoad {
  readonly tally: SwapTally = { byUpstream: new Map(), ok: 0, failed: 0, misrouted: 0, switches: 0, samples: [] };
  /** The upstream named by the latest answer of any loop, and when it ended. */
  last: { upstream: string; at: number } | null = null;
  /** Answers in a row (across loops, in the order they ended) naming the same upstream as `last`, since `streakStartedAt`. */
  streak = 0;
  streakStartedAt = 0;
  private stopping = false;
  private readonly pool: Pool;
  private readonly loops: Promise<void>[] = [];

  constructor(
    origin: string,
    private readonly path: string,
    private readonly headers: Record<string, string>,
    private readonly header: string,
    private readonly expected: ReadonlySet<string>,
    loops: number,
  ) {
    this.pool = new Pool(origin, { connections: loops, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 10_000, bodyTimeout: 10_000 });
    for (let i = 0; i < loops; i++) this.loops.push(this.loop());
  }

  private note(sample: string) {
    if (this.tally.samples.length < 10) this.tally.samples.push(sample);
  }

  private async loop(): Promise<void> {
    let previous: string | null = null;
    while (!this.stopping) {
      let status = 0;
      let upstream = '';
      try {
        const answer = await this.pool.request({ path: this.path, method: 'GET', headers: this.headers });
        status = answer.statusCode;
        const value = answer.headers[this.header];
        upstream = typeof value === 'string' ? value : '';
        if (status === 200) await answer.body.dump();
        else this.note(`${status}: ${(await answer.body.text()).slice(0, 200)}`);
      } catch (error) {
        this.tally.failed += 1;
        this.note(`error: ${(error as Error).message}`);
        await sleep(10); // a refused connection fails at once: do not spin
        continue;
      }
      const { tally } = this;
      tally.byUpstream.set(upstream, (tally.byUpstream.get(upstream) ?? 0) + 1);
      if (status !== 200) {
        tally.failed += 1;
        continue;
      }
      if (!this.expected.has(upstream)) {
        tally.misrouted += 1;
        this.note(`200 from ${upstream === '' ? 'an unnamed upstream' : upstream}`);
        continue;
      }
      tally.ok += 1;
      if (previous !== null && previous !== upstream) tally.switches += 1;
      previous = upstream;
      const now = performance.now();
      if (this.last?.upstream === upstream) this.streak += 1;
      else {
        this.streak = 1;
        this.streakStartedAt = now;
      }
      this.last = { upstream, at: now };
    }
  }

  /** Resolves when `streak` answers in a row name `upstream` (true), or after `timeoutMs` (false). */
  async waitForStreak(upstream: string, streak: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.last?.upstream === upstream && this.streak >= streak) return true;
      await sleep(5);
    }
    return false;
  }

  async stop(): Promise<SwapTally> {
    this.stopping = true;
    await Promise.all(this.loops);
    await this.pool.close();
    return this.tally;
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Polls GET `url` (a new connection each time, so every process sharing the port gets asked)
 * until `accept` takes `consecutive` answers in a row; fails with the last answer after `timeoutMs`.
 */
export async function waitForAnswer(
  url: string,
  headers: Record<string, string>,
  accept: (status: number, headers: http.IncomingHttpHeaders) => boolean,
  timeoutMs: number,
  consecutive = 1,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer';
  let streak = 0;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(url, { agent: false, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          last = `${res.statusCode} ${JSON.stringify(res.headers)} ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`;
          resolve(accept(res.statusCode ?? 0, res.headers));
        });
        res.on('error', () => resolve(false));
      });
      req.on('error', (error) => {
        last = `error: ${error.message}`;
        resolve(false);
      });
      req.setTimeout(2_000, () => req.destroy(new Error('timed out')));
    });
    streak = ok ? streak + 1 : 0;
    if (streak >= consecutive) return;
    if (ok) continue;
    if (performance.now() > deadline) throw new Error(`${url} did not answer as expected within ${timeoutMs} ms; last answer: ${last}`);
    await sleep(50);
  }
}
