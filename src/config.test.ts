import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('gateway settings', () => {
  it('default to a gateway on 4701 serving workspace default in this process, every region', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ gateway: true, gatewayPort: 4701, gatewayWorkspace: 'default', gatewayDefaultEnv: null, gatewayWorkers: 1, gatewayBodyLimit: 1024 * 1024, region: null });
  });

  it('take any free gateway port when the API takes any free port', () => {
    expect(loadConfig({ STAGELINE_PORT: '0' }).gatewayPort).toBe(0);
    expect(loadConfig({ STAGELINE_PORT: '0', STAGELINE_GATEWAY_PORT: '5000' }).gatewayPort).toBe(5000);
    expect(loadConfig({ STAGELINE_PORT: '8080' }).gatewayPort).toBe(4701);
  });

  it('read every variable', () => {
    const config = loadConfig({
      STAGELINE_GATEWAY: 'off',
      STAGELINE_GATEWAY_WORKSPACE: 'acme',
      STAGELINE_GATEWAY_DEFAULT_ENV: 'staging',
      STAGELINE_GATEWAY_WORKERS: '4',
      STAGELINE_GATEWAY_BODY_LIMIT: '2048',
      STAGELINE_REGION: 'eu-west',
    });
    expect(config).toMatchObject({ gateway: false, gatewayWorkspace: 'acme', gatewayDefaultEnv: 'staging', gatewayWorkers: 4, gatewayBodyLimit: 2048, region: 'eu-west' });
  });

  it.each([
    ['STAGELINE_GATEWAY', 'no'],
    ['STAGELINE_GATEWAY_PORT', '-1'],
    ['STAGELINE_GATEWAY_WORKERS', 'two'],
    ['STAGELINE_GATEWAY_BODY_LIMIT', '0'],
    ['STAGELINE_REGION', 'EU West'],
    ['STAGELINE_GATEWAY_DEFAULT_ENV', '__proto__'],
    ['STAGELINE_GATEWAY_WORKSPACE', 'Acme'],
  ])('refuse %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });
});

describe('metrics settings', () => {
  it('default to recording, a flush a minute, 7 and 90 days, and a closed /metrics', () => {
    expect(loadConfig({}).metrics).toEqual({ enabled: true, flushMs: 60_000, minuteRetentionDays: 7, hourRetentionDays: 90, token: null, open: false });
  });

  it('read every variable', () => {
    const metrics = loadConfig({
      STAGELINE_METRICS: 'off',
      STAGELINE_METRICS_FLUSH_MS: '200',
      STAGELINE_METRICS_MINUTE_RETENTION_DAYS: '2',
      STAGELINE_METRICS_HOUR_RETENTION_DAYS: '30',
      STAGELINE_METRICS_TOKEN: 'metrics-token-0123456789',
      STAGELINE_METRICS_OPEN: 'on',
    }).metrics;
    expect(metrics).toEqual({ enabled: false, flushMs: 200, minuteRetentionDays: 2, hourRetentionDays: 30, token: 'metrics-token-0123456789', open: true });
  });

  it.each([
    ['STAGELINE_METRICS', 'yes'],
    ['STAGELINE_METRICS_FLUSH_MS', '0'],
    ['STAGELINE_METRICS_MINUTE_RETENTION_DAYS', '-1'],
    ['STAGELINE_METRICS_TOKEN', 'short'],
    ['STAGELINE_METRICS_OPEN', 'true'],
  ])('refuse %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });
});
