// The seams between the parts of observability and gates: the hot-path recorder and its rollups
// (src/metrics/recorder.ts, rollups.ts, reader.ts), alert evaluation (src/metrics/alerts.ts),
// promotion gates and watches (src/services/gates.ts, src/metrics/watches.ts) and outbound
// events (src/services/events.ts). Each part is built against these types.

import type { Db } from '../store/database.js';

// ---------------------------------------------------------------------------------------------
// What is counted

/**
 * The families of series. `subject` narrows a family: the route key (gateway), the resource id
 * `kind/key` (delivery), the workflow key (workflow), the channel (workflow_step), the tool key
 * (tool); '' is the environment's total of the family.
 */
export type MetricFamily = 'gateway' | 'delivery' | 'workflow' | 'workflow_step' | 'tool';

/** One series: a family of one environment, narrowed by subject. */
export interface SeriesKey {
  workspaceId: string;
  environmentId: string;
  family: MetricFamily;
  subject: string;
}

/** How a recorded event ended. */
export interface Observation {
  /** HTTP status for gateway and delivery; tools: the upstream status or 0; workflows: 0. */
  status: number;
  /** The event failed: a 5xx, a failed run or step, a tool error. */
  failed: boolean;
  /** The gateway could not get an answer from the upstream (502/504 it made itself); tools: no response. */
  upstreamFailed: boolean;
  /** Duration in ms; NaN when it has none (a run that was only started). */
  durationMs: number;
}

// ---------------------------------------------------------------------------------------------
// Reading: figures over a window, merged over every node's rollups (and this node's current minute)

export interface Figures {
  /** Events in the window (gateway requests, delivery reads, workflow runs, tool calls). */
  requests: number;
  /** Counts by status class (gateway, delivery, tool). */
  status2xx: number;
  status3xx: number;
  status4xx: number;
  status5xx: number;
  /** `failed` events: for the gateway, 5xx answers. */
  errors: number;
  upstreamErrors: number;
  /** Fractions 0–1 of `requests` (0 when there were none): errors, 2xx+3xx, upstream errors. */
  errorRate: number;
  successRate: number;
  upstreamErrorRate: number;
  /** From the merged histogram (null when nothing was measured). */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface FiguresQuery {
  workspaceId: string;
  environmentId: string;
  family: MetricFamily;
  /** '' or absent: the environment's total of the family. */
  subject?: string;
  from: Date;
  to: Date;
}

/** Implemented by src/metrics/reader.ts; used by alerts, watches, health and analytics. */
export interface MetricsReader {
  figures(query: FiguresQuery): Promise<Figures>;
  /** Writes this node's pending counts now (tests, shutdown). */
  flush(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Alerts as other parts see them (src/metrics/alerts.ts)

export type AlertMetric = 'error_rate' | 'p95_latency_ms' | 'p99_latency_ms' | 'request_rate' | 'upstream_error_rate' | 'workflow_failure_rate';

/** Implemented by the alert part: soak gates and health ask whether an environment has an alert firing. */
export interface AlertStates {
  /**
   * Alerts firing in the environment now, and whether any fired since `since`. Inside a
   * transaction pass it as `db`: on SQLite the store has one connection, which the transaction holds.
   */
  firing(workspaceId: string, environmentId: string, since?: Date, db?: Db): Promise<{ now: { rule: string; since: string }[]; firedSince: boolean }>;
}

// ---------------------------------------------------------------------------------------------
// Outbound events (src/services/events.ts): written to an outbox in the caller's transaction.

export type EventType =
  | 'release.promoted'
  | 'release.rolled_back'
  | 'promotion_request.created'
  | 'promotion_request.approved'
  | 'promotion_request.rejected'
  | 'promotion_request.applied'
  | 'gate.changed'
  | 'environment.hold_set'
  | 'environment.hold_cleared'
  | 'resource.killswitch'
  | 'alert.firing'
  | 'alert.resolved'
  | 'watch.started'
  | 'watch.passed'
  | 'watch.breached';

export interface OutboundEvent {
  type: EventType;
  /** The environment's slug, when the event is about one. */
  environment: string | null;
  /** JSON payload: ids, numbers and names only, never a secret. */
  data: Record<string, unknown>;
}
