import { describe, expect, it } from 'vitest';
import { CliError } from './errors.js';
import { Output } from './output.js';
import { duration, parseMinutes, parseResources, planLines, waitingFor, type Gate, type Plan } from './plans.js';

const out = new Output({ json: false, color: false });

function plan(changes: number): Plan {
  return {
    kind: 'promotion',
    source: { environment: 'staging', release: 4, name: 'staging#4' },
    target: { environment: 'production', release: 9, protected: true },
    summary: { added: changes, changed: 0, removed: 0 },
    changes: Array.from({ length: changes }, (_, i) => ({ kind: 'config', key: `k${i}`, status: 'added' as const, fromHash: null, toHash: 'h', fields: [] })),
    references: [],
    missingReferences: [],
    planHash: 'a'.repeat(64),
  } as Plan;
}

describe('release command arguments', () => {
  it.each([
    ['10m', 10],
    ['1h', 60],
    ['1h30m', 90],
    ['45', 45],
    ['120s', 2],
  ])('--watch %s is %i minutes', (text, minutes) => expect(parseMinutes(text)).toBe(minutes));

  it.each(['30s', '0m', '25h', 'soon', ''])('--watch %j is a usage error', (text) => {
    expect(() => parseMinutes(text)).toThrow(CliError);
    try {
      parseMinutes(text);
    } catch (error) {
      expect((error as CliError).exitCode).toBe(2);
    }
  });

  it('--resources takes commas and repeats, and refuses what is not kind/key', () => {
    expect(parseResources('config/a, route/b', ['tool/c'])).toEqual(['tool/c', 'config/a', 'route/b']);
    expect(() => parseResources('payments')).toThrow(/not kind\/key/);
  });

  it('durations read as minutes and seconds', () => {
    expect(duration(65)).toBe('1m05s');
    expect(duration(3725)).toBe('1h02m05s');
  });
});

describe('plans as lines', () => {
  it('a plan of thousands of resources prints its summary and the first 50, not thousands of lines', () => {
    const lines = planLines(out, plan(3000), false);
    expect(lines[0]).toBe('plan: promote staging#4 into production (now #9, protected): 3000 added, 0 changed, 0 removed');
    expect(lines.filter((line) => line.startsWith('  + '))).toHaveLength(50);
    expect(lines).toContain('  … and 2,950 more resources (--verbose lists every one)');
    expect(lines.length).toBeLessThan(60);
  });

  it('--verbose lists every resource', () => {
    expect(planLines(out, plan(120), true).filter((line) => line.startsWith('  + '))).toHaveLength(120);
  });

  it('a request waits for the gates that have not passed, named once', () => {
    const gates: Gate[] = [
      { type: 'approvals', name: 'approvals', state: 'pending', detail: '0 of 1' },
      { type: 'check', name: 'ci', state: 'failed', detail: 'failure' },
      { type: 'soak', name: 'soak', state: 'passed', detail: 'ran 30m' },
    ];
    expect(waitingFor({ gates })).toBe('approvals pending, check ci failed');
    expect(waitingFor({ gates: [] })).toBe('nothing (an approval applies it)');
  });
});
