// The worker of one node: claims due jobs from the durable queue under a lease, advances their
// runs with the engine, and puts them back (a delay, a retry) or finishes them. Woken at once by
// triggers on this node, by its own timers for jobs it rescheduled, and by a poll for the rest.
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { DEFAULT_RETRY, retryDelayMs, type RetryPolicy } from '../../domain/workflows/progress.js';
import type { WorkflowRun } from '../../domain/workflows/runs.js';
import type { Deps } from '../../services/context.js';
import type { TestOutcome, TestRunOptions, WorkflowRunner } from '../../services/workflows.js';
import { claimJobs, deleteJob, findRunsOfJobs, finishRunOfJob, markRunsStarted, renewLeases, requeueJob, type Job } from '../../store/workflows.js';
import type { Channels } from '../channels/index.js';
import type { ResolutionView, Resolver } from '../resolver.js';
import { DEFAULT_PUBLIC_URL, WorkflowEngine, type AdvanceResult } from './engine.js';
import type { Recorder } from '../../metrics/recorder.js';
import { faultPoint } from '../../faults.js';

export interface WorkflowWorkerOptions {
  /** Starts claiming jobs when the node starts (default true); false leaves them to other nodes. */
  start?: boolean;
  /** How often the queue is polled for jobs made by other nodes or due later (default 1000). */
  pollIntervalMs?: number;
  /** How long a claim holds a job; renewed while it runs, taken over by another worker once expired (default 30000). */
  leaseMs?: number;
  /** Jobs run at the same time on this node (default 8). */
  concurrency?: number;
  /** Recipients of one run advanced at the same time (default 8). */
  recipientConcurrency?: number;
  /** Retries of transient delivery and tool failures. */
  retry?: Partial<RetryPolicy>;
  /** Executions of a job that may end in an internal error (the database away) before its run fails (default 10). */
  maxJobFailures?: number;
  /** Counts runs started, completed and failed, and step outcomes by channel (null: not counted). */
  recorder?: Recorder | null;
  /** The base of links in messages (STAGELINE_PUBLIC_URL): one-click unsubscribe. Default http://localhost:4700. */
  publicUrl?: string;
}

interface Active {
  job: Job;
  controller: AbortController;
  done: Promise<void>;
}

export class WorkflowWorker implements WorkflowRunner {
  /** This worker's name in lease tokens. */
  readonly id = `wrk_${randomBytes(6).toString('hex')}`;
  private readonly engine: WorkflowEngine;
  private readonly pollIntervalMs: number;
  private readonly leaseMs: number;
  private readonly concurrency: number;
  private readonly retry: RetryPolicy;
  private readonly maxJobFailures: number;
  private readonly active = new Map<string, Active>();
  private claims = 0;
  private started = false;
  private stopped = false;
  private pumping: Promise<void> | null = null;
  private again = false;
  /** The last claim filled every free slot: more may be due as soon as one frees. */
  private backlog = false;
  private poller: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly deps: Deps,
    private readonly resolver: Resolver,
    channels: Channels,
    private readonly options: WorkflowWorkerOptions = {},
    private readonly logger?: FastifyBaseLogger,
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.concurrency = Math.max(1, options.concurrency ?? 8);
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.maxJobFailures = options.maxJobFailures ?? 10;
    this.engine = new WorkflowEngine(deps, channels, { retry: this.retry, recipientConcurrency: Math.max(1, options.recipientConcurrency ?? 8), recorder: options.recorder ?? null, publicUrl: options.publicUrl ?? DEFAULT_PUBLIC_URL });
  }

  start(): void {
    if (this.started || this.stopped || this.options.start === false) return;
    this.started = true;
    this.poller = setInterval(() => this.wake(), this.pollIntervalMs);
    this.poller.unref();
    this.heartbeat = setInterval(() => void this.renew(), Math.max(10, Math.floor(this.leaseMs / 3)));
    this.heartbeat.unref();
    this.wake();
  }

  /** Looks for due jobs now (a trigger on this node committed one). */
  wake(): void {
    if (!this.started || this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
    });
  }

  /**
   * Stops claiming, lets running jobs finish their current step and puts them back in the queue
   * for the next worker, then returns.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poller) clearInterval(this.poller);
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.pumping;
    for (const { controller } of this.active.values()) controller.abort(new Error('the worker is stopping'));
    await Promise.allSettled([...this.active.values()].map((a) => a.done));
  }

  /** Runs a test run now, in the caller's request: delays skipped, failures not retried. */
  async runTest(run: WorkflowRun, view: ResolutionView, options: TestRunOptions): Promise<TestOutcome> {
    const result = await this.engine.advance(run, view, { mode: 'test', fresh: true, maskRecipients: options.maskRecipients });
    if (result.kind !== 'done') throw new Error(`a test run cannot ${result.kind === 'wait' ? 'wait' : 'be interrupted'}`);
    return { failed: result.failed, error: result.error, reports: result.reports };
  }

  private async pump(): Promise<void> {
    try {
      do {
        this.again = false;
        const free = this.concurrency - this.active.size;
        if (free <= 0 || this.stopped) break;
        const now = this.deps.now();
        const owner = `${this.id}.${++this.claims}`;
        const jobs = await claimJobs(this.deps.store, owner, now.toISOString(), new Date(now.getTime() + this.leaseMs).toISOString(), free);
        this.backlog = jobs.length === free;
        if (jobs.length === 0) break;
        faultPoint('job.after-claim');
        if (this.stopped) {
          // Claimed while stopping: back to the queue for the next worker.
          for (const job of jobs) await requeueJob(this.deps.store.db, job, now.toISOString());
          break;
        }
        const db = this.deps.store.db;
        const runs = await findRunsOfJobs(db, jobs.map((j) => j.runId));
        await markRunsStarted(db, jobs.map((j) => j.runId), now.toISOString());
        for (const job of jobs) {
          const run = runs.get(job.runId);
          this.execute(job, run, run && this.resolver.environment(run.workspaceId, run.environmentId).then((state) => state?.release(run.snapshotId, run.release)));
        }
        if (this.backlog) this.again = true;
      } while (this.again && !this.stopped);
    } catch (error) {
      this.logger?.warn({ err: error }, 'claiming workflow jobs failed; the next poll retries');
    }
  }

  private execute(job: Job, run: WorkflowRun | undefined, view: Promise<ResolutionView | undefined> | undefined): void {
    const controller = new AbortController();
    const done = this.runJob(job, run, view, controller.signal)
      .catch((error: unknown) => this.logger?.error({ err: error, job: job.id }, 'a workflow job failed to record its outcome'))
      .finally(() => {
        this.active.delete(job.id);
        if (this.backlog) this.wake();
      });
    this.active.set(job.id, { job, controller, done });
  }

  private async runJob(job: Job, run: WorkflowRun | undefined, release: Promise<ResolutionView | undefined> | undefined, signal: AbortSignal): Promise<void> {
    const db = this.deps.store.db;
    let result: AdvanceResult;
    try {
      const view = await release;
      if (!run || !view) {
        await deleteJob(db, job); // the environment and its runs were deleted
        return;
      }
      if (run.status === 'completed' || run.status === 'failed') {
        await deleteJob(db, job); // finished by an execution that stopped before removing its job
        return;
      }
      if (run.status === 'queued') this.options.recorder?.record(run.workspaceId, run.environmentId, 'workflow', run.workflow, 0, false, false, Number.NaN);
      result = await this.engine.advance(run, view, {
        mode: 'queue',
        signal,
        // A run still queued when claimed was never executed: it has no step log to read.
        fresh: run.status === 'queued',
      });
    } catch (error) {
      await this.failed(job, run, error);
      return;
    }
    const now = this.deps.now();
    if (result.kind === 'interrupted') {
      await requeueJob(db, job, now.toISOString());
      return;
    }
    if (result.kind === 'wait') {
      if (await requeueJob(db, job, result.until)) this.wakeAt(new Date(result.until));
      return;
    }
    faultPoint('job.before-finish');
    if (await finishRunOfJob(db, run, job, result.failed ? 'failed' : 'completed', result.error, now.toISOString())) {
      // Only the holder of the lease finishes the run; a worker that lost it leaves it alone.
      this.options.recorder?.recordEnd(run.workspaceId, run.environmentId, 'workflow', run.workflow, result.failed, now.getTime() - Date.parse(run.createdAt));
      faultPoint('job.after-finish');
      await deleteJob(db, job);
    }
  }

  /** An internal error (not a delivery's own failure): retried later, the run failed after too many. */
  private async failed(job: Job, run: WorkflowRun | undefined, error: unknown): Promise<void> {
    const failures = job.failures + 1;
    const message = error instanceof Error ? error.message.slice(0, 500) : String(error).slice(0, 500);
    this.logger?.warn({ err: error, job: job.id, run: job.runId, failures }, 'a workflow job failed; it will be retried');
    const now = this.deps.now();
    if (failures >= this.maxJobFailures && run) {
      if (await finishRunOfJob(this.deps.store.db, run, job, 'failed', `internal error after ${failures} attempts: ${message}`, now.toISOString())) {
        this.options.recorder?.recordEnd(run.workspaceId, run.environmentId, 'workflow', run.workflow, true, now.getTime() - Date.parse(run.createdAt));
        await deleteJob(this.deps.store.db, job);
      }
      return;
    }
    const runAt = new Date(now.getTime() + retryDelayMs(failures, this.retry)).toISOString();
    if (await requeueJob(this.deps.store.db, job, runAt, { failures, error: message })) this.wakeAt(new Date(runAt));
  }

  /** Wakes this worker when a job it put back is due, if that is before the next poll. */
  private wakeAt(at: Date): void {
    if (this.stopped) return;
    const delay = Math.max(0, at.getTime() - this.deps.now().getTime());
    if (delay >= this.pollIntervalMs) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.wake();
    }, delay + 1);
    timer.unref();
    this.timers.add(timer);
  }

  /** Extends the leases of running jobs; a job whose lease was taken over stops after its step. */
  private async renew(): Promise<void> {
    if (this.active.size === 0) return;
    const jobs = [...this.active.values()].map((a) => a.job);
    try {
      const lost = await renewLeases(this.deps.store.db, jobs, new Date(this.deps.now().getTime() + this.leaseMs).toISOString());
      for (const id of lost) this.active.get(id)?.controller.abort(new Error('the lease was lost'));
    } catch (error) {
      this.logger?.warn({ err: error }, 'renewing workflow job leases failed');
    }
  }
}
