// Analytics benchmark: 7 days × 4 environments × 50 routes of minute rollups (and the hour rows
// the flusher writes beside them), then the analytics answer over the 7 days (read from hour
// rows of the environments' totals) against scanning the raw minute rows once (every row of the
// range, folded in JS), in the same run on the same database.
//   A1 — analytics over 7 days, 4 environments: median time ÷ the raw scan's; target ≤ 0.2×.
// A report, not a test: it exits 0 whatever the numbers, non-zero only when something crashes
// or the two answers disagree.
//
//   BENCH_DB=sqlite|postgres|both (default both)   BENCH_QUICK=1 (10 routes instead of 50, fewer runs, for CI)
import { performance } from 'node:perf_hooks';
import { Totals } from '../src/metrics/reader.js';
import { check } from './delivery-support.js';
import { readAnalytics } from '../src/services/analytics.js';
import { createEnvironment } from '../src/services/environments.js';
import { insertMany } from '../src/store/database.js';
import { listEnvironments } from '../src/store/environments.js';
import { listRollups } from '../src/store/metrics.js';
import type { MetricRollupTable } from '../src/store/schema.js';
import { Cleanup, cleanUpOnInterrupt, log, median, openBench, renderTable, runMain, selectedDatabases, statusOf, timed, type Bench, type BenchDb, type Row } from './support.js';

const QUICK = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';
const DAYS = 7;
const ENVIRONMENTS = ['development', 'qa', 'staging', 'production'];
const ROUTES = QUICK ? 10 : 50;
const ANALYTICS_RUNS = QUICK ? 5 : 15;
const SCAN_RUNS = QUICK ? 1 : 3;
const RATIO_TARGET = 0.2;
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** The counts of one series in one minute: deterministic, varied, with a sparse histogram. */
function minuteCounts(env: number, route: number, minute: number): { counters: number[]; buckets: Record<string, number> } {
  const requests = 20 + ((minute * 7 + route * 13 + env * 31) % 40);
  const s5xx = (minute + route) % 17 === 0 ? 2 : 0;
  const s4xx = requests % 5;
  const base = 60 + ((route * 3 + env) % 40);
  const buckets: Record<string, number> = { [base]: requests - 3, [base + 4]: 2, [base + 12]: 1 };
  return { counters: [requests, requests - s4xx - s5xx, 0, s4xx, s5xx, s5xx, s5xx > 0 ? 1 : 0, requests, requests * 4.5], buckets };
}

const COLUMNS = ['requests', 's2xx', 's3xx', 's4xx', 's5xx', 'errors', 'upstream_errors', 'duration_count', 'duration_sum_ms'] as const;

function rowOf(resolution: 'minute' | 'hour', at: number, workspaceId: string, environmentId: string, subject: string, counters: number[], buckets: Record<string, number>): MetricRollupTable {
  const row = { node_id: 'node_bench', resolution, bucket_start: new Date(at).toISOString(), workspace_id: workspaceId, environment_id: environmentId, family: 'gateway', subject, buckets: JSON.stringify(buckets) } as MetricRollupTable;
  COLUMNS.forEach((column, i) => (row[column] = counters[i]!));
  return row;
}

function addTo(into: { counters: number[]; buckets: Record<string, number> }, from: { counters: number[]; buckets: Record<string, number> }) {
  from.counters.forEach((v, i) => (into.counters[i]! += v));
  for (const [k, v] of Object.entries(from.buckets)) into.buckets[k] = (into.buckets[k] ?? 0) + v;
}

const empty = () => ({ counters: new Array<number>(COLUMNS.length).fill(0), buckets: {} as Record<string, number> });

/** Minute rows of every route and the environments' totals, and the hour rows they fold into; answers the requests per environment. */
async function seed(bench: Bench, envIds: string[], start: number): Promise<{ rows: number; requests: number[] }> {
  const workspaceId = bench.ctx.workspace.id;
  const requests = envIds.map(() => 0);
  let rows = 0;
  const minutes = DAYS * 24 * 60;
  for (let hour = 0; hour < minutes / 60; hour++) {
    const batch: MetricRollupTable[] = [];
    for (const [e, environmentId] of envIds.entries()) {
      const hourTotal = empty();
      for (let route = 0; route < ROUTES; route++) {
        const hourRoute = empty();
        for (let m = 0; m < 60; m++) {
          const minute = hour * 60 + m;
          const counts = minuteCounts(e, route, minute);
          batch.push(rowOf('minute', start + minute * MINUTE_MS, workspaceId, environmentId, `route-${route}`, counts.counters, counts.buckets));
          addTo(hourRoute, counts);
        }
        batch.push(rowOf('hour', start + hour * HOUR_MS, workspaceId, environmentId, `route-${route}`, hourRoute.counters, hourRoute.buckets));
        addTo(hourTotal, hourRoute);
      }
      // The environment's total per minute, as the recorder writes it beside the routes.
      for (let m = 0; m < 60; m++) {
        const total = empty();
        for (let route = 0; route < ROUTES; route++) addTo(total, minuteCounts(e, route, hour * 60 + m));
        batch.push(rowOf('minute', start + (hour * 60 + m) * MINUTE_MS, workspaceId, environmentId, '', total.counters, total.buckets));
      }
      batch.push(rowOf('hour', start + hour * HOUR_MS, workspaceId, environmentId, '', hourTotal.counters, hourTotal.buckets));
      requests[e]! += hourTotal.counters[0]!;
    }
    await bench.store.transaction((tx) => insertMany(bench.store, tx, 'metric_rollups', batch));
    rows += batch.length;
  }
  return { rows, requests };
}

/** The baseline: every raw minute row of the range (routes and totals alike) read once, the routes folded per environment. */
async function rawScan(bench: Bench, envIds: string[], start: number, end: number): Promise<number[]> {
  const totals = new Map(envIds.map((id) => [id, new Totals()]));
  for (let day = start; day < end; day += 24 * HOUR_MS) {
    for (const id of envIds) {
      const rows = await listRollups(bench.store.db, { workspaceId: bench.ctx.workspace.id, environmentIds: [id], family: 'gateway', subject: null, resolution: 'minute', from: new Date(day).toISOString(), to: new Date(Math.min(end, day + 24 * HOUR_MS)).toISOString() });
      for (const row of rows) if (row.subject !== '') totals.get(id)!.add(row.counters, row.buckets);
    }
  }
  return envIds.map((id) => totals.get(id)!.figures().requests);
}

async function benchAnalytics(kind: BenchDb, cleanup: Cleanup): Promise<Row[]> {
  const bench = await openBench(kind, cleanup, 'analytics');
  try {
    for (const slug of ENVIRONMENTS.slice(1, 3)) await createEnvironment(bench.deps, bench.ctx, { slug });
    const all = new Map((await listEnvironments(bench.store.db, bench.ctx.workspace.id)).map((e) => [e.slug, e.id]));
    const envIds = ENVIRONMENTS.map((slug) => all.get(slug)!);
    check(envIds.every(Boolean), 'four environments');
    const end = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    const start = end - DAYS * 24 * HOUR_MS;
    const seeded = await timed(() => seed(bench, envIds, start));
    log(`${kind}: seeded ${seeded.result.rows.toLocaleString('en-US')} rollup rows in ${(seeded.ms / 1000).toFixed(1)} s`);

    const input = { envs: ENVIRONMENTS.join(','), from: new Date(start).toISOString(), to: new Date(end).toISOString() };
    const analyticsMs: number[] = [];
    let answer: Awaited<ReturnType<typeof readAnalytics>> | null = null;
    for (let i = 0; i < ANALYTICS_RUNS + 1; i++) {
      const run = await timed(() => readAnalytics(bench.deps, bench.ctx, input));
      if (i > 0) analyticsMs.push(run.ms); // the first is a warm-up
      answer = run.result;
    }
    const scanMs: number[] = [];
    let scanned: number[] = [];
    for (let i = 0; i < SCAN_RUNS; i++) {
      const run = await timed(() => rawScan(bench, envIds, start, end));
      scanMs.push(run.ms);
      scanned = run.result;
    }
    const answered = ENVIRONMENTS.map((slug) => answer!.data.find((d) => d.environment === slug)!.requests);
    check(JSON.stringify(answered) === JSON.stringify(seeded.result.requests), `analytics answered ${answered} requests, seeded ${seeded.result.requests}`);
    check(JSON.stringify(scanned) === JSON.stringify(seeded.result.requests), `the scan counted ${scanned} requests, seeded ${seeded.result.requests}`);
    const a = median(analyticsMs);
    const s = median(scanMs);
    return [
      { database: kind, measure: `A1 rollup rows (${DAYS} d × ${ENVIRONMENTS.length} envs × ${ROUTES} routes, minute + hour)`, value: seeded.result.rows, unit: '', target: null },
      { database: kind, measure: `A1 analytics over ${DAYS} days (median of ${ANALYTICS_RUNS})`, value: a, unit: 'ms', target: null },
      { database: kind, measure: `A1 raw minute rows scanned once (median of ${SCAN_RUNS})`, value: s, unit: 'ms', target: null },
      { database: kind, measure: 'A1 ratio analytics / raw scan', value: a / s, unit: 'x', target: { op: '<=', value: RATIO_TARGET } },
      { database: kind, measure: 'A1 the same as a speed-up (raw scan / analytics)', value: s / a, unit: 'x', target: null },
    ];
  } finally {
    await bench.dispose();
  }
}

async function main(): Promise<number> {
  const cleanup = new Cleanup();
  cleanUpOnInterrupt(cleanup);
  const rows: Row[] = [];
  let failed = false;
  const started = performance.now();
  try {
    for (const kind of selectedDatabases()) {
      try {
        rows.push(...(await benchAnalytics(kind, cleanup)));
      } catch (error) {
        failed = true;
        console.error(`${kind} A1 crashed:`, error);
        rows.push({ database: kind, measure: `A1 (crashed: ${(error as Error).message.slice(0, 60)})`, value: null, unit: '', target: null, note: 'error' });
      }
    }
  } finally {
    await cleanup.runAll();
  }
  console.log('');
  console.log(`Stageline analytics benchmark (${QUICK ? 'quick' : 'full'}: ${DAYS} days × ${ENVIRONMENTS.length} environments × ${ROUTES} routes of minute rollups; node ${process.version})`);
  console.log('');
  console.log(renderTable(rows));
  console.log('');
  console.log(`${rows.filter((r) => statusOf(r) === 'ok').length} within target, ${rows.filter((r) => statusOf(r) === 'over').length} over target${failed ? ', some measures crashed' : ''}; ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return failed ? 1 : 0;
}

runMain(main);
