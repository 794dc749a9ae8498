// Benchmark plumbing: throw-away databases (a temp SQLite file, or a fresh PostgreSQL database),
// a workspace with the owner's call context, fast draft seeding, timing, CPU time from /proc and
// the report table.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { canonicalJson, sha256 } from '../src/domain/canonical.js';
import { contentReferences } from '../src/domain/templates/template.js';
import type { ResourceKind } from '../src/domain/resources/kinds.js';
import { authenticate, enterWorkspace } from '../src/services/auth.js';
import { bootstrap } from '../src/services/bootstrap.js';
import { Keyring } from '../src/services/keyring.js';
import { generateKeyBytes, masterKeyFromBytes } from '../src/domain/secrets/envelope.js';
import { NO_EGRESS, type CallContext, type Deps } from '../src/services/context.js';
import { openStore, type Store } from '../src/store/database.js';
import { findEnvironment } from '../src/store/environments.js';
import { putContents } from '../src/store/releases.js';
import { upsertDraft } from '../src/store/resources.js';

export type BenchDb = 'sqlite' | 'postgres';

/** The databases BENCH_DB names: sqlite, postgres or both (the default). */
export function selectedDatabases(): BenchDb[] {
  const value = (process.env.BENCH_DB ?? 'both').toLowerCase();
  if (value === 'both' || value === '') return ['sqlite', 'postgres'];
  if (value === 'sqlite' || value === 'postgres') return [value];
  throw new Error(`BENCH_DB must be sqlite, postgres or both, not "${process.env.BENCH_DB}"`);
}

export const PG_ADMIN_URL = process.env.STAGELINE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Everything to undo at the end, newest first; each step runs even when an earlier one failed. */
export class Cleanup {
  private steps: { label: string; run: () => Promise<void> }[] = [];

  add(label: string, run: () => Promise<void>): () => Promise<void> {
    const step = { label, run };
    this.steps.push(step);
    // Running a step early removes it, so it is not run twice.
    return async () => {
      const i = this.steps.indexOf(step);
      if (i < 0) return;
      this.steps.splice(i, 1);
      await step.run();
    };
  }

  async runAll(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.run();
      } catch (error) {
        console.error(`cleanup: ${step.label} failed: ${(error as Error).message}`);
      }
    }
  }
}

/** Runs one statement on the PostgreSQL server as the administrator (database creation, removal). */
export async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A new empty database URL; its removal is registered with `cleanup`. */
export async function createDatabase(kind: BenchDb, cleanup: Cleanup, label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), `stageline-bench-${label}-`));
    const drop = cleanup.add(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
    return { url: join(dir, 'stageline.db'), drop };
  }
  const name = `stageline_bench_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`create database ${name}`);
  const drop = cleanup.add(`drop database ${name}`, () => adminQuery(`drop database if exists ${name} with (force)`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop };
}

export interface Bench {
  kind: BenchDb;
  store: Store;
  deps: Deps;
  ctx: CallContext;
  /** Closes the store and removes the database now (also done by the cleanup if never called). */
  dispose(): Promise<void>;
}

/** A fresh database with workspace `default` (development, production) and the owner's context. */
export async function openBench(kind: BenchDb, cleanup: Cleanup, label: string): Promise<Bench> {
  const database = await createDatabase(kind, cleanup, label);
  const store = await openStore({ url: database.url, poolSize: 4 });
  const close = cleanup.add(`close store ${label}`, () => store.close());
  // The control-plane benchmark calls services directly: no change feed is needed.
  const deps: Deps = { store, now: () => new Date(), keyring: new Keyring([masterKeyFromBytes(generateKeyBytes())]), onChange: () => {}, egress: NO_EGRESS };
  const boot = await bootstrap(deps, {});
  if (!boot) throw new Error(`bootstrap did nothing on the fresh ${kind} database ${label}`);
  const ctx = await enterWorkspace(deps, await authenticate(deps, `Bearer ${boot.token}`), 'default', null);
  return {
    kind,
    store,
    deps,
    ctx,
    async dispose() {
      await close();
      await database.drop();
    },
  };
}

export interface SeedResource {
  kind: ResourceKind;
  key: string;
  content: unknown;
}

/**
 * Writes new drafts of resources never committed, as writeDraft stores them (canonical JSON,
 * its SHA-256, no base), in one transaction: setup for the benchmarks, not what is measured.
 */
export async function seedDrafts(bench: Bench, slug: string, resources: SeedResource[]): Promise<void> {
  const { store, ctx } = bench;
  const env = await findEnvironment(store.db, ctx.workspace.id, slug);
  if (!env) throw new Error(`environment ${slug} not found`);
  const scope = { workspaceId: env.workspaceId, environmentId: env.id };
  const at = bench.deps.now().toISOString();
  const docs = resources.map((r) => {
    const body = canonicalJson(r.content);
    return { ...r, body, hash: sha256(body), refs: contentReferences(r.content) };
  });
  await store.transaction(async (tx) => {
    await putContents(store, tx, env.workspaceId, docs, at);
    for (const d of docs) {
      await upsertDraft(tx, scope, { kind: d.kind, key: d.key, hash: d.hash, app: null, baseHash: null, updatedBy: ctx.actor.id, updatedAt: at });
    }
  });
}

/** A string of exactly `length` characters, different for every call. */
export function uniqueBlob(length: number): string {
  return randomBytes(Math.ceil((length * 3) / 4) + 3).toString('base64').slice(0, length);
}

export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const start = performance.now();
  const result = await work();
  return { ms: performance.now() - start, result };
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(samples: number[]): number {
  return percentile(samples, 50);
}

export interface Target {
  op: '>=' | '<' | '<=';
  value: number;
}

export interface Row {
  database: string;
  measure: string;
  value: number | null;
  unit: string;
  target: Target | null;
  note?: 'error' | 'skipped';
}

function formatValue(value: number | null, unit: string): string {
  if (value === null || Number.isNaN(value)) return 'n/a';
  const abs = Math.abs(value);
  let text: string;
  if (unit === 'req/s' || abs >= 1000) text = Math.round(value).toLocaleString('en-US');
  else text = value.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 || unit === 'x' ? 2 : abs === 0 ? 0 : 3);
  return unit === 'x' || unit === '%' ? `${text}${unit}` : unit ? `${text} ${unit}` : text;
}

export function statusOf(row: Row): string {
  if (row.note === 'error') return 'error';
  if (row.note === 'skipped') return 'skipped';
  if (row.target === null) return '-';
  if (row.value === null || Number.isNaN(row.value)) return 'n/a';
  const { op, value } = row.target;
  if (op === '>=') return row.value >= value ? 'ok' : 'under';
  return (op === '<' ? row.value < value : row.value <= value) ? 'ok' : 'over';
}

export function renderTable(rows: Row[]): string {
  const header = ['database', 'measure', 'value', 'target', 'status'];
  const body = rows.map((r) => [
    r.database,
    r.measure,
    r.note === 'error' ? 'error' : r.note === 'skipped' ? '-' : formatValue(r.value, r.unit),
    r.target === null ? '-' : `${r.target.op} ${formatValue(r.target.value, r.unit)}`,
    statusOf(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 2 || i === 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

const CLOCK_TICKS = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim();
  const n = Number(out);
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** User + system CPU seconds a process has used so far (Linux /proc), or NaN once it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command name: state is field 3, utime 14 and stime 15 (1-based, whole line).
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Busy CPU seconds of the whole machine so far (all cores, from /proc/stat), or NaN. */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
    return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Clock ticks per second of /proc's CPU times (USER_HZ). */
export function clockTicks(): number {
  return CLOCK_TICKS;
}

export function log(message: string) {
  process.stderr.write(`${message}\n`);
}

/** Runs the cleanup and exits on SIGINT/SIGTERM, once. */
export function cleanUpOnInterrupt(cleanup: Cleanup) {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: cleaning up`);
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** Runs a benchmark's main function and sets the exit code from it. */
export function runMain(main: () => Promise<number>) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
