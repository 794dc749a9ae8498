// Branch environments: fork at the parent's release without copying, edit and commit there,
// own keys and values inheriting the parent's, merge back three-way, delete by hand or by TTL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepExpiredBranches } from '../src/services/environments.js';
import { commitDrafts, config, createApiKey, memberToken, promote, runtimeCall, startHarness, WS, type Harness } from './support.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  await h.call('PUT', `${WS}/variables/greeting`, { value: 'hello', overrides: { development: 'hello from development' } });
  await h.call('PUT', `${WS}/environments/development/secrets/api_token`, { value: 'dev-token-123456' });
  await commitDrafts(h, {
    'config/a': config('a0'),
    'config/b': config('b0'),
    'config/c': config('c0'),
    'config/greet': config('{{ vars.greeting }}'),
    'config/token': config('{{ secrets.api_token }}'),
  });
});
afterAll(async () => h?.close());

const env = async (slug: string) => (await h.call('GET', `${WS}/environments/${slug}`)).body;
const write = (slug: string, id: string, content: unknown) => h.call('PUT', `${WS}/environments/${slug}/resources/${id}`, { content });
const commit = (slug: string, message = 'change') => h.call('POST', `${WS}/environments/${slug}/commits`, { message });
const committed = async (slug: string, id: string) => (await h.call('GET', `${WS}/environments/${slug}/resources/${id}`)).body.committed?.content.value;
const merge = (branch: string, body: Record<string, unknown> = {}) => promote(h, 'development', { from: branch, ...body });

async function branch(slug: string, body: Record<string, unknown> = {}) {
  const res = await h.call('POST', `${WS}/environments`, { slug, kind: 'branch', ...body });
  expect(res.status).toBe(201);
  return res.body;
}

describe('forking', () => {
  it("forks at the parent's current release, pointing at the same snapshot", async () => {
    const dev = await env('development');
    const created = await branch('feature-fork', { from: 'development', ttlHours: 24 });
    expect(created).toMatchObject({ kind: 'branch', parent: 'development', forkRelease: dev.release, release: 1, editable: true, default: false });
    expect(Date.parse(created.expiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
    const [forked, source] = await Promise.all([
      h.call('GET', `${WS}/environments/feature-fork/releases/1`),
      h.call('GET', `${WS}/environments/development/releases/${dev.release}`),
    ]);
    expect(forked.body).toMatchObject({ cause: 'fork', source: `development#${dev.release}`, snapshot: source.body.snapshot });
    expect(await committed('feature-fork', 'config/a')).toBe('a0');
    const list = (await h.call('GET', `${WS}/environments`)).body.data.map((e: any) => e.slug);
    expect(list.indexOf('feature-fork')).toBeGreaterThan(list.indexOf('production'));
  });

  it('refuses a branch of a branch, an unknown parent, a taken slug, and members without branch.manage', async () => {
    expect((await h.call('POST', `${WS}/environments`, { slug: 'nested', kind: 'branch', from: 'feature-fork' })).body.error.details[0].field).toBe('from');
    expect((await h.call('POST', `${WS}/environments`, { slug: 'orphan', kind: 'branch', from: 'nowhere' })).status).toBe(400);
    expect((await h.call('POST', `${WS}/environments`, { slug: 'feature-fork', kind: 'branch' })).body.error.code).toBe('environment_exists');
    const viewer = await memberToken(h, 'viewer@example.com', 'viewer');
    const denied = await h.call('POST', `${WS}/environments`, { slug: 'by-viewer', kind: 'branch' }, viewer);
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toContain('branch.manage');
    const developer = await memberToken(h, 'dev@example.com', 'developer');
    expect((await h.call('POST', `${WS}/environments`, { slug: 'by-developer', kind: 'branch' }, developer)).status).toBe(201);
    expect((await h.call('DELETE', `${WS}/environments/by-developer`, undefined, developer)).status).toBe(204);
  });
});

describe('a branch is an environment of its own', () => {
  it('is editable and commits without touching its parent', async () => {
    await branch('feature-edit');
    expect((await write('feature-edit', 'config/a', config('a-branch'))).status).toBe(200);
    const res = await commit('feature-edit');
    expect(res.status).toBe(201);
    expect(res.body.number).toBe(2);
    expect(await committed('feature-edit', 'config/a')).toBe('a-branch');
    expect(await committed('development', 'config/a')).toBe('a0');
  });

  it("has its own keys, inherits the parent's variable values and secrets where it has none, and overrides them", async () => {
    await branch('feature-values');
    const key = await createApiKey(h, 'feature-values');
    const devKey = await createApiKey(h, 'development');
    const read = async (k: string, id: string) => (await runtimeCall(h, k, `/v1/resources/${id}`)).body.content.value;
    expect(await read(key, 'config/greet')).toBe('hello from development');
    expect(await read(key, 'config/token')).toBe('dev-token-123456');

    await h.call('PUT', `${WS}/environments/feature-values/secrets/api_token`, { value: 'branch-token-654321' });
    await h.call('PUT', `${WS}/variables/greeting`, { value: 'hello', overrides: { development: 'hello from development', 'feature-values': 'hello from the branch' } });
    expect(await read(key, 'config/token')).toBe('branch-token-654321');
    expect(await read(key, 'config/greet')).toBe('hello from the branch');
    // The parent keeps its own values; its key never reads the branch.
    expect(await read(devKey, 'config/token')).toBe('dev-token-123456');
    expect(await read(devKey, 'config/greet')).toBe('hello from development');
    const wrongEnv = await runtimeCall(h, devKey, '/v1/resources/config/a');
    expect(wrongEnv.body.content.value).toBe('a0');
  });

  it("sees a parent's secret change when it inherits the value", async () => {
    await branch('feature-inherit');
    const key = await createApiKey(h, 'feature-inherit');
    expect((await runtimeCall(h, key, '/v1/resources/config/token')).body.content.value).toBe('dev-token-123456');
    await h.call('PUT', `${WS}/environments/development/secrets/api_token`, { value: 'dev-token-rotated' });
    expect((await runtimeCall(h, key, '/v1/resources/config/token')).body.content.value).toBe('dev-token-rotated');
    await h.call('PUT', `${WS}/environments/development/secrets/api_token`, { value: 'dev-token-123456' });
  });
});

describe('merging into the parent', () => {
  it('merges changes made on either side since the fork, and settles the branch', async () => {
    await branch('feature-merge');
    await write('feature-merge', 'config/a', config('a1'));
    await write('feature-merge', 'config/new', config('new'));
    await commit('feature-merge');
    await commitDrafts(h, { 'config/b': config('b1') });

    const plan = await merge('feature-merge', { dryRun: true });
    expect(plan.status).toBe(200);
    expect(plan.body.kind).toBe('merge');
    expect(plan.body.changes.map((c: any) => `${c.key}:${c.status}`).sort()).toEqual(['a:changed', 'new:added']);

    const res = await merge('feature-merge', { message: 'merge feature' });
    expect(res.status).toBe(201);
    expect(res.body.cause).toBe('merge');
    expect(res.body.source).toMatch(/^feature-merge#\d+$/);
    expect(await committed('development', 'config/a')).toBe('a1');
    expect(await committed('development', 'config/b')).toBe('b1');
    expect(await committed('development', 'config/new')).toBe('new');
    // The branch took the parent's change too, so both agree and a second merge has nothing to do.
    expect(await committed('feature-merge', 'config/b')).toBe('b1');
    const diff = await h.call('GET', `${WS}/diff?from=feature-merge&to=development`);
    expect(diff.body.changes).toEqual([]);
    const audit = (await h.call('GET', `${WS}/audit-log?action=release.merge&limit=1`)).body.data[0];
    expect(audit.details).toMatchObject({ source: expect.stringMatching(/^feature-merge#/), message: 'merge feature' });
  });

  it('refuses a resource changed on both sides with merge_conflict listing each, changing nothing', async () => {
    await branch('feature-conflict');
    await write('feature-conflict', 'config/c', config('c-branch'));
    await write('feature-conflict', 'config/b', config('b-branch'));
    await commit('feature-conflict');
    await commitDrafts(h, { 'config/c': config('c-parent'), 'config/b': config('b-parent') });
    const before = (await env('development')).release;

    const res = await merge('feature-conflict');
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('merge_conflict');
    expect(res.body.error.details.map((d: any) => d.resource)).toEqual(['config/b', 'config/c']);
    expect(res.body.error.details[0]).toMatchObject({ branch: 'changed', parent: 'changed' });
    expect((await env('development')).release).toBe(before);
    expect(await committed('development', 'config/c')).toBe('c-parent');

    const partial = await merge('feature-conflict', { resolutions: [{ resource: 'config/c', take: 'branch' }] });
    expect(partial.body.error.details.map((d: any) => d.resource)).toEqual(['config/b']);
  });

  it('applies a merge when each conflict says which side to take', async () => {
    const res = await merge('feature-conflict', {
      resolutions: [
        { resource: 'config/c', take: 'branch' },
        { resource: 'config/b', take: 'parent' },
      ],
    });
    expect(res.status).toBe(201);
    expect(await committed('development', 'config/c')).toBe('c-branch');
    expect(await committed('development', 'config/b')).toBe('b-parent');
    expect(await committed('feature-conflict', 'config/b')).toBe('b-parent');
    const audit = (await h.call('GET', `${WS}/audit-log?action=release.merge&limit=1`)).body.data[0];
    expect(audit.details.resolved).toEqual([
      { resource: 'config/b', take: 'parent' },
      { resource: 'config/c', take: 'branch' },
    ]);
    // A later edit on the branch merges cleanly: the parent's choice is not re-applied over.
    await write('feature-conflict', 'config/a', config('a-later'));
    await commit('feature-conflict');
    expect((await merge('feature-conflict')).status).toBe(201);
    expect(await committed('development', 'config/b')).toBe('b-parent');
    expect(await committed('development', 'config/a')).toBe('a-later');
  });

  it('merges only into its parent', async () => {
    const res = await promote(h, 'production', { from: 'feature-conflict' });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('promotion_out_of_order');
    expect(res.body.error.message).toContain('merges only into its parent');
    expect((await promote(h, 'feature-conflict')).body.error.code).toBe('promotion_out_of_order');
  });
});

describe('deleting a branch', () => {
  /** Rows of every environment-scoped table, per environment id. */
  async function census() {
    const tables = ['drafts', 'releases', 'overrides', 'resource_states', 'api_keys', 'secrets', 'variable_values', 'settings', 'freeze_windows', 'data_records', 'feed_messages'] as const;
    const out: Record<string, Record<string, number>> = {};
    for (const table of tables) {
      const rows = await h.store.db.selectFrom(table).select('environment_id').execute();
      for (const row of rows) (out[row.environment_id] ??= {})[table] = ((out[row.environment_id] ??= {})[table] ?? 0) + 1;
    }
    return out;
  }

  async function populate(slug: string) {
    await write(slug, 'config/a', config('committed on the branch'));
    await commit(slug);
    await write(slug, 'config/b', config('draft on the branch'));
    await h.call('PUT', `${WS}/environments/${slug}/resources/config/a/override`, { override: { value: 'overridden' } });
    await h.call('PUT', `${WS}/environments/${slug}/resources/config/c/active`, { active: false });
    await h.call('PUT', `${WS}/environments/${slug}/secrets/branch_only`, { value: 'branch-secret-value' });
    await h.call('PUT', `${WS}/environments/${slug}/settings/branding`, { value: { name: 'Branch' } });
    await h.call('PUT', `${WS}/variables/branch_var`, { value: 'default', overrides: { [slug]: 'branch value' } });
    const key = await createApiKey(h, slug);
    const put = await h.app.inject({ method: 'PUT', url: '/v1/data/users/u1', headers: { authorization: `Bearer ${key}` }, payload: { email: 'u1@example.com' } });
    expect(put.statusCode).toBeLessThan(300);
    return key;
  }

  it('by hand removes its drafts, releases, keys, overrides, secrets, values and data, with one audit entry', async () => {
    await branch('feature-delete');
    const key = await populate('feature-delete');
    const id = (await env('feature-delete')).id;
    const before = await census();
    expect(before[id]).toMatchObject({ drafts: 1, releases: 2, overrides: 1, resource_states: 1, api_keys: 1, secrets: 1, variable_values: 1, settings: 1, data_records: 1 });

    expect((await h.call('DELETE', `${WS}/environments/feature-delete`)).status).toBe(204);
    const after = await census();
    expect(after[id]).toBeUndefined();
    for (const [other, counts] of Object.entries(before)) if (other !== id) expect(after[other]).toEqual(counts);
    expect((await h.call('GET', `${WS}/environments/feature-delete`)).status).toBe(404);
    expect([401, 404]).toContain((await runtimeCall(h, key, '/v1/resources')).status);

    const entries = (await h.call('GET', `${WS}/audit-log?environment=feature-delete&action=environment.delete`)).body.data;
    expect(entries).toHaveLength(1);
    expect(entries[0].details).toMatchObject({
      kind: 'branch',
      reason: 'request',
      removed: { drafts: 1, releases: 2, overrides: 1, killSwitches: 1, apiKeys: 1, secrets: 1, variableValues: 1, settings: 1, dataRecords: 1 },
    });
    expect(JSON.stringify(entries[0])).not.toContain('branch-secret-value');
  });

  it('when its TTL runs out the sweep removes everything of the branch and nothing else', async () => {
    await branch('feature-ttl', { ttlHours: 1 });
    await branch('feature-keep', { ttlHours: 48 });
    await populate('feature-ttl');
    const ttlId = (await env('feature-ttl')).id;
    const before = await census();

    expect(await sweepExpiredBranches(h.deps)).toEqual([]);
    const later = { ...h.deps, now: () => new Date(Date.now() + 2 * 3600_000) };
    expect(await sweepExpiredBranches(later)).toEqual(['default/feature-ttl']);
    // A second sweep (or another node) finds nothing left to do.
    expect(await sweepExpiredBranches(later)).toEqual([]);

    const after = await census();
    expect(after[ttlId]).toBeUndefined();
    for (const [other, counts] of Object.entries(before)) if (other !== ttlId) expect(after[other]).toEqual(counts);
    expect((await env('feature-keep')).slug).toBe('feature-keep');
    const entry = (await h.call('GET', `${WS}/audit-log?environment=feature-ttl&action=environment.delete`)).body.data[0];
    expect(entry.actorKind).toBe('system');
    expect(entry.details).toMatchObject({ reason: 'ttl', removed: { releases: 2, dataRecords: 1 } });
  });
});
