// Load plumbing shared by the scale-out and soak parts: latency books per operation, a paced
// request loop, a local upstream and a webhook receiver that count what reaches them, and
// samples of a process's memory and open handles from /proc.
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { sleep } from '../../bench/delivery-support.js';
import { percentile } from '../../bench/support.js';
import { fmt, say } from '../contract.js';
import type { StagelineNode } from './nodes.js';

export { sleep };

/** Latencies and errors per operation name. */
export class Book {
  private readonly samples = new Map<string, number[]>();
  private readonly failures = new Map<string, number>();
  /** The first few failures, for the log. */
  readonly examples: string[] = [];

  ok(op: string, ms: number) {
    let list = this.samples.get(op);
    if (!list) this.samples.set(op, (list = []));
    list.push(ms);
  }

  fail(op: string, why: string) {
    this.failures.set(op, (this.failures.get(op) ?? 0) + 1);
    if (this.examples.length < 10) this.examples.push(`${op}: ${why}`);
  }

  /** Times `work`: its resolution is an ok sample, its rejection a failure. */
  async time<T>(op: string, work: () => Promise<T>): Promise<T | undefined> {
    const started = performance.now();
    try {
      const result = await work();
      this.ok(op, performance.now() - started);
      return result;
    } catch (error) {
      this.fail(op, (error as Error).message);
      return undefined;
    }
  }

  ops(): string[] {
    return [...new Set([...this.samples.keys(), ...this.failures.keys()])].sort();
  }

  count(op: string): number {
    return this.samples.get(op)?.length ?? 0;
  }

  errors(op?: string): number {
    if (op !== undefined) return this.failures.get(op) ?? 0;
    let total = 0;
    for (const n of this.failures.values()) total += n;
    return total;
  }

  total(): number {
    let total = 0;
    for (const list of this.samples.values()) total += list.length;
    return total + this.errors();
  }

  p(op: string, q: number): number {
    return percentile(this.samples.get(op) ?? [], q);
  }

  /** "p50 3.1 ms, p99 12.0 ms, n 4,210" */
  describe(op: string): string {
    return `p50 ${this.p(op, 50).toFixed(1)} ms, p99 ${this.p(op, 99).toFixed(1)} ms (n ${fmt(this.count(op))})`;
  }
}

/**
 * Calls `fn` `ratePerSec` times a second until `stop()` says so, with at most `maxInFlight`
 * calls outstanding (a call due while the cap is reached is skipped and counted, not queued).
 */
export async function paced(ratePerSec: number, maxInFlight: number, stop: () => boolean, fn: (i: number) => Promise<void>): Promise<{ started: number; skipped: number }> {
  const started0 = performance.now();
  let started = 0;
  let skipped = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  while (!stop()) {
    const due = Math.floor(((performance.now() - started0) / 1000) * ratePerSec);
    while (started + skipped < due) {
      if (inFlight >= maxInFlight) {
        skipped++;
        continue;
      }
      const i = started++;
      inFlight++;
      const p: Promise<void> = fn(i)
        .catch(() => undefined)
        .finally(() => {
          inFlight--;
          pending.delete(p);
        });
      pending.add(p);
    }
    await sleep(5);
  }
  await Promise.all(pending);
  return { started, skipped };
}

export interface Counter {
  url: string;
  /** Requests served. */
  hits: number;
  close(): Promise<void>;
}

/** A local upstream answering 200 `ok` to anything, counting what it served. */
export async function startCountingUpstream(): Promise<Counter> {
  const state = { hits: 0 };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.hits++;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    get hits() {
      return state.hits;
    },

    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  } as Counter;
}

export interface Delivery {
  /** The `x-stageline-delivery` header. */
  id: string;
  body: string;
  at: number;
}

export interface Receiver {
  url: string;
  deliveries: Delivery[];
  close(): Promise<void>;
}

/** A webhook receiver keeping every delivery (its id header and body), answering 200. */
export async function startReceiver(): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ id: String(req.headers['x-stageline-delivery'] ?? ''), body: Buffer.concat(chunks).toString('utf8'), at: performance.now() });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    deliveries,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ProcSample {
  at: number;
  /** VmRSS in MiB. */
  rssMiB: number;
  /** Entries of /proc/<pid>/fd. */
  fds: number;
}

/** The resident set and open file descriptors of `pid` now, or null once it is gone. */
export function sampleProc(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]);
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    return { at: performance.now(), rssMiB: kb / 1024, fds };
  } catch {
    return null;
  }
}

/** The direct children of `pid` (gateway workers of a node). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Says so when a node exits without the part having killed or stopped it (with its last lines). */
export function reportUnexpectedExit(node: StagelineNode, expected: () => boolean): void {
  void node.child.exited.then((code) => {
    if (!expected()) say(`  ${node.name} (pid ${node.child.pid}) exited unexpectedly (code ${code}); its last lines:\n${node.child.tail(10)}`);
  });
}
