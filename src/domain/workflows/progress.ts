// Where each recipient of a run stands: the step log decides what runs next, when a waiting or
// retrying step is due, and how a run ends. Retries back off exponentially with jitter.
import type { WorkflowContent } from '../resources/kinds.js';

export type StepStatus = 'completed' | 'failed' | 'retrying' | 'waiting' | 'skipped';
/** What the run view shows for a step not attempted yet, or never to be. */
export type StepViewStatus = StepStatus | 'pending';

/** One row of the step log, for one step and one recipient. */
export interface StepState {
  step: number;
  status: StepStatus;
  attempts: number;
  /** When a retrying or waiting step is due. */
  wakeAt: string | null;
}

export type NextAction =
  /** Run `step` now; `attempts` were made before. */
  | { kind: 'run'; step: number; attempts: number }
  | { kind: 'wait'; until: string }
  | { kind: 'done'; failed: boolean };

/** What a recipient does next, given its step log (any order) and the time now (ISO). */
export function nextAction(stepCount: number, states: readonly StepState[], now: string): NextAction {
  const byStep = new Map(states.map((s) => [s.step, s]));
  for (let step = 0; step < stepCount; step++) {
    const state = byStep.get(step);
    if (!state) return { kind: 'run', step, attempts: 0 };
    if (state.status === 'completed' || state.status === 'skipped') continue;
    if (state.status === 'failed') return { kind: 'done', failed: true };
    if (state.wakeAt !== null && state.wakeAt > now) return { kind: 'wait', until: state.wakeAt };
    return { kind: 'run', step, attempts: state.attempts };
  }
  return { kind: 'done', failed: false };
}

/** How a run stands once every recipient has gone as far as it can for now. */
export type RunProgress = { kind: 'done'; failed: boolean } | { kind: 'wait'; until: string };

export function runProgress(recipients: readonly (Extract<NextAction, { kind: 'done' | 'wait' }>)[]): RunProgress {
  const waits = recipients.filter((r): r is { kind: 'wait'; until: string } => r.kind === 'wait');
  if (waits.length > 0) return { kind: 'wait', until: waits.map((w) => w.until).sort()[0]! };
  return { kind: 'done', failed: recipients.some((r) => r.kind === 'done' && r.failed) };
}

export interface RetryPolicy {
  /** Attempts of one step for one recipient, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 2_000, maxDelayMs: 5 * 60_000 };

/** A receiver's Retry-After is honoured up to this long. */
const MAX_RETRY_AFTER_MS = 60 * 60_000;

/**
 * The wait before the attempt after `attempts` failed ones: base·2^(attempts-1), capped, with
 * "equal jitter" (half fixed, half random) so retries of many runs do not arrive together; at
 * least what the receiver asked for with Retry-After.
 */
export function retryDelayMs(attempts: number, policy: RetryPolicy, retryAfterSeconds?: number, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  const jittered = exponential / 2 + random() * (exponential / 2);
  const asked = retryAfterSeconds === undefined ? 0 : Math.min(retryAfterSeconds * 1000, MAX_RETRY_AFTER_MS);
  return Math.round(Math.max(jittered, asked));
}

/**
 * The id of one delivery: the same for every attempt of a step for a recipient of a run, so a
 * retried delivery is recognised (email Message-ID, webhook delivery header, feed message id).
 */
export function deliveryId(runId: string, step: number, recipientIndex: number): string {
  return `${runId}.s${step}.r${recipientIndex}`;
}

export type WorkflowStep = WorkflowContent['steps'][number];

/** The step log's `type`: `channel:email`, `tool`, `delay`. */
export function stepType(step: WorkflowStep): string {
  return step.type === 'channel' ? `channel:${step.channel}` : step.type;
}

/** Layouts and tools a workflow's steps name, as resource ids. */
export function workflowReferences(workflow: WorkflowContent): string[] {
  const ids = new Set<string>();
  for (const step of workflow.steps) {
    if (step.type === 'tool') ids.add(`tool/${step.tool}`);
    if (step.type === 'channel' && step.channel !== 'webhook' && step.layout) ids.add(`layout/${step.layout}`);
  }
  return [...ids].sort();
}
