// Watches after promotions and the holds their breaches put on environments, as typed records.
// Every query names its workspace; only the watcher's scan of running watches spans workspaces.
import type { Selectable } from 'kysely';
import type { Breach, WatchFigures, WatchThresholds } from '../domain/releases/watch.js';
import type { Db } from './database.js';
import type { EnvironmentHoldTable, WatchTable } from './schema.js';

export type WatchStatus = 'running' | 'passed' | 'breached' | 'superseded';

/** What a watch ended on: its figures, the baseline, the breach and the rollback it made. */
export interface WatchOutcome {
  figures: WatchFigures | null;
  baseline: WatchFigures | null;
  breach: Breach | null;
  /** The release the breach's rollback made. */
  rollbackRelease: number | null;
  /** Why a watch ended without a verdict (superseded). */
  reason?: string;
}

export interface WatchRecord {
  id: string;
  workspaceId: string;
  environmentId: string;
  release: number;
  previousRelease: number;
  thresholds: WatchThresholds;
  baselineFrom: string | null;
  startedAt: string;
  endsAt: string;
  status: WatchStatus;
  endedAt: string | null;
  outcome: WatchOutcome | null;
}

export interface HoldRecord {
  workspaceId: string;
  environmentId: string;
  since: string;
  reason: string;
  release: number | null;
  watchId: string | null;
}

function toWatch(row: Selectable<WatchTable>): WatchRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    environmentId: row.environment_id,
    release: row.release,
    previousRelease: row.previous_release,
    thresholds: JSON.parse(row.thresholds) as WatchThresholds,
    baselineFrom: row.baseline_from,
    startedAt: row.started_at,
    endsAt: row.ends_at,
    status: row.status as WatchStatus,
    endedAt: row.ended_at,
    outcome: row.outcome === null ? null : (JSON.parse(row.outcome) as WatchOutcome),
  };
}

function toHold(row: Selectable<EnvironmentHoldTable>): HoldRecord {
  return { workspaceId: row.workspace_id, environmentId: row.environment_id, since: row.since, reason: row.reason, release: row.release, watchId: row.watch_id };
}

type Scope = { workspaceId: string; environmentId: string };

export async function insertWatch(db: Db, watch: WatchRecord) {
  await db
    .insertInto('watches')
    .values({
      id: watch.id,
      workspace_id: watch.workspaceId,
      environment_id: watch.environmentId,
      release: watch.release,
      previous_release: watch.previousRelease,
      thresholds: JSON.stringify(watch.thresholds),
      baseline_from: watch.baselineFrom,
      started_at: watch.startedAt,
      ends_at: watch.endsAt,
      status: watch.status,
      ended_at: watch.endedAt,
      outcome: watch.outcome === null ? null : JSON.stringify(watch.outcome),
    })
    .execute();
}

export async function findWatch(db: Db, workspaceId: string, id: string): Promise<WatchRecord | undefined> {
  const row = await db.selectFrom('watches').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return row && toWatch(row);
}

/** The environment's running watch, else its latest one. */
export async function currentWatch(db: Db, scope: Scope): Promise<WatchRecord | undefined> {
  const base = db.selectFrom('watches').selectAll().where('workspace_id', '=', scope.workspaceId).where('environment_id', '=', scope.environmentId);
  const running = await base.where('status', '=', 'running').orderBy('started_at', 'desc').executeTakeFirst();
  const row = running ?? (await base.orderBy('started_at', 'desc').orderBy('id', 'desc').executeTakeFirst());
  return row && toWatch(row);
}

export async function runningWatchesOf(db: Db, scope: Scope): Promise<WatchRecord[]> {
  const rows = await db
    .selectFrom('watches')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('status', '=', 'running')
    .execute();
  return rows.map(toWatch);
}

/** Running watches across workspaces, soonest ending first: what the watcher checks. */
export async function runningWatches(db: Db, limit: number): Promise<WatchRecord[]> {
  const rows = await db.selectFrom('watches').selectAll().where('status', '=', 'running').orderBy('ends_at').limit(limit).execute();
  return rows.map(toWatch);
}

/** Ends a running watch; false when it was no longer running (another node ended it first). */
export async function endWatch(db: Db, workspaceId: string, id: string, status: Exclude<WatchStatus, 'running'>, endedAt: string, outcome: WatchOutcome): Promise<boolean> {
  const result = await db
    .updateTable('watches')
    .set({ status, ended_at: endedAt, outcome: JSON.stringify(outcome) })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('status', '=', 'running')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function findHold(db: Db, scope: Scope): Promise<HoldRecord | undefined> {
  const row = await db
    .selectFrom('environment_holds')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .executeTakeFirst();
  return row && toHold(row);
}

/** Puts the environment on hold; a hold already there is replaced (its newest reason wins). */
export async function putHold(db: Db, hold: HoldRecord) {
  const values = { since: hold.since, reason: hold.reason, release: hold.release, watch_id: hold.watchId };
  await db
    .insertInto('environment_holds')
    .values({ environment_id: hold.environmentId, workspace_id: hold.workspaceId, ...values })
    .onConflict((oc) => oc.column('environment_id').doUpdateSet(values))
    .execute();
}

/** Clears the hold; false when there was none. */
export async function deleteHold(db: Db, scope: Scope): Promise<boolean> {
  const result = await db
    .deleteFrom('environment_holds')
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}
