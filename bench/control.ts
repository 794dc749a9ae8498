// Control-plane benchmark, calling the service layer directly on SQLite and PostgreSQL:
//   C1 — rollback latency with 5,000 resources vs 50 (a rollback copies nothing, so the cost
//        must not grow with the environment): p50/p95 per size and p50(5000)/p50(50).
//   C2 — commit of 5,000 × ~2 kB config resources and their promotion to production, each
//        timed, and the per-resource cost at 5,000 vs at 500.
// A report, not a test: it exits 0 whatever the numbers, non-zero only when something crashes.
//
//   BENCH_DB=sqlite|postgres|both (default both)   BENCH_QUICK=1 (fewer iterations, for CI)
import { performance } from 'node:perf_hooks';
import { writeDraft } from '../src/services/resources.js';
import { commit, promote, rollback } from '../src/services/releases.js';
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
  console.log(`Stageline control-plane benchmark (${mode}: C1 ${C1_ROLLBACKS} rollbacks per size after ${C1_WARMUP} warm-up, C2 median of ${C2_REPS} run(s); node ${process.version})`);
  console.log('');
  console.log(renderTable(rows));
  const over = rows.filter((r) => statusOf(r) === 'over').length;
  console.log('');
  console.log(`${rows.filter((r) => statusOf(r) === 'ok').length} within target, ${over} over target${failed ? ', some measures crashed' : ''}; ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return failed ? 1 : 0;
}

runMain(main);
