// GET /api/workspaces/:ws/matrix: every resource of several environments in one read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, createStaging, promote, startHarness, WS, type Harness } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  await commitDrafts(h, { 'config/b': config(1), 'config/a': config(2) });
  expect((await promote(h, 'staging')).status).toBe(201);
  await commitDrafts(h, { 'config/a': config(3) });
  expect((await h.call('PUT', `${WS}/environments/development/resources/config/c`, { content: config(4), app: 'shop' })).status).toBe(200);
  expect((await h.call('PUT', `${WS}/environments/staging/resources/config/b/override`, { override: { value: 9 } })).status).toBe(200);
  expect((await h.call('PUT', `${WS}/environments/staging/resources/config/a/active`, { active: false })).status).toBe(200);
});
afterAll(async () => h?.close());

const hashOf = async (env: string, id: string) => (await h.call('GET', `${WS}/environments/${env}/resources/${id}`)).body.committed?.hash ?? null;

describe('the resource matrix', () => {
  it('answers the chain in order, each environment with its release and every resource it lists', async () => {
    const res = await h.call('GET', `${WS}/matrix`);
    expect(res.status).toBe(200);
    expect(res.body.data.map((c: { environment: string; release: number }) => [c.environment, c.release])).toEqual([
      ['development', 2],
      ['staging', 1],
      ['production', 0],
    ]);
    const [development, staging, production] = res.body.data;
    expect(development.resources).toEqual([
      { kind: 'config', key: 'a', app: null, committedHash: await hashOf('development', 'config/a'), draft: null, active: true, override: false },
      { kind: 'config', key: 'b', app: null, committedHash: await hashOf('development', 'config/b'), draft: null, active: true, override: false },
      { kind: 'config', key: 'c', app: 'shop', committedHash: null, draft: 'created', active: true, override: false },
    ]);
    expect(staging.resources).toEqual([
      { kind: 'config', key: 'a', app: null, committedHash: await hashOf('staging', 'config/a'), draft: null, active: false, override: false },
      { kind: 'config', key: 'b', app: null, committedHash: await hashOf('staging', 'config/b'), draft: null, active: true, override: true },
    ]);
    expect(staging.resources[0].committedHash).not.toBe(development.resources[0].committedHash);
    expect(production.resources).toEqual([]);
  });

  it('answers the named environments in the order named', async () => {
    const res = await h.call('GET', `${WS}/matrix?environments=staging,development`);
    expect(res.status).toBe(200);
    expect(res.body.data.map((c: { environment: string }) => c.environment)).toEqual(['staging', 'development']);
  });

  it('refuses an unknown environment naming the parameter', async () => {
    const res = await h.call('GET', `${WS}/matrix?environments=staging,nowhere`);
    expect(res.status).toBe(400);
    expect(res.body.error.details[0]).toMatchObject({ field: 'environments', in: 'query' });
    expect(res.body.error.message).toContain('nowhere');
  });
});
