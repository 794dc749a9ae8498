import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, WS, type Harness } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h?.close());

describe('authentication', () => {
  it.each([
    ['no token', null],
    ['an unknown token', 'stl_not-a-real-token'],
  ])('%s → 401 unauthenticated', async (_name, token) => {
    const res = await h.call('GET', `${WS}/environments`, undefined, token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthenticated');
  });

  it('a malformed authorization header → 401', async () => {
    const res = await h.app.inject({ method: 'GET', url: `${WS}/environments`, headers: { authorization: 'Basic abc' } });
    expect(res.statusCode).toBe(401);
  });

  it('tokens are stored only as hashes', async () => {
    const rows = await h.store.db.selectFrom('tokens').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(h.token);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a revoked or expired token is refused', async () => {
    const id = (await h.store.db.selectFrom('tokens').select('id').executeTakeFirstOrThrow()).id;
    await h.store.db.updateTable('tokens').set({ expires_at: '2000-01-01T00:00:00.000Z' }).where('id', '=', id).execute();
    expect((await h.call('GET', `${WS}/environments`)).body.error.message).toBe('the token has expired');
    await h.store.db.updateTable('tokens').set({ expires_at: null, revoked_at: '2000-01-01T00:00:00.000Z' }).where('id', '=', id).execute();
    expect((await h.call('GET', `${WS}/environments`)).status).toBe(401);
    await h.store.db.updateTable('tokens').set({ revoked_at: null }).where('id', '=', id).execute();
    expect((await h.call('GET', `${WS}/environments`)).status).toBe(200);
  });

  it('records when a token was last used', async () => {
    const row = await h.store.db.selectFrom('tokens').select('last_used_at').executeTakeFirstOrThrow();
    expect(row.last_used_at).not.toBeNull();
  });

  it('a workspace the caller is not a member of is not found', async () => {
    const res = await h.call('GET', '/api/workspaces/someone-else/environments');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });

  it('health and the OpenAPI document need no token', async () => {
    expect((await h.call('GET', '/healthz', undefined, null)).body).toEqual({ status: 'ok' });
    const doc = await h.call('GET', '/api/openapi.json', undefined, null);
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    const paths = Object.keys(doc.body.paths);
    for (const path of [
      '/api/workspaces',
      '/api/workspaces/{ws}/environments',
      '/api/workspaces/{ws}/environments/{env}',
      '/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}',
      '/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}/active',
      '/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}/override',
      '/api/workspaces/{ws}/environments/{env}/changes',
      '/api/workspaces/{ws}/environments/{env}/commits',
      '/api/workspaces/{ws}/environments/{env}/promotions',
      '/api/workspaces/{ws}/environments/{env}/rollbacks',
      '/api/workspaces/{ws}/environments/{env}/releases/{number}',
      '/api/workspaces/{ws}/diff',
      '/api/workspaces/{ws}/audit-log',
      '/api/workspaces/{ws}/audit-log/verify',
      '/api/workspaces/{ws}/variables/{name}',
      '/api/workspaces/{ws}/environments/{env}/secrets/{name}',
      '/api/workspaces/{ws}/environments/{env}/settings/{name}',
      '/api/workspaces/{ws}/environments/{env}/api-keys',
      '/api/workspaces/{ws}/environments/{env}/api-keys/{id}/rotate',
      '/v1/resources',
      '/v1/resources/{kind}/{key}',
      '/v1/stream',
    ]) {
      expect(paths).toContain(path);
    }
    const promotion = doc.body.paths['/api/workspaces/{ws}/environments/{env}/promotions'].post;
    expect(Object.keys(promotion.requestBody.content['application/json'].schema.properties)).toEqual(
      expect.arrayContaining(['from', 'release', 'resources', 'message', 'expectedRelease', 'dryRun']),
    );
  });
});
