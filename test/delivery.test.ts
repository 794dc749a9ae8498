// The delivery API: resolved content per environment, per key kind, from memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, createApiKey, createStaging, promote, runtimeCall, startHarness, WS, type Harness } from './support.js';

let h: Harness;
const keys: Record<string, { secret: string; publishable: string }> = {};
const ENVS = ['development', 'staging', 'production'] as const;

beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  await h.call('PUT', `${WS}/variables/app_url`, {
    value: 'https://dev.example.com',
    overrides: { staging: 'https://staging.example.com', production: 'https://example.com' },
  });
  await h.call('PUT', `${WS}/variables/retries`, { value: 3 });
  for (const env of ENVS) {
    await h.call('PUT', `${WS}/environments/${env}/secrets/stripe_key`, { value: `sk_${env}_0123456789abcdef` });
    keys[env] = { secret: await createApiKey(h, env, 'secret'), publishable: await createApiKey(h, env, 'publishable') };
  }
  await commitDrafts(h, {
    'config/checkout': { value: { url: '{{ vars.app_url }}/pay', key: '{{ secrets.stripe_key }}', retries: '{{ vars.retries }}', env: '{{ env.slug }}' } },
    'config/public-flags': { value: { banner: 'Welcome to {{ env.name }}', home: '{{ vars.app_url }}' }, public: true },
    'workflow/welcome': { name: 'Welcome', steps: [{ type: 'channel', channel: 'in_app', template: { body: 'Hi {{ recipient.name }}, see {{ vars.app_url }}' } }] },
  });
  await promote(h, 'staging');
  await promote(h, 'production');
});
afterAll(async () => h?.close());

describe('resolved resources', () => {
  it('renders variables, secrets and env for a secret key, keeping typed values', async () => {
    const res = await runtimeCall(h, keys.production!.secret, '/v1/resources/config/checkout');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      kind: 'config',
      key: 'checkout',
      content: { value: { url: 'https://example.com/pay', key: 'sk_production_0123456789abcdef', retries: 3, env: 'production' } },
    });
    expect(res.body.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('leaves run-time templates of workflows for the runtime', async () => {
    const res = await runtimeCall(h, keys.production!.secret, '/v1/resources/workflow/welcome');
    expect(res.body.content.steps[0].template.body).toBe('Hi {{ recipient.name }}, see {{ vars.app_url }}');
  });

  it('a publishable key sees only public configs, never a secret', async () => {
    const list = await runtimeCall(h, keys.production!.publishable, '/v1/resources');
    expect(list.body.data.map((r: any) => `${r.kind}/${r.key}`)).toEqual(['config/public-flags']);
    expect(list.body.data[0].content.value).toEqual({ banner: 'Welcome to Production', home: 'https://example.com' });
    expect((await runtimeCall(h, keys.production!.publishable, '/v1/resources/config/checkout')).status).toBe(404);
    for (const env of ENVS) expect(list.text).not.toContain(`sk_${env}_`);
  });

  it('a public config that references a secret is refused when written', async () => {
    const res = await h.call('PUT', `${WS}/environments/development/resources/config/leaky`, {
      content: { value: { key: '{{ secrets.stripe_key }}' }, public: true },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'content.public', message: expect.stringContaining('secrets.stripe_key') })]);
  });

  it('answers 304 to a matching If-None-Match, for one resource and for the list', async () => {
    for (const path of ['/v1/resources/config/checkout', '/v1/resources']) {
      const first = await runtimeCall(h, keys.staging!.secret, path);
      expect(first.headers.etag).toBeTruthy();
      const again = await runtimeCall(h, keys.staging!.secret, path, { 'if-none-match': first.headers.etag as string });
      expect(again.status).toBe(304);
      expect(again.text).toBe('');
    }
  });

  it('compares If-None-Match weakly and accepts a list of tags', async () => {
    const first = await runtimeCall(h, keys.production!.secret, '/v1/resources/config/checkout');
    const etag = first.headers.etag as string;
    expect((await runtimeCall(h, keys.production!.secret, '/v1/resources/config/checkout', { 'if-none-match': `W/${etag}` })).status).toBe(304);
    expect((await runtimeCall(h, keys.production!.secret, '/v1/resources/config/checkout', { 'if-none-match': `"other", ${etag}` })).status).toBe(304);
    expect((await runtimeCall(h, keys.production!.secret, '/v1/resources/config/checkout', { 'if-none-match': '"other"' })).status).toBe(200);
  });

  it('an override, a kill switch and a variable change are served at once', async () => {
    const key = keys.staging!.secret;
    const before = await runtimeCall(h, key, '/v1/resources/config/checkout');
    await h.call('PUT', `${WS}/environments/staging/resources/config/checkout/override`, { override: { value: { retries: 9 } } });
    let res = await runtimeCall(h, key, '/v1/resources/config/checkout');
    expect(res.body.content.value.retries).toBe(9);
    expect(res.headers.etag).not.toBe(before.headers.etag);
    await h.call('PUT', `${WS}/variables/app_url`, { value: 'https://dev.example.com', overrides: { staging: 'https://stage2.example.com', production: 'https://example.com' } });
    res = await runtimeCall(h, key, '/v1/resources/config/checkout');
    expect(res.body.content.value.url).toBe('https://stage2.example.com/pay');
    await h.call('PUT', `${WS}/environments/staging/resources/config/checkout/active`, { active: false });
    expect((await runtimeCall(h, key, '/v1/resources/config/checkout')).status).toBe(404);
    expect((await runtimeCall(h, key, '/v1/resources')).body.data.map((r: any) => r.key)).not.toContain('checkout');
    await h.call('PUT', `${WS}/environments/staging/resources/config/checkout/active`, { active: true });
    expect((await runtimeCall(h, key, '/v1/resources/config/checkout')).status).toBe(200);
  });

  it('renaming an environment changes what {{ env.name }} resolves to', async () => {
    const key = keys.production!.publishable;
    expect((await runtimeCall(h, key, '/v1/resources/config/public-flags')).body.content.value.banner).toBe('Welcome to Production');
    await h.call('PATCH', `${WS}/environments/production`, { name: 'Live' });
    expect((await runtimeCall(h, key, '/v1/resources/config/public-flags')).body.content.value.banner).toBe('Welcome to Live');
    await h.call('PATCH', `${WS}/environments/production`, { name: 'Production' });
  });

  it('a secret missing in the environment is an error naming it, never another environment’s value', async () => {
    expect((await h.call('DELETE', `${WS}/environments/staging/secrets/stripe_key`)).status).toBe(204);
    const res = await runtimeCall(h, keys.staging!.secret, '/v1/resources/config/checkout');
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('unresolved_reference');
    expect(res.body.error.message).toContain('stripe_key');
    expect(res.text).not.toMatch(/sk_(development|production)_/);
    const list = await runtimeCall(h, keys.staging!.secret, '/v1/resources');
    expect(list.body.errors).toEqual([expect.objectContaining({ kind: 'config', key: 'checkout', code: 'unresolved_reference' })]);
    expect(list.text).not.toMatch(/sk_(development|production)_/);
    await h.call('PUT', `${WS}/environments/staging/secrets/stripe_key`, { value: 'sk_staging_0123456789abcdef' });
    expect((await runtimeCall(h, keys.staging!.secret, '/v1/resources/config/checkout')).status).toBe(200);
  });
});

describe('isolation between environments', () => {
  const paths = ['/v1/resources', '/v1/resources/config/checkout', '/v1/resources/config/public-flags'];
  const matrix = ENVS.flatMap((env) => (['secret', 'publishable'] as const).flatMap((kind) => paths.map((path) => ({ env, kind, path }))));

  it.each(matrix)('a $kind key of $env on $path sees only $env', async ({ env, kind, path }) => {
    const res = await runtimeCall(h, keys[env]![kind], path);
    const foreign = ENVS.filter((e) => e !== env);
    for (const other of foreign) {
      expect(res.text).not.toContain(`sk_${other}_`);
      expect(res.text).not.toContain(`${other}.example.com`);
      expect(res.text).not.toContain(`"env":"${other}"`);
    }
    if (res.status === 200 && path !== '/v1/resources') expect(res.text).toContain(env === 'development' ? 'dev.example.com' : env === 'staging' ? 'stage' : 'https://example.com');
    if (kind === 'publishable') for (const e of ENVS) expect(res.text).not.toContain(`sk_${e}_`);
  });

  it('a revoked key stops at once; an unknown or malformed one is 401', async () => {
    const key = await createApiKey(h, 'production', 'secret', 'short-lived');
    expect((await runtimeCall(h, key, '/v1/resources')).status).toBe(200);
    const list = await h.call('GET', `${WS}/environments/production/api-keys`);
    const id = list.body.data.find((k: any) => k.name === 'short-lived').id;
    expect((await h.call('DELETE', `${WS}/environments/production/api-keys/${id}`)).body.status).toBe('revoked');
    await h.runtime.feed.settled();
    expect((await runtimeCall(h, key, '/v1/resources')).status).toBe(401);
    expect((await runtimeCall(h, 'sk_' + 'x'.repeat(32), '/v1/resources')).status).toBe(401);
    expect((await runtimeCall(h, 'not-a-key', '/v1/resources')).body.error.code).toBe('unauthenticated');
    expect((await runtimeCall(h, h.token, '/v1/resources')).status).toBe(401);
  });
});

describe('missing references and promotion', () => {
  it('blocks a promotion whose resources reference what the target lacks, listing each', async () => {
    await h.call('PUT', `${WS}/variables/support_email`, { overrides: { development: 'dev@example.com' } });
    await h.call('PUT', `${WS}/environments/development/secrets/crm_token`, { value: 'crm-dev-token-0123456789' });
    await commitDrafts(h, { 'tool/crm-sync': { method: 'POST', url: 'https://crm.example.com/{{ vars.support_email }}', headers: { Authorization: 'Bearer {{ secrets.crm_token }}' } } });
    const plan = await promote(h, 'staging', { dryRun: true });
    expect(plan.body.missingReferences).toEqual([
      { reference: 'secrets.crm_token', resources: ['tool/crm-sync'] },
      { reference: 'vars.support_email', resources: ['tool/crm-sync'] },
    ]);
    const refused = await promote(h, 'staging');
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('missing_references');
    expect(refused.body.error.details.map((d: any) => d.reference)).toEqual(['secrets.crm_token', 'vars.support_email']);
  });

  it('promotes once the target has them, or with force (audited as forced)', async () => {
    const forced = await promote(h, 'staging', { force: true });
    expect(forced.status).toBe(201);
    const [entry] = (await h.call('GET', `${WS}/audit-log?action=release.promote&limit=1`)).body.data;
    expect(entry.details).toMatchObject({ forced: true, missingReferences: ['secrets.crm_token', 'vars.support_email'] });
    await h.call('PUT', `${WS}/variables/support_email`, { overrides: { development: 'dev@example.com', production: 'help@example.com' } });
    await h.call('PUT', `${WS}/environments/production/secrets/crm_token`, { value: 'crm-prod-token-0123456789' });
    const clean = await promote(h, 'production');
    expect(clean.status).toBe(201);
  });
});
