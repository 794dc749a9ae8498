// The activity log: every runtime write by an API key (data records, feed read marks, workflow
// triggers) has exactly one entry, written in the write's transaction and never in the audit
// chain; entries are filtered, paged, visible per environment like the audit log, and pruned.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { RetentionSweeper } from '../src/runtime/retention-sweeper.js';
import { insertFeedMessage } from '../src/store/feeds.js';
import { findEnvironment } from '../src/store/environments.js';
import { commitDrafts, createApiKey, createStaging, memberToken, startHarness, TEST_DB, WS, type Harness } from './support.js';

let h: Harness;
let workspaceId: string;
const keys: Record<string, { key: string; id: string }> = {};

beforeAll(async () => {
  h = await startHarness({ workflows: { start: false } });
  workspaceId = (await h.call('GET', WS)).body.id;
  await createStaging(h);
  for (const env of ['development', 'staging', 'production']) {
    const res = await h.call('POST', `${WS}/environments/${env}/api-keys`, { name: `${env} worker`, kind: 'secret' });
    keys[env] = { key: res.body.key, id: res.body.id };
  }
  await commitDrafts(h, { 'workflow/ping': { name: 'Ping', steps: [{ type: 'channel', channel: 'in_app', template: { body: 'hi {{ recipient.id }}' } }] } });
});
afterAll(async () => h?.close());

async function runtime(env: string, method: string, url: string, body?: unknown, key = keys[env]!.key) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await h.app.inject({ method: method as any, url, headers, payload: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null, headers: res.headers };
}

const activity = async (query = '', token?: string) => h.call('GET', `${WS}/activity${query ? `?${query}` : ''}`, undefined, token);
const all = async (query = '') => (await activity(`limit=500${query ? `&${query}` : ''}`)).body.data as any[];
const auditEntries = async () => (await h.call('GET', `${WS}/audit-log/verify`)).body.entries as number;
const rowCount = async () => Number((await sql<{ n: number }>`select count(*) as n from activity_log`.execute(h.store.db)).rows[0]!.n);

let messageSeq = 0;
async function feedMessage(env: string, recipient: string): Promise<string> {
  const environment = (await findEnvironment(h.store.db, workspaceId, env))!;
  const id = `msg_${(++messageSeq).toString(16).padStart(8, '0')}`;
  await insertFeedMessage(h.store.db, { workspaceId, environmentId: environment.id }, { id, recipient, runId: null, workflow: null, content: { body: 'hello' }, createdAt: new Date().toISOString() });
  return id;
}

/** Makes the next insert into `table` fail (for rows matching `when`), until the returned function runs. */
async function failInserts(table: string, when: string): Promise<() => Promise<void>> {
  if (TEST_DB === 'sqlite') {
    await sql.raw(`create trigger fail_${table} before insert on ${table} when ${when} begin select raise(abort, 'injected failure'); end`).execute(h.store.db);
    return async () => void (await sql.raw(`drop trigger fail_${table}`).execute(h.store.db));
  }
  await sql.raw(`create function fail_${table}() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$`).execute(h.store.db);
  await sql.raw(`create trigger fail_${table} before insert on ${table} for each row when (${when}) execute function fail_${table}()`).execute(h.store.db);
  return async () => {
    await sql.raw(`drop trigger fail_${table} on ${table}`).execute(h.store.db);
    await sql.raw(`drop function fail_${table}()`).execute(h.store.db);
  };
}

describe('each runtime write has exactly one activity entry', () => {
  const writes: [string, string, () => Promise<{ status: number; body: any }>, Record<string, unknown>][] = [
    ['data.put', 'data/notes/n1', () => runtime('staging', 'PUT', '/v1/data/notes/n1', { text: 'SECRET-BODY-TEXT' }), { collection: 'notes', id: 'n1', created: true }],
    ['data.delete', 'data/notes/n1', () => runtime('staging', 'DELETE', '/v1/data/notes/n1'), { collection: 'notes', id: 'n1' }],
    ['feed.read', 'feed/ada', async () => runtime('staging', 'POST', `/v1/feeds/ada/messages/${await feedMessage('staging', 'ada')}/read`), { recipient: 'ada' }],
    ['feed.read_all', 'feed/ada', async () => (await feedMessage('staging', 'ada'), runtime('staging', 'POST', '/v1/feeds/ada/read-all')), { recipient: 'ada', updated: 1 }],
  ];

  it.each(writes)('%s', async (action, target, write, details) => {
    const before = await all(`action=${action}`);
    const audit = await auditEntries();
    const res = await write();
    expect(res.status).toBeLessThan(300);
    const after = await all(`action=${action}`);
    expect(after).toHaveLength(before.length + 1);
    const [entry] = after;
    expect(entry).toMatchObject({ action, target, environment: 'staging', actor: { kind: 'api_key', id: keys.staging!.id, name: 'staging worker' }, details });
    expect(entry.id).toMatch(/^act_/);
    expect(JSON.stringify(entry)).not.toContain('SECRET-BODY-TEXT');
    expect(await auditEntries()).toBe(audit);
  });

  it('workflow.trigger', async () => {
    const audit = await auditEntries();
    const before = (await all('action=workflow.trigger')).length;
    const res = await runtime('development', 'POST', '/v1/workflows/ping/trigger', { recipients: [{ id: 'u1' }], data: { token: 'SECRET-DATA' } });
    expect(res.status).toBe(202);
    const after = await all('action=workflow.trigger');
    expect(after).toHaveLength(before + 1);
    expect(after[0]).toMatchObject({ target: 'workflow/ping', environment: 'development', actor: { id: keys.development!.id }, details: { runId: res.body.runId, recipients: 1, release: 1 } });
    expect(JSON.stringify(after[0])).not.toContain('SECRET-DATA');
    // An idempotent replay writes nothing: it answers the run already made.
    const again = { recipients: [{ id: 'u1' }], idempotencyKey: 'once' };
    await runtime('development', 'POST', '/v1/workflows/ping/trigger', again);
    await runtime('development', 'POST', '/v1/workflows/ping/trigger', again);
    expect(await all('action=workflow.trigger')).toHaveLength(before + 2);
    expect(await auditEntries()).toBe(audit);
  });

  it('the request id of the write is on its entry', async () => {
    const res = await runtime('development', 'PUT', '/v1/data/notes/rid', { a: 1 });
    const [entry] = await all('action=data.put');
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
    expect(entry).toMatchObject({ target: 'data/notes/rid', requestId: res.headers['x-request-id'] });
  });
});

describe('a write and its entry commit together', () => {
  it('a write that fails leaves no entry', async () => {
    const before = await rowCount();
    const restore = await failInserts('data_records', "new.collection = 'broken'");
    try {
      expect((await runtime('staging', 'PUT', '/v1/data/broken/x', { a: 1 })).status).toBe(500);
    } finally {
      await restore();
    }
    expect((await runtime('staging', 'POST', '/v1/feeds/ada/messages/msg_ffffffff/read')).status).toBe(404);
    expect((await runtime('staging', 'DELETE', '/v1/data/notes/never')).status).toBe(404);
    expect((await runtime('development', 'POST', '/v1/workflows/absent/trigger', { recipients: [{ id: 'u1' }] })).status).toBe(404);
    expect(await rowCount()).toBe(before);
  });

  it('an entry that cannot be written undoes its write', async () => {
    const message = await feedMessage('production', 'bob');
    const runsBefore = Number((await sql<{ n: number }>`select count(*) as n from workflow_runs`.execute(h.store.db)).rows[0]!.n);
    const before = await rowCount();
    const restore = await failInserts('activity_log', '1 = 1');
    try {
      expect((await runtime('production', 'PUT', '/v1/data/notes/lost', { a: 1 })).status).toBe(500);
      expect((await runtime('production', 'POST', `/v1/feeds/bob/messages/${message}/read`)).status).toBe(500);
      expect((await runtime('production', 'POST', '/v1/feeds/bob/read-all')).status).toBe(500);
    } finally {
      await restore();
    }
    const restoreTrigger = await failInserts('activity_log', "new.action = 'workflow.trigger'");
    try {
      expect((await runtime('development', 'POST', '/v1/workflows/ping/trigger', { recipients: [{ id: 'u2' }] })).status).toBe(500);
    } finally {
      await restoreTrigger();
    }
    expect((await runtime('production', 'GET', '/v1/data/notes/lost')).status).toBe(404);
    const feed = await runtime('production', 'GET', '/v1/feeds/bob');
    expect(feed.body.data.map((m: any) => [m.id, m.readAt])).toEqual([[message, null]]);
    const runsAfter = Number((await sql<{ n: number }>`select count(*) as n from workflow_runs`.execute(h.store.db)).rows[0]!.n);
    expect(runsAfter).toBe(runsBefore);
    expect(await rowCount()).toBe(before);
  });
});

describe.runIf(TEST_DB === 'postgres')('not serialised per workspace', () => {
  it('runtime writes complete while another transaction holds the workspace row', async () => {
    const message = await feedMessage('staging', 'carl');
    await h.store.db.transaction().execute(async (tx) => {
      await sql`select id from workspaces where id = ${workspaceId} for update`.execute(tx);
      const writes = Promise.all([
        runtime('staging', 'PUT', '/v1/data/notes/unlocked', { a: 1 }),
        runtime('staging', 'POST', `/v1/feeds/carl/messages/${message}/read`),
        runtime('development', 'POST', '/v1/workflows/ping/trigger', { recipients: [{ id: 'u3' }] }),
      ]);
      const timeout = new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), 5000).unref());
      const outcome = await Promise.race([writes, timeout]);
      expect(outcome).not.toBe('blocked');
      expect((outcome as { status: number }[]).map((r) => r.status)).toEqual([201, 200, 202]);
    });
  });
});

describe('reading the activity log', () => {
  beforeAll(async () => {
    for (const env of ['development', 'production']) {
      for (const id of ['f1', 'f2', 'f3']) expect((await runtime(env, 'PUT', `/v1/data/filters/${id}`, { id })).status).toBeLessThan(300);
    }
    expect((await runtime('production', 'DELETE', '/v1/data/filters/f3')).status).toBe(204);
  });

  it('filters by environment, actor, action and prefix, newest first', async () => {
    const prod = await all('environment=production');
    expect(prod.length).toBeGreaterThan(0);
    expect(prod.every((e) => e.environment === 'production')).toBe(true);
    const byKey = await all(`actor=${keys.production!.id}`);
    expect(byKey.map((e) => e.id)).toEqual(prod.filter((e) => e.actor.id === keys.production!.id).map((e) => e.id));
    const deletes = await all('environment=production&action=data.delete');
    expect(deletes.map((e) => e.target)).toEqual(['data/filters/f3']);
    const data = await all('environment=production&action=data.*');
    expect(new Set(data.map((e) => e.action))).toEqual(new Set(['data.put', 'data.delete']));
    const times = (await all()).map((e) => e.at);
    expect(times).toEqual([...times].sort().reverse());
  });

  it('filters by time', async () => {
    const [newest] = await all();
    expect(await all(`since=${encodeURIComponent(newest.at)}`)).toEqual(expect.arrayContaining([newest]));
    expect((await all(`until=${encodeURIComponent(newest.at)}`)).map((e) => e.id)).not.toContain(newest.id);
    expect(await all('since=2999-01-01T00:00:00Z')).toEqual([]);
    const bad = await activity('since=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0]).toMatchObject({ field: 'since' });
  });

  it('pages with a cursor through every entry once', async () => {
    const everything = (await all()).map((e) => e.id);
    expect(everything.length).toBeGreaterThan(6);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await activity(`limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(3);
      seen.push(...res.body.data.map((e: any) => e.id));
      cursor = res.body.next;
    } while (cursor);
    expect(seen).toEqual(everything);
  });

  it('is readable by whoever may read the audit log, environment by environment', async () => {
    const support = await memberToken(h, 'support@example.com', 'support');
    const viewer = await memberToken(h, 'viewer@example.com', 'viewer');
    const narrowed = await memberToken(h, 'narrowed@example.com', 'developer', { production: 'viewer' });
    const widened = await memberToken(h, 'widened@example.com', 'viewer', { production: 'support' });
    expect((await activity('', viewer)).status).toBe(403);
    const seenBySupport = (await activity('limit=500', support)).body.data as any[];
    expect(new Set(seenBySupport.map((e) => e.environment))).toEqual(new Set(['development', 'staging', 'production']));
    const seenByNarrowed = (await activity('limit=500', narrowed)).body.data as any[];
    expect(seenByNarrowed.length).toBeGreaterThan(0);
    expect(seenByNarrowed.some((e) => e.environment === 'production')).toBe(false);
    expect((await activity('environment=production', narrowed)).status).toBe(403);
    const seenByWidened = (await activity('limit=500', widened)).body.data as any[];
    expect(seenByWidened.length).toBeGreaterThan(0);
    expect(seenByWidened.every((e) => e.environment === 'production')).toBe(true);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await h.call('GET', '/api/openapi.json')).body;
    const operation = doc.paths['/api/workspaces/{ws}/activity'].get;
    expect(operation.operationId).toBe('listActivity');
    expect(operation.responses['200']).toBeDefined();
    expect(doc.components.schemas.ActivityEntry).toBeDefined();
  });
});

describe('retention', () => {
  it('the retention period comes from STAGELINE_ACTIVITY_RETENTION_DAYS, 30 days by default', () => {
    expect(loadConfig({}).activityRetentionDays).toBe(30);
    expect(loadConfig({ STAGELINE_ACTIVITY_RETENTION_DAYS: '7' }).activityRetentionDays).toBe(7);
    expect(() => loadConfig({ STAGELINE_ACTIVITY_RETENTION_DAYS: 'soon' })).toThrow(/STAGELINE_ACTIVITY_RETENTION_DAYS/);
  });

  it('a sweep deletes entries older than the period, in batches, and keeps the rest', async () => {
    const total = await rowCount();
    expect(total).toBeGreaterThan(5);
    const at = (days: number) => new Date(Date.now() + days * 24 * 60 * 60 * 1000);
    const sweeper = (days: number, now: Date) => new RetentionSweeper({ ...h.deps, now: () => now }, { activityRetentionDays: days, changeRetentionEvents: 1_000_000, batch: 2 }, 0);
    // 29 days on, nothing is past 30 days yet.
    await sweeper(30, at(29)).sweep();
    expect(await rowCount()).toBe(total);
    // 31 days on, every entry is past it; two per DELETE.
    await sweeper(30, at(31)).sweep();
    expect(await rowCount()).toBe(0);
    expect((await runtime('development', 'PUT', '/v1/data/notes/after', { a: 1 })).status).toBeLessThan(300);
    // A fresh entry survives a sweep a day later.
    await sweeper(30, at(1)).sweep();
    expect(await rowCount()).toBe(1);
  });
});
