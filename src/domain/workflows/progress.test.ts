import { describe, expect, it } from 'vitest';
import { deliveryId, nextAction, retryDelayMs, runProgress, workflowReferences, type StepState } from './progress.js';

const T0 = '2030-01-01T00:00:00.000Z';
const LATER = '2030-01-01T00:01:00.000Z';
const state = (step: number, status: StepState['status'], attempts = 1, wakeAt: string | null = null): StepState => ({ step, status, attempts, wakeAt });

describe('nextAction', () => {
  it('runs the first step never attempted', () => {
    expect(nextAction(3, [state(0, 'completed'), state(1, 'skipped', 0)], T0)).toEqual({ kind: 'run', step: 2, attempts: 0 });
  });

  it('waits for a retrying or waiting step until it is due, then runs it again with its attempts', () => {
    expect(nextAction(2, [state(0, 'retrying', 2, LATER)], T0)).toEqual({ kind: 'wait', until: LATER });
    expect(nextAction(2, [state(0, 'retrying', 2, T0)], LATER)).toEqual({ kind: 'run', step: 0, attempts: 2 });
  });

  it('stops a recipient at a failed step', () => {
    expect(nextAction(3, [state(0, 'completed'), state(1, 'failed')], T0)).toEqual({ kind: 'done', failed: true });
  });

  it('is done when every step completed or was skipped', () => {
    expect(nextAction(2, [state(1, 'completed'), state(0, 'completed')], T0)).toEqual({ kind: 'done', failed: false });
  });
});

describe('runProgress', () => {
  it('waits for the earliest recipient that waits; otherwise fails when any recipient failed', () => {
    expect(runProgress([{ kind: 'wait', until: LATER }, { kind: 'wait', until: T0 }, { kind: 'done', failed: true }])).toEqual({ kind: 'wait', until: T0 });
    expect(runProgress([{ kind: 'done', failed: false }, { kind: 'done', failed: true }])).toEqual({ kind: 'done', failed: true });
    expect(runProgress([{ kind: 'done', failed: false }])).toEqual({ kind: 'done', failed: false });
  });
});

describe('retryDelayMs', () => {
  const policy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 10_000 };

  it('doubles per attempt between half and all of the exponential delay, capped', () => {
    expect(retryDelayMs(1, policy, undefined, () => 0)).toBe(500);
    expect(retryDelayMs(1, policy, undefined, () => 1)).toBe(1000);
    expect(retryDelayMs(3, policy, undefined, () => 1)).toBe(4000);
    expect(retryDelayMs(10, policy, undefined, () => 1)).toBe(10_000);
  });

  it('waits at least what Retry-After asked, up to an hour', () => {
    expect(retryDelayMs(1, policy, 30, () => 0)).toBe(30_000);
    expect(retryDelayMs(1, policy, 86_400, () => 0)).toBe(3_600_000);
  });
});

describe('deliveryId and references', () => {
  it('the delivery id is the same for every attempt of a step for a recipient, and differs otherwise', () => {
    expect(deliveryId('run_1', 2, 0)).toBe(deliveryId('run_1', 2, 0));
    expect(new Set([deliveryId('run_1', 2, 0), deliveryId('run_1', 2, 1), deliveryId('run_1', 1, 0), deliveryId('run_2', 2, 0)]).size).toBe(4);
  });

  it('lists the layouts and tools the steps name', () => {
    const workflow = {
      name: 'w',
      steps: [
        { type: 'channel' as const, channel: 'email' as const, layout: 'default', template: { subject: 's', text: 't' } },
        { type: 'tool' as const, tool: 'crm' },
        { type: 'channel' as const, channel: 'in_app' as const, layout: 'default', template: { body: 'b' } },
        { type: 'delay' as const, seconds: 5 },
      ],
    };
    expect(workflowReferences(workflow)).toEqual(['layout/default', 'tool/crm']);
  });
});
