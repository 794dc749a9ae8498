// An environment's health in one call a status page can poll: its release and since when, its
// figures against the previous release's last hour, alerts, gates and pending requests, drift
// from the environment before it in the chain, freeze and hold. A fixed number of reads, in parallel.
import { authorize } from '../domain/auth/permissions.js';
import { promotionSource, type Environment } from '../domain/environments/chain.js';
import { activeFreeze } from '../domain/environments/freeze.js';
import type { Figures, MetricsReader } from '../metrics/contract.js';
import type { Db } from '../store/database.js';
import { listEnvironments } from '../store/environments.js';
import { listFreezes } from '../store/freezes.js';
import { listDecisions, pendingRequestsInto } from '../store/promotion-requests.js';
import { listReleases, type Release } from '../store/releases.js';
import type { CallContext, Deps } from './context.js';
import { gatesOf } from './gates.js';
import { environmentOf } from './scope.js';
import { compareRoots, headRoot, releaseName } from './snapshots.js';
import { nodeReader } from '../store/trees.js';
import { holdOf } from './watches.js';

const HOUR = 60 * 60 * 1000;

/**
 * Gateway figures of `release` over its last hour (its whole life when shorter), ending when it
 * was replaced or now; null without a metrics reader.
 */
async function lastHourOf(metrics: MetricsReader | undefined, env: Environment, release: Release, end: Date) {
  if (!metrics) return null;
  const from = new Date(Math.min(end.getTime(), Math.max(Date.parse(release.createdAt), end.getTime() - HOUR)));
  const figures: Figures = await metrics.figures({ workspaceId: env.workspaceId, environmentId: env.id, family: 'gateway', from, to: end });
  const { requests, errorRate, successRate, p95Ms } = figures;
  return { release: release.number, from: from.toISOString(), to: end.toISOString(), requests, errorRate, successRate, p95Ms };
}

export async function environmentHealth(deps: Deps, ctx: CallContext, slug: string) {
  authorize(ctx.actor, 'resource.read', slug);
  const db = deps.store.db;
  const env = await environmentOf(db, ctx, slug);
  const now = deps.now();
  const scope = { workspaceId: env.workspaceId, environmentId: env.id };
  const [releases, all, gates, pending, freezes, hold, alerts] = await Promise.all([
    listReleases(db, env.workspaceId, env.id, null, 2),
    listEnvironments(db, env.workspaceId),
    gatesOf(db, env),
    pendingRequestsInto(db, env.workspaceId, env.id),
    listFreezes(db, scope, now.toISOString()),
    holdOf(db, env),
    deps.alerts ? deps.alerts.firing(env.workspaceId, env.id) : null,
  ]);
  const [head, previous] = releases;
  const source = promotionSource(env, all);
  const slugs = new Map(all.map((e) => [e.id, e.slug]));
  const [figures, previousFigures, decisions, drift] = await Promise.all([
    head ? lastHourOf(deps.metrics, env, head, now) : null,
    head && previous ? lastHourOf(deps.metrics, env, previous, new Date(head.createdAt)) : null,
    listDecisions(db, env.workspaceId, pending.map((r) => r.id)),
    source ? driftFrom(db, source, env) : null,
  ]);
  const freeze = activeFreeze(freezes, now);
  return {
    environment: env.slug,
    release: head ? { number: head.number, since: head.createdAt } : null,
    figures,
    previous: previousFigures,
    alerts: alerts?.now ?? [],
    gates: {
      config: gates,
      pending: pending.map((request) => {
        const sourceSlug = slugs.get(request.sourceEnvironmentId) ?? '?';
        return {
          id: request.id,
          kind: request.kind,
          status: request.status,
          source: releaseName({ slug: sourceSlug }, request.sourceRelease),
          targetRelease: request.targetRelease,
          approvalsRequired: request.approvalsRequired,
          approvals: decisions.filter((d) => d.requestId === request.id && d.decision === 'approve').length,
          requestedBy: request.requestedBy,
          createdAt: request.createdAt,
        };
      }),
    },
    drift,
    freeze: freeze ? { id: freeze.id, startsAt: freeze.startsAt, endsAt: freeze.endsAt, reason: freeze.reason } : null,
    hold,
  };
}

/** The resources in which `env` differs from the environment before it in the chain (what promoting would change). */
async function driftFrom(db: Db, source: Environment, env: Environment) {
  const [here, there] = await Promise.all([headRoot(db, env), headRoot(db, source)]);
  const changes = await compareRoots(nodeReader(db, env.workspaceId), here, there);
  return {
    from: source.slug,
    release: source.headRelease,
    resources: changes.map((c) => ({ kind: c.kind, key: c.key, status: c.status })),
  };
}
