// What the ops pages share: the shapes of the answers they rely on (until schema.d.ts types
// them all), cursor paging, the one call to an endpoint the generated types do not know yet,
// and how figures are written.
import { useEffect, useState } from 'react';
import { api } from '../../api/client';
import { Button } from '../../components/Button';

// ---- answers ---------------------------------------------------------------------------------

export interface Figures {
  requests: number;
  requestsPerMinute: number;
  errorRate: number;
  successRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  upstreamErrorRate: number;
}
export interface Analytics {
  from: string;
  to: string;
  step: number;
  route: string | null;
  data: ({ environment: string } & Figures)[];
  series: { environment: string; points: ({ at: string } & Figures)[] }[];
  markers: { environment: string; at: string; kind: 'promotion' | 'rollback' | 'commit' | 'override'; release: number | null }[];
}

export interface WindowFigures {
  release: number;
  from: string;
  to: string;
  requests: number;
  errorRate: number;
  successRate: number;
  p95Ms: number | null;
}
export interface Health {
  environment: string;
  release: { number: number; since: string } | null;
  figures: WindowFigures | null;
  previous: WindowFigures | null;
  alerts: { rule: string; since: string }[];
  gates: { config: unknown; pending: { id: string; kind: string; status: string; source: string; targetRelease: number; approvalsRequired: number; approvals: number; requestedBy: { id: string; name: string }; createdAt: string }[] };
  drift: { from: string; release: number; resources: { kind: string; key: string; status: string }[] } | null;
  freeze: { id: string; startsAt: string; endsAt: string; reason: string } | null;
  hold: { since: string; reason: string; release: number | null } | null;
}
export interface Watch {
  id: string;
  environment: string;
  release: number;
  previousRelease: number;
  status: 'running' | 'passed' | 'breached' | 'superseded';
  startedAt: string;
  endsAt: string;
  endedAt: string | null;
  secondsLeft: number;
  thresholds: { maxErrorRate: number | null; maxP95Ms: number | null; maxRegression: number | null; minRequests: number };
  figures: { requests: number; errorRate: number; p95Ms: number | null } | null;
  baseline: { requests: number; errorRate: number; p95Ms: number | null } | null;
  breach: { rule: string; value: number; limit: number; message: string } | null;
  rollbackRelease: number | null;
  reason: string | null;
}

export interface ChannelView {
  type: string;
  url?: string;
  routingKey?: string;
  to?: string;
  secret?: string;
}
export interface AlertRule {
  id: string;
  environment: string;
  name: string;
  metric: string;
  comparison: string;
  threshold: number;
  windowMinutes: number;
  minRequests: number;
  channels: ChannelView[];
  state: 'ok' | 'firing';
  stateSince: string;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}
export interface Silence {
  id: string;
  environment: string;
  ruleId: string | null;
  rule: string | null;
  startsAt: string;
  endsAt: string;
  reason: string;
  createdBy: string;
  createdAt: string;
  active: boolean;
}
export interface AlertEvent {
  id: string;
  ruleId: string;
  rule: string;
  environment: string;
  state: 'firing' | 'resolved';
  value: number | null;
  at: string;
  silenced: boolean;
  notifications: { type: string; status: string; attempts: number; lastStatus: number | null; error: string | null; deliveredAt: string | null; nextAttemptAt: string | null }[];
}

export interface AuditEntry {
  seq: number;
  id: string;
  at: string;
  actorId: string;
  actorKind: string;
  actorName: string;
  action: string;
  environment: string | null;
  target: string | null;
  beforeDigest: string | null;
  afterDigest: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
  keyId: string | null;
  prevHash: string;
  hash: string;
}
export interface VerifyResult {
  valid: boolean;
  entries: number;
  head: string | null;
  firstBroken: { seq: number; reason: string } | null;
  unkeyed: { from: number; to: number } | null;
  keyedFrom: number | null;
  keyId: string | null;
  checkpoint?: { seq: number; valid: boolean; reason: string | null };
}
export interface Checkpoint {
  seq: number;
  hash: string;
  at: string;
  keyId: string;
  signature: string;
}

export interface ActivityEntry {
  id: string;
  at: string;
  environment: string;
  actor: { kind: 'api_key'; id: string; name?: string };
  action: string;
  target: string;
  requestId: string | null;
  details: Record<string, unknown>;
}

export interface Page<T> {
  data: T[];
  next: string | null;
}

// ---- calls -----------------------------------------------------------------------------------

type Untyped = {
  GET(path: string, init: { params: { path: Record<string, string>; query?: Record<string, string | number | undefined> } }): Promise<{ data?: unknown; error?: unknown; response: Response }>;
};
/**
 * The same client for an operation the generated types do not know yet (the collection list
 * added with this page); remove once schema.d.ts is regenerated.
 */
export const untypedApi = api as unknown as Untyped;

/** Drops empty filters so they are not sent as `?actor=`. */
export function compact<T extends Record<string, string | number | undefined>>(query: T): Partial<T> {
  return Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;
}

// ---- paging ----------------------------------------------------------------------------------

/**
 * Cursor paging: the cursors of the pages seen so far, so "Previous" needs no backwards cursor.
 * Starts again at the first page whenever `reset` changes (new filters, another environment).
 */
export function useCursor(reset: string) {
  const [stack, setStack] = useState<(string | undefined)[]>([undefined]);
  useEffect(() => setStack([undefined]), [reset]);
  const cursor = stack[stack.length - 1];
  return {
    cursor,
    page: stack.length,
    next: (next: string) => setStack((s) => [...s, next]),
    previous: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
  };
}

export function Pager({ paging, next, label }: { paging: ReturnType<typeof useCursor>; next: string | null | undefined; label: string }) {
  if (paging.page <= 1 && !next) return null;
  return (
    <nav className="ops-pager" aria-label={`${label} pages`}>
      <Button size="small" onClick={paging.previous} disabled={paging.page <= 1}>
        Previous
      </Button>
      <span className="muted">Page {paging.page}</span>
      <Button size="small" onClick={() => next && paging.next(next)} disabled={!next}>
        Next
      </Button>
    </nav>
  );
}

// ---- figures ---------------------------------------------------------------------------------

export function percent(rate: number | null | undefined, digits = 2): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return '—';
  return `${(rate * 100).toFixed(digits)} %`;
}

export function millis(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 2 : 1)} ms`;
}

export function count(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** A datetime-local input's value as an ISO time (undefined when empty or not a time). */
export function isoOf(local: string): string | undefined {
  if (!local) return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

export function exactTime(at: string): string {
  return new Date(at).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}
