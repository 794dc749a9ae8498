// env and branch through the real command against a real node: the chain, flags, freezes, and a
// branch named after the git branch of a real repository, merged (with a conflict) and deleted.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliWorkspace, type CliWorkspace } from './cli-support.js';
import { runOnTerminal } from './cli-terminal.js';
import { startTestServer, type TestServer } from './support.js';

const TOKEN = 'test-server-bootstrap-token-0123456789';
const WS = '/api/workspaces/default';
let node: TestServer;
let cli: CliWorkspace;
let outside: string;

/** A config resource written as a draft and committed in `env`, through the API. */
async function commitConfig(env: string, key: string, value: unknown) {
  const put = await node.api('PUT', `${WS}/environments/${env}/resources/config/${key}`, { content: { value } });
  expect(put.status).toBe(200);
  const commit = await node.api('POST', `${WS}/environments/${env}/commits`, { message: `${key} in ${env}` });
  expect(commit.status).toBe(201);
}

beforeAll(async () => {
  node = await startTestServer();
  cli = cliWorkspace({ url: node.server.url, token: TOKEN });
  const git = (...args: string[]) => execFileSync('git', args, { cwd: cli.cwd, stdio: 'ignore' });
  git('init', '-q');
  git('checkout', '-q', '-b', 'feature/Login-Form');
  outside = mkdtempSync(join(tmpdir(), 'stageline-no-git-'));
}, 60_000);
afterAll(async () => {
  cli?.dispose();
  if (outside) rmSync(outside, { recursive: true, force: true });
  await node?.close();
});

describe('stageline env', () => {
  it('lists the chain, creates staging before production, changes its flags and shows them', async () => {
    const before = await cli.run(['env', 'list', '--json']);
    expect(before.code).toBe(0);
    expect(before.json().data.map((e: { slug: string }) => e.slug)).toEqual(['development', 'production']);

    const created = await cli.run(['env', 'create', 'staging', '--name', 'Staging', '--json']);
    expect(created.code).toBe(0);
    expect(created.json()).toMatchObject({ slug: 'staging', name: 'Staging', kind: 'chain' });
    const list = await cli.run(['env', 'list']);
    expect(list.stdout.split('\n').slice(1, 4).map((line) => line.split(/\s+/)[0])).toEqual(['development', 'staging', 'production']);

    const set = await cli.run(['env', 'set', 'staging', '--protected', '--approvals', '2', '--region', 'eu', '--color', '#00aa00', '--json']);
    expect(set.code).toBe(0);
    expect(set.json()).toMatchObject({ protected: true, approvalsRequired: 2, region: 'eu', color: '#00aa00' });
    const cleared = await cli.run(['env', 'set', 'staging', '--no-protected', '--region', 'none', '--json']);
    expect(cleared.json()).toMatchObject({ protected: false, approvalsRequired: 2, region: null });

    const show = await cli.run(['env', 'show', 'staging']);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('protected   no');
    expect(show.stdout).toContain('color       #00aa00');
    expect((await node.api('GET', `${WS}/environments/staging`)).body).toMatchObject({ protected: false, color: '#00aa00', region: null });
  });

  it('usage mistakes exit 2, a missing environment exits 1', async () => {
    const nothing = await cli.run(['env', 'set', 'staging']);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('nothing to change');
    expect((await cli.run(['env', 'create', 'qa', '--from', 'development'])).code).toBe(2);
    expect((await cli.run(['env', 'set', 'staging', '--approvals', 'many'])).code).toBe(2);
    expect((await cli.run(['env', 'freeze', 'staging', '--until', 'next tuesday'])).code).toBe(2);
    const missing = await cli.run(['env', 'show', 'nope', '--json']);
    expect(missing.code).toBe(1);
    expect(missing.json()).toMatchObject({ error: { code: 'not_found' } });
  });

  it('delete refuses without a terminal unless --yes, then deletes', async () => {
    expect((await cli.run(['env', 'create', 'qa'])).code).toBe(0);
    const refused = await cli.run(['env', 'delete', 'qa']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('pass --yes');
    expect((await node.api('GET', `${WS}/environments/qa`)).status).toBe(200);
    const deleted = await cli.run(['env', 'delete', 'qa', '--yes', '--json']);
    expect(deleted.code).toBe(0);
    expect(deleted.json()).toEqual({ deleted: 'qa', kind: 'chain' });
    expect((await node.api('GET', `${WS}/environments/qa`)).status).toBe(404);
  });

  it('on a terminal, delete asks for the name: a wrong one keeps it, the right one deletes', async () => {
    expect((await cli.run(['env', 'create', 'qa'])).code).toBe(0);
    const env = { STAGELINE_CONFIG_DIR: cli.configDir, STAGELINE_URL: node.server.url, STAGELINE_TOKEN: TOKEN };
    const prompt = 'Delete environment qa? Type its name to confirm: ';
    const wrong = await runOnTerminal(['env', 'delete', 'qa'], { env, cwd: cli.cwd, prompt, answer: 'qb' });
    expect(wrong.code).toBe(1);
    expect(wrong.screen).toContain('not deleted: "qb" is not "qa"');
    expect((await node.api('GET', `${WS}/environments/qa`)).status).toBe(200);
    const right = await runOnTerminal(['env', 'delete', 'qa'], { env, cwd: cli.cwd, prompt, answer: 'qa' });
    expect(right.code).toBe(0);
    expect((await node.api('GET', `${WS}/environments/qa`)).status).toBe(404);
  });
});

describe('stageline branch', () => {
  it('creates a branch named after the git branch, lists it as current, merges it into development', async () => {
    const created = await cli.run(['branch', 'create', '--ttl-hours', '24', '--json']);
    expect(created.code).toBe(0);
    expect(created.json()).toMatchObject({ slug: 'feature-login-form', kind: 'branch', parent: 'development', gitBranch: 'feature/Login-Form', name: 'feature/Login-Form' });
    expect(created.json().expiresAt).not.toBeNull();

    const list = await cli.run(['branch', 'list', '--json']);
    expect(list.json().data).toEqual([expect.objectContaining({ slug: 'feature-login-form', current: true })]);
    expect((await cli.run(['branch', 'list'])).stdout).toMatch(/^\*\s+feature-login-form\s+development#0/m);

    await commitConfig('feature-login-form', 'login', { form: 'v2' });
    const plan = await cli.run(['branch', 'merge', '--dry-run', '--json']);
    expect(plan.code).toBe(0);
    expect(plan.json()).toMatchObject({ dryRun: true, branch: 'feature-login-form', into: 'development', summary: { added: 1 } });
    expect((await node.api('GET', `${WS}/environments/development/resources/config/login`)).status).toBe(404);

    const merged = await cli.run(['branch', 'merge', '-m', 'login form', '--json']);
    expect(merged.code).toBe(0);
    expect(merged.json()).toMatchObject({ status: 'merged', into: 'development', release: { environment: 'development', cause: 'merge' } });
    const resource = await node.api('GET', `${WS}/environments/development/resources/config/login`);
    expect(resource.body.committed.content).toEqual({ value: { form: 'v2' } });
  });

  it('a conflict lists the resources and exits 3; --take resolves it', async () => {
    expect((await cli.run(['branch', 'create', 'Conflict/One', '--json'])).json()).toMatchObject({ slug: 'conflict-one' });
    await commitConfig('conflict-one', 'login', { form: 'branch' });
    await commitConfig('development', 'login', { form: 'parent' });

    const conflict = await cli.run(['branch', 'merge', 'conflict-one', '--json']);
    expect(conflict.code).toBe(3);
    expect(conflict.stderr).toContain('merge conflict in 1 resource: config/login');
    expect(conflict.json()).toMatchObject({ error: { code: 'merge_conflict', details: [{ field: 'config/login' }] } });

    expect((await cli.run(['branch', 'merge', 'conflict-one', '--take', 'config/login=sideways'])).code).toBe(2);
    const resolved = await cli.run(['branch', 'merge', 'conflict-one', '--take', 'config/login=branch', '--json']);
    expect(resolved.code).toBe(0);
    expect((await node.api('GET', `${WS}/environments/development/resources/config/login`)).body.committed.content).toEqual({ value: { form: 'branch' } });
  });

  it('a merge into a protected parent waits for approval: exit 3', async () => {
    await commitConfig('conflict-one', 'later', { n: 1 });
    expect((await cli.run(['env', 'set', 'development', '--protected', '--approvals', '1'])).code).toBe(0);
    const waiting = await cli.run(['branch', 'merge', 'conflict-one', '--json']);
    expect(waiting.code).toBe(3);
    expect(waiting.json()).toMatchObject({ status: 'waiting', request: { status: 'pending', environment: 'development', approvalsRequired: 1 } });
    const human = await cli.run(['env', 'set', 'development', '--no-protected']);
    expect(human.code).toBe(0);
  });

  it('a frozen parent refuses the merge (exit 3) until it is unfrozen', async () => {
    const frozen = await cli.run(['env', 'freeze', 'development', '--reason', 'launch day', '--until', '2h', '--json']);
    expect(frozen.code).toBe(0);
    expect(frozen.json()).toMatchObject({ environment: 'development', active: true, reason: 'launch day' });
    const list = await cli.run(['env', 'list', '--json']);
    expect(list.json().data.find((e: { slug: string }) => e.slug === 'development').freeze).toMatchObject({ reason: 'launch day' });

    await commitConfig('feature-login-form', 'frozen', { n: 1 });
    const refused = await cli.run(['branch', 'merge', 'feature-login-form']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('development is frozen until');

    const unfrozen = await cli.run(['env', 'unfreeze', 'development', '--json']);
    expect(unfrozen.code).toBe(0);
    expect(unfrozen.json().removed).toHaveLength(1);
    expect((await cli.run(['env', 'unfreeze', 'development'])).stdout).toContain('development was not frozen');
    expect((await cli.run(['branch', 'merge', 'feature-login-form'])).code).toBe(0);
  });

  it('without a name outside a git repository it is a usage error', async () => {
    const result = await cli.run(['branch', 'create'], { cwd: outside });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('not in a git repository');
  });

  it('deletes the current git branch environment only with --yes, and never a chain environment', async () => {
    expect((await cli.run(['branch', 'delete'])).code).toBe(2);
    expect((await node.api('GET', `${WS}/environments/feature-login-form`)).status).toBe(200);
    const notBranch = await cli.run(['branch', 'delete', 'staging', '--yes']);
    expect(notBranch.code).toBe(2);
    expect(notBranch.stderr).toContain('staging is not a branch');
    const deleted = await cli.run(['branch', 'delete', '--yes', '--json']);
    expect(deleted.code).toBe(0);
    expect(deleted.json()).toEqual({ deleted: 'feature-login-form', kind: 'branch' });
    expect((await node.api('GET', `${WS}/environments/feature-login-form`)).status).toBe(404);
  });

  it('every command has --help with examples', async () => {
    for (const args of [['env', 'list'], ['env', 'freeze'], ['branch', 'create'], ['branch', 'merge']]) {
      const help = await cli.run([...args, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Examples:');
    }
  });
});
