import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, startHarness, WS, type Harness } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h?.close());

describe('environments', () => {
  it('a new workspace has development first and production last, production the default', async () => {
    const res = await h.call('GET', `${WS}/environments`);
    expect(res.status).toBe(200);
    expect(res.body.data.map((e: any) => e.slug)).toEqual(['development', 'production']);
    expect(res.body.data.find((e: any) => e.slug === 'production').default).toBe(true);
    expect(res.body.data.find((e: any) => e.slug === 'development').editable).toBe(true);
    expect(res.body.data.find((e: any) => e.slug === 'production').editable).toBe(false);
  });

  it('a new chain environment is inserted immediately before production', async () => {
    expect((await h.call('POST', `${WS}/environments`, { slug: 'staging', name: 'Staging' })).status).toBe(201);
    expect((await h.call('POST', `${WS}/environments`, { slug: 'qa' })).status).toBe(201);
    const res = await h.call('GET', `${WS}/environments`);
    expect(res.body.data.map((e: any) => e.slug)).toEqual(['development', 'staging', 'qa', 'production']);
    expect(res.body.data.map((e: any) => e.position)).toEqual([0, 1, 2, 3]);
  });

  it('refuses a duplicate slug with 409', async () => {
    const res = await h.call('POST', `${WS}/environments`, { slug: 'staging' });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('environment_exists');
  });

  it.each(['Staging', 's', '1abc', 'a_b', 'x'.repeat(42), '-dev'])('refuses the bad slug %j with 400 naming the field', async (slug) => {
    const res = await h.call('POST', `${WS}/environments`, { slug });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details[0].field).toBe('slug');
  });

  it('stores and returns flags', async () => {
    const res = await h.call('PATCH', `${WS}/environments/qa`, {
      protected: true,
      approvalsRequired: 2,
      obfuscateData: true,
      region: 'eu-west',
      color: '#ff8800',
      name: 'Quality',
    });
    expect(res.status).toBe(200);
    const read = await h.call('GET', `${WS}/environments/qa`);
    expect(read.body).toMatchObject({ protected: true, approvalsRequired: 2, obfuscateData: true, region: 'eu-west', color: '#ff8800', name: 'Quality' });
  });

  it('refuses to delete development and production', async () => {
    for (const env of ['development', 'production']) {
      const res = await h.call('DELETE', `${WS}/environments/${env}`);
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('environment_required');
    }
  });

  it('deletes an empty middle environment and closes the gap', async () => {
    expect((await h.call('DELETE', `${WS}/environments/qa`)).status).toBe(204);
    const res = await h.call('GET', `${WS}/environments`);
    expect(res.body.data.map((e: any) => [e.slug, e.position])).toEqual([
      ['development', 0],
      ['staging', 1],
      ['production', 2],
    ]);
    expect((await h.call('GET', `${WS}/environments/qa`)).status).toBe(404);
  });

  it('refuses to delete a middle environment that has releases', async () => {
    await commitDrafts(h, { 'config/a': config(1) });
    expect((await h.call('POST', `${WS}/environments/staging/promotions`, {})).status).toBe(201);
    const res = await h.call('DELETE', `${WS}/environments/staging`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('environment_not_empty');
  });

  it('a new workspace gets its own chain and its creator is owner', async () => {
    const created = await h.call('POST', '/api/workspaces', { slug: 'acme', name: 'Acme' });
    expect(created.status).toBe(201);
    expect(created.body.role).toBe('owner');
    const envs = await h.call('GET', '/api/workspaces/acme/environments');
    expect(envs.body.data.map((e: any) => e.slug)).toEqual(['development', 'production']);
    const list = await h.call('GET', '/api/workspaces');
    expect(list.body.data.map((w: any) => w.slug)).toEqual(['acme', 'default']);
    expect((await h.call('POST', '/api/workspaces', { slug: 'acme' })).status).toBe(409);
  });
});
