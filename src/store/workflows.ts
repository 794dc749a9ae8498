// Workflow runs, their step log and the job queue that drives them. A job is claimed under a
// lease: with row locks (`FOR UPDATE SKIP LOCKED`) where the database has them, so workers on
// many nodes never claim the same job; an expired lease makes a job claimable again.
import type { Selectable } from 'kysely';
import type { WorkflowContent } from '../domain/resources/kinds.js';
import type { StepState, StepStatus } from '../domain/workflows/progress.js';
import type { Recipient, RunSource, RunStatus, WorkflowRun } from '../domain/workflows/runs.js';
import type { Db, Store } from './database.js';
import type { WorkflowJobTable, WorkflowRunTable } from './schema.js';

type Scope = { workspaceId: string; environmentId: string };
/** A run and the workspace and environment it belongs to: what run-level writes are scoped by. */
export type RunRef = Pick<WorkflowRun, 'id' | 'workspaceId' | 'environmentId'>;

function toRun(r: Selectable<WorkflowRunTable>): WorkflowRun {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    environmentId: r.environment_id,
    workflow: r.workflow,
    release: Number(r.release),
    snapshotId: r.snapshot_id,
    contentHash: r.content_hash,
    definition: JSON.parse(r.definition) as WorkflowContent,
    source: r.source as RunSource,
    idempotencyKey: r.idempotency_key,
    requestHash: r.request_hash,
    status: r.status as RunStatus,
    recipients: JSON.parse(r.recipients) as Recipient[],
    data: JSON.parse(r.data) as Record<string, unknown>,
    error: r.error,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

export async function insertRun(db: Db, run: WorkflowRun): Promise<void> {
  await db
    .insertInto('workflow_runs')
    .values({
      id: run.id,
      workspace_id: run.workspaceId,
      environment_id: run.environmentId,
      workflow: run.workflow,
      release: run.release,
      snapshot_id: run.snapshotId,
      content_hash: run.contentHash,
      definition: JSON.stringify(run.definition),
      source: run.source,
      idempotency_key: run.idempotencyKey,
      request_hash: run.requestHash,
      status: run.status,
      recipients: JSON.stringify(run.recipients),
      data: JSON.stringify(run.data),
      error: run.error,
      created_at: run.createdAt,
      started_at: run.startedAt,
      finished_at: run.finishedAt,
    })
    .execute();
}

export async function findRun(db: Db, scope: Scope, id: string): Promise<WorkflowRun | undefined> {
  const row = await db
    .selectFrom('workflow_runs')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row && toRun(row);
}

/**
 * The runs claimed jobs drive, by id; a worker learns each run's scope from it. The queue spans
 * workspaces (one worker serves them all), so this and the job functions below address a job by
 * its id and lease; everything after the claim is scoped by the run.
 */
export async function findRunsOfJobs(db: Db, runIds: string[]): Promise<Map<string, WorkflowRun>> {
  if (runIds.length === 0) return new Map();
  const rows = await db.selectFrom('workflow_runs').selectAll().where('id', 'in', runIds).execute();
  return new Map(rows.map((row) => [row.id, toRun(row)]));
}

export async function findRunByIdempotencyKey(db: Db, scope: Scope, key: string): Promise<WorkflowRun | undefined> {
  const row = await db
    .selectFrom('workflow_runs')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
  return row && toRun(row);
}

/** Marks runs whose first execution began; runs already past `queued` keep their start. */
export async function markRunsStarted(db: Db, runIds: string[], at: string): Promise<void> {
  if (runIds.length === 0) return;
  await db.updateTable('workflow_runs').set({ status: 'running', started_at: at }).where('id', 'in', runIds).where('status', '=', 'queued').execute();
}

export async function finishRun(db: Db, run: RunRef, status: 'completed' | 'failed', error: string | null, at: string): Promise<void> {
  await db
    .updateTable('workflow_runs')
    .set((eb) => ({ status, error, finished_at: at, started_at: eb.fn.coalesce('started_at', eb.val(at)) }))
    .where('workspace_id', '=', run.workspaceId)
    .where('environment_id', '=', run.environmentId)
    .where('id', '=', run.id)
    .execute();
}

/**
 * Finishes the run of a job still held by `job.leaseOwner`; answers false (and changes nothing)
 * when the lease was lost. The job is deleted afterwards: a crash in between leaves a job whose
 * run has finished, which the next claim simply removes.
 */
export async function finishRunOfJob(
  db: Db,
  run: RunRef,
  job: { id: string; leaseOwner: string },
  status: 'completed' | 'failed',
  error: string | null,
  at: string,
): Promise<boolean> {
  const result = await db
    .updateTable('workflow_runs')
    .set((eb) => ({ status, error, finished_at: at, started_at: eb.fn.coalesce('started_at', eb.val(at)) }))
    .where('workspace_id', '=', run.workspaceId)
    .where('environment_id', '=', run.environmentId)
    .where('id', '=', run.id)
    .where(({ exists, selectFrom }) =>
      exists(selectFrom('workflow_jobs').select('id').where('id', '=', job.id).where('lease_owner', '=', job.leaseOwner)),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

// ---------------------------------------------------------------------------------------------
// The step log

export interface StepRow extends StepState {
  recipientIndex: number;
  recipient: string;
  type: string;
  messageIds: string[];
  detail: string | null;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

export async function listStepRows(db: Db, run: RunRef): Promise<StepRow[]> {
  const rows = await db
    .selectFrom('workflow_steps')
    .selectAll()
    .where('run_id', '=', run.id)
    // Steps carry no scope of their own: they are the run's only while the run is in scope.
    .where(({ exists, selectFrom }) =>
      exists(selectFrom('workflow_runs').select('id').where('id', '=', run.id).where('workspace_id', '=', run.workspaceId).where('environment_id', '=', run.environmentId)),
    )
    .orderBy('step')
    .orderBy('recipient_index')
    .execute();
  return rows.map((r) => ({
    step: Number(r.step),
    recipientIndex: Number(r.recipient_index),
    recipient: r.recipient,
    type: r.type,
    status: r.status as StepStatus,
    attempts: Number(r.attempts),
    messageIds: JSON.parse(r.message_ids) as string[],
    detail: r.detail,
    error: r.error,
    wakeAt: r.wake_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  }));
}

/**
 * Records the latest state of one step for one recipient (the first attempt's start stays). The
 * run is one its caller loaded in scope; the step table holds no scope of its own.
 */
export async function putStepRow(db: Db, run: RunRef, row: StepRow): Promise<void> {
  const runId = run.id;
  const values = {
    status: row.status,
    attempts: row.attempts,
    message_ids: JSON.stringify(row.messageIds),
    detail: row.detail,
    error: row.error,
    wake_at: row.wakeAt,
    finished_at: row.finishedAt,
  };
  await db
    .insertInto('workflow_steps')
    .values({ run_id: runId, step: row.step, recipient_index: row.recipientIndex, recipient: row.recipient, type: row.type, started_at: row.startedAt, ...values })
    .onConflict((oc) => oc.columns(['run_id', 'step', 'recipient_index']).doUpdateSet(values))
    .execute();
}

// ---------------------------------------------------------------------------------------------
// The job queue

export interface Job {
  id: string;
  runId: string;
  runAt: string;
  attempts: number;
  failures: number;
  /** The lease token of the claim that returned this job. */
  leaseOwner: string;
}

function toJob(r: Selectable<WorkflowJobTable>): Job {
  return { id: r.id, runId: r.run_id, runAt: r.run_at, attempts: Number(r.attempts), failures: Number(r.failures), leaseOwner: r.lease_owner ?? '' };
}

export async function insertJob(db: Db, job: { id: string; runId: string; runAt: string; createdAt: string }): Promise<void> {
  await db
    .insertInto('workflow_jobs')
    .values({ id: job.id, run_id: job.runId, run_at: job.runAt, attempts: 0, failures: 0, status: 'queued', lease_owner: null, lease_expires_at: null, last_error: null, created_at: job.createdAt })
    .execute();
}

/**
 * Claims up to `limit` jobs that are due, or whose lease expired (a worker that died), for
 * `owner` until `leaseUntil`. On PostgreSQL the candidates are locked with SKIP LOCKED, so
 * concurrent claims on many nodes take disjoint jobs; SQLite runs one statement at a time.
 */
export async function claimJobs(store: Store, owner: string, now: string, leaseUntil: string, limit: number): Promise<Job[]> {
  let due = store.db
    .selectFrom('workflow_jobs')
    .select('id')
    .where((eb) =>
      eb.or([
        eb.and([eb('status', '=', 'queued'), eb('run_at', '<=', now)]),
        eb.and([eb('status', '=', 'running'), eb('lease_expires_at', '<=', now)]),
      ]),
    )
    .orderBy('run_at')
    .limit(limit);
  if (store.supportsRowLocks) due = due.forUpdate().skipLocked();
  const rows = await store.db
    .updateTable('workflow_jobs')
    .set((eb) => ({ status: 'running', lease_owner: owner, lease_expires_at: leaseUntil, attempts: eb('attempts', '+', 1) }))
    .where('id', 'in', due)
    .returningAll()
    .execute();
  return rows.map(toJob);
}

/** Extends the lease of jobs still held by `owner`; answers the ids it no longer holds. */
export async function renewLeases(db: Db, jobs: { id: string; leaseOwner: string }[], leaseUntil: string): Promise<string[]> {
  const lost: string[] = [];
  for (const job of jobs) {
    const result = await db
      .updateTable('workflow_jobs')
      .set({ lease_expires_at: leaseUntil })
      .where('id', '=', job.id)
      .where('lease_owner', '=', job.leaseOwner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) lost.push(job.id);
  }
  return lost;
}

/**
 * Puts a job held by `owner` back in the queue, due at `runAt`. Answers false when the lease was
 * lost (another worker took the job over after it expired): the caller then leaves it alone.
 */
export async function requeueJob(db: Db, job: { id: string; leaseOwner: string }, runAt: string, failure?: { failures: number; error: string }): Promise<boolean> {
  const result = await db
    .updateTable('workflow_jobs')
    .set({ status: 'queued', run_at: runAt, lease_owner: null, lease_expires_at: null, ...(failure ? { failures: failure.failures, last_error: failure.error } : { failures: 0 }) })
    .where('id', '=', job.id)
    .where('lease_owner', '=', job.leaseOwner)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Removes a finished job held by `owner`; false when the lease was lost. */
export async function deleteJob(db: Db, job: { id: string; leaseOwner: string }): Promise<boolean> {
  const result = await db.deleteFrom('workflow_jobs').where('id', '=', job.id).where('lease_owner', '=', job.leaseOwner).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
