// The side-by-side analytics of environments: figures per environment over a range, a time
// series per environment for charts, and release and override markers on the same time axis.
import { authorize } from '../domain/auth/permissions.js';
import { orderEnvironments, type Environment } from '../domain/environments/chain.js';
import { invalid, notFound, type FieldIssue } from '../domain/errors.js';
import { RollupReader, Totals } from '../metrics/reader.js';
import type { Figures } from '../metrics/contract.js';
import { listEnvironments } from '../store/environments.js';
import { listOverrideMarkers, listReleaseMarkers, releaseAt, type Resolution } from '../store/metrics.js';
import type { CallContext, Deps } from './context.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ScrapeScope } from '../metrics/prometheus.js';
import { findWorkspaceById, listWorkspacesOfUser } from '../store/workspaces.js';
import { authenticate } from './auth.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export const ANALYTICS_LIMITS = {
  /** Hour rollups are kept 90 days by default: a longer range has nothing to show. */
  maxRangeDays: 90,
  maxPoints: 720,
  maxEnvironments: 10,
  maxMarkers: 500,
};

/** Steps a default is chosen from (minutes): the smallest giving at most ~120 points. */
const DEFAULT_STEPS = [1, 5, 15, 30, 60, 180, 360, 720, 1440];

export interface AnalyticsInput {
  envs?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  route?: string | undefined;
  step?: number | undefined;
}

export interface AnalyticsWindow {
  from: Date;
  to: Date;
  stepMinutes: number;
  resolution: Resolution;
}

/**
 * The window analytics reads: [from, to) aligned to its resolution, ranges of a day or more and
 * steps of an hour or more read hour rollups (so the step is whole hours there).
 */
export function analyticsWindow(input: { from?: string | undefined; to?: string | undefined; step?: number | undefined }, now: Date): AnalyticsWindow {
  const issues: FieldIssue[] = [];
  const to = input.to !== undefined ? new Date(input.to) : now;
  const from = input.from !== undefined ? new Date(input.from) : new Date(to.getTime() - HOUR_MS);
  const range = to.getTime() - from.getTime();
  if (range <= 0) issues.push({ field: 'from', message: 'must be before to', in: 'query' });
  else if (range > ANALYTICS_LIMITS.maxRangeDays * DAY_MS) issues.push({ field: 'from', message: `the range must be at most ${ANALYTICS_LIMITS.maxRangeDays} days`, in: 'query' });
  if (issues.length > 0) throw invalid(issues);
  const step = input.step ?? DEFAULT_STEPS.find((s) => range / (s * MINUTE_MS) <= 120 && (range < DAY_MS || s >= 60)) ?? 1440;
  const resolution: Resolution = range >= DAY_MS || step >= 60 ? 'hour' : 'minute';
  if (resolution === 'hour' && step % 60 !== 0) {
    issues.push({ field: 'step', message: 'ranges of a day or more (and steps of an hour or more) are read from hour rollups: the step must be a multiple of 60 minutes', in: 'query' });
  }
  const unit = resolution === 'hour' ? HOUR_MS : MINUTE_MS;
  const start = Math.floor(from.getTime() / unit) * unit;
  const end = Math.ceil(to.getTime() / unit) * unit;
  if (issues.length === 0 && Math.ceil((end - start) / (step * MINUTE_MS)) > ANALYTICS_LIMITS.maxPoints) {
    issues.push({ field: 'step', message: `gives more than ${ANALYTICS_LIMITS.maxPoints} points for this range; use a larger step`, in: 'query' });
  }
  if (issues.length > 0) throw invalid(issues);
  return { from: new Date(start), to: new Date(end), stepMinutes: step, resolution };
}

export interface AnalyticsRow {
  environment: string;
  requests: number;
  requestsPerMinute: number;
  errorRate: number;
  successRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  upstreamErrorRate: number;
}

export interface AnalyticsPoint extends Omit<AnalyticsRow, 'environment'> {
  at: string;
}

export type MarkerKind = 'promotion' | 'rollback' | 'commit' | 'override';

export interface Marker {
  environment: string;
  at: string;
  kind: MarkerKind;
  release: number | null;
}

function row(figures: Figures, minutes: number): AnalyticsRow & { environment: '' } {
  const { requests, errorRate, successRate, p50Ms, p95Ms, p99Ms, upstreamErrorRate } = figures;
  return { environment: '', requests, requestsPerMinute: Math.round((requests / minutes) * 1000) / 1000, errorRate, successRate, p50Ms, p95Ms, p99Ms, upstreamErrorRate };
}

const MARKER_KINDS = new Map<string, MarkerKind>([
  ['commit', 'commit'],
  ['merge', 'commit'],
  ['promotion', 'promotion'],
  ['rollback', 'rollback'],
]);

/** The environments named by `envs` (comma-separated slugs), in chain order; the chain by default. */
function selectEnvironments(all: Environment[], envs: string | undefined): Environment[] {
  const ordered = orderEnvironments(all);
  if (envs === undefined) return ordered.filter((e) => e.kind === 'chain').slice(0, ANALYTICS_LIMITS.maxEnvironments);
  const slugs = [...new Set(envs.split(',').map((s) => s.trim()).filter((s) => s !== ''))];
  if (slugs.length === 0) throw invalid([{ field: 'envs', message: 'must name at least one environment', in: 'query' }]);
  if (slugs.length > ANALYTICS_LIMITS.maxEnvironments) throw invalid([{ field: 'envs', message: `may name at most ${ANALYTICS_LIMITS.maxEnvironments} environments`, in: 'query' }]);
  const bySlug = new Map(ordered.map((e) => [e.slug, e]));
  for (const slug of slugs) if (!bySlug.has(slug)) throw notFound(`environment ${slug}`);
  const wanted = new Set(slugs);
  return ordered.filter((e) => wanted.has(e.slug));
}

export async function readAnalytics(deps: Deps, ctx: CallContext, input: AnalyticsInput) {
  const db = deps.store.db;
  const envs = selectEnvironments(await listEnvironments(db, ctx.workspace.id), input.envs);
  for (const env of envs) authorize(ctx.actor, 'resource.read', env.slug);
  const window = analyticsWindow(input, deps.now());
  const reader = deps.metrics instanceof RollupReader ? deps.metrics : new RollupReader(deps.store, null);
  const stepMs = window.stepMinutes * MINUTE_MS;
  const points = Math.ceil((window.to.getTime() - window.from.getTime()) / stepMs);
  const start = window.from.getTime();
  const totals = new Map(envs.map((e) => [e.id, new Totals()]));
  // Per environment, the totals of each point (made when a point has counts).
  const series = new Map(envs.map((e) => [e.id, new Array<Totals | undefined>(points)]));
  await reader.collect(
    { workspaceId: ctx.workspace.id, environmentIds: envs.map((e) => e.id), family: 'gateway', subject: input.route ?? '', resolution: window.resolution, from: window.from, to: window.to },
    (environmentId, at, counters, buckets) => {
      totals.get(environmentId)?.add(counters, buckets);
      const list = series.get(environmentId);
      const index = Math.floor((at - start) / stepMs);
      if (!list || index < 0 || index >= points) return;
      (list[index] ??= new Totals()).add(counters, buckets);
    },
  );
  const empty = new Totals().figures();
  const minutes = (window.to.getTime() - start) / MINUTE_MS;
  const pointMinutes = (i: number) => (Math.min(start + (i + 1) * stepMs, window.to.getTime()) - (start + i * stepMs)) / MINUTE_MS;
  return {
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    step: window.stepMinutes,
    route: input.route ?? null,
    data: envs.map((env) => ({ ...row(totals.get(env.id)!.figures(), minutes), environment: env.slug })),
    series: envs.map((env) => ({
      environment: env.slug,
      points: Array.from(series.get(env.id)!, (t, i) => {
        const { environment: _environment, ...figures } = row(t ? t.figures() : empty, pointMinutes(i));
        return { at: new Date(start + i * stepMs).toISOString(), ...figures };
      }),
    })),
    markers: await markersOf(deps, ctx, envs, window),
  };
}

async function markersOf(deps: Deps, ctx: CallContext, envs: Environment[], window: AnalyticsWindow): Promise<Marker[]> {
  const db = deps.store.db;
  const from = window.from.toISOString();
  const to = window.to.toISOString();
  const byId = new Map(envs.map((e) => [e.id, e]));
  const bySlug = new Map(envs.map((e) => [e.slug, e]));
  const markers: Marker[] = [];
  for (const release of await listReleaseMarkers(db, ctx.workspace.id, envs.map((e) => e.id), from, to, ANALYTICS_LIMITS.maxMarkers)) {
    const kind = MARKER_KINDS.get(release.cause);
    const env = byId.get(release.environmentId);
    if (kind && env) markers.push({ environment: env.slug, at: release.at, kind, release: release.number });
  }
  const overrides = await listOverrideMarkers(db, ctx.workspace.id, [...bySlug.keys()], ['resource.override', 'resource.override_delete'], from, to, ANALYTICS_LIMITS.maxMarkers);
  for (const override of overrides) {
    const env = bySlug.get(override.environment);
    if (env) markers.push({ environment: env.slug, at: override.at, kind: 'override', release: await releaseAt(db, ctx.workspace.id, env.id, override.at) });
  }
  return markers.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// Who may scrape /metrics, and which workspaces' series they see

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Open (STAGELINE_METRICS_OPEN=on) or the metrics token (STAGELINE_METRICS_TOKEN) sees every
 * workspace; otherwise a member's or service token sees the workspaces it belongs to, and
 * anything else is 401. `workspaceIds` are those this node has series of.
 */
export async function scrapeScope(deps: Deps, authorization: string | undefined, access: { token: string | null; open: boolean }, workspaceIds: string[]): Promise<ScrapeScope> {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  let allowed: string[];
  if (access.open || (access.token !== null && bearer !== undefined && timingSafeEqual(digest(bearer), digest(access.token)))) {
    allowed = workspaceIds;
  } else {
    const principal = await authenticate(deps, authorization);
    const mine = principal.userId ? (await listWorkspacesOfUser(deps.store.db, principal.userId)).map((w) => w.id) : principal.workspaceId ? [principal.workspaceId] : [];
    const wanted = new Set(workspaceIds);
    allowed = mine.filter((id) => wanted.has(id));
  }
  const scope: ScrapeScope = { workspaces: new Map(), environments: new Map() };
  for (const id of allowed) {
    const workspace = await findWorkspaceById(deps.store.db, id);
    if (!workspace) continue;
    scope.workspaces.set(id, workspace.slug);
    for (const env of await listEnvironments(deps.store.db, id)) scope.environments.set(env.id, env.slug);
  }
  return scope;
}
