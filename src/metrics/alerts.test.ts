import { describe, expect, it } from 'vitest';
import type { Figures } from './contract.js';
import { holds, metricValue, ruleState } from './alerts.js';

const figures = (f: Partial<Figures>): Figures => ({
  requests: 0, status2xx: 0, status3xx: 0, status4xx: 0, status5xx: 0, errors: 0, upstreamErrors: 0,
  errorRate: 0, successRate: 0, upstreamErrorRate: 0, p50Ms: null, p95Ms: null, p99Ms: null, ...f,
});

describe('holds', () => {
  it.each([
    ['>', 2, 1, true], ['>', 1, 1, false], ['>=', 1, 1, true], ['>=', 0.9, 1, false],
    ['<', 0, 1, true], ['<', 1, 1, false], ['<=', 1, 1, true], ['<=', 1.1, 1, false],
  ] as const)('%s: %d against %d is %s', (comparison, value, threshold, expected) => {
    expect(holds(comparison, value, threshold)).toBe(expected);
  });
});

describe('ruleState', () => {
  const rule = { metric: 'error_rate', comparison: '>', threshold: 0.1, windowMinutes: 5, minRequests: 10 } as const;

  it('fires when the condition holds over at least minRequests events', () => {
    expect(ruleState(rule, figures({ requests: 10, errorRate: 0.2 }))).toEqual({ state: 'firing', value: 0.2 });
  });
  it('stays ok under minRequests, whatever the rate', () => {
    expect(ruleState(rule, figures({ requests: 9, errorRate: 1 }))).toEqual({ state: 'ok', value: 1 });
  });
  it('stays ok when nothing was measured', () => {
    expect(ruleState({ ...rule, metric: 'p95_latency_ms', threshold: 100 }, figures({ requests: 50 }))).toEqual({ state: 'ok', value: null });
  });
  it('request_rate is per minute of the window', () => {
    expect(metricValue('request_rate', figures({ requests: 30 }), 10)).toBe(3);
    expect(ruleState({ ...rule, metric: 'request_rate', comparison: '<', threshold: 5, windowMinutes: 10, minRequests: 0 }, figures({ requests: 30 })).state).toBe('firing');
  });
  it('reads each metric from its own figure', () => {
    const f = figures({ requests: 10, errorRate: 0.1, upstreamErrorRate: 0.2, p95Ms: 300, p99Ms: 900 });
    expect([metricValue('error_rate', f, 1), metricValue('upstream_error_rate', f, 1), metricValue('p95_latency_ms', f, 1), metricValue('p99_latency_ms', f, 1), metricValue('workflow_failure_rate', f, 1)]).toEqual([0.1, 0.2, 300, 900, 0.1]);
  });
});
