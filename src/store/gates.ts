// Promotion gates of environments, CI checks reported on releases, and checklist ticks on
// promotion requests, as typed records. Every query names its workspace.
import type { CheckReport, CheckStatus } from '../domain/releases/gates.js';
import type { Db } from './database.js';

export interface StoredGates {
  checks: string[];
  checklist: string[];
  soakMinutes: number;
  autoApply: boolean;
  watch: { minutes: number; maxErrorRate?: number; maxP95Ms?: number; maxRegression?: number } | null;
  updatedAt: string;
}

export interface CheckRecord extends CheckReport {
  id: string;
  release: number;
  status: CheckStatus;
  reportedBy: { id: string; name: string };
  at: string;
}

type Scope = { workspaceId: string; environmentId: string };

export async function findGates(db: Db, scope: Scope): Promise<StoredGates | null> {
  const row = await db
    .selectFrom('environment_gates')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .executeTakeFirst();
  if (!row) return null;
  return {
    checks: JSON.parse(row.checks) as string[],
    checklist: JSON.parse(row.checklist) as string[],
    soakMinutes: row.soak_minutes,
    autoApply: row.auto_apply === 1,
    watch: row.watch === null ? null : (JSON.parse(row.watch) as StoredGates['watch']),
    updatedAt: row.updated_at,
  };
}

/** Replaces the environment's gates; null removes them. */
export async function saveGates(db: Db, scope: Scope, gates: StoredGates | null) {
  await db.deleteFrom('environment_gates').where('workspace_id', '=', scope.workspaceId).where('environment_id', '=', scope.environmentId).execute();
  if (!gates) return;
  await db
    .insertInto('environment_gates')
    .values({
      workspace_id: scope.workspaceId,
      environment_id: scope.environmentId,
      checks: JSON.stringify(gates.checks),
      checklist: JSON.stringify(gates.checklist),
      soak_minutes: gates.soakMinutes,
      auto_apply: gates.autoApply ? 1 : 0,
      watch: gates.watch === null ? null : JSON.stringify(gates.watch),
      updated_at: gates.updatedAt,
    })
    .execute();
}

/**
 * Appends a report on a release with the next seq of that release. The caller holds the
 * environment's lock, so two reports cannot take the same seq.
 */
export async function insertCheck(db: Db, scope: Scope, check: Omit<CheckRecord, 'seq'>): Promise<CheckRecord> {
  const last = await db
    .selectFrom('release_checks')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('release', '=', check.release)
    .executeTakeFirst();
  const seq = Number(last?.seq ?? 0) + 1;
  await db
    .insertInto('release_checks')
    .values({
      id: check.id,
      workspace_id: scope.workspaceId,
      environment_id: scope.environmentId,
      release: check.release,
      seq,
      name: check.name,
      status: check.status,
      url: check.url,
      summary: check.summary,
      reported_by: check.reportedBy.id,
      reported_by_name: check.reportedBy.name,
      at: check.at,
    })
    .execute();
  return { ...check, seq };
}

/** Every report on a release, oldest first. */
export async function listChecks(db: Db, scope: Scope, release: number): Promise<CheckRecord[]> {
  const rows = await db
    .selectFrom('release_checks')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('release', '=', release)
    .orderBy('seq')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    release: row.release,
    seq: row.seq,
    name: row.name,
    status: row.status as CheckStatus,
    url: row.url,
    summary: row.summary,
    reportedBy: { id: row.reported_by, name: row.reported_by_name },
    at: row.at,
  }));
}

export interface TickRecord {
  item: string;
  done: boolean;
  actor: { id: string; name: string };
  at: string;
}

/** Records the latest tick (or untick) of an item on a request. */
export async function saveTick(db: Db, scope: Scope, requestId: string, tick: TickRecord) {
  await db
    .insertInto('checklist_ticks')
    .values({
      workspace_id: scope.workspaceId,
      environment_id: scope.environmentId,
      request_id: requestId,
      item: tick.item,
      done: tick.done ? 1 : 0,
      actor_id: tick.actor.id,
      actor_name: tick.actor.name,
      at: tick.at,
    })
    .onConflict((oc) =>
      oc.columns(['workspace_id', 'request_id', 'item']).doUpdateSet({ done: tick.done ? 1 : 0, actor_id: tick.actor.id, actor_name: tick.actor.name, at: tick.at }),
    )
    .execute();
}

/** The latest tick of each item on some requests of this workspace, by request id. */
export async function listTicks(db: Db, workspaceId: string, requestIds: string[]): Promise<Map<string, TickRecord[]>> {
  const byRequest = new Map<string, TickRecord[]>();
  if (requestIds.length === 0) return byRequest;
  const rows = await db.selectFrom('checklist_ticks').selectAll().where('workspace_id', '=', workspaceId).where('request_id', 'in', requestIds).orderBy('at').execute();
  for (const row of rows) {
    const list = byRequest.get(row.request_id) ?? [];
    list.push({ item: row.item, done: row.done === 1, actor: { id: row.actor_id, name: row.actor_name }, at: row.at });
    byRequest.set(row.request_id, list);
  }
  return byRequest;
}

/** Pending requests of a workspace whose source is one release (a check on it may complete them). */
export async function pendingRequestsOfSource(db: Db, workspaceId: string, sourceEnvironmentId: string, sourceRelease: number): Promise<{ id: string; environmentId: string }[]> {
  const rows = await db
    .selectFrom('promotion_requests')
    .select(['id', 'environment_id'])
    .where('workspace_id', '=', workspaceId)
    .where('source_environment_id', '=', sourceEnvironmentId)
    .where('source_release', '=', sourceRelease)
    .where('status', '=', 'pending')
    .where('kind', '=', 'promotion')
    .orderBy('created_at')
    .execute();
  return rows.map((r) => ({ id: r.id, environmentId: r.environment_id }));
}

/**
 * Pending promotion requests into environments whose requests apply by themselves, across
 * workspaces, oldest first: what the gate sweep re-evaluates.
 */
export async function pendingGatedRequests(db: Db, limit: number): Promise<{ workspaceId: string; id: string }[]> {
  const rows = await db
    .selectFrom('promotion_requests')
    .innerJoin('environment_gates', (join) =>
      join.onRef('environment_gates.workspace_id', '=', 'promotion_requests.workspace_id').onRef('environment_gates.environment_id', '=', 'promotion_requests.environment_id'),
    )
    .select(['promotion_requests.workspace_id', 'promotion_requests.id'])
    .where('promotion_requests.status', '=', 'pending')
    .where('promotion_requests.kind', '=', 'promotion')
    .where('environment_gates.auto_apply', '=', 1)
    .orderBy('promotion_requests.created_at')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ workspaceId: r.workspace_id, id: r.id }));
}
