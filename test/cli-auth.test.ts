// login, logout, whoami and the settings precedence, through the real command against a real node.
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_MAIN, cliWorkspace, type CliWorkspace } from './cli-support.js';
import { startTestServer, type TestServer } from './support.js';

const TOKEN = 'test-server-bootstrap-token-0123456789';
let node: TestServer;
let cli: CliWorkspace;
/** A loopback port nothing listens on. */
let closedPort: number;

beforeAll(async () => {
  node = await startTestServer();
  const member = await node.api('POST', '/api/workspaces/default/members', { email: 'ada@example.com', password: 'correct horse battery', role: 'admin' });
  expect(member.status).toBe(201);
  cli = cliWorkspace();
  const probe = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => probe.once('listening', resolve));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
}, 60_000);
afterAll(async () => {
  cli?.dispose();
  await node?.close();
});

describe('stageline login, whoami, logout', () => {
  it('a password login writes a 0600 profile that later commands use', async () => {
    const login = await cli.run(['login', '--url', node.server.url, '--email', 'ada@example.com', '--password-stdin', '--json'], { input: 'correct horse battery\n' });
    expect(login.code).toBe(0);
    expect(login.json()).toMatchObject({ profile: 'default', kind: 'login', as: 'ada@example.com' });
    const file = join(cli.configDir, 'profiles.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(cli.configDir).mode & 0o777).toBe(0o700);
    expect(login.stdout + login.stderr).not.toContain('correct horse battery');

    const who = await cli.run(['whoami', '--json']);
    expect(who.code).toBe(0);
    expect(who.json()).toMatchObject({ kind: 'user', name: 'ada@example.com', url: node.server.url, workspace: 'default', sources: { token: 'profile default', url: 'profile default' } });

    const logout = await cli.run(['logout', '--json']);
    expect(logout.json()).toMatchObject({ sessionEnded: true });
    const after = await cli.run(['whoami']);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('not logged in to http://127.0.0.1:4700');
  });

  it('a wrong password is one line and exit 1', async () => {
    const login = await cli.run(['login', '--url', node.server.url, '--email', 'ada@example.com', '--password-stdin'], { input: 'wrong' });
    expect(login.code).toBe(1);
    expect(login.stderr.trim().split('\n')).toHaveLength(1);
    expect(login.stderr).toMatch(/^stageline: /);
  });

  it('a token login saves a named profile; --profile selects it', async () => {
    const login = await cli.run(['login', '--url', node.server.url, '--with-token', '--profile', 'ci'], { input: `${TOKEN}\n` });
    expect(login.code).toBe(0);
    const who = await cli.run(['--profile', 'ci', 'whoami', '--json']);
    expect(who.json()).toMatchObject({ kind: 'user', profile: 'ci' });
    const missing = await cli.run(['--profile', 'nope', 'whoami']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no profile named "nope": run stageline login --profile nope');
  });

  it('a profile token is never sent to another server named by a project file', async () => {
    await cli.run(['login', '--url', node.server.url, '--with-token', '--profile', 'default'], { input: TOKEN });
    writeFileSync(join(cli.cwd, 'stageline.json'), JSON.stringify({ url: `http://127.0.0.1:${closedPort}`, workspace: 'default' }));
    const who = await cli.run(['whoami']);
    expect(who.code).toBe(1);
    expect(who.stderr).toContain(`not logged in to http://127.0.0.1:${closedPort} (profile default is for`);
  });

  it('flags beat environment variables beat the project file', async () => {
    writeFileSync(join(cli.cwd, 'stageline.json'), JSON.stringify({ workspace: 'from-file' }));
    const env = { STAGELINE_URL: node.server.url, STAGELINE_TOKEN: TOKEN };
    expect((await cli.run(['whoami', '--json'], { env })).json()).toMatchObject({ workspace: 'from-file', sources: { workspace: 'stageline.json', token: 'STAGELINE_TOKEN' } });
    expect((await cli.run(['whoami', '--json'], { env: { ...env, STAGELINE_WORKSPACE: 'from-env' } })).json()).toMatchObject({ workspace: 'from-env' });
    expect((await cli.run(['-w', 'from-flag', 'whoami', '--json'], { env: { ...env, STAGELINE_WORKSPACE: 'from-env' } })).json()).toMatchObject({ workspace: 'from-flag' });
  });

  it('a wrong token and an unreachable server give their one-line messages', async () => {
    const wrong = await cli.run(['whoami'], { env: { STAGELINE_URL: node.server.url, STAGELINE_TOKEN: 'stl_wrong' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`the server at ${node.server.url} refused the token`);
    const down = await cli.run(['whoami', '--json'], { env: { STAGELINE_URL: `http://127.0.0.1:${closedPort}`, STAGELINE_TOKEN: TOKEN } });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`cannot reach Stageline at http://127.0.0.1:${closedPort} (ECONNREFUSED)`);
    expect(down.json()).toMatchObject({ error: { code: 'unreachable' } });
  });

  it('workspaces create and list; a taken slug is a conflict (exit 3)', async () => {
    const env = { STAGELINE_URL: node.server.url, STAGELINE_TOKEN: TOKEN };
    const created = await cli.run(['workspaces', 'create', 'shop', '--name', 'Shop', '--json'], { env });
    expect(created.code).toBe(0);
    expect(created.json()).toMatchObject({ slug: 'shop', name: 'Shop', role: 'owner' });
    const listed = await cli.run(['workspaces', 'list', '--json'], { env });
    expect(listed.json<{ data: { slug: string }[] }>().data.map((w) => w.slug).sort()).toEqual(['default', 'shop']);
    const again = await cli.run(['workspaces', 'create', 'shop'], { env });
    expect(again.code).toBe(3);
    const envs = await cli.run(['-w', 'shop', 'env', 'list', '--json'], { env });
    expect(envs.json<{ data: { slug: string }[] }>().data.map((e) => e.slug)).toEqual(['development', 'production']);
  });

  it('a reader that goes away (| head) ends the command quietly', async () => {
    const { spawnSync } = await import('node:child_process');
    // `true` exits before the command starts, so every write meets a closed pipe.
    const piped = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI_MAIN}" --help | true`], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: cli.configDir } });
    expect(piped.status).toBe(0);
    expect(piped.stderr).not.toContain('EPIPE');
    expect(piped.stderr).not.toContain('Unhandled');
  });

  it('usage mistakes exit 2', async () => {
    expect((await cli.run(['no-such-command'])).code).toBe(2);
    expect((await cli.run(['login', '--no-such-flag'])).code).toBe(2);
    expect((await cli.run(['--help'])).code).toBe(0);
  });
});
