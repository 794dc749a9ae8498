// The editor's read-only views: kind schemas as JSON Schema, and a resource as each environment
// resolves it (override merged, variables rendered, secrets named but never shown).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, createStaging, memberToken, promote, startHarness, WS, type Harness } from './support.js';

let h: Harness;
const SECRET = 'sk_live_very_secret_value_123';
const route = {
  match: { pathPrefix: '/pay' },
  upstream: { url: '{{ vars.upstream }}' },
  injectHeaders: { Authorization: 'Bearer {{ secrets.stripe_key }}' },
};
const resolved = (env: string, id = 'route/pay', token?: string) => h.call('GET', `${WS}/environments/${env}/resources/${id}/resolved`, undefined, token);

beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  await h.call('PUT', `${WS}/variables/upstream`, { value: 'http://localhost:3000', overrides: { staging: 'https://staging.example.com' } });
  for (const env of ['development', 'staging']) {
    expect((await h.call('PUT', `${WS}/environments/${env}/secrets/stripe_key`, { value: SECRET })).status).toBe(200);
  }
  await commitDrafts(h, { 'route/pay': route, 'config/flags': { value: { beta: true } } });
  expect((await promote(h, 'staging')).status).toBe(201);
});
afterAll(async () => h?.close());

describe('kind schemas', () => {
  it('serves every kind as JSON Schema', async () => {
    const res = await h.call('GET', '/api/kinds');
    expect(res.status).toBe(200);
    expect(res.body.data.map((k: { kind: string }) => k.kind)).toEqual(['workflow', 'layout', 'route', 'tool', 'config']);
    const workflow = res.body.data[0].schema;
    expect(workflow.type).toBe('object');
    expect(workflow.required).toEqual(['name', 'steps']);
    expect(workflow.additionalProperties).toBe(false);
  });

  it('needs a credential', async () => {
    expect((await h.call('GET', '/api/kinds', undefined, null)).status).toBe(401);
  });
});

describe('resolved view', () => {
  it('renders variables per environment and masks secrets', async () => {
    const dev = await resolved('development');
    expect(dev.status).toBe(200);
    expect(dev.body).toMatchObject({ kind: 'route', key: 'pay', environment: 'development', release: 1, status: 'resolved', message: null, issues: [] });
    expect(dev.body.content.upstream.url).toBe('http://localhost:3000');
    expect(dev.body.content.injectHeaders.Authorization).toBe('Bearer [secret stripe_key]');
    const staging = await resolved('staging');
    expect(staging.body.content.upstream.url).toBe('https://staging.example.com');
    expect(staging.body.hash).not.toBe(dev.body.hash);
    expect(JSON.stringify([dev.body, staging.body])).not.toContain(SECRET);
  });

  it('merges the override', async () => {
    expect((await h.call('PUT', `${WS}/environments/staging/resources/route/pay/override`, { override: { upstream: { timeoutMs: 500 } } })).status).toBe(200);
    const res = await resolved('staging');
    expect(res.body.content.upstream).toEqual({ url: 'https://staging.example.com', timeoutMs: 500 });
  });

  it('says why a resource does not resolve: switched off, missing, a secret without a value', async () => {
    await h.call('PUT', `${WS}/environments/staging/resources/config/flags/active`, { active: false });
    expect((await resolved('staging', 'config/flags')).body).toMatchObject({ status: 'inactive', content: null, hash: null, message: 'config/flags is switched off in staging' });
    expect((await resolved('production')).body).toMatchObject({ status: 'missing', content: null });
    await h.call('DELETE', `${WS}/environments/staging/secrets/stripe_key`);
    const unresolved = await resolved('staging');
    expect(unresolved.body.status).toBe('unresolved');
    expect(unresolved.body.message).toContain('stripe_key');
  });

  it('is read with the reader role, and a bad path is a 400 naming the field', async () => {
    const viewer = await memberToken(h, 'viewer@example.com', 'viewer');
    expect((await resolved('development', 'route/pay', viewer)).body.status).toBe('resolved');
    const bad = await resolved('development', 'nope/pay');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('kind');
    expect((await resolved('nowhere')).status).toBe(404);
  });

  it('lists the overrides of an environment', async () => {
    const res = await h.call('GET', `${WS}/environments/staging/overrides`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ environment: 'staging', data: [{ kind: 'route', key: 'pay', override: { upstream: { timeoutMs: 500 } } }] });
    expect((await h.call('GET', `${WS}/environments/development/overrides`)).body.data).toEqual([]);
  });

  it('is in the OpenAPI document with its operation ids', async () => {
    const doc = (await h.call('GET', '/api/openapi.json')).body;
    expect(doc.paths['/api/kinds'].get.operationId).toBe('listKindSchemas');
    expect(doc.paths['/api/workspaces/{ws}/environments/{env}/overrides'].get.operationId).toBe('listOverrides');
    expect(doc.paths['/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}/resolved'].get.operationId).toBe('previewResolvedResource');
  });
});
