import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, runtimeCall, startHarness, WS, type Harness } from './support.js';

let h: Harness;
const base = `${WS}/environments/development/api-keys`;

beforeAll(async () => {
  h = await startHarness();
  await commitDrafts(h, { 'config/a': config(1) });
});
afterAll(async () => h?.close());

describe('API keys', () => {
  it('creation answers the key once; lists show the prefix only; the key is stored hashed', async () => {
    const created = await h.call('POST', base, { name: 'backend', kind: 'secret' });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^sk_[A-Za-z0-9_-]{32}$/);
    expect(created.body).toMatchObject({ name: 'backend', kind: 'secret', environment: 'development', status: 'active', prefix: created.body.key.slice(0, 11) });
    const publishable = await h.call('POST', base, { name: 'web', kind: 'publishable' });
    expect(publishable.body.key).toMatch(/^pk_/);
    const list = await h.call('GET', base);
    expect(list.body.data.map((k: any) => k.name).sort()).toEqual(['backend', 'web']);
    expect(JSON.stringify(list.body)).not.toContain(created.body.key);
    const rows = await h.store.db.selectFrom('api_keys').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(created.body.key);
    const [entry] = (await h.call('GET', `${WS}/audit-log?action=api_key.create&limit=1`)).body.data;
    expect(JSON.stringify(entry)).not.toContain(publishable.body.key);
  });

  it('records when a key was last used', async () => {
    const { body } = await h.call('POST', base, { name: 'used', kind: 'secret' });
    expect((await runtimeCall(h, body.key, '/v1/resources')).status).toBe(200);
    const listed = (await h.call('GET', base)).body.data.find((k: any) => k.id === body.id);
    await new Promise((r) => setTimeout(r, 50));
    const again = (await h.call('GET', base)).body.data.find((k: any) => k.id === body.id);
    expect(listed.lastUsedAt ?? again.lastUsedAt).not.toBeNull();
  });

  it('rotation: both keys work during the overlap, the old one stops at its expiry', async () => {
    const { body: old } = await h.call('POST', base, { name: 'rotating', kind: 'secret' });
    const rotated = await h.call('POST', `${base}/${old.id}/rotate`, { graceSeconds: 1 });
    expect(rotated.status).toBe(201);
    expect(rotated.body.key).not.toBe(old.key);
    expect(rotated.body.name).toBe('rotating');
    expect(rotated.body.previous.expiresAt).not.toBeNull();
    expect((await runtimeCall(h, old.key, '/v1/resources')).status).toBe(200);
    expect((await runtimeCall(h, rotated.body.key, '/v1/resources')).status).toBe(200);
    await new Promise((r) => setTimeout(r, Date.parse(rotated.body.previous.expiresAt) - Date.now() + 50));
    const expired = await runtimeCall(h, old.key, '/v1/resources');
    expect(expired.status).toBe(401);
    expect(expired.body.error.message).toBe('the API key has expired');
    expect((await runtimeCall(h, rotated.body.key, '/v1/resources')).status).toBe(200);
    expect((await h.call('POST', `${base}/${old.id}/rotate`, {})).status).toBe(400);
  });

  it('a key with an expiry stops at that time; a past expiry is refused', async () => {
    const soon = new Date(Date.now() + 600).toISOString();
    const { body } = await h.call('POST', base, { name: 'temporary', kind: 'secret', expiresAt: soon });
    expect((await runtimeCall(h, body.key, '/v1/resources')).status).toBe(200);
    await new Promise((r) => setTimeout(r, Date.parse(soon) - Date.now() + 50));
    expect((await runtimeCall(h, body.key, '/v1/resources')).status).toBe(401);
    const past = await h.call('POST', base, { name: 'past', kind: 'secret', expiresAt: '2001-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    expect(past.body.error.details[0].field).toBe('expiresAt');
  });

  it('revoking is idempotent and audited once', async () => {
    const { body } = await h.call('POST', base, { name: 'revoked', kind: 'publishable' });
    expect((await h.call('DELETE', `${base}/${body.id}`)).body.status).toBe('revoked');
    expect((await h.call('DELETE', `${base}/${body.id}`)).status).toBe(200);
    const entries = (await h.call('GET', `${WS}/audit-log?action=api_key.revoke`)).body.data.filter((e: any) => e.target === `api_key/${body.id}`);
    expect(entries).toHaveLength(1);
    expect((await runtimeCall(h, body.key, '/v1/resources')).status).toBe(401);
  });

  it('a key of another environment cannot be managed through this one', async () => {
    const { body } = await h.call('POST', base, { name: 'dev only', kind: 'secret' });
    expect((await h.call('DELETE', `${WS}/environments/production/api-keys/${body.id}`)).status).toBe(404);
  });

  it('bad input is 400 naming the field', async () => {
    expect((await h.call('POST', base, { name: 'x', kind: 'admin' })).body.error.details[0].field).toBe('kind');
    expect((await h.call('POST', base, { kind: 'secret' })).body.error.details[0].field).toBe('name');
  });
});
