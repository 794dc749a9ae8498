// Workflow runs: triggering an environment's committed workflow with an API key (a run and its
// first job, queued in one transaction), reading a run, and the test runner that runs a draft
// (or the committed version) at once through the environment's real channels.
import { authorize, type Actor } from '../domain/auth/permissions.js';
import { contentHash } from '../domain/canonical.js';
import { assertEditable, type Environment } from '../domain/environments/chain.js';
import { conflict, invalid, notFound, StaleKeyError, StagelineError } from '../domain/errors.js';
import { resourceId } from '../domain/releases/snapshot.js';
import type { WorkflowContent } from '../domain/resources/kinds.js';
import { resolvedOrThrow } from '../domain/resolution/resolve.js';
import { stepType, workflowReferences, type StepViewStatus } from '../domain/workflows/progress.js';
import {
  dataSizeIssue,
  idempotencyKeyIssue,
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
import type { ResolutionView, Resolver } from '../runtime/resolver.js';
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
  /** Runs a test run to its end in the caller's request, in `view` (the draft state or the head). */
  runTest(run: WorkflowRun, view: ResolutionView, options: TestRunOptions): Promise<TestOutcome>;
}

export interface TestRunOptions {
  /** Recipients' values are masked in what the run answers (the environment obfuscates data). */
  maskRecipients: boolean;
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
  /** Show recipients' real values where the environment obfuscates data (needs data.reveal; audited). */
  reveal?: boolean;
}

interface ResolvedWorkflow {
  hash: string;
  definition: WorkflowContent;
}

/**
 * The workflow `key` as `view` resolves it: 404 when the version lacks it, 409 when it is
 * switched off, invalid with its override, or names a layout or tool the same version lacks.
 */
async function resolveWorkflow(view: ResolutionView, key: string): Promise<ResolvedWorkflow> {
  const id = resourceId('workflow', key);
  const resolution = await view.resolve('workflow', key);
  if (!resolution.ok && resolution.failure.reason === 'inactive') {
    throw conflict('workflow_inactive', `${id} is switched off in ${view.environment.slug}: nothing was sent`, [{ resource: id, environment: view.environment.slug }]);
  }
  const { hash, content } = resolvedOrThrow(resolution);
  const missing = workflowReferences(content).filter((ref) => {
    const slash = ref.indexOf('/');
    return view.hashOf(ref.slice(0, slash), ref.slice(slash + 1)) === undefined;
  });
  if (missing.length > 0) {
    throw conflict('missing_references', `${id} uses ${missing.join(', ')}, which ${view.version} does not have`, missing.map((reference) => ({ resource: id, reference })));
  }
  return { hash, definition: content };
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
  const issue = dataSizeIssue(data);
  if (issue) throw new StagelineError(413, 'payload_too_large', `data: ${issue.message}`, [issue]);
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
  resolver: Resolver,
  call: KeyCall,
  key: string,
  input: TriggerInput,
  runner: Pick<WorkflowRunner, 'wake'>,
): Promise<{ runId: string; status: RunStatus; created: boolean }> {
  assertRunKey(call.key);
  const db = deps.store.db;
  const scope = { workspaceId: call.key.workspaceId, environmentId: call.key.environmentId };
  const idempotencyKey = input.idempotencyKey;
  const keyIssue = idempotencyKeyIssue(idempotencyKey);
  if (keyIssue) throw invalid([keyIssue]);
  const data = input.data ?? {};
  checkData(data);
  const requestHash = contentHash({ workflow: key, recipients: input.recipients, data });
  if (idempotencyKey !== undefined) {
    const existing = await findRunByIdempotencyKey(db, scope, idempotencyKey);
    if (existing) return replay(existing, requestHash);
  }

  const state = await resolver.environment(scope.workspaceId, scope.environmentId);
  if (!state) throw new StaleKeyError('environment');
  const env = state.environment;
  const workflow = await resolveWorkflow(state.committed, key);
  const recipients = await recipientsIn(db, env, input.recipients);

  const at = deps.now().toISOString();
  const run: WorkflowRun = {
    id: newId('run'),
    workspaceId: env.workspaceId,
    environmentId: env.id,
    workflow: key,
    release: env.headRelease,
    snapshotId: state.committed.snapshotId,
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
  return runView(run, env, await listStepRows(db, run));
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
export async function testWorkflow(deps: Deps, resolver: Resolver, ctx: CallContext, slug: string, input: TestRunInput, runner: Pick<WorkflowRunner, 'runTest'>) {
  authorize(ctx.actor, 'draft.write', slug);
  const db = deps.store.db;
  const state = await resolver.environment(ctx.workspace.id, (await environmentOf(db, ctx, slug)).id);
  if (!state) throw notFound(`environment ${slug}`);
  const env = state.environment;
  const useCommitted = input.useCommitted ?? false;
  if (!useCommitted) assertEditable(env, await listEnvironments(db, ctx.workspace.id));
  // Recipients' records are data: masked as the members' read path masks them, unless revealed.
  const maskRecipients = env.obfuscateData && !(input.reveal ?? false);
  if (env.obfuscateData && !maskRecipients) authorize(ctx.actor, 'data.reveal', slug);
  const data = input.data ?? {};
  checkData(data);
  const view = useCommitted ? state.committed : await state.drafts();
  const workflow = await resolveWorkflow(view, input.workflow);
  const recipientInputs = input.recipients ?? [await callerAsRecipient(db, ctx.actor)];
  const recipients = await recipientsIn(db, env, recipientInputs);

  const at = deps.now().toISOString();
  const run: WorkflowRun = {
    id: newId('run'),
    workspaceId: env.workspaceId,
    environmentId: env.id,
    workflow: input.workflow,
    release: env.headRelease,
    snapshotId: view.snapshotId,
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
    if (env.obfuscateData && !maskRecipients) {
      const ids = recipientIdsToLoad(recipientInputs);
      await record(deps, tx, ctx, { action: 'data.reveal', environment: slug, target: `data/${RECIPIENT_COLLECTION}`, details: { collection: RECIPIENT_COLLECTION, ids, runId: run.id } });
    }
  });
  let outcome: TestOutcome;
  try {
    outcome = await runner.runTest(run, view, { maskRecipients });
  } catch (error) {
    await finishRun(db, run, 'failed', 'internal error', deps.now().toISOString());
    throw error;
  }
  const finishedAt = deps.now().toISOString();
  const status = outcome.failed ? 'failed' : 'completed';
  await finishRun(db, run, status, outcome.error, finishedAt);
  const finished: WorkflowRun = { ...run, status, error: outcome.error, finishedAt };
  return {
    version: useCommitted ? ('committed' as const) : ('draft' as const),
    hash: workflow.hash,
    masked: maskRecipients,
    run: runView(finished, env, await listStepRows(db, run)),
    messages: outcome.reports,
  };
}
