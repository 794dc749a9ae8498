// `stageline preferences` through the real command against a real node: rules turned on and off
// one at a time, the whole set replaced, the defaults shown beside, refusals naming the field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliWorkspace, type CliWorkspace } from './cli-support.js';
import { startTestServer, type TestServer } from './support.js';

const TOKEN = 'test-server-bootstrap-token-0123456789';
const WS = '/api/workspaces/default';
let node: TestServer;
let cli: CliWorkspace;

beforeAll(async () => {
  node = await startTestServer();
  cli = cliWorkspace({ url: node.server.url, token: TOKEN });
}, 60_000);
afterAll(async () => {
  cli?.dispose();
  await node?.close();
});

describe('stageline preferences', () => {
  it('opts a recipient out and in, rule by rule, keeping the others; get shows them with the defaults', async () => {
    expect((await node.api('PUT', `${WS}/environments/production/settings/preferences`, { value: { defaults: { channels: { webhook: false } } } })).status).toBe(200);
    expect((await cli.run(['preferences', 'opt-out', 'u_1', '--channel', 'email', '--env', 'production'])).stdout).toContain('u_1 opted out of channel email in production');
    expect((await cli.run(['preferences', 'opt-in', 'u_1', '--workflow', 'reset', '--channel', 'email', '--env', 'production'])).code).toBe(0);
    expect((await cli.run(['preferences', 'opt-out', 'u_1', '--workflow', 'digest', '--env', 'production'])).code).toBe(0);
    const got = (await cli.run(['preferences', 'get', 'u_1', '--env', 'production', '--json'])).json();
    expect(got).toMatchObject({
      recipient: 'u_1',
      version: 3,
      preferences: { channels: { email: false }, workflows: { reset: { channels: { email: true } }, digest: false } },
      defaults: { channels: { webhook: false } },
    });
    const table = (await cli.run(['preferences', 'get', 'u_1', '--env', 'production'])).stdout;
    expect(table).toMatch(/channel email\s+opted out\s+recipient/);
    expect(table).toMatch(/workflow reset × email\s+opted in\s+recipient/);
    expect(table).toMatch(/channel webhook\s+opted out\s+default/);
    // Development keeps its own.
    expect((await cli.run(['preferences', 'get', 'u_1', '--env', 'development', '--json'])).json().version).toBe(0);
  });

  it('replaces the whole set; a bad set exits 1 naming the field; a missing rule is a usage error', async () => {
    expect((await cli.run(['preferences', 'set', 'u_2', '{"workflows":{"digest":{"channels":{"in_app":false}}}}', '--env', 'development'])).code).toBe(0);
    expect((await node.api('GET', `${WS}/environments/development/recipients/u_2/preferences`)).body.preferences).toEqual({ workflows: { digest: { channels: { in_app: false } } } });
    const bad = await cli.run(['preferences', 'set', 'u_2', '{"channels":{"sms":false}}', '--env', 'development']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('channels');
    expect((await cli.run(['preferences', 'opt-out', 'u_2', '--env', 'development'])).code).toBe(2);
  });
});
