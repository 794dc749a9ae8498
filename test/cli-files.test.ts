// Configuration as code through the real command against a real node: pull, push, diff, validate,
// the lock file and what the server holds afterwards.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliWorkspace, type CliWorkspace } from './cli-support.js';
import { startTestServer, type TestServer } from './support.js';

const TOKEN = 'test-server-bootstrap-token-0123456789';
const WS = '/api/workspaces/default';
let node: TestServer;
let cli: CliWorkspace;

const payments = { value: { checkoutUrl: 'https://pay.example/v1', retries: 3 }, public: false };
const layout = { html: '<html><body>{{ content }}</body></html>' };
const welcome = {
  name: 'Welcome',
  steps: [{ type: 'channel', channel: 'email', layout: 'default', template: { subject: 'Hi', text: 'Hello {{ recipient.name }}' } }],
};

async function draft(env: string, kind: string, key: string, content: unknown, app?: string) {
  const answer = await node.api('PUT', `${WS}/environments/${env}/resources/${kind}/${key}`, { content, ...(app ? { app } : {}) });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
}

async function commitAll(env: string, message: string) {
  const answer = await node.api('POST', `${WS}/environments/${env}/commits`, { message });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return answer.body.number as number;
}

async function resource(env: string, kind: string, key: string) {
  return (await node.api('GET', `${WS}/environments/${env}/resources/${kind}/${key}`)).body;
}

/** A fresh project folder (one per test, so trees never leak between them). */
function project(name: string): string {
  const dir = join(cli.cwd, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

beforeAll(async () => {
  node = await startTestServer();
  cli = cliWorkspace({ url: node.server.url, token: TOKEN });
  await draft('development', 'config', 'payments', payments, 'billing');
  await draft('development', 'layout', 'default', layout);
  await draft('development', 'workflow', 'welcome', welcome);
  await commitAll('development', 'seed');
}, 60_000);
afterAll(async () => {
  cli?.dispose();
  await node?.close();
});

describe('stageline pull, push, diff', () => {
  it('pull → edit → push → diff → push --commit: the server holds the change, the next pull is byte-identical', async () => {
    const cwd = project('roundtrip');
    const pulled = await cli.run(['pull', '--json'], { cwd });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.json()).toMatchObject({ environment: 'development', release: 1, resources: 3, written: 3, removed: 0 });
    const file = join(cwd, 'stageline/config/payments.yaml');
    const text = readFileSync(file, 'utf8');
    // $app first, then keys sorted at every level.
    expect(text).toContain('$app: billing\npublic: false\nvalue:\n  checkoutUrl: https://pay.example/v1\n  retries: 3\n');
    const lock = JSON.parse(readFileSync(join(cwd, 'stageline/stageline.lock'), 'utf8'));
    expect(lock).toMatchObject({ version: 1, workspace: 'default', environment: 'development', release: 1 });
    expect(Object.keys(lock.resources)).toEqual(['config/payments', 'layout/default', 'workflow/welcome']);
    expect(lock.resources['config/payments']).toMatchObject({ app: 'billing', draft: null });
    expect(lock.resources['config/payments'].hash).toBe(lock.resources['config/payments'].committedHash);

    writeFileSync(file, text.replace('https://pay.example/v1', 'https://pay.example/v2'));
    const dry = await cli.run(['push', '--dry-run', '--json'], { cwd });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json()).toMatchObject({
      dryRun: true,
      changes: [{ kind: 'config', key: 'payments', status: 'changed', fields: [{ path: '/value/checkoutUrl', before: 'https://pay.example/v1', after: 'https://pay.example/v2' }] }],
    });
    expect((await resource('development', 'config', 'payments')).draft).toBeNull();

    const local = await cli.run(['diff', '--json'], { cwd });
    expect(local.code).toBe(0);
    expect(local.json().changes).toMatchObject([{ kind: 'config', key: 'payments', status: 'changed', path: 'stageline/config/payments.yaml' }]);
    expect((await cli.run(['diff', '--exit-code'], { cwd })).code).toBe(1);

    const pushed = await cli.run(['push'], { cwd });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stdout).toContain('~ config/payments');
    expect(pushed.stdout).toContain('/value/checkoutUrl: "https://pay.example/v1" → "https://pay.example/v2"');
    const drafted = await resource('development', 'config', 'payments');
    expect(drafted.draft.content.value.checkoutUrl).toBe('https://pay.example/v2');
    expect(drafted.app).toBe('billing');

    // Against the drafts, the files are clean; against the committed state, the draft shows.
    expect((await cli.run(['diff', '--exit-code'], { cwd })).code).toBe(0);
    const server = await cli.run(['diff', 'development', 'development~draft', '--json'], { cwd });
    expect(server.json()).toMatchObject({ from: 'development', to: 'development~draft', changes: [{ kind: 'config', key: 'payments', status: 'changed' }] });

    const committed = await cli.run(['push', '--commit', '-m', 'v2 checkout', '--json'], { cwd });
    expect(committed.code, committed.stderr).toBe(0);
    expect(committed.json()).toMatchObject({ changes: [], commit: { release: 2, name: 'development#2', resources: ['config/payments'] } });
    const after = await resource('development', 'config', 'payments');
    expect(after.draft).toBeNull();
    expect(after.committed).toMatchObject({ release: 2, content: { value: { checkoutUrl: 'https://pay.example/v2' } } });
    const releases = await node.api('GET', `${WS}/environments/development/releases`);
    expect(releases.body.data[0]).toMatchObject({ number: 2, message: 'v2 checkout' });
    expect(JSON.parse(readFileSync(join(cwd, 'stageline/stageline.lock'), 'utf8'))).toMatchObject({ release: 2, resources: { 'config/payments': { draft: null } } });

    const before = snapshotTree(join(cwd, 'stageline'));
    const again = await cli.run(['pull', '--json'], { cwd });
    expect(again.json()).toMatchObject({ release: 2, written: 0, removed: 0, read: 0 });
    expect(snapshotTree(join(cwd, 'stageline'))).toEqual(before);
    // A fresh folder pulled from scratch holds the same bytes.
    const fresh = project('roundtrip-fresh');
    expect((await cli.run(['pull'], { cwd: fresh })).code).toBe(0);
    expect(snapshotTree(join(fresh, 'stageline'))).toEqual(before);
  });

  it('push refuses with exit 3 when the server changed a resource since the pull, then --force writes it', async () => {
    const cwd = project('moved');
    expect((await cli.run(['pull'], { cwd })).code).toBe(0);
    const file = join(cwd, 'stageline/layout/default.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('<body>', '<body class="mine">'));
    await draft('development', 'layout', 'default', { html: '<html><body class="theirs">{{ content }}</body></html>' });

    const refused = await cli.run(['push', '--json'], { cwd });
    expect(refused.code).toBe(3);
    expect(refused.json()).toMatchObject({ error: { code: 'remote_moved', details: [{ field: 'layout/default' }] } });
    expect(refused.stderr).toContain('the server changed layout/default since the pull');
    expect((await resource('development', 'layout', 'default')).draft.content.html).toContain('theirs');

    const forced = await cli.run(['push', '--force', '--json'], { cwd });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.json()).toMatchObject({ forced: true, moved: ['layout/default'] });
    expect((await resource('development', 'layout', 'default')).draft.content.html).toContain('mine');
    // The lock now records the forced state: the next push is clean.
    expect((await cli.run(['push', '--json'], { cwd })).json()).toMatchObject({ changes: [] });
    await node.api('DELETE', `${WS}/environments/development/resources/layout/default`);
    await draft('development', 'layout', 'default', layout);
  });

  it('a commit of the very content pulled is no conflict: the push goes through', async () => {
    const cwd = project('committed-meanwhile');
    await draft('development', 'config', 'meanwhile', { value: 1 });
    expect((await cli.run(['pull'], { cwd })).code).toBe(0);
    const committed = await node.api('POST', `${WS}/environments/development/commits`, { message: 'theirs', resources: ['config/meanwhile'] });
    expect(committed.status).toBe(201);
    writeFileSync(join(cwd, 'stageline/config/meanwhile.yaml'), 'value: 2\n');
    const pushed = await cli.run(['push', '--json'], { cwd });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.json()).toMatchObject({ moved: [], changes: [{ key: 'meanwhile', status: 'changed', fields: [{ path: '/value', before: 1, after: 2 }] }] });
    expect((await resource('development', 'config', 'meanwhile')).draft.content).toEqual({ value: 2 });
  });

  it('a deleted file becomes a drafted deletion; a new file a created draft', async () => {
    const cwd = project('delete');
    await draft('development', 'config', 'old-flag', { value: true });
    await commitAll('development', 'old flag');
    expect((await cli.run(['pull'], { cwd })).code).toBe(0);
    unlinkSync(join(cwd, 'stageline/config/old-flag.yaml'));
    writeFileSync(join(cwd, 'stageline/config/new-flag.yaml'), 'value:\n  enabled: true\n');
    const pushed = await cli.run(['push', '--json'], { cwd });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.json().changes.map((c: { key: string; status: string }) => `${c.status} ${c.key}`)).toEqual(['added new-flag', 'removed old-flag']);
    expect((await resource('development', 'config', 'old-flag')).draft).toMatchObject({ deleted: true });
    expect((await resource('development', 'config', 'new-flag')).draft).toMatchObject({ deleted: false, content: { value: { enabled: true } } });
    const lock = JSON.parse(readFileSync(join(cwd, 'stageline/stageline.lock'), 'utf8'));
    expect(lock.resources['config/old-flag']).toMatchObject({ hash: null, draft: 'deleted' });
    // A pull of the drafted state leaves the deleted file absent and removes nothing else.
    writeFileSync(join(cwd, 'stageline/config/notes.txt'), 'mine');
    const again = await cli.run(['pull', '--json'], { cwd });
    // Only the hand-written file is re-rendered (header, sorted keys); nothing is removed.
    expect(again.json()).toMatchObject({ written: 1, removed: 0 });
    expect(readFileSync(join(cwd, 'stageline/config/new-flag.yaml'), 'utf8')).toBe('# config/new-flag (stageline: edit, then stageline push)\nvalue:\n  enabled: true\n');
    expect(existsSync(join(cwd, 'stageline/config/old-flag.yaml'))).toBe(false);
    expect(existsSync(join(cwd, 'stageline/config/notes.txt'))).toBe(true);
    // Committed: the resource is gone, and the lock forgets it.
    const committed = await cli.run(['push', '--commit', '-m', 'flags', '--json'], { cwd });
    expect(committed.json().commit.resources).toEqual(expect.arrayContaining(['config/new-flag', 'config/old-flag']));
    expect((await node.api('GET', `${WS}/environments/development/resources/config/old-flag`)).status).toBe(404);
    expect(JSON.parse(readFileSync(join(cwd, 'stageline/stageline.lock'), 'utf8')).resources['config/old-flag']).toBeUndefined();
  });

  it('pull removes only the files it wrote, and refuses to overwrite local edits without --force', async () => {
    const cwd = project('removal');
    await draft('development', 'tool', 'crm-sync', { method: 'POST', url: 'https://crm.example/sync' });
    await commitAll('development', 'tool');
    expect((await cli.run(['pull'], { cwd })).code).toBe(0);
    const toolFile = join(cwd, 'stageline/tool/crm-sync.yaml');
    expect(existsSync(toolFile)).toBe(true);
    // Another writer deletes the tool; a hand-made file next to it is not the pull's.
    await node.api('DELETE', `${WS}/environments/development/resources/tool/crm-sync`);
    await node.api('POST', `${WS}/environments/development/commits`, { message: 'no tool', resources: ['tool/crm-sync'] });
    writeFileSync(join(cwd, 'stageline/tool/mine.yaml'), 'method: GET\nurl: https://mine.example\n');
    const pulled = await cli.run(['pull', '--json'], { cwd });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.json()).toMatchObject({ removed: 1 });
    expect(existsSync(toolFile)).toBe(false);
    expect(existsSync(join(cwd, 'stageline/tool/mine.yaml'))).toBe(true);

    const file = join(cwd, 'stageline/config/payments.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('retries: 3', 'retries: 9'));
    await draft('development', 'config', 'payments', { ...payments, value: { ...payments.value, retries: 4 } }, 'billing');
    const refused = await cli.run(['pull', '--json'], { cwd });
    expect(refused.code).toBe(3);
    expect(refused.json()).toMatchObject({ error: { code: 'local_changes', details: [{ field: 'config/payments' }] } });
    expect(readFileSync(file, 'utf8')).toContain('retries: 9');
    expect((await cli.run(['pull', '--force'], { cwd })).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain('retries: 4');
    // Switching environments is no local change: production's pull needs no --force and
    // removes what development's pull wrote.
    const production = await cli.run(['pull', '--env', 'production', '--json'], { cwd });
    expect(production.code, production.stderr).toBe(0);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(join(cwd, 'stageline/tool/mine.yaml'))).toBe(true);
    expect((await cli.run(['pull', '--env', 'development'], { cwd })).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain('retries: 4');
    await node.api('DELETE', `${WS}/environments/development/resources/config/payments`);
    await draft('development', 'config', 'payments', { ...payments, value: { ...payments.value, checkoutUrl: 'https://pay.example/v2' } }, 'billing');
  });

  it('keys that need care: reserved device names and trailing dots are escaped; object-like keys stay plain fields', async () => {
    const cwd = project('keys');
    await draft('development', 'config', 'con', { value: 1 });
    await draft('development', 'config', 'v1.', { value: 2 });
    await draft('development', 'config', 'constructor', { value: { toString: 'x', hasOwnProperty: 1, constructor: { name: 'y' } } });
    await draft('development', 'config', 'Mixed', { value: 3 });
    await draft('development', 'config', 'mixed', { value: 4 });
    const pulled = await cli.run(['pull', '--json'], { cwd });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stderr).toContain('config/Mixed and config/mixed differ only in case');
    const names = readdirSync(join(cwd, 'stageline/config')).sort();
    expect(names).toEqual(expect.arrayContaining(['%63on.yaml', 'v1%2E.yaml', 'constructor.yaml']));
    expect(names).not.toContain('con.yaml');
    const text = readFileSync(join(cwd, 'stageline/config/constructor.yaml'), 'utf8');
    expect(text).toContain('value:\n  constructor:\n    name: y\n  hasOwnProperty: 1\n  toString: x\n');
    // Round trip: nothing changed, and an edit of an escaped file reaches the right key.
    expect((await cli.run(['push', '--json'], { cwd })).json()).toMatchObject({ changes: [] });
    writeFileSync(join(cwd, 'stageline/config/%63on.yaml'), 'value: 5\n');
    writeFileSync(join(cwd, 'stageline/config/v1%2E.yaml'), 'value: 6\n');
    const pushed = await cli.run(['push', '--json'], { cwd });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect((await resource('development', 'config', 'con')).draft.content).toEqual({ value: 5 });
    expect((await resource('development', 'config', 'v1.')).draft.content).toEqual({ value: 6 });

    // A name that is no key, and a __proto__ field, are refused here and never sent.
    writeFileSync(join(cwd, 'stageline/config/..bad.yaml'), 'value: 1\n');
    writeFileSync(join(cwd, 'stageline/config/con.yaml'), 'value: 1\n');
    writeFileSync(join(cwd, 'stageline/config/proto.yaml'), 'value:\n  __proto__:\n    polluted: true\n');
    const bad = await cli.run(['push', '--json'], { cwd });
    expect(bad.code).toBe(1);
    const error = bad.json().error;
    expect(error.code).toBe('invalid_files');
    expect(error.details.map((d: { field: string }) => d.field).sort()).toEqual(['stageline/config/..bad.yaml', 'stageline/config/con.yaml', 'stageline/config/proto.yaml /value/__proto__']);
    expect((await node.api('GET', `${WS}/environments/development/resources/config/proto`)).status).toBe(404);
    for (const name of ['..bad.yaml', 'con.yaml', 'proto.yaml']) rmSync(join(cwd, 'stageline/config', name));
    for (const key of ['con', 'v1.', 'constructor', 'Mixed', 'mixed']) await node.api('DELETE', `${WS}/environments/development/resources/config/${key}`);
  });

  it('server refusals name the file and the field, exit 1', async () => {
    const cwd = project('refused');
    expect((await cli.run(['pull'], { cwd })).code).toBe(0);
    writeFileSync(join(cwd, 'stageline/layout/broken.yaml'), 'html: 5\n');
    const pushed = await cli.run(['push'], { cwd });
    expect(pushed.code).toBe(1);
    expect(pushed.stderr).toContain('stageline/layout/broken.yaml: content.html');
  });

  it('push into a non-editable environment is refused before anything is written', async () => {
    const cwd = project('production');
    expect((await cli.run(['pull', '--env', 'production', '--json'], { cwd })).json()).toMatchObject({ environment: 'production', editable: false });
    mkdirSync(join(cwd, 'stageline/config'), { recursive: true });
    writeFileSync(join(cwd, 'stageline/config/prod.yaml'), 'value: 1\n');
    const pushed = await cli.run(['push', '--json'], { cwd });
    expect(pushed.code).toBe(3);
    expect(pushed.json()).toMatchObject({ error: { code: 'environment_not_editable' } });
  });
});

describe('stageline diff between states', () => {
  it('releases, environments and drafts through the server; one environment compares the local files; usage mistakes exit 2', async () => {
    const cwd = project('states');
    await draft('development', 'config', 'diffme', { value: { n: 1, gone: true } });
    const first = await commitAll('development', 'diffme 1');
    await draft('development', 'config', 'diffme', { value: { n: 2, added: 'x' } });
    const second = await commitAll('development', 'diffme 2');
    const between = await cli.run(['diff', `development#${first}`, `development#${second}`], { cwd });
    expect(between.code, between.stderr).toBe(0);
    const lines = between.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 2)).toEqual([`development#${first} → development#${second}: 1 changed`, '~ config/diffme']);
    // Field lines in the server's order.
    expect(lines.slice(2).sort()).toEqual(['    + /value/added: "x"', '    - /value/gone: true', '    ~ /value/n: 1 → 2']);
    const names = await cli.run(['diff', 'development', 'production', '--names-only'], { cwd });
    expect(names.stdout).toContain('- config/diffme');
    expect(names.stdout).not.toContain('/value');
    const json = await cli.run(['diff', 'production', 'development', '--json', '--exit-code'], { cwd });
    expect(json.code).toBe(1);
    expect(json.json()).toMatchObject({ from: 'production', to: 'development', fromState: { environment: 'production', release: 0 } });
    expect(json.json().changes.every((c: { status: string }) => c.status === 'added')).toBe(true);

    expect((await cli.run(['pull'], { cwd })).code).toBe(0);
    const one = await cli.run(['diff', 'production', '--json'], { cwd });
    expect(one.code, one.stderr).toBe(0);
    expect(one.json()).toMatchObject({ from: 'production', to: 'stageline/' });
    expect(one.json().changes.length).toBeGreaterThan(0);
    expect(one.json().changes.every((c: { status: string }) => c.status === 'added')).toBe(true);

    expect((await cli.run(['diff', 'development#1'], { cwd })).code).toBe(2);
    expect((await cli.run(['diff', 'development', 'staging', '--env', 'development'], { cwd })).code).toBe(2);
    expect((await cli.run(['push', '-m', 'no commit'], { cwd })).code).toBe(2);
    expect((await cli.run(['diff', 'development', 'nowhere'], { cwd })).code).toBe(1);
  });
});

describe('stageline validate', () => {
  it('offline: bad YAML, duplicate keys and a schema error, exit 1, no server needed', async () => {
    const cwd = project('validate-offline');
    mkdirSync(join(cwd, 'stageline/config'), { recursive: true });
    writeFileSync(join(cwd, 'stageline/config/ok.yaml'), 'value: 1\n');
    writeFileSync(join(cwd, 'stageline/config/broken.yaml'), 'value: [1, 2\n');
    writeFileSync(join(cwd, 'stageline/config/dupe.yaml'), 'value: 1\nvalue: 2\n');
    mkdirSync(join(cwd, 'stageline/workflow'), { recursive: true });
    writeFileSync(join(cwd, 'stageline/workflow/w.yaml'), 'name: W\nsteps:\n  - type: channel\n    channel: email\n    template:\n      html: <p/>\n');
    const offline = await cli.run(['validate', '--offline', '--json'], { cwd, env: { STAGELINE_URL: 'http://127.0.0.1:9', STAGELINE_TOKEN: '' } });
    expect(offline.code).toBe(1);
    const result = offline.json();
    expect(result).toMatchObject({ valid: false, offline: true });
    expect(result.issues.map((i: { path: string }) => i.path).sort()).toEqual(['stageline/config/broken.yaml', 'stageline/config/dupe.yaml', 'stageline/workflow/w.yaml']);
    expect(result.issues).toContainEqual({ path: 'stageline/workflow/w.yaml', field: 'content.steps.0.template.subject', message: 'is required', code: 'invalid_content' });
    const human = await cli.run(['validate', '--offline'], { cwd, env: { STAGELINE_URL: 'http://127.0.0.1:9', STAGELINE_TOKEN: '' } });
    expect(human.stdout).toContain('stageline/workflow/w.yaml: content.steps.0.template.subject is required');
    expect(human.stdout).toMatch(/stageline\/config\/broken.yaml: line 2:1 /);
    rmSync(join(cwd, 'stageline/workflow/w.yaml'));
    rmSync(join(cwd, 'stageline/config/broken.yaml'));
    rmSync(join(cwd, 'stageline/config/dupe.yaml'));
    const clean = await cli.run(['validate', '--offline'], { cwd, env: { STAGELINE_URL: 'http://127.0.0.1:9', STAGELINE_TOKEN: '' } });
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toContain('1 file valid (offline checks)');
  });

  it('online: schema errors and references the target cannot resolve, exit 1; a valid tree exits 0', async () => {
    const cwd = project('validate-online');
    mkdirSync(join(cwd, 'stageline/workflow'), { recursive: true });
    mkdirSync(join(cwd, 'stageline/route'), { recursive: true });
    writeFileSync(join(cwd, 'stageline/workflow/signup.yaml'), ['name: Signup', 'steps:', '  - type: tool', '    tool: missing-tool', ''].join('\n'));
    writeFileSync(join(cwd, 'stageline/route/api.yaml'), ['match:', '  pathPrefix: api', 'upstream:', '  url: "{{ vars.api_url }}"', ''].join('\n'));
    const online = await cli.run(['validate', '--env', 'production', '--json'], { cwd });
    expect(online.code).toBe(1);
    const issues = online.json().issues as { path: string; field: string; message: string; code: string }[];
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'stageline/route/api.yaml', field: 'content.match.pathPrefix', code: 'invalid_content' }),
        expect.objectContaining({ path: 'stageline/workflow/signup.yaml', code: 'missing_resource', message: expect.stringContaining('tool/missing-tool') }),
      ]),
    );
    const human = await cli.run(['validate', '--env', 'production'], { cwd });
    expect(human.stdout).toContain('stageline/route/api.yaml: content.match.pathPrefix must start with /');

    writeFileSync(join(cwd, 'stageline/route/api.yaml'), ['match:', '  pathPrefix: /api', 'upstream:', '  url: "{{ vars.api_url }}"', ''].join('\n'));
    writeFileSync(join(cwd, 'stageline/workflow/signup.yaml'), ['name: Signup', 'steps:', '  - type: delay', '    seconds: 5', ''].join('\n'));
    const unresolved = await cli.run(['validate', '--env', 'production', '--json'], { cwd });
    expect(unresolved.json().issues).toEqual([expect.objectContaining({ path: 'stageline/route/api.yaml', code: 'missing_reference', message: expect.stringContaining('vars.api_url') })]);
    expect((await node.api('PUT', `${WS}/variables/api_url`, { value: 'https://api.example' })).status).toBe(200);
    const valid = await cli.run(['validate', '--env', 'production', '--json'], { cwd });
    expect(valid.code, valid.stdout).toBe(0);
    expect(valid.json()).toMatchObject({ valid: true, files: 2, environment: 'production' });
    // Nothing was written by validating.
    expect((await node.api('GET', `${WS}/environments/production/resources/route/api`)).status).toBe(404);
  });
});

describe('POST …/environments/:env/validations', () => {
  const path = `${WS}/environments/production/validations`;

  it('names bad kinds, keys and duplicates, resolves references through the posted set and `present`, and writes nothing', async () => {
    const signup = { name: 'Signup', steps: [{ type: 'channel', channel: 'email', layout: 'brand', template: { subject: 'Hi', text: 'Hi' } }] };
    const answer = await node.api('POST', path, {
      resources: [
        { kind: 'widget', key: 'x', content: {} },
        { kind: 'config', key: '../x', content: { value: 1 } },
        { kind: 'config', key: 'twice', content: { value: 1 } },
        { kind: 'config', key: 'twice', content: { value: 2 } },
        { kind: 'config', key: 'labelled', content: { value: 1 }, app: 'Not A Label' },
        { kind: 'workflow', key: 'signup', content: signup },
      ],
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toMatchObject({ environment: 'production', valid: false, checked: 6 });
    const issues = answer.body.issues.map((i: { kind: string; key: string; field: string; code: string }) => `${i.kind}/${i.key} ${i.field} ${i.code}`);
    expect(issues.sort()).toEqual(
      ['widget/x kind invalid_resource', 'config/../x key invalid_resource', 'config/twice key invalid_resource', 'config/labelled app invalid_content', 'workflow/signup content.steps missing_resource'].sort(),
    );

    const present = await node.api('POST', path, { resources: [{ kind: 'workflow', key: 'signup', content: signup }], present: ['layout/brand'] });
    expect(present.body).toMatchObject({ valid: true, issues: [] });
    const together = await node.api('POST', path, { resources: [{ kind: 'workflow', key: 'signup', content: signup }, { kind: 'layout', key: 'brand', content: { text: '{{ content }}' } }] });
    expect(together.body).toMatchObject({ valid: true, checked: 2 });
    expect((await node.api('GET', `${WS}/environments/production/resources/workflow/signup`)).status).toBe(404);
  });

  it('a secret with no value in the target is a missing reference; a viewer may validate; a bad body is 400', async () => {
    const tool = { method: 'POST', url: 'https://crm.example/sync', headers: { authorization: 'Bearer {{ secrets.crm_token }}' } };
    const missing = await node.api('POST', path, { resources: [{ kind: 'tool', key: 'crm', content: tool }] });
    expect(missing.body.issues).toEqual([expect.objectContaining({ kind: 'tool', key: 'crm', code: 'missing_reference', message: expect.stringContaining('secrets.crm_token') })]);

    const created = await node.api('POST', `${WS}/tokens`, { name: 'pr checks', role: 'viewer' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const viewer = await fetch(`${node.server.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${created.body.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resources: [{ kind: 'config', key: 'ok', content: { value: 1 } }] }),
    });
    expect(viewer.status).toBe(200);
    expect(await viewer.json()).toMatchObject({ valid: true });
    expect((await node.api('POST', path, { resources: 'nope' })).status).toBe(400);
    expect((await node.api('POST', `${WS}/environments/nowhere/validations`, { resources: [] })).status).toBe(404);
  });
});

describe('many resources', () => {
  // 400 by default keeps this file fast on a shared machine; STAGELINE_BULK_RESOURCES=1000 measures the full case.
  const count = Number(process.env.STAGELINE_BULK_RESOURCES ?? 400);
  it(`a push (with its commit) and a pull of ${count} resources finish in seconds`, async () => {
    const cwd = project('bulk');
    const env = 'development';
    // Seeded through the CLI itself: a push of that many new files (and its commit).
    mkdirSync(join(cwd, 'stageline/config'), { recursive: true });
    for (let i = 0; i < count; i++) writeFileSync(join(cwd, `stageline/config/bulk-${String(i).padStart(4, '0')}.yaml`), `value:\n  n: ${i}\n`);
    let started = Date.now();
    const pushed = await cli.run(['push', '--commit', '-m', 'bulk', '--json', '--env', env], { cwd, timeoutMs: 120_000 });
    const pushMs = Date.now() - started;
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.json().changes.filter((c: { status: string }) => c.status === 'added')).toHaveLength(count);

    const other = project('bulk-pull');
    started = Date.now();
    const pulled = await cli.run(['pull', '--json'], { cwd: other, timeoutMs: 120_000 });
    const pullMs = Date.now() - started;
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.json()).toMatchObject({ read: expect.any(Number), written: pulled.json().resources });
    expect(pulled.json().resources).toBeGreaterThanOrEqual(count);
    console.log(`${count} resources: push + commit ${pushMs} ms, pull ${pullMs} ms`);
    // Generous bounds (one draft write is one audited transaction on the server); the log line is the measure.
    expect(pullMs).toBeLessThan(count * 25);
    expect(pushMs).toBeLessThan(count * 60);
  }, 120_000);
});

function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (folder: string, prefix: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(folder, entry.name), `${prefix}${entry.name}/`);
      else out[`${prefix}${entry.name}`] = readFileSync(join(folder, entry.name), 'utf8');
    }
  };
  walk(dir, '');
  return out;
}
