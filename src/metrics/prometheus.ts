// /metrics in the Prometheus text format: the node's cumulative counters (this process's and its
// gateway workers'), read from the recorders at scrape time and labelled by workspace, environment and route (or resource,
// workflow, channel, tool), plus prom-client's default process metrics.
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import type { MetricFamily } from './contract.js';
import { BUCKET_COUNT, HISTOGRAM_MIN_MS, SUB_BUCKETS } from './histogram.js';
import { COUNTER_COUNT, DURATION_COUNT, DURATION_SUM, ERRORS, REQUESTS, S2XX, type SeriesTotals, UPSTREAM_ERRORS } from './recorder.js';

/** Names of the workspaces and environments a scrape may show (ids → slugs). */
export interface ScrapeScope {
  workspaces: Map<string, string>;
  environments: Map<string, string>;
}

interface FamilyExport {
  family: MetricFamily;
  /** The label naming the subject. */
  label: string;
  counters: { name: string; help: string; index: number; byClass?: boolean }[];
  histogram?: { name: string; help: string };
}

const EXPORTS: FamilyExport[] = [
  {
    family: 'gateway',
    label: 'route',
    counters: [
      { name: 'stageline_gateway_requests_total', help: 'Gateway requests by status class', index: REQUESTS, byClass: true },
      { name: 'stageline_gateway_errors_total', help: 'Gateway requests answered with a 5xx', index: ERRORS },
      { name: 'stageline_gateway_upstream_errors_total', help: 'Gateway requests whose upstream gave no answer (502/504 made by the gateway)', index: UPSTREAM_ERRORS },
    ],
    histogram: { name: 'stageline_gateway_request_duration_ms', help: 'Gateway request duration from arrival to the end of the response' },
  },
  {
    family: 'delivery',
    label: 'resource',
    counters: [{ name: 'stageline_delivery_reads_total', help: 'Delivery API reads by status class', index: REQUESTS, byClass: true }],
    histogram: { name: 'stageline_delivery_read_duration_ms', help: 'Delivery API read duration' },
  },
  {
    family: 'workflow',
    label: 'workflow',
    counters: [
      { name: 'stageline_workflow_runs_started_total', help: 'Workflow runs started', index: REQUESTS },
      { name: 'stageline_workflow_runs_finished_total', help: 'Workflow runs finished (completed or failed)', index: DURATION_COUNT },
      { name: 'stageline_workflow_runs_failed_total', help: 'Workflow runs failed', index: ERRORS },
    ],
  },
  {
    family: 'workflow_step',
    label: 'channel',
    counters: [
      { name: 'stageline_workflow_steps_total', help: 'Workflow steps finished, by channel', index: REQUESTS },
      { name: 'stageline_workflow_step_failures_total', help: 'Workflow steps failed, by channel', index: ERRORS },
    ],
  },
  {
    family: 'tool',
    label: 'tool',
    counters: [
      { name: 'stageline_tool_calls_total', help: 'Tool calls by status class of the upstream', index: REQUESTS, byClass: true },
      { name: 'stageline_tool_errors_total', help: 'Tool calls that failed or got a 5xx', index: ERRORS },
    ],
    histogram: { name: 'stageline_tool_call_duration_ms', help: 'Tool call duration' },
  },
];

const CLASSES = ['2xx', '3xx', '4xx', '5xx'];
/** Histogram bounds at powers of two (every SUB_BUCKETS-th bucket boundary), from 1.28 ms. */
const BOUNDS = Array.from({ length: BUCKET_COUNT / SUB_BUCKETS - 6 }, (_, i) => i + 7);

/** One labelled line set: a subject's cumulative counts (a total minus its subjects for ''). */
interface Line {
  workspace: string;
  environment: string;
  subject: string;
  counters: number[];
  buckets: number[];
}

/** The series of a family in scope, with '' carrying what no subject counted (unmatched routes, missing resources). */
function linesOf(all: readonly SeriesTotals[], scope: ScrapeScope, family: MetricFamily): Line[] {
  const lines: Line[] = [];
  const remainders = new Map<string, Line>();
  const subjects: SeriesTotals[] = [];
  for (const series of all) {
    if (series.family !== family) continue;
    const workspace = scope.workspaces.get(series.workspaceId);
    const environment = scope.environments.get(series.environmentId);
    if (workspace === undefined || environment === undefined) continue;
    if (series.subject === '') {
      const line = { workspace, environment, subject: '', counters: series.total.slice(), buckets: series.totalBuckets.slice() };
      remainders.set(series.environmentId, line);
      lines.push(line);
    } else {
      subjects.push(series);
      lines.push({ workspace, environment, subject: series.subject, counters: series.total, buckets: series.totalBuckets });
    }
  }
  for (const series of subjects) {
    const remainder = remainders.get(series.environmentId);
    if (!remainder) continue;
    for (let i = 0; i < COUNTER_COUNT; i++) remainder.counters[i]! -= series.total[i]!;
    for (let i = 0; i < BUCKET_COUNT; i++) remainder.buckets[i]! -= series.totalBuckets[i]!;
  }
  return lines.filter((l) => l.subject !== '' || l.counters[REQUESTS]! > 0 || l.counters[DURATION_COUNT]! > 0 || l.counters[ERRORS]! > 0);
}

const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function histogramText(name: string, help: string, label: string, lines: Line[]): string {
  let text = `# HELP ${name} ${help}\n# TYPE ${name} histogram\n`;
  for (const line of lines) {
    if (line.counters[DURATION_COUNT]! <= 0) continue;
    const labels = `workspace="${escape(line.workspace)}",environment="${escape(line.environment)}",${label}="${escape(line.subject)}"`;
    let seen = 0;
    let bucket = 0;
    for (const power of BOUNDS) {
      for (; bucket < power * SUB_BUCKETS; bucket++) seen += line.buckets[bucket]!;
      text += `${name}_bucket{${labels},le="${HISTOGRAM_MIN_MS * 2 ** power}"} ${seen}\n`;
    }
    text += `${name}_bucket{${labels},le="+Inf"} ${line.counters[DURATION_COUNT]}\n`;
    text += `${name}_sum{${labels}} ${line.counters[DURATION_SUM]}\n${name}_count{${labels}} ${line.counters[DURATION_COUNT]}\n`;
  }
  return text;
}

/** The process metrics, collected once per process (prom-client keeps their state). */
let processRegistry: Registry | null = null;

function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: 'stageline_' });
  }
  return processRegistry;
}

/**
 * The text of one scrape: the series in `scope` (a fresh registry per scrape, so scopes never mix),
 * then the process's. `series` is null when metrics are off.
 */
export async function scrape(series: readonly SeriesTotals[] | null, scope: ScrapeScope): Promise<string> {
  const registry = new Registry();
  let histograms = '';
  if (series) {
    for (const family of EXPORTS) {
      const lines = linesOf(series, scope, family.family);
      for (const counter of family.counters) {
        const labelNames = ['workspace', 'environment', family.label, ...(counter.byClass ? ['class'] : [])];
        const metric = new Counter({ name: counter.name, help: counter.help, labelNames, registers: [registry] });
        for (const line of lines) {
          const labels: Record<string, string> = { workspace: line.workspace, environment: line.environment, [family.label]: line.subject };
          if (!counter.byClass) {
            metric.inc(labels, Math.max(0, line.counters[counter.index]!));
            continue;
          }
          for (let c = 0; c < CLASSES.length; c++) {
            const value = line.counters[S2XX + c]!;
            if (value > 0) metric.inc({ ...labels, class: CLASSES[c]! }, value);
          }
        }
      }
      if (family.histogram) histograms += histogramText(family.histogram.name, family.histogram.help, family.label, lines);
    }
  }
  return `${await registry.metrics()}\n${histograms}${await processMetrics().metrics()}`;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
