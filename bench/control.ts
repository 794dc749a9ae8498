// Control-plane benchmark, calling the service layer directly on SQLite and PostgreSQL:
//   C1 — rollback latency with 5,000 resources vs 50 (a rollback copies nothing, so the cost
//        must not grow with the environment): p50/p95 per size and p50(5000)/p50(50).
//   C2 — commit of 5,000 × ~2 kB config resources and their promotion to production, each
//        timed, and the per-resource cost at 5,000 vs at 500.
//   C4 — commit of 1 changed resource in an environment of 5,000 and of 100,000 resources vs
//        of 50 (the draft is written before the timed region: `commit` only): ratios of medians.
//   C5 — promotion of that 1 changed resource from development to production, which holds the
//        previous release, at the same sizes: ratios of medians.
//   C6 — the diff service (`GET …/diff`) between two releases of development differing in 1
//        resource, at 100,000 vs at 50: ratio of medians. C4–C6 share their environments: each
//        round writes a draft, then times the commit, the promotion and the diff.
//   C7 — logical storage of a 10,000-resource environment after R more releases that each
//        change 1 resource, ÷ the storage after its first release with its contents. Bytes are
//        summed over the content-addressed tables found in the schema (`contents`, `snapshots`,
//        `snapshot_entries` and any `snapshot_*` or `tree_*` table), the bench's workspace only.
// Everything but C7's byte count goes through the services, so the measures keep working when
// the snapshot storage changes. Quick mode seeds 20,000 resources where full mode seeds 100,000
// (the rows name the size measured) and uses fewer rounds and releases.
// A report, not a test: it exits 0 whatever the numbers, non-zero only when something crashes.
//
//   BENCH_DB=sqlite|postgres|both (default both)   BENCH_QUICK=1 (fewer iterations, for CI)
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { writeDraft } from '../src/services/resources.js';
import { commit, promote, rollback } from '../src/services/releases.js';
import { diff } from '../src/services/diff.js';
import {
  Cleanup,
  cleanUpOnInterrupt,
  log,
  runMain,
  median,
  openBench,
  percentile,
  renderTable,
  seedDrafts,
  selectedDatabases,
  statusOf,
  timed,
  uniqueBlob,
  type Bench,
  type BenchDb,
  type Row,
  type SeedResource,
} from './support.js';

const QUICK = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';

const C1_SIZES = { small: 50, large: 5_000 } as const;
const C1_ROLLBACKS = QUICK ? 40 : 200;
const C1_WARMUP = QUICK ? 5 : 20;
const C1_CHANGED = 5;
const C1_RATIO_TARGET = 1.5;
const C1_P95_TARGET_MS = 100;

const C2_SIZES = { small: 500, large: 5_000 } as const;
const C2_REPS = QUICK ? 3 : 5;
const C2_WARMUP_SIZE = 200;
const C2_BLOB_CHARS = 2_000;
const C2_TIME_TARGET_MS = 5_000;
const C2_RATIO_TARGET = 1.2;

const pad = (i: number) => String(i).padStart(5, '0');

// C4–C6: one changed resource at 50, 5,000 and 100,000 resources (20,000 in quick mode).
const C4_NOMINAL_LARGE = 100_000;
const C4_SIZES = { small: 50, medium: 5_000, large: QUICK ? 20_000 : C4_NOMINAL_LARGE } as const;
const C4_ROUNDS = QUICK ? 5 : 15;
const C4_WARMUP = QUICK ? 1 : 2;
const C4_MEDIUM_RATIO_TARGET = 2;
const C4_LARGE_RATIO_TARGET = 4;
const C6_RATIO_TARGET = 4;
/** The environment development promotes into in the bench's workspace (development → production). */
const NEXT_ENVIRONMENT = 'production';

// C7: storage of releases that each change one resource of 10,000.
const C7_SIZE = 10_000;
const C7_NOMINAL_RELEASES = 1_000;
const C7_RELEASES: number = QUICK ? 20 : C7_NOMINAL_RELEASES;
const C7_RATIO_TARGET = 2;
/** Tables holding snapshot storage, by name: today's, and those of a content-addressed tree. */
const C7_TABLES = ['contents', 'snapshots', 'snapshot_entries'];
const C7_TABLE_PREFIXES = ['snapshot_', 'tree_'];

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`benchmark sanity check failed: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// C1: rollback latency vs environment size

interface RollbackEnv {
  size: number;
  bench: Bench;
  samples: number[];
  /** Rollbacks done so far, which decides the next target (release 1, 2, 1, 2 …). */
  done: number;
}

async function prepareRollbackEnv(kind: BenchDb, cleanup: Cleanup, size: number): Promise<RollbackEnv> {
  const bench = await openBench(kind, cleanup, `c1_${size}`);
  const { deps, ctx } = bench;
  const setup = performance.now();
  const resources: SeedResource[] = Array.from({ length: size }, (_, i) => ({
    kind: 'config',
    key: `flag-${pad(i)}`,
    content: { value: { enabled: i % 2 === 0, rollout: i % 100, label: `flag ${i}` }, description: `benchmark flag ${i}` },
  }));
  await seedDrafts(bench, 'development', resources);
  const first = await commit(deps, ctx, 'development', { message: `seed ${size} resources` });
  check(first.number === 1 && first.resourceCount === size, `first commit made #${first.number} with ${first.resourceCount} resources`);
  // The second release changes a few resources through the real draft path.
  for (let i = 0; i < Math.min(C1_CHANGED, size); i++) {
    await writeDraft(deps, ctx, 'development', { kind: 'config', key: `flag-${pad(i)}` }, { content: { value: { enabled: false, rollout: 0, label: `changed ${i}` } } });
  }
  const second = await commit(deps, ctx, 'development', { message: 'change a few' });
  check(second.number === 2 && second.changes.changed === Math.min(C1_CHANGED, size), `second commit: #${second.number} ${JSON.stringify(second.changes)}`);
  log(`  ${kind} C1 setup n=${size}: ${((performance.now() - setup) / 1000).toFixed(1)} s`);
  return { size, bench, samples: [], done: 0 };
}

async function rollbackOnce(env: RollbackEnv, record: boolean) {
  const target = env.done % 2 === 0 ? 1 : 2;
  const { ms, result } = await timed(() => rollback(env.bench.deps, env.bench.ctx, 'development', { release: target }));
  const made = 'rolledBackTo' in result ? result : null;
  check(made?.rolledBackTo === target && made.resourceCount === env.size, `rollback to #${target} gave ${JSON.stringify({ to: made?.rolledBackTo, count: made?.resourceCount })}`);
  env.done += 1;
  if (record) env.samples.push(ms);
}

async function benchRollback(kind: BenchDb, cleanup: Cleanup): Promise<Row[]> {
  log(`${kind}: C1 rollback latency (${C1_SIZES.small} vs ${C1_SIZES.large} resources, ${C1_ROLLBACKS} rollbacks each)`);
  const small = await prepareRollbackEnv(kind, cleanup, C1_SIZES.small);
  const large = await prepareRollbackEnv(kind, cleanup, C1_SIZES.large);
  try {
    // Interleaved, in alternating order, so drift (JIT, caches, checkpoints) hits both sizes alike.
    for (let i = 0; i < C1_WARMUP + C1_ROLLBACKS; i++) {
      const pair = i % 2 === 0 ? [small, large] : [large, small];
      for (const env of pair) await rollbackOnce(env, i >= C1_WARMUP);
    }
  } finally {
    await small.bench.dispose();
    await large.bench.dispose();
  }
  const p = (env: RollbackEnv, q: number) => percentile(env.samples, q);
  log(`  ${kind} C1 max: n=${small.size} ${Math.max(...small.samples).toFixed(2)} ms, n=${large.size} ${Math.max(...large.samples).toFixed(2)} ms`);
  return [
    { database: kind, measure: `C1 rollback p50, ${small.size} resources`, value: p(small, 50), unit: 'ms', target: null },
    { database: kind, measure: `C1 rollback p95, ${small.size} resources`, value: p(small, 95), unit: 'ms', target: { op: '<=', value: C1_P95_TARGET_MS } },
    { database: kind, measure: `C1 rollback p50, ${large.size} resources`, value: p(large, 50), unit: 'ms', target: null },
    { database: kind, measure: `C1 rollback p95, ${large.size} resources`, value: p(large, 95), unit: 'ms', target: { op: '<=', value: C1_P95_TARGET_MS } },
    { database: kind, measure: `C1 rollback p50 ratio ${large.size}/${small.size}`, value: p(large, 50) / p(small, 50), unit: 'x', target: { op: '<=', value: C1_RATIO_TARGET } },
  ];
}

// ---------------------------------------------------------------------------------------------
// C2: commit and promotion of many ~2 kB resources

interface CommitRun {
  commitMs: number;
  promoteMs: number;
}

async function commitAndPromote(kind: BenchDb, cleanup: Cleanup, size: number, label: string): Promise<CommitRun> {
  const bench = await openBench(kind, cleanup, label);
  try {
    const { deps, ctx } = bench;
    const resources: SeedResource[] = Array.from({ length: size }, (_, i) => ({
      kind: 'config',
      key: `blob-${pad(i)}`,
      content: { value: { blob: uniqueBlob(C2_BLOB_CHARS), i } },
    }));
    await seedDrafts(bench, 'development', resources);
    const committed = await timed(() => commit(deps, ctx, 'development', { message: `commit ${size} resources` }));
    check(committed.result.changes.added === size && committed.result.resourceCount === size, `commit: ${JSON.stringify(committed.result.changes)}`);
    const promoted = await timed(() => promote(deps, ctx, 'production', {}));
    check('number' in promoted.result && promoted.result.resourceCount === size && promoted.result.changes.added === size, `promotion: ${JSON.stringify(promoted.result)}`);
    return { commitMs: committed.ms, promoteMs: promoted.ms };
  } finally {
    await bench.dispose();
  }
}

async function benchCommitPromote(kind: BenchDb, cleanup: Cleanup): Promise<Row[]> {
  log(`${kind}: C2 commit + promotion (${C2_SIZES.small} and ${C2_SIZES.large} × ~${C2_BLOB_CHARS / 1000} kB, ${C2_REPS} run(s) each, fresh database per run)`);
  // One discarded run first, so neither measured size pays for the process warming up.
  await commitAndPromote(kind, cleanup, C2_WARMUP_SIZE, 'c2_warmup');
  const runs = new Map<number, CommitRun[]>([
    [C2_SIZES.small, []],
    [C2_SIZES.large, []],
  ]);
  for (let rep = 0; rep < C2_REPS; rep++) {
    const order = rep % 2 === 0 ? [C2_SIZES.small, C2_SIZES.large] : [C2_SIZES.large, C2_SIZES.small];
    for (const size of order) {
      const run = await commitAndPromote(kind, cleanup, size, `c2_${size}`);
      runs.get(size)!.push(run);
      log(`  ${kind} C2 n=${size} run ${rep + 1}: commit ${run.commitMs.toFixed(0)} ms, promotion ${run.promoteMs.toFixed(0)} ms`);
    }
  }
  const med = (size: number, field: keyof CommitRun) => median(runs.get(size)!.map((r) => r[field]));
  const perResourceRatio = (field: keyof CommitRun) => med(C2_SIZES.large, field) / C2_SIZES.large / (med(C2_SIZES.small, field) / C2_SIZES.small);
  const rows: Row[] = [];
  for (const size of [C2_SIZES.small, C2_SIZES.large]) {
    rows.push({ database: kind, measure: `C2 commit, ${size} resources`, value: med(size, 'commitMs'), unit: 'ms', target: { op: '<=', value: C2_TIME_TARGET_MS } });
    rows.push({ database: kind, measure: `C2 promotion, ${size} resources`, value: med(size, 'promoteMs'), unit: 'ms', target: { op: '<=', value: C2_TIME_TARGET_MS } });
  }
  for (const field of ['commitMs', 'promoteMs'] as const) {
    const name = field === 'commitMs' ? 'commit' : 'promotion';
    for (const size of [C2_SIZES.small, C2_SIZES.large]) {
      rows.push({ database: kind, measure: `C2 ${name} per resource, ${size}`, value: med(size, field) / size, unit: 'ms', target: null });
    }
    rows.push({ database: kind, measure: `C2 ${name} per-resource ratio ${C2_SIZES.large}/${C2_SIZES.small}`, value: perResourceRatio(field), unit: 'x', target: { op: '<=', value: C2_RATIO_TARGET } });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Shared by C4–C7: an environment of `size` flags, committed once (and promoted once)

const key6 = (i: number) => String(i).padStart(6, '0');

function flagResources(size: number): SeedResource[] {
  return Array.from({ length: size }, (_, i) => ({
    kind: 'config',
    key: `flag-${key6(i)}`,
    content: { value: { enabled: i % 2 === 0, rollout: i % 100, label: `flag ${i}` }, description: `benchmark flag ${i}` },
  }));
}

/** Drafts a new value of one existing flag through the real draft path (outside any timed region). */
async function changeOneFlag(bench: Bench, size: number, round: number) {
  const i = (round * 7919) % size;
  await writeDraft(bench.deps, bench.ctx, 'development', { kind: 'config', key: `flag-${key6(i)}` }, {
    content: { value: { enabled: round % 2 === 1, rollout: round % 100, label: `round ${round}` }, description: `benchmark flag ${i}, round ${round}` },
  });
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const sizeLabel = (n: number) => n.toLocaleString('en-US');

// ---------------------------------------------------------------------------------------------
// C4–C6: commit, promotion and diff of one changed resource vs environment size

interface ChangeEnv {
  size: number;
  bench: Bench;
  commits: number[];
  promotions: number[];
  diffs: number[];
  rounds: number;
  seed: { drafts: number; commit: number; promotion: number };
}

async function prepareChangeEnv(kind: BenchDb, cleanup: Cleanup, size: number): Promise<ChangeEnv> {
  const bench = await openBench(kind, cleanup, `c4_${size}`);
  const { deps, ctx } = bench;
  const drafts = await timed(() => seedDrafts(bench, 'development', flagResources(size)));
  const first = await timed(() => commit(deps, ctx, 'development', { message: `seed ${size} resources` }));
  check(first.result.number === 1 && first.result.resourceCount === size, `first commit made #${first.result.number} with ${first.result.resourceCount} resources`);
  const promoted = await timed(() => promote(deps, ctx, NEXT_ENVIRONMENT, {}));
  check('number' in promoted.result && promoted.result.resourceCount === size, `first promotion: ${JSON.stringify(promoted.result).slice(0, 200)}`);
  const seed = { drafts: drafts.ms, commit: first.ms, promotion: promoted.ms };
  log(`  ${kind} C4–C6 seeding n=${sizeLabel(size)}: drafts ${seconds(seed.drafts)}, first commit ${seconds(seed.commit)}, first promotion ${seconds(seed.promotion)}`);
  return { size, bench, commits: [], promotions: [], diffs: [], rounds: 0, seed };
}

/** One round: draft one change (untimed), then time its commit, its promotion and the diff. */
async function changeRound(env: ChangeEnv, record: boolean) {
  const { deps, ctx } = env.bench;
  env.rounds += 1;
  await changeOneFlag(env.bench, env.size, env.rounds);

  const committed = await timed(() => commit(deps, ctx, 'development', { message: `round ${env.rounds}` }));
  const release = committed.result.number;
  check(committed.result.resourceCount === env.size && committed.result.changes.changed === 1 && committed.result.changes.added === 0, `commit: ${JSON.stringify(committed.result.changes)}`);

  const promoted = await timed(() => promote(deps, ctx, NEXT_ENVIRONMENT, {}));
  const made = 'number' in promoted.result && 'changes' in promoted.result ? promoted.result : null;
  check(made !== null && made.resourceCount === env.size && made.changes.changed === 1 && made.changes.added === 0, `promotion: ${JSON.stringify(promoted.result).slice(0, 200)}`);

  const diffed = await timed(() => diff(deps, ctx, `development#${release - 1}`, `development#${release}`));
  check(diffed.result.changes.length === 1 && diffed.result.changes[0]!.status === 'changed', `diff: ${diffed.result.changes.length} changes`);

  if (record) {
    env.commits.push(committed.ms);
    env.promotions.push(promoted.ms);
    env.diffs.push(diffed.ms);
  }
}

async function benchChangeOne(kind: BenchDb, cleanup: Cleanup): Promise<Row[]> {
  const sizes = [C4_SIZES.small, C4_SIZES.medium, C4_SIZES.large];
  log(`${kind}: C4–C6 one changed resource at ${sizes.map(sizeLabel).join(' / ')} resources (${C4_ROUNDS} rounds after ${C4_WARMUP} warm-up)`);
  const envs: ChangeEnv[] = [];
  try {
    for (const size of sizes) envs.push(await prepareChangeEnv(kind, cleanup, size));
    // Interleaved, in rotating order, so drift hits every size alike.
    for (let i = 0; i < C4_WARMUP + C4_ROUNDS; i++) {
      const order = envs.map((_, j) => envs[(i + j) % envs.length]!);
      for (const env of order) await changeRound(env, i >= C4_WARMUP);
    }
  } finally {
    for (const env of envs) await env.bench.dispose();
  }
  const [small, medium, large] = envs as [ChangeEnv, ChangeEnv, ChangeEnv];
  for (const env of envs) {
    log(`  ${kind} C4–C6 max n=${sizeLabel(env.size)}: commit ${Math.max(...env.commits).toFixed(1)} ms, promotion ${Math.max(...env.promotions).toFixed(1)} ms, diff ${Math.max(...env.diffs).toFixed(1)} ms`);
  }
  // In quick mode the large environment stands in for 100,000 at the size it really has.
  const largeNote = large.size === C4_NOMINAL_LARGE ? '' : ` (quick: ${sizeLabel(C4_NOMINAL_LARGE)} seeded as ${sizeLabel(large.size)})`;
  const rows: Row[] = [];
  for (const env of [medium, large]) {
    const s = env.seed;
    rows.push({ database: kind, measure: `C4–C6 seeding ${sizeLabel(env.size)}: drafts + first commit + first promotion`, value: (s.drafts + s.commit + s.promotion) / 1000, unit: 's', target: null });
  }
  const measures = [
    { name: 'C4 commit of 1 changed resource (commit only, draft written before)', short: 'C4 commit', samples: (e: ChangeEnv) => e.commits, medium: C4_MEDIUM_RATIO_TARGET as number | null },
    { name: `C5 promotion of 1 changed resource, development → ${NEXT_ENVIRONMENT}`, short: 'C5 promotion', samples: (e: ChangeEnv) => e.promotions, medium: C4_MEDIUM_RATIO_TARGET as number | null },
    { name: 'C6 diff of two releases differing in 1 resource', short: 'C6 diff', samples: (e: ChangeEnv) => e.diffs, medium: null },
  ];
  for (const m of measures) {
    const med = (env: ChangeEnv) => median(m.samples(env));
    for (const env of envs) rows.push({ database: kind, measure: `${m.name}, p50 at ${sizeLabel(env.size)}`, value: med(env), unit: 'ms', target: null });
    rows.push({
      database: kind,
      measure: `${m.short} p50 ratio ${sizeLabel(medium.size)}/${sizeLabel(small.size)}`,
      value: med(medium) / med(small),
      unit: 'x',
      target: m.medium === null ? null : { op: '<=', value: m.medium },
    });
    rows.push({
      database: kind,
      measure: `${m.short} p50 ratio ${sizeLabel(large.size)}/${sizeLabel(small.size)}${largeNote}`,
      value: med(large) / med(small),
      unit: 'x',
      target: { op: '<=', value: m.short === 'C6 diff' ? C6_RATIO_TARGET : C4_LARGE_RATIO_TARGET },
    });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// C7: storage of many releases that each change one resource

interface TableBytes {
  table: string;
  rows: number;
  bytes: number;
}

/** The snapshot-storage tables of the schema (found by name, so new ones are counted unedited). */
async function storageTables(bench: Bench): Promise<{ table: string; columns: { name: string; binary: boolean }[] }[]> {
  const db = bench.store.db;
  const wanted = (name: string) => C7_TABLES.includes(name) || C7_TABLE_PREFIXES.some((p) => name.startsWith(p));
  if (bench.store.dialect === 'sqlite') {
    const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table' order by name`.execute(db);
    const out = [];
    for (const { name } of tables.rows.filter((t) => wanted(t.name))) {
      const columns = await sql<{ name: string; type: string }>`select name, type from pragma_table_info(${name})`.execute(db);
      out.push({ table: name, columns: columns.rows.map((c) => ({ name: c.name, binary: /blob/i.test(c.type) })) });
    }
    return out;
  }
  const columns = await sql<{ table_name: string; column_name: string; data_type: string }>`
    select c.table_name, c.column_name, c.data_type
    from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema = current_schema() and t.table_type = 'BASE TABLE'
    order by c.table_name, c.ordinal_position`.execute(db);
  const byTable = new Map<string, { name: string; binary: boolean }[]>();
  for (const c of columns.rows.filter((r) => wanted(r.table_name))) {
    byTable.set(c.table_name, [...(byTable.get(c.table_name) ?? []), { name: c.column_name, binary: c.data_type === 'bytea' }]);
  }
  return [...byTable].map(([table, cols]) => ({ table, columns: cols }));
}

/**
 * Logical bytes of the snapshot storage of the bench's workspace: for every row of those
 * tables, the byte lengths of its column values (text in UTF-8, binary as stored, a number as
 * its decimal text, null as 0). Tables without a workspace_id column are counted whole.
 */
async function storageBytes(bench: Bench): Promise<TableBytes[]> {
  const db = bench.store.db;
  const sqlite = bench.store.dialect === 'sqlite';
  const out: TableBytes[] = [];
  for (const { table, columns } of await storageTables(bench)) {
    const lengths = columns.map((c) =>
      sqlite ? sql`coalesce(length(cast(${sql.ref(c.name)} as blob)), 0)` : c.binary ? sql`coalesce(octet_length(${sql.ref(c.name)}), 0)` : sql`coalesce(octet_length(${sql.ref(c.name)}::text), 0)`,
    );
    const rowBytes = lengths.length > 0 ? sql.join(lengths, sql` + `) : sql`0`;
    const scoped = columns.some((c) => c.name === 'workspace_id');
    const where = scoped ? sql`where workspace_id = ${bench.ctx.workspace.id}` : sql``;
    const result = await sql<{ n: number | string; bytes: number | string | null }>`select count(*) as n, sum(${rowBytes}) as bytes from ${sql.table(table)} ${where}`.execute(db);
    const row = result.rows[0]!;
    out.push({ table, rows: Number(row.n), bytes: Number(row.bytes ?? 0) });
  }
  return out;
}

const totalBytes = (tables: TableBytes[]) => tables.reduce((sum, t) => sum + t.bytes, 0);
const describeBytes = (tables: TableBytes[]) => tables.map((t) => `${t.table} ${t.rows.toLocaleString('en-US')} rows ${(t.bytes / 1e6).toFixed(2)} MB`).join(', ');

async function benchStorage(kind: BenchDb, cleanup: Cleanup): Promise<Row[]> {
  log(`${kind}: C7 storage of ${C7_RELEASES} releases each changing 1 of ${sizeLabel(C7_SIZE)} resources`);
  const bench = await openBench(kind, cleanup, 'c7');
  try {
    const { deps, ctx } = bench;
    const setup = performance.now();
    await seedDrafts(bench, 'development', flagResources(C7_SIZE));
    const first = await commit(deps, ctx, 'development', { message: `seed ${C7_SIZE} resources` });
    check(first.number === 1 && first.resourceCount === C7_SIZE, `first commit made #${first.number} with ${first.resourceCount} resources`);
    log(`  ${kind} C7 seeding n=${sizeLabel(C7_SIZE)}: ${seconds(performance.now() - setup)}`);
    const before = await storageBytes(bench);
    log(`  ${kind} C7 after the first release: ${describeBytes(before)}`);

    const commits: number[] = [];
    const started = performance.now();
    for (let r = 1; r <= C7_RELEASES; r++) {
      await changeOneFlag(bench, C7_SIZE, r);
      const committed = await timed(() => commit(deps, ctx, 'development', { message: `release ${r + 1}` }));
      check(committed.result.number === r + 1 && committed.result.changes.changed === 1, `commit ${r}: #${committed.result.number} ${JSON.stringify(committed.result.changes)}`);
      commits.push(committed.ms);
      if (r % 50 === 0) log(`  ${kind} C7 ${r}/${C7_RELEASES} releases, last commit ${committed.ms.toFixed(0)} ms`);
    }
    const elapsed = performance.now() - started;
    const after = await storageBytes(bench);
    log(`  ${kind} C7 after ${C7_RELEASES} more releases (${seconds(elapsed)} with their drafts): ${describeBytes(after)}`);

    const base = totalBytes(before);
    const total = totalBytes(after);
    const growth = (total - base) / C7_RELEASES;
    const tenth = Math.max(1, Math.floor(commits.length / 10));
    const rows: Row[] = [
      { database: kind, measure: `C7 commit of 1 change at ${sizeLabel(C7_SIZE)}, p50 of ${C7_RELEASES}`, value: median(commits), unit: 'ms', target: null },
      { database: kind, measure: `C7 commit p50, first ${tenth} releases`, value: median(commits.slice(0, tenth)), unit: 'ms', target: null },
      { database: kind, measure: `C7 commit p50, last ${tenth} releases`, value: median(commits.slice(-tenth)), unit: 'ms', target: null },
      { database: kind, measure: `C7 storage, first release of ${sizeLabel(C7_SIZE)} with contents`, value: base / 1e6, unit: 'MB', target: null },
      { database: kind, measure: `C7 storage after ${C7_RELEASES} more releases of 1 change`, value: total / 1e6, unit: 'MB', target: null },
      { database: kind, measure: 'C7 storage growth per release of 1 change', value: growth / 1e3, unit: 'kB', target: null },
      { database: kind, measure: `C7 storage ratio (first + ${C7_RELEASES}) / first`, value: total / base, unit: 'x', target: { op: '<=', value: C7_RATIO_TARGET } },
    ];
    if (C7_RELEASES !== C7_NOMINAL_RELEASES) {
      rows.push({
        database: kind,
        measure: `C7 ratio extrapolated to ${sizeLabel(C7_NOMINAL_RELEASES)} releases (linear from the growth above; not measured)`,
        value: (base + growth * C7_NOMINAL_RELEASES) / base,
        unit: 'x',
        target: null,
      });
    }
    return rows;
  } finally {
    await bench.dispose();
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const databases = selectedDatabases();
  const cleanup = new Cleanup();
  cleanUpOnInterrupt(cleanup);

  const rows: Row[] = [];
  let failed = false;
  const started = performance.now();
  try {
    for (const kind of databases) {
      for (const [name, run] of [
        ['C1', benchRollback],
        ['C2', benchCommitPromote],
        ['C4–C6', benchChangeOne],
        ['C7', benchStorage],
      ] as const) {
        try {
          rows.push(...(await run(kind, cleanup)));
        } catch (error) {
          failed = true;
          console.error(`${kind} ${name} crashed:`, error);
          rows.push({ database: kind, measure: `${name} (crashed: ${(error as Error).message.slice(0, 60)})`, value: null, unit: '', target: null, note: 'error' });
        }
      }
    }
  } finally {
    await cleanup.runAll();
  }

  const mode = QUICK ? 'quick' : 'full';
  console.log('');
  console.log(
    `Stageline control-plane benchmark (${mode}: C1 ${C1_ROLLBACKS} rollbacks per size after ${C1_WARMUP} warm-up, C2 median of ${C2_REPS} run(s), ` +
      `C4–C6 median of ${C4_ROUNDS} rounds after ${C4_WARMUP} warm-up, C7 ${C7_RELEASES} releases; node ${process.version})`,
  );
  console.log('');
  console.log(renderTable(rows));
  const over = rows.filter((r) => statusOf(r) === 'over').length;
  console.log('');
  console.log(`${rows.filter((r) => statusOf(r) === 'ok').length} within target, ${over} over target${failed ? ', some measures crashed' : ''}; ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return failed ? 1 : 0;
}

runMain(main);
