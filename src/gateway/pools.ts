// Upstream connection pools of a gateway node, one per (egress policy, upstream origin): reused
// by every table that routes there, so a rebuild keeps its warm connections, and closed once no
// table references them any more (their in-flight exchanges finish first).
import type { EgressFor } from '../services/context.js';
import type { Admit, UpstreamPool, UpstreamTarget } from './contract.js';

/** Makes the pool of one origin; `admit` is the connect-time egress check of its environment. */
export type PoolFactory = (target: UpstreamTarget, admit: Admit) => UpstreamPool;

/** The connect-time egress check for one environment's policy (src/runtime/outbound.ts `Outbound.admit`). */
export type AdmitFor = (egress: EgressFor, hostname: string, port: number) => Promise<string>;

interface Entry {
  pool: UpstreamPool;
  refs: number;
}

export class UpstreamPools {
  private readonly entries = new Map<string, Entry>();
  private readonly byPool = new Map<UpstreamPool, string>();

  constructor(
    private readonly create: PoolFactory,
    private readonly admit: AdmitFor,
  ) {}

  /** The pool of `target` under `egress`, made on first use; `retain` it for as long as a table uses it. */
  get(egress: EgressFor, target: UpstreamTarget): UpstreamPool {
    const key = `${egress.key}\n${target.protocol}//${target.hostname}:${target.port}`;
    let entry = this.entries.get(key);
    if (!entry) {
      const admit: Admit = (hostname, port) => this.admit(egress, hostname, port);
      entry = { pool: this.create(target, admit), refs: 0 };
      this.entries.set(key, entry);
      this.byPool.set(entry.pool, key);
    }
    return entry.pool;
  }

  retain(pools: readonly UpstreamPool[]): void {
    for (const pool of pools) {
      const key = this.byPool.get(pool);
      if (key !== undefined) this.entries.get(key)!.refs += 1;
    }
  }

  /** A table no longer uses these pools; the ones nothing else uses are closed. */
  release(pools: readonly UpstreamPool[]): void {
    for (const pool of pools) {
      const key = this.byPool.get(pool);
      if (key === undefined) continue;
      const entry = this.entries.get(key)!;
      entry.refs -= 1;
    }
    this.sweep();
  }

  /** Closes pools no table retains (made for a build that failed, or released). */
  sweep(): void {
    for (const [key, entry] of this.entries) {
      if (entry.refs > 0) continue;
      this.entries.delete(key);
      this.byPool.delete(entry.pool);
      void entry.pool.close().catch(() => {});
    }
  }

  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    const pools = [...this.entries.values()].map((entry) => entry.pool);
    this.entries.clear();
    this.byPool.clear();
    await Promise.all(pools.map((pool) => pool.close().catch(() => {})));
  }
}
