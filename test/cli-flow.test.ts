// The lifecycle a team runs from its repository, in one sequence through the real command:
// pull → edit a file → push → diff → commit → promote → rollback, and a branch named after the
// git branch → push into it → merge back. Each step is checked against what the server holds.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliWorkspace, type CliWorkspace } from './cli-support.js';
import { startTestServer, WS, type TestServer } from './support.js';

const TOKEN = 'test-server-bootstrap-token-0123456789';
let node: TestServer;
let cli: CliWorkspace;

beforeAll(async () => {
  node = await startTestServer();
  cli = cliWorkspace({ url: node.server.url, token: TOKEN });
  const git = (...args: string[]) => execFileSync('git', args, { cwd: cli.cwd, stdio: 'ignore' });
  git('init', '-q');
  git('checkout', '-q', '-b', 'feature/New-Checkout');
  writeFileSync(join(cli.cwd, 'stageline.json'), JSON.stringify({ workspace: 'default', directory: 'config-as-code' }));
}, 60_000);

afterAll(async () => {
  cli?.dispose();
  await node?.close();
});

const file = (kind: string, key: string) => join(cli.cwd, 'config-as-code', kind, `${key}.yaml`);

async function committed(env: string, kind: string, key: string) {
  const res = await node.api('GET', `${WS}/environments/${env}/resources/${kind}/${key}`);
  return res.status === 200 ? res.body.committed?.content : undefined;
}

describe('the lifecycle from a repository', () => {
  it('pull → edit → push → diff → commit → promote → rollback', async () => {
    expect((await cli.run(['env', 'create', 'staging'])).code).toBe(0);
    expect((await node.api('PUT', `${WS}/environments/development/resources/config/checkout`, { content: { value: { currency: 'EUR' } } })).status).toBe(200);
    expect((await node.api('POST', `${WS}/environments/development/commits`, { message: 'seed' })).status).toBe(201);

    const pulled = await cli.run(['pull', '--json']);
    expect(pulled.code).toBe(0);
    expect(readFileSync(file('config', 'checkout'), 'utf8')).toContain('currency: EUR');

    writeFileSync(file('config', 'checkout'), 'value:\n  currency: USD\n  url: https://pay.example.com\n');
    const diff = await cli.run(['diff', '--json']);
    expect(diff.code).toBe(0);
    expect(JSON.stringify(diff.json())).toContain('config/checkout');

    const pushed = await cli.run(['push', '--commit', '-m', 'USD checkout', '--json']);
    expect(pushed.code).toBe(0);
    expect(await committed('development', 'config', 'checkout')).toEqual({ value: { currency: 'USD', url: 'https://pay.example.com' } });
    expect((await cli.run(['diff', '--exit-code'])).code).toBe(0);

    const promoted = await cli.run(['promote', '--to', 'staging', '-m', 'to staging', '--json']);
    expect(promoted.code).toBe(0);
    expect(await committed('staging', 'config', 'checkout')).toEqual({ value: { currency: 'USD', url: 'https://pay.example.com' } });

    writeFileSync(file('config', 'checkout'), 'value:\n  currency: GBP\n');
    expect((await cli.run(['push', '--commit', '-m', 'GBP'])).code).toBe(0);
    expect((await cli.run(['promote', '--to', 'staging', '-m', 'GBP'])).code).toBe(0);
    expect(await committed('staging', 'config', 'checkout')).toEqual({ value: { currency: 'GBP' } });

    const numbers = (await cli.run(['releases', '--env', 'staging', '--json'])).json<{ data: { number: number }[] }>().data.map((r) => r.number);
    expect(numbers).toContain(1);
    const rolled = await cli.run(['rollback', '--env', 'staging', '--to', '1', '-m', 'back to USD', '--yes']);
    expect(rolled.code).toBe(0);
    expect(await committed('staging', 'config', 'checkout')).toEqual({ value: { currency: 'USD', url: 'https://pay.example.com' } });
  }, 90_000);

  it('branch create (from the git branch) → push into it → merge back into development', async () => {
    const created = await cli.run(['branch', 'create', '--json']);
    expect(created.code).toBe(0);
    expect(JSON.stringify(created.json())).toContain('feature-new-checkout');

    expect((await cli.run(['pull', '--env', 'feature-new-checkout'])).code).toBe(0);
    mkdirSync(join(cli.cwd, 'config-as-code', 'config'), { recursive: true });
    writeFileSync(file('config', 'banner'), 'value:\n  text: New checkout\n');
    const pushed = await cli.run(['push', '--env', 'feature-new-checkout', '--commit', '-m', 'banner on the branch']);
    expect(pushed.code).toBe(0);
    expect(await committed('feature-new-checkout', 'config', 'banner')).toEqual({ value: { text: 'New checkout' } });
    expect(await committed('development', 'config', 'banner')).toBeUndefined();

    const merged = await cli.run(['branch', 'merge', '-m', 'merge the banner']);
    expect(merged.code).toBe(0);
    expect(await committed('development', 'config', 'banner')).toEqual({ value: { text: 'New checkout' } });
  }, 90_000);
});
