// GET …/environments/:env/overrides: every override of one environment in one read, scoped to it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, createStaging, promote, startHarness, WS, type Harness } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  await commitDrafts(h, { 'config/b': config(1), 'config/a': config(2), 'config/c': config(3) });
  expect((await promote(h, 'staging')).status).toBe(201);
});
afterAll(async () => h?.close());

describe('the override list', () => {
  it('lists every override of the environment with its patch, in resource order', async () => {
    for (const key of ['b', 'a']) {
      const put = await h.call('PUT', `${WS}/environments/staging/resources/config/${key}/override`, { override: { value: key } });
      expect(put.status).toBe(200);
    }
    const res = await h.call('GET', `${WS}/environments/staging/overrides`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      data: [
        { kind: 'config', key: 'a', override: { value: 'a' } },
        { kind: 'config', key: 'b', override: { value: 'b' } },
      ],
      next: null,
    });
  });

  it("holds only the named environment's overrides", async () => {
    const res = await h.call('GET', `${WS}/environments/development/overrides`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [], next: null });
  });

  it('drops an override once it is deleted', async () => {
    expect((await h.call('DELETE', `${WS}/environments/staging/resources/config/b/override`)).status).toBe(204);
    const res = await h.call('GET', `${WS}/environments/staging/overrides`);
    expect(res.body.data.map((o: { key: string }) => o.key)).toEqual(['a']);
  });

  it('answers 404 for an unknown environment', async () => {
    const res = await h.call('GET', `${WS}/environments/nowhere/overrides`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});
