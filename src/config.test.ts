import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('gateway settings', () => {
  it('default to a gateway on 4701 serving workspace default in this process, every region', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ gateway: true, gatewayPort: 4701, gatewayWorkspace: 'default', gatewayDefaultEnv: null, gatewayWorkers: 0, gatewayBodyLimit: 1024 * 1024, region: null });
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
