import { describe, expect, it } from 'vitest';
import { evaluateGates, isGated, latestChecks, soakGate, verdict, type CheckReport, type GateFacts, type GateRules } from './gates.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000).toISOString();
const report = (name: string, status: CheckReport['status'], seq: number): CheckReport => ({ name, status, seq, url: null, summary: null });
const facts = (over: Partial<GateFacts> = {}): GateFacts => ({
  approvals: { required: 0, given: 0 },
  checks: [],
  ticks: new Map(),
  soak: { since: minutesAgo(0), replacedAt: null, alerted: false },
  hold: null,
  now: NOW,
  ...over,
});

describe('isGated', () => {
  it.each([
    [null, false],
    [{ checks: [], checklist: [], soakMinutes: 0 }, false],
    [{ checks: ['ci'], checklist: [], soakMinutes: 0 }, true],
    [{ checks: [], checklist: ['x'], soakMinutes: 0 }, true],
    [{ checks: [], checklist: [], soakMinutes: 1 }, true],
  ] as [GateRules | null, boolean][])('%j is gated: %s', (rules, gated) => expect(isGated(rules)).toBe(gated));
});

describe('latestChecks', () => {
  it('keeps the report with the highest seq per name, whatever the order', () => {
    const latest = latestChecks([report('ci', 'failure', 2), report('ci', 'success', 3), report('ci', 'pending', 1), report('__proto__', 'success', 4)]);
    expect(latest.get('ci')?.status).toBe('success');
    expect(latest.get('__proto__')?.status).toBe('success');
    expect(latest.size).toBe(2);
  });
});

describe('soakGate', () => {
  it.each([
    { name: 'not yet run long enough', since: 0.5, replaced: null, alerted: false, state: 'pending' },
    { name: 'ran exactly its minutes', since: 1, replaced: null, alerted: false, state: 'passed' },
    { name: 'an alert fired meanwhile', since: 10, replaced: null, alerted: true, state: 'failed' },
    { name: 'replaced before its time', since: 10, replaced: 9.5, alerted: false, state: 'failed' },
    { name: 'replaced after its time', since: 10, replaced: 5, alerted: false, state: 'passed' },
  ])('$name: $state', ({ since, replaced, alerted, state }) => {
    expect(soakGate(1, { since: minutesAgo(since), replacedAt: replaced === null ? null : minutesAgo(replaced), alerted }, NOW).state).toBe(state);
  });
});

describe('evaluateGates', () => {
  const rules: GateRules = { checks: ['ci/e2e', '__proto__'], checklist: ['Migrations applied'], soakMinutes: 1 };

  it('lists approvals, each check, each item, soak and hold in that order', () => {
    const gates = evaluateGates(rules, facts({ approvals: { required: 2, given: 1 }, hold: { reason: 'breach' } }));
    expect(gates.map((g) => [g.type, g.name, g.state])).toEqual([
      ['approvals', 'approvals', 'pending'],
      ['check', 'ci/e2e', 'pending'],
      ['check', '__proto__', 'pending'],
      ['checklist', 'Migrations applied', 'pending'],
      ['soak', '1 min', 'pending'],
      ['hold', 'hold', 'pending'],
    ]);
  });

  it('passes when every check succeeded, every item is ticked and the soak time ran', () => {
    const gates = evaluateGates(
      rules,
      facts({
        checks: [report('ci/e2e', 'success', 1), report('__proto__', 'success', 2)],
        ticks: new Map([['Migrations applied', { done: true, by: 'Ada' }]]),
        soak: { since: minutesAgo(2), replacedAt: null, alerted: false },
      }),
    );
    expect(gates).toHaveLength(4);
    expect(verdict(gates)).toBe('passed');
  });

  it('fails on a failed check, and a later success for that name passes it again', () => {
    const failed = evaluateGates(rules, facts({ checks: [report('ci/e2e', 'failure', 1)] }));
    expect(failed.find((g) => g.name === 'ci/e2e')?.state).toBe('failed');
    expect(verdict(failed)).toBe('failed');
    const again = evaluateGates(rules, facts({ checks: [report('ci/e2e', 'failure', 1), report('ci/e2e', 'success', 2)] }));
    expect(again.find((g) => g.name === 'ci/e2e')?.state).toBe('passed');
    expect(verdict(again)).toBe('pending');
  });

  it('ignores ticks of items the checklist no longer has and reports nobody unasked', () => {
    const gates = evaluateGates({ checks: [], checklist: ['b'], soakMinutes: 0 }, facts({ checks: [report('other', 'failure', 1)], ticks: new Map([['a', { done: true, by: 'Ada' }]]) }));
    expect(gates).toEqual([{ type: 'checklist', name: 'b', state: 'pending', detail: 'not ticked' }]);
  });

  it('an untick sends an item back to pending', () => {
    const gates = evaluateGates({ checks: [], checklist: ['a'], soakMinutes: 0 }, facts({ ticks: new Map([['a', { done: false, by: 'Ada' }]]) }));
    expect(gates[0]!.state).toBe('pending');
  });

  it('no gates at all pass; without rules only approvals count', () => {
    expect(verdict([])).toBe('passed');
    const gates = evaluateGates(null, facts({ approvals: { required: 1, given: 0 } }));
    expect(gates.map((g) => g.type)).toEqual(['approvals']);
    expect(verdict(gates)).toBe('pending');
  });
});
