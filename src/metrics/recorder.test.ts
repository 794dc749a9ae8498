import { describe, expect, it } from 'vitest';
import { DURATION_COUNT, ERRORS, Recorder, REQUESTS, S2XX, S4XX, S5XX, UPSTREAM_ERRORS } from './recorder.js';

describe('recorder', () => {
  it('counts an event in its series and in the environment total, by status class', () => {
    const recorder = new Recorder(() => 120_000);
    recorder.record('ws', 'env', 'gateway', 'api', 200, false, false, 3);
    recorder.record('ws', 'env', 'gateway', 'api', 404, false, false, 4);
    recorder.record('ws', 'env', 'gateway', 'web', 502, true, true, 5);
    recorder.record('ws', 'env', 'gateway', '', 404, false, false, 1);
    const rows = recorder.drain();
    const bySubject = new Map(rows.map((r) => [r.subject, r]));
    expect(rows).toHaveLength(3);
    const total = bySubject.get('')!;
    expect([total.counters[REQUESTS], total.counters[S2XX], total.counters[S4XX], total.counters[S5XX], total.counters[ERRORS], total.counters[UPSTREAM_ERRORS]]).toEqual([4, 1, 2, 1, 1, 1]);
    expect(bySubject.get('api')!.counters[REQUESTS]).toBe(2);
    expect(total.minute).toBe(120_000);
    expect(recorder.drain()).toHaveLength(0);
  });

  it('closes a minute when the clock passes it and keeps cumulative totals', () => {
    let now = 60_000;
    const recorder = new Recorder(() => now);
    recorder.record('ws', 'env', 'tool', 'geo', 200, false, false, 10);
    now = 125_000;
    recorder.record('ws', 'env', 'tool', 'geo', 500, true, false, 10);
    const minutes = recorder.drain().filter((r) => r.subject === 'geo').map((r) => [r.minute, r.counters[REQUESTS]]);
    expect(minutes).toEqual([
      [60_000, 1],
      [120_000, 1],
    ]);
    const series = recorder.series().find((s) => s.subject === 'geo')!;
    expect(series.total[REQUESTS]).toBe(2);
  });

  it('counts the end of a started event without counting it twice; NaN durations are not measured', () => {
    const recorder = new Recorder(() => 0);
    recorder.record('ws', 'env', 'workflow', 'welcome', 0, false, false, Number.NaN);
    recorder.recordEnd('ws', 'env', 'workflow', 'welcome', true, 250);
    const total = recorder.drain().find((r) => r.subject === '')!;
    expect([total.counters[REQUESTS], total.counters[ERRORS], total.counters[DURATION_COUNT]]).toEqual([1, 1, 1]);
  });

  it('puts back rows a flush could not write', () => {
    const recorder = new Recorder(() => 0);
    recorder.record('ws', 'env', 'delivery', 'flag/a', 200, false, false, 1);
    const rows = recorder.drain();
    recorder.restore(rows);
    expect(recorder.drain()).toHaveLength(2);
  });
});
