// commit, promote, rollback, releases, requests, approve, reject and checks through the real
// command against a real node: exit codes (3 for waiting and conflicts), --json shapes, and what
// the server holds afterwards.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_MAIN, cliWorkspace, type CliResult, type CliWorkspace } from './cli-support.js';
import { eventually, startTestServer, TEST_DB, type TestServer } from './support.js';

const TOKEN = 'test-server-bootstrap-token-0123456789';
const WS = '/api/workspaces/default';
let node: TestServer;
let cli: CliWorkspace;
/** A second admin: approvals need a member other than the requester. */
let bobToken: string;
/** `promote --watch 1m` in its own workspace, started first and awaited by the last test. */
let watched: Promise<CliResult>;

async function draft(key: string, value: unknown, env = 'development') {
  const res = await node.api('PUT', `${WS}/environments/${env}/resources/config/${key}`, { content: { value } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

async function head(env: string, ws = WS): Promise<number> {
  const res = await node.api('GET', `${ws}/environments/${env}`);
  return res.body.release as number;
}

const FULL_WATCH = TEST_DB === 'sqlite';

async function startFullWatch() {
  expect((await node.api('POST', '/api/workspaces', { slug: 'watched', name: 'Watched' })).status).toBe(201);
  const other = '/api/workspaces/watched';
  expect((await node.api('PUT', `${other}/environments/development/resources/config/flags`, { content: { value: { beta: true } } })).status).toBe(200);
  expect((await node.api('POST', `${other}/environments/development/commits`, { message: 'flags' })).status).toBe(201);
  watched = cli.run(['-w', 'watched', 'promote', '--to', 'production', '--watch', '1m', '--json'], { timeoutMs: 120_000 });
}

beforeAll(async () => {
  node = await startTestServer({ STAGELINE_WATCH_INTERVAL_MS: '500' });
  cli = cliWorkspace({ url: node.server.url, token: TOKEN, env: { STAGELINE_WATCH_POLL_MS: '250' } });

  // The one-minute watch runs while the rest of the file does; on SQLite only, since what it
  // checks is the command's following of a watch (watches themselves run on both databases in
  // test/watches.test.ts), and a minute per database is a minute of every `npm test`.
  if (FULL_WATCH) await startFullWatch();


  expect((await node.api('POST', `${WS}/environments`, { slug: 'staging', name: 'Staging' })).status).toBe(201);
  expect((await node.api('POST', `${WS}/members`, { email: 'bob@example.com', password: 'correct horse battery', role: 'admin' })).status).toBe(201);
  const login = await fetch(`${node.server.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'bob@example.com', password: 'correct horse battery' }),
  });
  bobToken = ((await login.json()) as { token: string }).token;
}, 60_000);
afterAll(async () => {
  cli?.dispose();
  await node?.close();
});

describe('commit and promote', () => {
  it('commit makes a release of the drafts and prints it', async () => {
    await draft('payments', { checkoutUrl: 'https://psp.example/v1' });
    const human = await cli.run(['commit', '-m', 'first payments config']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/committed development#1: 1 added, 0 changed, 0 removed \(1 resource\)/);

    await draft('search', { engine: 'bm25' });
    const json = await cli.run(['commit', '--env', 'development', '-m', 'search', '--json']);
    expect(json.code).toBe(0);
    expect(json.json()).toMatchObject({ name: 'development#2', number: 2, cause: 'commit', changes: { added: 1, changed: 0, removed: 0 }, resourceCount: 2 });
  });

  it('commit with nothing to commit exits 3 with the server message', async () => {
    const result = await cli.run(['commit', '-m', 'nothing', '--json']);
    expect(result.code).toBe(3);
    expect(result.json()).toMatchObject({ error: { code: 'nothing_to_commit', status: 409 } });
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('promote --dry-run prints the plan and writes nothing', async () => {
    const human = await cli.run(['promote', '--to', 'staging', '--dry-run']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('plan: promote development#2 into staging (now #0): 2 added, 0 changed, 0 removed');
    expect(human.stdout).toContain('+ config/payments');

    const json = await cli.run(['promote', '--to', 'staging', '--dry-run', '--json']);
    const plan = json.json();
    expect(plan).toMatchObject({ dryRun: true, kind: 'promotion', source: { name: 'development#2' }, target: { environment: 'staging', release: 0 } });
    expect(plan.changes.map((c: { kind: string; key: string; status: string }) => `${c.status} ${c.kind}/${c.key}`).sort()).toEqual(['added config/payments', 'added config/search']);
    expect(await head('staging')).toBe(0);
  });

  it('promote applies (201) and a promotion against a moved target exits 3', async () => {
    const applied = await cli.run(['promote', '--to', 'staging', '-m', 'to staging', '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.json()).toMatchObject({ name: 'staging#1', cause: 'promotion', source: 'development#2', message: 'to staging' });
    expect(await head('staging')).toBe(1);

    const stale = await cli.run(['promote', '--to', 'staging', '--expected-release', '0', '--json']);
    expect(stale.code).toBe(3);
    expect(stale.json().error).toMatchObject({ code: 'release_conflict', status: 409 });
    expect(await head('staging')).toBe(1);
  });

  it('--resources promotes only the resources named', async () => {
    await draft('payments', { checkoutUrl: 'https://psp.example/v2' });
    await draft('search', { engine: 'vector' });
    expect((await cli.run(['commit', '-m', 'v2'])).code).toBe(0);
    const result = await cli.run(['promote', '--to', 'staging', '--resources', 'config/payments', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.json()).toMatchObject({ name: 'staging#2', changes: { added: 0, changed: 1, removed: 0 } });
    const search = await node.api('GET', `${WS}/environments/staging/resources/config/search`);
    expect(search.body.committed.content).toEqual({ value: { engine: 'bm25' } });
  });

  it('usage mistakes exit 2 before anything is sent', async () => {
    expect((await cli.run(['promote'])).code).toBe(2);
    const watch = await cli.run(['promote', '--to', 'staging', '--watch', '30s']);
    expect(watch.code).toBe(2);
    expect(watch.stderr).toContain('whole minutes');
    const resources = await cli.run(['promote', '--to', 'staging', '--resources', 'payments']);
    expect(resources.code).toBe(2);
    expect(await head('staging')).toBe(2);
  });

  it('every command has --help with examples', async () => {
    for (const command of [['commit'], ['promote'], ['rollback'], ['releases'], ['releases', 'show'], ['requests'], ['approve'], ['reject'], ['checks', 'report'], ['checks', 'list']]) {
      const help = await cli.run([...command, '--help']);
      expect(help.code, command.join(' ')).toBe(0);
      expect(help.stdout, command.join(' ')).toContain('Examples:');
    }
  });
});

describe('rollback and releases', () => {
  it('rollback --dry-run prints the per-resource diff and writes nothing; rollback applies it', async () => {
    const dry = await cli.run(['rollback', '--env', 'staging', '--to', '1', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json()).toMatchObject({ dryRun: true, kind: 'rollback', summary: { added: 0, changed: 1, removed: 0 }, changes: [{ kind: 'config', key: 'payments', status: 'changed' }] });
    expect(await head('staging')).toBe(2);

    const human = await cli.run(['rollback', '--env', 'staging', '--to', '1', '--dry-run']);
    expect(human.stdout).toContain('plan: roll back');
    expect(human.stdout).toContain('~ config/payments');

    const done = await cli.run(['rollback', '--env', 'staging', '--to', '1', '-m', 'v2 breaks checkout', '--json']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.json()).toMatchObject({ name: 'staging#3', cause: 'rollback', rolledBackTo: 1 });
    const payments = await node.api('GET', `${WS}/environments/staging/resources/config/payments`);
    expect(payments.body.committed.content).toEqual({ value: { checkoutUrl: 'https://psp.example/v1' } });
  });

  it('a protected environment is not rolled back without a terminal unless --yes (exit 2)', async () => {
    expect((await node.api('PATCH', `${WS}/environments/staging`, { protected: true })).status).toBe(200);
    try {
      const refused = await cli.run(['rollback', '--env', 'staging', '--to', '2']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('--yes');
      expect(await head('staging')).toBe(3);
    } finally {
      expect((await node.api('PATCH', `${WS}/environments/staging`, { protected: false })).status).toBe(200);
    }
  });

  it('releases lists newest first; releases show prints one with its snapshot', async () => {
    const list = await cli.run(['releases', '--env', 'staging', '--json']);
    expect(list.code).toBe(0);
    const page = list.json();
    expect(page.data.map((r: { name: string; current: boolean }) => [r.name, r.current])).toEqual([
      ['staging#3', true],
      ['staging#2', false],
      ['staging#1', false],
    ]);
    const table = await cli.run(['releases', '--env', 'staging', '--limit', '2']);
    expect(table.stdout.trim().split('\n')).toHaveLength(3);
    expect(table.stdout).toContain('rollback to #1');

    const show = await cli.run(['releases', 'show', '2', '--env', 'staging', '--json']);
    expect(show.code).toBe(0);
    expect(show.json()).toMatchObject({ name: 'staging#2', cause: 'promotion', source: 'development#3' });
    expect(show.json().resources.map((r: { kind: string; key: string }) => `${r.kind}/${r.key}`)).toEqual(['config/payments', 'config/search']);
    expect((await cli.run(['releases', 'show', '99', '--env', 'staging'])).code).toBe(1);
  });
});

describe('watches', () => {
  it('--watch follows the watch; a release replaced mid-watch ends it superseded with exit 3', async () => {
    const following = cli.run(['promote', '--to', 'staging', '--watch', '1m', '--json'], { timeoutMs: 30_000 });
    await eventually(async () => {
      const watch = await node.api('GET', `${WS}/environments/staging/watch`);
      expect(watch.body).toMatchObject({ status: 'running', release: 4 });
    }, 10_000);
    expect((await node.api('POST', `${WS}/environments/staging/rollbacks`, { release: 3, message: 'undo' })).status).toBe(201);
    const result = await following;
    expect(result.code, result.stderr).toBe(3);
    expect(result.json()).toMatchObject({ name: 'staging#4', watch: { status: 'superseded', release: 4 } });
    // Piped, with --json: no progress line on stderr, only the result on stdout.
    expect(result.stderr).not.toContain('watching');
  });
});

describe('promotion requests', () => {
  let requestId: string;

  it('a promotion into a protected environment waits for approval: exit 3 with the request', async () => {
    expect((await node.api('PATCH', `${WS}/environments/production`, { protected: true, approvalsRequired: 1 })).status).toBe(200);
    const dry = await cli.run(['promote', '--to', 'production', '--from', 'staging', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('applying it opens a promotion request needing 1 approval');
    const human = await cli.run(['promote', '--to', 'production', '--from', 'staging']);
    expect(human.code, human.stderr).toBe(3);
    expect(human.stdout).toMatch(/promotion request prq_\w+ \(staging#5 → production\) waits for: approvals pending/);
    expect(human.stdout).toContain('stageline approve prq_');
    const open = (await node.api('GET', `${WS}/promotion-requests?status=pending`)).body.data;
    expect(open).toHaveLength(1);
    requestId = open[0].id;
    expect(await head('production')).toBe(0);

    const listed = await cli.run(['requests', '--env', 'production', '--json']);
    expect(listed.json().data.map((r: { id: string }) => r.id)).toEqual([requestId]);
    const shown = await cli.run(['requests', 'show', requestId]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('approvals 0/1');
    expect(shown.stdout).toContain('+ config/payments');
  });

  it('the requester cannot approve their own request; another member can, and the release exists', async () => {
    const own = await cli.run(['approve', requestId, '--json']);
    expect(own.code).toBe(1);
    expect(own.json().error).toMatchObject({ code: 'forbidden', status: 403 });
    expect(await head('production')).toBe(0);

    const approved = await cli.run(['approve', requestId, '--comment', 'looked at the diff', '--json'], { env: { STAGELINE_TOKEN: bobToken } });
    expect(approved.code, approved.stderr).toBe(0);
    const result = approved.json();
    expect(result.request).toMatchObject({ id: requestId, status: 'applied', approvals: [{ actor: { name: 'bob@example.com' }, comment: 'looked at the diff' }] });
    expect(result.release).toMatchObject({ name: 'production#1', cause: 'promotion', source: 'staging#5' });
    expect(await head('production')).toBe(1);
    const all = await cli.run(['requests', '--status', 'all', '--json']);
    expect(all.json().data.find((r: { id: string }) => r.id === requestId)).toMatchObject({ status: 'applied' });
  });

  it('reject closes a pending request with its reason', async () => {
    await draft('payments', { checkoutUrl: 'https://psp.example/v3' });
    expect((await cli.run(['commit', '-m', 'v3'])).code).toBe(0);
    expect((await cli.run(['promote', '--to', 'staging'])).code).toBe(0);
    const waiting = await cli.run(['promote', '--to', 'production', '--json']);
    expect(waiting.code).toBe(3);
    const id = waiting.json().request.id as string;
    const rejected = await cli.run(['reject', id, '--reason', 'not during the sale', '--json'], { env: { STAGELINE_TOKEN: bobToken } });
    expect(rejected.code, rejected.stderr).toBe(0);
    expect(rejected.json()).toMatchObject({ id, status: 'rejected', reason: 'not during the sale' });
    const again = await cli.run(['approve', id], { env: { STAGELINE_TOKEN: bobToken } });
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('rejected');
    expect(await head('production')).toBe(1);
  });

  it('checks report drives a check gate: approved first, the request waits (exit 3) until the check succeeds', async () => {
    expect((await node.api('PUT', `${WS}/environments/staging/gates`, { checks: ['ci'] })).status).toBe(200);
    await draft('payments', { checkoutUrl: 'https://psp.example/v4' });
    const committed = await cli.run(['commit', '-m', 'v4', '--json']);
    const release = committed.json().number as number;
    const waiting = await cli.run(['promote', '--to', 'staging', '--json']);
    expect(waiting.code).toBe(3);
    const request = waiting.json().request;
    expect(request.gates).toContainEqual(expect.objectContaining({ type: 'check', name: 'ci', state: 'pending' }));
    const before = await head('staging');

    const early = await cli.run(['approve', request.id], { env: { STAGELINE_TOKEN: bobToken } });
    expect(early.code, early.stderr).toBe(3);
    expect(early.stdout).toContain('still waits for: check ci pending');

    const pending = await cli.run(['checks', 'report', '--release', String(release), '--name', 'ci', '--status', 'pending', '--details-url', 'https://ci.example/runs/1']);
    expect(pending.code, pending.stderr).toBe(0);
    const reported = await cli.run(['checks', 'report', '--env', 'development', '--release', String(release), '--name', 'ci', '--status', 'success', '--summary', '312 passed', '--json']);
    expect(reported.code, reported.stderr).toBe(0);
    expect(reported.json()).toMatchObject({ name: 'ci', status: 'success', environment: 'development', release, summary: '312 passed' });
    const listed = await cli.run(['checks', 'list', '--release', String(release), '--json']);
    expect(listed.json().data).toEqual([expect.objectContaining({ name: 'ci', status: 'success' })]);
    expect(listed.json().history).toHaveLength(2);

    const applied = await cli.run(['approve', request.id, '--json'], { env: { STAGELINE_TOKEN: bobToken } });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.json().release).toMatchObject({ name: `staging#${before + 1}`, source: `development#${release}` });
    expect(await head('staging')).toBe(before + 1);
  });

  it('checks report refuses a status it does not know (exit 2)', async () => {
    const result = await cli.run(['checks', 'report', '--release', '1', '--name', 'ci', '--status', 'green']);
    expect(result.code).toBe(2);
  });
});

describe('references', () => {
  it('a promotion whose resources use a secret the target lacks exits 3 naming it; --force promotes; the value is never printed', async () => {
    expect((await node.api('PUT', `${WS}/environments/staging/gates`, { checks: [] })).status).toBe(200);
    const value = 'psp-secret-value-0123456789';
    expect((await node.api('PUT', `${WS}/environments/development/secrets/psp_key`, { value })).status).toBe(200);
    await draft('psp', { authorization: 'Bearer {{ secrets.psp_key }}' });
    expect((await cli.run(['commit', '-m', 'psp key'])).code).toBe(0);
    const before = await head('staging');

    const dry = await cli.run(['promote', '--to', 'staging', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('missing secrets.psp_key (used by config/psp)');
    const refused = await cli.run(['promote', '--to', 'staging', '--json']);
    expect(refused.code).toBe(3);
    expect(refused.json().error).toMatchObject({ code: 'missing_references', details: [{ field: 'secrets.psp_key', message: 'used by config/psp' }] });
    expect(await head('staging')).toBe(before);
    const forced = await cli.run(['promote', '--to', 'staging', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await head('staging')).toBe(before + 1);
    for (const result of [dry, refused, forced]) expect(result.stdout + result.stderr).not.toContain(value);
  });
});

describe('on a terminal', () => {
  it('--watch shows the time left on a terminal, and says how the watch ended', async () => {
    const before = await head('staging');
    // script(1) gives the command a terminal; its transcript is what the terminal showed.
    const command = [process.execPath, CLI_MAIN, 'promote', '--to', 'staging', '--watch', '1m'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qefc', command, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TERM: 'xterm', STAGELINE_CONFIG_DIR: cli.configDir, STAGELINE_URL: node.server.url, STAGELINE_TOKEN: TOKEN, STAGELINE_WATCH_POLL_MS: '250' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let shown = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (shown += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await eventually(() => expect(shown).toMatch(new RegExp(`watching staging#${before + 1}: 0m\\d\\ds left`)), 15_000);
    expect((await node.api('POST', `${WS}/environments/staging/rollbacks`, { release: before, message: 'undo' })).status).toBe(201);
    expect(await exited).toBe(3);
    expect(shown).toContain(`watch of staging#${before + 1} ended superseded`);
    // Coloured on a terminal.
    expect(shown).toContain('\u001b[32m✓\u001b[39m');
  });
});

describe('a watch that runs its course', () => {
  it.runIf(FULL_WATCH)('promote --watch 1m waits for the verdict: passed, exit 0', async () => {
    const result = await watched;
    expect(result.code, result.stderr).toBe(0);
    expect(result.json()).toMatchObject({ name: 'production#1', watch: { status: 'passed', release: 1, environment: 'production' } });
    expect(await head('production', '/api/workspaces/watched')).toBe(1);
  }, 120_000);
});
