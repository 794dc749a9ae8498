// The collections of an environment for the members' data browser: names and record counts
// in name order, paged, scoped to the environment asked for, readable with data.read only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, createStaging, memberToken, startHarness, TEST_DB, WS, type Harness } from './support.js';

let h: Harness;
const keys: Record<string, string> = {};

beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  for (const env of ['development', 'staging']) keys[env] = await createApiKey(h, env, 'secret');
});
afterAll(async () => h?.close());

async function put(env: string, collection: string, id: string, value: unknown) {
  const res = await h.app.inject({
    method: 'PUT',
    url: `/v1/data/${collection}/${id}`,
    headers: { authorization: `Bearer ${keys[env]}`, 'content-type': 'application/json' },
    payload: JSON.stringify(value),
  });
  expect(res.statusCode).toBe(201);
}

describe(`data collections on ${TEST_DB}`, () => {
  it('lists the collections of one environment with their record counts, in name order', async () => {
    await put('development', 'users', 'u1', { name: 'Jane' });
    await put('development', 'users', 'u2', { name: 'John' });
    await put('development', 'threads', 't1', { title: 'hello' });
    await put('staging', 'orders', 'o1', { total: 3 });
    const dev = await h.call('GET', `${WS}/environments/development/data`);
    expect(dev.status).toBe(200);
    expect(dev.body.next).toBeNull();
    expect(dev.body.data.map((c: any) => [c.name, c.records])).toEqual([
      ['threads', 1],
      ['users', 2],
    ]);
    expect(Number.isNaN(Date.parse(dev.body.data[1].updatedAt))).toBe(false);
    const staging = await h.call('GET', `${WS}/environments/staging/data`);
    expect(staging.body.data.map((c: any) => c.name)).toEqual(['orders']);
    const production = await h.call('GET', `${WS}/environments/production/data`);
    expect(production.body).toEqual({ data: [], next: null });
  });

  it('pages with limit and the cursor it answers', async () => {
    for (const name of ['a1', 'a2', 'a3']) await put('staging', name, 'x', { n: 1 });
    const first = await h.call('GET', `${WS}/environments/staging/data?limit=2`);
    expect(first.body.data.map((c: any) => c.name)).toEqual(['a1', 'a2']);
    expect(first.body.next).toEqual(expect.any(String));
    const second = await h.call('GET', `${WS}/environments/staging/data?limit=2&cursor=${first.body.next}`);
    expect(second.body.data.map((c: any) => c.name)).toEqual(['a3', 'orders']);
    expect(second.body.next).toBeNull();
  });

  it('refuses a bad cursor or limit naming the field, and an unknown environment with 404', async () => {
    const cursor = await h.call('GET', `${WS}/environments/staging/data?cursor=nope`);
    expect(cursor.status).toBe(400);
    expect(cursor.body.error.details[0].field).toBe('cursor');
    const limit = await h.call('GET', `${WS}/environments/staging/data?limit=500`);
    expect(limit.status).toBe(400);
    expect(limit.body.error.details[0].field).toBe('limit');
    expect((await h.call('GET', `${WS}/environments/nowhere/data`)).status).toBe(404);
  });

  it('needs data.read: support may list, a viewer may not', async () => {
    const support = await memberToken(h, 'support@example.com', 'support');
    const allowed = await h.call('GET', `${WS}/environments/development/data`, undefined, support);
    expect(allowed.status).toBe(200);
    expect(allowed.body.data.map((c: any) => c.name)).toEqual(['threads', 'users']);
    const viewer = await memberToken(h, 'viewer@example.com', 'viewer');
    const refused = await h.call('GET', `${WS}/environments/development/data`, undefined, viewer);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('forbidden');
  });
});
