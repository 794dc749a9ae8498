import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countSnapshotRows } from '../src/store/releases.js';
import { commitDrafts, config, createStaging, promote, startHarness, WS, type Harness } from './support.js';

let h: Harness;
const resource = (env: string, id: string) => h.call('GET', `${WS}/environments/${env}/resources/${id}`);
const committedValue = async (env: string, id: string) => (await resource(env, id)).body.committed?.content.value;

beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
});
afterAll(async () => h?.close());

describe('commit', () => {
  it('turns all drafts into a numbered release with message and author', async () => {
    const release = await commitDrafts(h, { 'config/a': config(1), 'config/b': config(1) }, 'first');
    expect(release).toMatchObject({ environment: 'development', number: 1, name: 'development#1', cause: 'commit', message: 'first', resourceCount: 2 });
    expect(release.author.name).toBe('admin');
    expect(release.changes).toEqual({ added: 2, changed: 0, removed: 0 });
    expect((await h.call('GET', `${WS}/environments/development/changes`)).body.data).toEqual([]);
  });

  it('commits only the named drafts and keeps the others', async () => {
    await h.call('PUT', `${WS}/environments/development/resources/config/a`, { content: config(2) });
    await h.call('PUT', `${WS}/environments/development/resources/config/b`, { content: config(2) });
    const res = await h.call('POST', `${WS}/environments/development/commits`, { message: 'only a', resources: ['config/a'] });
    expect(res.status).toBe(201);
    expect(res.body.changes).toEqual({ added: 0, changed: 1, removed: 0 });
    const changes = await h.call('GET', `${WS}/environments/development/changes`);
    expect(changes.body.data.map((c: any) => `${c.kind}/${c.key}`)).toEqual(['config/b']);
    expect(await committedValue('development', 'config/a')).toBe(2);
    expect(await committedValue('development', 'config/b')).toBe(1);
  });

  it('refuses a named resource that has no draft', async () => {
    const res = await h.call('POST', `${WS}/environments/development/commits`, { message: 'x', resources: ['config/zzz'] });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('resources.0');
  });

  it('refuses to commit when there is nothing to commit', async () => {
    await h.call('POST', `${WS}/environments/development/commits`, { message: 'b' });
    const res = await h.call('POST', `${WS}/environments/development/commits`, { message: 'nothing' });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('nothing_to_commit');
  });

  it('commits a drafted deletion', async () => {
    await commitDrafts(h, { 'config/gone': config('x') });
    expect((await h.call('DELETE', `${WS}/environments/development/resources/config/gone`)).status).toBe(200);
    const release = (await h.call('POST', `${WS}/environments/development/commits`, { message: 'remove' })).body;
    expect(release.changes.removed).toBe(1);
    expect((await resource('development', 'config/gone')).status).toBe(404);
  });

  it('production refuses a direct draft, saying where to promote from', async () => {
    const res = await h.call('PUT', `${WS}/environments/production/resources/config/a`, { content: config(9) });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('environment_not_editable');
    expect(res.body.error.message).toBe('production is not editable: promote from staging');
    const staging = await h.call('PUT', `${WS}/environments/staging/resources/config/a`, { content: config(9) });
    expect(staging.body.error.message).toBe('staging is not editable: promote from development');
  });

  it('production refuses a commit and a drafted deletion', async () => {
    expect((await h.call('POST', `${WS}/environments/production/commits`, { message: 'x' })).body.error.code).toBe('environment_not_editable');
    expect((await h.call('DELETE', `${WS}/environments/production/resources/config/a`)).body.error.code).toBe('environment_not_editable');
  });
});

describe('promotion', () => {
  it('follows the chain: development → staging → production', async () => {
    const staging = await promote(h, 'staging', { message: 'to staging' });
    expect(staging.status).toBe(201);
    expect(staging.body).toMatchObject({ cause: 'promotion', environment: 'staging', number: 1, message: 'to staging' });
    expect(staging.body.source).toMatch(/^development#\d+$/);
    const production = await promote(h, 'production');
    expect(production.status).toBe(201);
    expect(production.body.source).toBe('staging#1');
    expect(await committedValue('production', 'config/a')).toBe(2);
  });

  it('refuses a promotion out of chain order, naming the source', async () => {
    const res = await promote(h, 'production', { from: 'development' });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('promotion_out_of_order');
    expect(res.body.error.message).toContain('production is promoted from staging');
    const intoDev = await promote(h, 'development');
    expect(intoDev.status).toBe(409);
    expect(intoDev.body.error.code).toBe('promotion_out_of_order');
  });

  it('selective promotion takes only the named resources and leaves the others untouched', async () => {
    await commitDrafts(h, { 'config/a': config(3), 'config/b': config(3) });
    const res = await promote(h, 'staging', { resources: ['config/a'] });
    expect(res.status).toBe(201);
    expect(res.body.changes).toEqual({ added: 0, changed: 1, removed: 0 });
    expect(await committedValue('staging', 'config/a')).toBe(3);
    expect(await committedValue('staging', 'config/b')).toBe(2);
  });

  it('promotes a named source release', async () => {
    const res = await promote(h, 'staging', { release: 1 });
    expect(res.status).toBe(201);
    expect(res.body.source).toBe('development#1');
    expect(await committedValue('staging', 'config/a')).toBe(1);
    expect((await promote(h, 'staging', { release: 999 })).status).toBe(404);
  });

  it('dryRun returns the per-resource, per-field plan and changes nothing', async () => {
    const before = (await h.call('GET', `${WS}/environments/staging`)).body.release;
    const res = await promote(h, 'staging', { dryRun: true });
    expect(res.status).toBe(200);
    expect(res.body.dryRun).toBe(true);
    const a = res.body.changes.find((c: any) => c.key === 'a');
    expect(a).toMatchObject({ kind: 'config', status: 'changed', fields: [{ path: '/value', before: 1, after: 3 }] });
    expect((await h.call('GET', `${WS}/environments/staging`)).body.release).toBe(before);
  });

  it('refuses with release_conflict when the target moved past expectedRelease', async () => {
    const current = (await h.call('GET', `${WS}/environments/staging`)).body.release;
    const stale = await promote(h, 'staging', { expectedRelease: current - 1 });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('release_conflict');
    const ok = await promote(h, 'staging', { expectedRelease: current });
    expect(ok.status).toBe(201);
    expect(ok.body.number).toBe(current + 1);
  });
});

describe('protected environments', () => {
  it('turns a promotion into a protected environment into a request, and still shows the plan on a dry run', async () => {
    await h.call('PATCH', `${WS}/environments/production`, { protected: true, approvalsRequired: 2 });
    try {
      const before = (await h.call('GET', `${WS}/environments/production`)).body.release;
      const res = await promote(h, 'production');
      expect(res.status).toBe(202);
      expect(res.body.request.status).toBe('pending');
      expect(res.body.request.approvalsRequired).toBe(2);
      expect((await h.call('GET', `${WS}/environments/production`)).body.release).toBe(before);
      const plan = await promote(h, 'production', { dryRun: true });
      expect(plan.status).toBe(200);
      expect(plan.body.target.protected).toBe(true);
      expect(plan.body.approvalsRequired).toBe(2);
      expect(plan.body.planHash).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await h.call('PATCH', `${WS}/environments/production`, { protected: false, approvalsRequired: 0 });
    }
  });
});

describe('rollback', () => {
  it('makes a new release pointing at the earlier snapshot', async () => {
    const history = (await h.call('GET', `${WS}/environments/production/releases`)).body.data;
    const current = history[0];
    await promote(h, 'production');
    expect(await committedValue('production', 'config/a')).toBe(3);
    const res = await h.call('POST', `${WS}/environments/production/rollbacks`, { release: current.number, message: 'bad deploy' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ cause: 'rollback', rolledBackTo: current.number, message: 'bad deploy', snapshot: current.snapshot });
    expect(await committedValue('production', 'config/a')).toBe(2);
  });

  it('does not copy resources', async () => {
    await commitDrafts(h, Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`config/bulk-${i}`, config(i)])));
    const dev = (await h.call('GET', `${WS}/environments/development`)).body.release;
    const rowsBefore = await countSnapshotRows(h.store.db, (await h.call('GET', WS)).body.id);
    const res = await h.call('POST', `${WS}/environments/development/rollbacks`, { release: dev - 1 });
    expect(res.status).toBe(201);
    const rowsAfter = await countSnapshotRows(h.store.db, (await h.call('GET', WS)).body.id);
    expect(rowsAfter).toBe(rowsBefore);
  });

  it('refuses the current or a later release', async () => {
    const current = (await h.call('GET', `${WS}/environments/production`)).body.release;
    for (const release of [current, current + 5]) {
      const res = await h.call('POST', `${WS}/environments/production/rollbacks`, { release });
      expect(res.status).toBe(400);
      expect(res.body.error.details[0].field).toBe('release');
    }
  });

  it('lists releases newest first with cursor pagination and reads one with its snapshot', async () => {
    const first = await h.call('GET', `${WS}/environments/development/releases?limit=2`);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.data[0].number).toBeGreaterThan(first.body.data[1].number);
    const second = await h.call('GET', `${WS}/environments/development/releases?limit=2&cursor=${first.body.next}`);
    expect(second.body.data[0].number).toBe(first.body.data[1].number - 1);
    const one = await h.call('GET', `${WS}/environments/development/releases/1`);
    expect(one.body.resources.map((r: any) => `${r.kind}/${r.key}`)).toEqual(['config/a', 'config/b']);
  });
});

describe('diff', () => {
  it('compares env, env#N and env~draft per resource and per field', async () => {
    await h.call('PUT', `${WS}/environments/development/resources/config/a`, { content: { value: 4, description: 'new' } });
    const res = await h.call('GET', `${WS}/diff?from=development&to=development~draft`);
    expect(res.status).toBe(200);
    expect(res.body.changes).toEqual([
      expect.objectContaining({
        kind: 'config',
        key: 'a',
        status: 'changed',
        fields: expect.arrayContaining([{ path: '/value', before: 3, after: 4 }, { path: '/description', after: 'new' }]),
      }),
    ]);
    const byRelease = await h.call('GET', `${WS}/diff?from=development%231&to=production`);
    expect(byRelease.status).toBe(200);
    expect(byRelease.body.from.release).toBe(1);
  });

  it('reports added and removed resources', async () => {
    await commitDrafts(h, { 'config/fresh': config(1) });
    const res = await h.call('GET', `${WS}/diff?from=production&to=development`);
    const statuses = Object.fromEntries(res.body.changes.map((c: any) => [`${c.kind}/${c.key}`, c.status]));
    expect(statuses['config/fresh']).toBe('added');
    const reverse = await h.call('GET', `${WS}/diff?from=development&to=production`);
    expect(reverse.body.changes.find((c: any) => c.key === 'fresh').status).toBe('removed');
  });

  it('refuses a malformed reference with 400 naming the field', async () => {
    const res = await h.call('GET', `${WS}/diff?from=development&to=Prod!`);
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('to');
    expect((await h.call('GET', `${WS}/diff?from=development&to=nowhere`)).status).toBe(404);
  });
});
