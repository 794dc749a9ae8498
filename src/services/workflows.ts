// Workflow runs: triggering an environment's committed workflow with an API key (a run and its
// first job, queued in one transaction), reading a run, and the test runner that runs a draft
// (or the committed version) at once through the environment's real channels.
import { authorize, type Actor } from '../domain/auth/permissions.js';
import { contentHash } from '../domain/canonical.js';
import { assertEditable, type Environment } from '../domain/environments/chain.js';
import { conflict, invalid, notFound, StagelineError } from '../domain/errors.js';
import { mergeOverride } from '../domain/overrides/merge.js';
import { resourceId, type Snapshot } from '../domain/releases/snapshot.js';
import { KIND_SCHEMAS, type WorkflowContent } from '../domain/resources/kinds.js';
import { stepType, workflowReferences, type StepViewStatus } from '../domain/workflows/progress.js';
import {
  IDEMPOTENCY_KEY_PATTERN,
  MAX_DATA_BYTES,
  RECIPIENT_COLLECTION,
  recipientIdsToLoad,
  recipientIssues,
  resolveRecipients,
  type Recipient,
  type RecipientInput,
  type RunStatus,
  type StepReport,
  type WorkflowRun,
} from '../domain/workflows/runs.js';
import type { Db } from '../store/database.js';
import { findEnvironmentById, listEnvironments } from '../store/environments.js';
import { findSnapshotEntry, getContents } from '../store/releases.js';
import { findActive, findOverride } from '../store/resources.js';
import { findRun, findRunByIdempotencyKey, finishRun, insertJob, insertRun, listStepRows, type StepRow } from '../store/workflows.js';
import { recipientRecords } from '../store/data.js';
import { findUser } from '../store/workspaces.js';
import type { KeyPrincipal } from './api-keys.js';
import { assertSecretKey } from '../domain/resources/visibility.js';
import { recordActivity } from './activity.js';
import { record } from './audit.js';
import { newId, type CallContext, type Deps } from './context.js';
import { keyCallContext, type KeyCall } from './key-context.js';
import { environmentOf } from './scope.js';
import { draftSnapshot, headSnapshot, headSnapshotId } from './snapshots.js';

/** What a test run answers besides the run: each attempt, with what it rendered. */
export interface TestOutcome {
  failed: boolean;
  error: string | null;
  reports: StepReport[];
}

/** The node's worker, as the use cases need it (implemented in runtime/workflows). */
export interface WorkflowRunner {
  /** A run was queued on this node: look for due jobs now rather than at the next poll. */
  wake(): void;
  /** Runs a test run to its end in the caller's request. */
  runTest(run: WorkflowRun, env: Environment, snapshot: Snapshot): Promise<TestOutcome>;
}

export interface TriggerInput {
  recipients: RecipientInput[];
  data?: Record<string, unknown>;
  idempotencyKey?: string;
}

export interface TestRunInput {
  workflow: string;
  recipients?: RecipientInput[];
  data?: Record<string, unknown>;
  useCommitted?: boolean;
}

type HashOf = (kind: string, key: string) => Promise<string | undefined>;

interface ResolvedWorkflow {
  hash: string;
  definition: WorkflowContent;
}

/**
 * The workflow `key` as `hashOf` finds it, with the environment's override: 404 when it has
 * none, 409 when it is switched off, invalid with its override, or names a layout or tool that
 * the same version does not have.
 */
async function resolveWorkflow(db: Db, env: Environment, key: string, hashOf: HashOf, version: string): Promise<ResolvedWorkflow> {
  const id = resourceId('workflow', key);
  const hash = await hashOf('workflow', key);
  if (!hash) throw notFound(`${id} in ${version}`);
  const scope = { workspaceId: env.workspaceId, environmentId: env.id };
  const [active, override, contents] = await Promise.all([findActive(db, scope, 'workflow', key), findOverride(db, scope, 'workflow', key), getContents(db, env.workspaceId, [hash])]);
  if (!active) throw conflict('workflow_inactive', `${id} is switched off in ${env.slug}: nothing was sent`, [{ resource: id, environment: env.slug }]);
  const parsed = KIND_SCHEMAS.workflow.safeParse(mergeOverride(contents.get(hash), override));
  if (!parsed.success) throw conflict('workflow_invalid', `${id} with its override in ${env.slug} is not a valid workflow`, [{ resource: id }]);
  const missing: string[] = [];
  for (const ref of workflowReferences(parsed.data)) {
    const slash = ref.indexOf('/');
    if (!(await hashOf(ref.slice(0, slash), ref.slice(slash + 1)))) missing.push(ref);
  }
  if (missing.length > 0) {
    throw conflict('missing_references', `${id} uses ${missing.join(', ')}, which ${version} does not have`, missing.map((reference) => ({ resource: id, reference })));
  }
  return { hash, definition: parsed.data };
}

/** Recipients checked and resolved against the environment's `users` records (400 naming each bad one). */
async function recipientsIn(db: Db, env: Environment, inputs: RecipientInput[]): Promise<Recipient[]> {
  const shapeIssues = recipientIssues(inputs);
  if (shapeIssues.length > 0) throw invalid(shapeIssues);
  const ids = recipientIdsToLoad(inputs);
  const records = ids.length > 0 ? await recipientRecords(db, { workspaceId: env.workspaceId, environmentId: env.id }, RECIPIENT_COLLECTION, ids) : new Map();
  const { recipients, issues } = resolveRecipients(inputs, records, env.slug);
  if (issues.length > 0) throw invalid(issues);
  return recipients;
}

function checkData(data: Record<string, unknown>): void {
  const size = Buffer.byteLength(JSON.stringify(data));
  if (size > MAX_DATA_BYTES) {
    const message = `must be at most ${MAX_DATA_BYTES} bytes of JSON; this is ${size} bytes`;
    throw new StagelineError(413, 'payload_too_large', `data: ${message}`, [{ field: 'data', message, in: 'body' }]);
  }
}

function assertRunKey(key: KeyPrincipal): void {
  assertSecretKey(key.kind, 'workflow runs', "they deliver with the environment's credentials to any recipient");
}

/** A repeated trigger with the same idempotency key answers the run the first one made. */
function replay(existing: WorkflowRun, requestHash: string) {
  if (existing.requestHash !== requestHash) {
    throw conflict('idempotency_key_reused', `the idempotency key ${existing.idempotencyKey} was used by another trigger (run ${existing.id}) with different workflow, recipients or data`, [
      { runId: existing.id },
    ]);
  }
  return { runId: existing.id, status: existing.status, created: false };
}

/**
 * Queues a run of the key's environment's committed workflow: the run, its first job and the
 * audit entry in one transaction. The same idempotency key answers the same run, also when two
 * triggers race (the database's unique key decides; the loser answers the winner's run).
 */
export async function triggerWorkflow(
  deps: Deps,
  call: KeyCall,
  key: string,
  input: TriggerInput,
  runner: Pick<WorkflowRunner, 'wake'>,
): Promise<{ runId: string; status: RunStatus; created: boolean }> {
  assertRunKey(call.key);
  const db = deps.store.db;
  const scope = { workspaceId: call.key.workspaceId, environmentId: call.key.environmentId };
  const idempotencyKey = input.idempotencyKey;
  if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
    throw invalid([{ field: 'idempotencyKey', message: 'must be 1-255 printable ASCII characters without spaces', in: 'body' }]);
  }
  const data = input.data ?? {};
  checkData(data);
  const requestHash = contentHash({ workflow: key, recipients: input.recipients, data });
  if (idempotencyKey !== undefined) {
    const existing = await findRunByIdempotencyKey(db, scope, idempotencyKey);
    if (existing) return replay(existing, requestHash);
  }

  const env = await findEnvironmentById(db, scope.workspaceId, scope.environmentId);
  if (!env) throw notFound('the environment of this API key');
  const snapshotId = await headSnapshotId(db, env);
  const version = `${env.slug}#${env.headRelease}`;
  const hashOf: HashOf = async (kind, k) => (snapshotId ? (await findSnapshotEntry(db, env.workspaceId, snapshotId, kind, k))?.hash : undefined);
  const workflow = await resolveWorkflow(db, env, key, hashOf, version);
  const recipients = await recipientsIn(db, env, input.recipients);

  const at = deps.now().toISOString();
  const run: WorkflowRun = {
    id: newId('run'),
    workspaceId: env.workspaceId,
    environmentId: env.id,
    workflow: key,
    release: env.headRelease,
    snapshotId,
    contentHash: workflow.hash,
    definition: workflow.definition,
    source: 'api',
    idempotencyKey: idempotencyKey ?? null,
    requestHash,
    status: 'queued',
    recipients,
    data,
    error: null,
    createdAt: at,
    startedAt: null,
    finishedAt: null,
  };
  try {
    await deps.store.transaction(async (tx) => {
      const { ctx } = await keyCallContext(deps, tx, call);
      // The run first: a concurrent trigger with the same key waits here, not on the audit head.
      await insertRun(tx, run);
      await insertJob(tx, { id: newId('job'), runId: run.id, runAt: at, createdAt: at });
      await recordActivity(deps, tx, ctx, env, {
        action: 'workflow.trigger',
        target: resourceId('workflow', key),
        details: { runId: run.id, release: run.release, hash: workflow.hash, recipients: recipients.length, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) },
      });
      deps.store.onCommit(tx, () => runner.wake());
    });
  } catch (error) {
    if (idempotencyKey !== undefined && error instanceof StagelineError && error.code === 'concurrent_change') {
      const existing = await findRunByIdempotencyKey(db, scope, idempotencyKey);
      if (existing) return replay(existing, requestHash);
    }
    throw error;
  }
  return { runId: run.id, status: run.status, created: true };
}

// ---------------------------------------------------------------------------------------------
// Reading runs

export interface StepView {
  step: number;
  name: string | null;
  type: string;
  recipient: string;
  status: StepViewStatus;
  attempts: number;
  messageIds: string[];
  detail: string | null;
  error: string | null;
  /** When a retrying step tries again, or a delay ends. */
  nextAttemptAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export function runView(run: WorkflowRun, env: Environment, rows: StepRow[]) {
  const finished = run.status === 'completed' || run.status === 'failed';
  const byKey = new Map(rows.map((r) => [`${r.step}:${r.recipientIndex}`, r]));
  // The step each recipient failed at, if any: its later steps will never run.
  const failedAt = new Map<number, number>();
  for (const row of rows) if (row.status === 'failed') failedAt.set(row.recipientIndex, Math.min(row.step, failedAt.get(row.recipientIndex) ?? row.step));
  const steps: StepView[] = [];
  run.definition.steps.forEach((step, index) => {
    run.recipients.forEach((recipient, r) => {
      const row = byKey.get(`${index}:${r}`);
      if (row) {
        steps.push({
          step: index,
          name: step.name ?? null,
          type: row.type,
          recipient: row.recipient,
          status: row.status,
          attempts: row.attempts,
          messageIds: row.messageIds,
          detail: row.detail,
          error: row.error,
          nextAttemptAt: row.status === 'retrying' || row.status === 'waiting' ? row.wakeAt : null,
          startedAt: row.startedAt,
          finishedAt: row.finishedAt,
        });
        return;
      }
      // Not attempted: still to come, or never (an earlier step failed for this recipient, or the run ended).
      const stopped = finished || (failedAt.get(r) ?? Infinity) < index;
      steps.push({ step: index, name: step.name ?? null, type: stepType(step), recipient: recipient.id, status: stopped ? 'skipped' : 'pending', attempts: 0, messageIds: [], detail: null, error: null, nextAttemptAt: null, startedAt: null, finishedAt: null });
    });
  });
  return {
    id: run.id,
    workflow: run.workflow,
    environment: env.slug,
    release: run.release,
    source: run.source,
    status: run.status,
    error: run.error,
    recipients: run.recipients.map((r) => r.id),
    messageIds: steps.flatMap((s) => s.messageIds),
    steps,
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
  };
}

export type RunView = ReturnType<typeof runView>;

/** A run of the key's environment; a run of any other environment does not exist for the key. */
export async function getWorkflowRun(deps: Deps, key: KeyPrincipal, id: string): Promise<RunView> {
  assertRunKey(key);
  const db = deps.store.db;
  const run = await findRun(db, { workspaceId: key.workspaceId, environmentId: key.environmentId }, id);
  const env = run && (await findEnvironmentById(db, key.workspaceId, key.environmentId));
  if (!run || !env) throw notFound(`workflow run ${id}`);
  return runView(run, env, await listStepRows(db, run.id));
}

// ---------------------------------------------------------------------------------------------
// The test runner

/** Who a test run goes to when the request names nobody: the member running it. */
async function callerAsRecipient(db: Db, actor: Actor): Promise<RecipientInput> {
  const user = actor.kind === 'user' ? await findUser(db, actor.id) : undefined;
  return user ? { id: actor.id, name: user.name, email: user.email } : { id: actor.id, name: actor.name };
}

/**
 * Runs a workflow now in an environment, through its real channels: the draft state (drafts over
 * the committed release) in an editable environment, or the committed version with
 * `useCommitted` in any. Delays are skipped and reported; failures are not retried. Nothing
 * committed changes; the run and its step log are kept (source `test`) and audited.
 */
export async function testWorkflow(deps: Deps, ctx: CallContext, slug: string, input: TestRunInput, runner: Pick<WorkflowRunner, 'runTest'>) {
  authorize(ctx.actor, 'draft.write', slug);
  const db = deps.store.db;
  const env = await environmentOf(db, ctx, slug);
  const useCommitted = input.useCommitted ?? false;
  if (!useCommitted) assertEditable(env, await listEnvironments(db, ctx.workspace.id));
  const data = input.data ?? {};
  checkData(data);
  const snapshot = useCommitted ? await headSnapshot(db, env) : await draftSnapshot(db, env);
  const version = useCommitted ? `${env.slug}#${env.headRelease}` : `the draft state of ${env.slug}`;
  const workflow = await resolveWorkflow(db, env, input.workflow, async (kind, key) => snapshot.get(resourceId(kind, key))?.hash, version);
  const recipients = await recipientsIn(db, env, input.recipients ?? [await callerAsRecipient(db, ctx.actor)]);

  const at = deps.now().toISOString();
  const run: WorkflowRun = {
    id: newId('run'),
    workspaceId: env.workspaceId,
    environmentId: env.id,
    workflow: input.workflow,
    release: env.headRelease,
    snapshotId: useCommitted ? await headSnapshotId(db, env) : null,
    contentHash: workflow.hash,
    definition: workflow.definition,
    source: 'test',
    idempotencyKey: null,
    requestHash: contentHash({ workflow: input.workflow, recipients: input.recipients ?? null, data }),
    status: 'running',
    recipients,
    data,
    error: null,
    createdAt: at,
    startedAt: at,
    finishedAt: null,
  };
  await deps.store.transaction(async (tx) => {
    await insertRun(tx, run);
    await record(deps, tx, ctx, {
      action: 'workflow.test_run',
      environment: slug,
      target: resourceId('workflow', input.workflow),
      after: { runId: run.id, hash: workflow.hash },
      details: { runId: run.id, version: useCommitted ? 'committed' : 'draft', release: run.release, hash: workflow.hash, recipients: recipients.length },
    });
  });
  let outcome: TestOutcome;
  try {
    outcome = await runner.runTest(run, env, snapshot);
  } catch (error) {
    await finishRun(db, run.id, 'failed', 'internal error', deps.now().toISOString());
    throw error;
  }
  const finishedAt = deps.now().toISOString();
  const status = outcome.failed ? 'failed' : 'completed';
  await finishRun(db, run.id, status, outcome.error, finishedAt);
  const finished: WorkflowRun = { ...run, status, error: outcome.error, finishedAt };
  return {
    version: useCommitted ? ('committed' as const) : ('draft' as const),
    hash: workflow.hash,
    run: runView(finished, env, await listStepRows(db, run.id)),
    messages: outcome.reports,
  };
}
