// vars, secrets, settings and keys through the real command against a real node: what the server
// then holds, what the runtime resolves with a created key, and that no secret value is ever printed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliWorkspace, type CliResult, type CliWorkspace } from './cli-support.js';
import { runOnTerminal } from './cli-terminal.js';
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

/** The runtime answer for a resource, read with an environment key. */
async function resolved(key: string, id: string) {
  const res = await fetch(`${node.server.url}/v1/resources/${id}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as any };
}

describe('stageline vars', () => {
  it('sets a default and per-environment overrides, JSON when it parses, text otherwise', async () => {
    expect((await cli.run(['vars', 'set', 'app_url', 'https://example.com', '--description', 'public URL'])).code).toBe(0);
    expect((await cli.run(['vars', 'set', 'app_url', 'http://localhost:3000', '--env', 'development'])).code).toBe(0);
    expect((await cli.run(['vars', 'set', 'retries', '3'])).code).toBe(0);
    expect((await cli.run(['vars', 'set', 'build', '0123', '--string'])).code).toBe(0);
    expect((await cli.run(['vars', 'set', 'limits', '{"rps":5}', '--env', 'production', '--json'])).json()).toMatchObject({ name: 'limits', overrides: { production: { rps: 5 } } });

    expect((await node.api('GET', `${WS}/variables/app_url`)).body).toMatchObject({
      value: 'https://example.com',
      description: 'public URL',
      overrides: { development: 'http://localhost:3000' },
    });
    expect((await node.api('GET', `${WS}/variables/retries`)).body.value).toBe(3);
    expect((await node.api('GET', `${WS}/variables/build`)).body.value).toBe('0123');
    expect((await node.api('GET', `${WS}/variables/limits`)).body).not.toHaveProperty('value');

    const list = await cli.run(['vars', 'list', '--json']);
    expect(list.code).toBe(0);
    expect(list.json().data.map((v: { name: string }) => v.name).sort()).toEqual(['app_url', 'build', 'limits', 'retries']);
  });

  it('get prints the value an environment resolves to, bare', async () => {
    expect((await cli.run(['vars', 'get', 'app_url', '--env', 'development'])).stdout).toBe('http://localhost:3000\n');
    expect((await cli.run(['vars', 'get', 'app_url', '--env', 'production'])).stdout).toBe('https://example.com\n');
    expect((await cli.run(['vars', 'get', 'app_url', '--env', 'production', '--json'])).json()).toEqual({
      name: 'app_url',
      environment: 'production',
      value: 'https://example.com',
      from: 'default',
    });
    const none = await cli.run(['vars', 'get', 'limits', '--env', 'development']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('limits has no value in development');
    expect((await cli.run(['vars', 'get', 'nope'])).code).toBe(1);
  });

  it('rm --env removes one override and keeps the rest; rm deletes the variable', async () => {
    const removed = await cli.run(['vars', 'rm', 'app_url', '--env', 'development', '--json']);
    expect(removed.code).toBe(0);
    expect((await node.api('GET', `${WS}/variables/app_url`)).body).toMatchObject({ value: 'https://example.com', description: 'public URL', overrides: {} });
    expect((await cli.run(['vars', 'rm', 'app_url', '--env', 'development'])).code).toBe(1);
    expect((await cli.run(['vars', 'rm', 'app_url', '--json'])).json()).toEqual({ deleted: 'app_url' });
    expect((await node.api('GET', `${WS}/variables/app_url`)).status).toBe(404);
  });

  it('an override for an unknown environment is the server\'s one-line refusal', async () => {
    const result = await cli.run(['vars', 'set', 'retries', '4', '--env', 'nowhere']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('overrides.nowhere');
  });
});

describe('stageline secrets', () => {
  const SECRET = 'sk_live_0123456789abcdefTOPSECRET';
  const OTHER = 'dev-only-value-do-not-print-42';

  it('sets from stdin and --value, lists metadata and hints only, never prints a value', async () => {
    const outputs: CliResult[] = [];
    const run = async (args: string[], input?: string) => {
      const result = await cli.run(args, input !== undefined ? { input } : {});
      outputs.push(result);
      return result;
    };

    const piped = await run(['secrets', 'set', 'stripe_key', '--env', 'production', '--json'], `${SECRET}\n`);
    expect(piped.code).toBe(0);
    expect(piped.json()).toMatchObject({ name: 'stripe_key', environment: 'production', version: 1, hint: '••••CRET' });
    const human = await run(['secrets', 'set', 'stripe_key', '--env', 'production'], SECRET);
    expect(human.stdout).toContain('set stripe_key in production (version 2');
    expect((await run(['secrets', 'set', 'smtp_password', '--env', 'development', '--value', OTHER])).code).toBe(0);

    const list = await run(['secrets', 'list', '--env', 'production', '--json']);
    expect(list.json()).toMatchObject({ environment: 'production', data: [{ name: 'stripe_key', version: 2, hint: '••••CRET' }] });
    expect((await run(['secrets', 'list', '--env', 'production'])).stdout).toContain('stripe_key');

    // Failures do not echo it either: an unknown environment, an empty value, a refused token.
    expect((await run(['secrets', 'set', 'stripe_key', '--env', 'nowhere', '--json'], SECRET)).code).toBe(1);
    expect((await run(['secrets', 'set', 'stripe_key', '--env', 'production'], '')).code).toBe(2);
    const refused = await cli.run(['secrets', 'set', 'stripe_key', '--env', 'production', '--value', SECRET], { env: { STAGELINE_TOKEN: 'stl_wrong' } });
    outputs.push(refused);
    expect(refused.code).toBe(1);
    expect((await run(['secrets', 'list'])).code).toBe(2);

    for (const result of outputs) {
      expect(result.stdout + result.stderr).not.toContain(SECRET);
      expect(result.stdout + result.stderr).not.toContain(OTHER);
      expect(result.stdout + result.stderr).not.toContain('TOPSECRET');
    }
  });

  it('the value written is exactly what was piped: a secret key resolves it at runtime', async () => {
    await node.api('PUT', `${WS}/environments/development/resources/config/payments`, { content: { value: { key: '{{ secrets.stripe_key }}' } } });
    await node.api('POST', `${WS}/environments/development/commits`, { message: 'payments' });
    await node.api('POST', `${WS}/environments/production/promotions`, { message: 'payments' });
    const key = (await cli.run(['keys', 'create', '--env', 'production', '--name', 'resolver', '--json'])).json().key as string;
    const answer = await resolved(key, 'config/payments');
    expect(answer.status).toBe(200);
    expect(answer.body.content.value.key).toBe(SECRET);
  });

  it('on a terminal the value is read at a hidden prompt and never echoed', async () => {
    const typed = 'typed-at-the-prompt-0123456789';
    const env = { STAGELINE_CONFIG_DIR: cli.configDir, STAGELINE_URL: node.server.url, STAGELINE_TOKEN: TOKEN };
    const result = await runOnTerminal(['secrets', 'set', 'typed_key', '--env', 'development'], { env, cwd: cli.cwd, prompt: 'Value of typed_key in development: ', answer: typed });
    expect(result.code).toBe(0);
    expect(result.screen).toContain('set typed_key in development (version 1, ••••6789)');
    expect(result.screen).not.toContain(typed);
    await node.api('PUT', `${WS}/environments/development/resources/config/typed`, { content: { value: { key: '{{ secrets.typed_key }}' } } });
    await node.api('POST', `${WS}/environments/development/commits`, { message: 'typed' });
    const key = (await cli.run(['keys', 'create', '--env', 'development', '--name', 'typed', '--json'])).json().key as string;
    expect((await resolved(key, 'config/typed')).body.content.value.key).toBe(typed);
  });

  it('rm deletes the value in that environment only', async () => {
    const removed = await cli.run(['secrets', 'rm', 'smtp_password', '--env', 'development', '--json']);
    expect(removed.json()).toEqual({ deleted: 'smtp_password', environment: 'development' });
    expect((await node.api('GET', `${WS}/environments/development/secrets/smtp_password`)).status).toBe(404);
    expect((await node.api('GET', `${WS}/environments/production/secrets/stripe_key`)).status).toBe(200);
  });

  it('--env comes from stageline.json when not given', async () => {
    writeFileSync(join(cli.cwd, 'stageline.json'), JSON.stringify({ env: 'production' }));
    try {
      const list = await cli.run(['secrets', 'list', '--json']);
      expect(list.code).toBe(0);
      expect(list.json().environment).toBe('production');
    } finally {
      writeFileSync(join(cli.cwd, 'stageline.json'), '{}');
    }
  });
});

describe('stageline settings', () => {
  it('sets from an argument, a file and stdin; gets, lists and removes', async () => {
    const arg = await cli.run(['settings', 'set', 'cors', '{"origins":["https://app.example.com"]}', '--env', 'production', '--json']);
    expect(arg.code).toBe(0);
    expect(arg.json()).toMatchObject({ name: 'cors', environment: 'production', value: { origins: ['https://app.example.com'] } });
    writeFileSync(join(cli.cwd, 'branding.json'), JSON.stringify({ name: 'Acme', primaryColor: '#123456' }));
    expect((await cli.run(['settings', 'set', 'branding', '--file', 'branding.json', '--env', 'production'])).code).toBe(0);
    expect((await cli.run(['settings', 'set', 'feeds', '-', '--env', 'production'], { input: '{"requireRecipientToken": true}\n' })).code).toBe(0);

    expect((await node.api('GET', `${WS}/environments/production/settings/branding`)).body.value).toEqual({ name: 'Acme', primaryColor: '#123456' });
    expect((await node.api('GET', `${WS}/environments/production/settings/feeds`)).body.value).toEqual({ requireRecipientToken: true });
    expect(JSON.parse((await cli.run(['settings', 'get', 'cors', '--env', 'production'])).stdout)).toEqual({ origins: ['https://app.example.com'] });
    const list = await cli.run(['settings', 'list', '--env', 'production', '--json']);
    expect(list.json().data.map((s: { name: string }) => s.name).sort()).toEqual(['branding', 'cors', 'feeds']);

    expect((await cli.run(['settings', 'rm', 'feeds', '--env', 'production', '--json'])).json()).toEqual({ deleted: 'feeds', environment: 'production' });
    expect((await node.api('GET', `${WS}/environments/production/settings/feeds`)).status).toBe(404);
  });

  it('bad JSON or no document is a usage error; a document the server refuses exits 1', async () => {
    expect((await cli.run(['settings', 'set', 'cors', '{oops', '--env', 'production'])).code).toBe(2);
    expect((await cli.run(['settings', 'set', 'cors', '--env', 'production'])).code).toBe(2);
    expect((await cli.run(['settings', 'set', 'cors', '{}', '--file', 'x.json', '--env', 'production'])).code).toBe(2);
    const refused = await cli.run(['settings', 'set', 'cors', '{"origins":"everywhere"}', '--env', 'production', '--json']);
    expect(refused.code).toBe(1);
    expect(refused.json()).toMatchObject({ error: { code: 'invalid_request' } });
  });
});

describe('stageline keys', () => {
  it('creates a key shown once, lists without it, rotates with a grace period, revokes', async () => {
    const created = await cli.run(['keys', 'create', '--env', 'development', '--name', 'web', '--kind', 'publishable', '--expires', '30d']);
    expect(created.code).toBe(0);
    const key = /pk_\S+/.exec(created.stdout)?.[0];
    expect(key).toBeDefined();
    expect(created.stderr).toContain('it will not be shown again');

    const list = await cli.run(['keys', 'list', '--env', 'development', '--json']);
    const listed = list.json().data as { id: string; name: string; status: string; expiresAt: string | null }[];
    const web = listed.find((k) => k.name === 'web')!;
    expect(web).toMatchObject({ status: 'active' });
    expect(web.expiresAt).not.toBeNull();
    const human = await cli.run(['keys', 'list', '--env', 'development']);
    expect(list.stdout + human.stdout).not.toContain(key!);
    expect(human.stdout).toContain(web.id);

    const rotated = await cli.run(['keys', 'rotate', web.id, '--env', 'development', '--grace', '1h', '--json']);
    expect(rotated.code).toBe(0);
    const next = rotated.json();
    expect(next.key).toMatch(/^pk_/);
    expect(next.key).not.toBe(key);
    expect(next.previous).toMatchObject({ id: web.id });
    expect(Date.parse(next.previous.expiresAt) - Date.now()).toBeGreaterThan(50 * 60_000);
    expect(Date.parse(next.previous.expiresAt) - Date.now()).toBeLessThan(61 * 60_000);

    const revoked = await cli.run(['keys', 'revoke', next.id, '--env', 'development', '--json']);
    expect(revoked.json()).toMatchObject({ id: next.id, status: 'revoked' });
    expect(revoked.stdout).not.toContain(next.key);
    expect((await resolved(next.key, 'config/payments')).status).toBe(401);
  });

  it('usage mistakes exit 2', async () => {
    expect((await cli.run(['keys', 'create', '--env', 'development'])).code).toBe(2);
    expect((await cli.run(['keys', 'create', '--env', 'development', '--name', 'x', '--kind', 'other'])).code).toBe(2);
    expect((await cli.run(['keys', 'rotate', 'key_x', '--env', 'development', '--grace', 'soon'])).code).toBe(2);
    expect((await cli.run(['keys', 'revoke', 'key_missing', '--env', 'development'])).code).toBe(1);
  });
});
