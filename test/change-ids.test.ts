// Change events: ids of their own (consecutive per workspace, in commit order, also under
// concurrent writers), retention by count, and streams that resume inside the kept window or
// are told to reset when they come from before it.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { ChangeFeed } from '../src/runtime/change-feed.js';
import { RetentionSweeper } from '../src/runtime/retention-sweeper.js';
import { insertChange, pruneChanges, type ChangeEvent } from '../src/store/changes.js';
import { findEnvironment } from '../src/store/environments.js';
import { pruneChangeEvents } from '../src/services/changes.js';
import { commitDrafts, config, createApiKey, openStream, startHarness, WS, type Harness, type OpenStream } from './support.js';

let h: Harness;
let url: string;
let key: string;
let workspaceId: string;
const streams: OpenStream[] = [];

async function stream(lastEventId?: number) {
  const s = await openStream(url, key, lastEventId);
  streams.push(s);
  return s;
}

beforeAll(async () => {
  h = await startHarness({ heartbeatMs: 100 });
  url = await h.app.listen({ port: 0, host: '127.0.0.1' });
  workspaceId = (await h.call('GET', WS)).body.id;
  key = await createApiKey(h, 'development');
  await commitDrafts(h, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`config/c${i}`, config(i)])));
});
afterAll(async () => {
  for (const s of streams) s.close();
  await h?.close();
});

const setVariable = async (name: string, value: unknown) => {
  const res = await h.call('PUT', `${WS}/variables/${name}`, { value });
  if (res.status !== 200 && res.status !== 201) throw new Error(`variable ${name}: ${res.status} ${JSON.stringify(res.body)}`);
};
const storedIds = async () =>
  (await h.store.db.selectFrom('change_events').select('seq').where('workspace_id', '=', workspaceId).orderBy('seq').execute()).map((r) => r.seq);
const heads = async () => h.store.db.selectFrom('workspaces').select(['audit_seq', 'change_seq']).where('id', '=', workspaceId).executeTakeFirstOrThrow();

describe('change ids', () => {
  it('are consecutive per workspace and independent of the audit sequence', async () => {
    // Audit entries without a change event (a member, runtime data writes) take no change id.
    await h.call('POST', `${WS}/members`, { email: 'someone@example.com', role: 'viewer' });
    await h.app.inject({ method: 'PUT', url: '/v1/data/notes/n1', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, payload: '{"a":1}' });
    await setVariable('first', 1);
    await h.call('POST', `${WS}/members`, { email: 'another@example.com', role: 'viewer' });
    await setVariable('second', 2);
    const ids = await storedIds();
    const { audit_seq, change_seq } = await heads();
    expect(ids.length).toBeGreaterThan(1);
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    expect(change_seq).toBe(ids.length);
    expect(audit_seq).toBeGreaterThan(change_seq);
  });

  it('concurrent writers commit their ids in order: a stream sees every id once, without gaps', async () => {
    const s = await stream();
    await s.waitFor((events) => events.some((e) => e.event === 'ready'));
    const from = s.events[0]!.id!;
    // Overrides of twenty resources, all at once (each its own transaction and change).
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => h.call('PUT', `${WS}/environments/development/resources/config/c${i}/override`, { override: { value: -i } })),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    await s.waitFor((events) => events.filter((e) => e.event === 'override').length === 20);
    const ids = s.events.filter((e) => e.event === 'override').map((e) => e.id!);
    expect(ids).toEqual(Array.from({ length: 20 }, (_, i) => from + i + 1));
    expect(await storedIds()).toEqual((await storedIds()).map((_, i) => i + 1));
  });
});

describe('retention', () => {
  it('keeps the latest STAGELINE_CHANGE_RETENTION_EVENTS events of each workspace (10000 by default)', async () => {
    expect(loadConfig({}).changeRetentionEvents).toBe(10_000);
    expect(loadConfig({ STAGELINE_CHANGE_RETENTION_EVENTS: '50' }).changeRetentionEvents).toBe(50);
    expect(() => loadConfig({ STAGELINE_CHANGE_RETENTION_EVENTS: '0' })).toThrow(/at least 1/);
    const { change_seq } = await heads();
    const sweeper = new RetentionSweeper(h.deps, { activityRetentionDays: 30, changeRetentionEvents: 5, batch: 2 }, 0);
    await sweeper.sweep();
    expect(await storedIds()).toEqual([change_seq - 4, change_seq - 3, change_seq - 2, change_seq - 1, change_seq]);
    expect(await pruneChangeEvents(h.deps, 5)).toBe(0);
  });
});

describe('a node that fell behind the kept window', () => {
  it('hands its listeners a workspace-wide reset before the events it can still read', async () => {
    // A second follower of the same database that reads only when poked.
    const feed = new ChangeFeed(h.store, { pollIntervalMs: 600_000 });
    await feed.start();
    try {
      const seen: ChangeEvent[] = [];
      feed.subscribe((event) => seen.push(event));
      const from = await feed.track(workspaceId);
      for (const n of [1, 2, 3]) await setVariable(`behind_${n}`, n);
      await pruneChangeEvents(h.deps, 1);
      await feed.poke(workspaceId);
      expect(seen.map((e) => [e.type, e.seq, e.environmentId])).toEqual([
        ['reset', from + 2, null],
        ['variable', from + 3, null],
      ]);
      // Caught up, it does not reset again.
      await setVariable('behind_4', 4);
      await feed.poke(workspaceId);
      expect(seen.map((e) => e.type)).toEqual(['reset', 'variable', 'variable']);
    } finally {
      await feed.close();
    }
  });

  it('its reset drops the workspace’s cached views and keys and resets its streams', async () => {
    const s = await stream();
    await s.waitFor((events) => events.some((e) => e.event === 'ready'));
    const development = (await findEnvironment(h.store.db, workspaceId, 'development'))!;
    expect(await h.runtime.delivery.view(workspaceId, development.id, 'secret')).not.toBeNull();
    expect(h.runtime.delivery.viewNow({ workspaceId, environmentId: development.id, kind: 'secret' })).toBeDefined();
    expect(h.runtime.keys.cachedByHeader(`Bearer ${key}`)).toBeDefined();
    // Changes this node is not told of (as if made on another node while its listener was
    // down), pruned before it reads them: one transaction, so its poll sees none or all of it.
    const latest = await h.store.transaction(async (tx) => {
      let last = 0;
      for (const n of [1, 2, 3]) last = (await insertChange(h.store, tx, { workspaceId, environmentId: null, type: 'setting', payload: { n }, at: new Date().toISOString() })).seq;
      await pruneChanges(tx, workspaceId, last - 1, 1000);
      return last;
    });
    await h.runtime.feed.poke(workspaceId);
    await s.waitFor((events) => events.some((e) => e.event === 'setting' && e.id === latest));
    expect(s.events.slice(-2).map((e) => [e.event, e.id])).toEqual([
      ['reset', latest - 1],
      ['setting', latest],
    ]);
    expect(h.runtime.delivery.viewNow({ workspaceId, environmentId: development.id, kind: 'secret' })).toBeUndefined();
    expect(h.runtime.keys.cachedByHeader(`Bearer ${key}`)).toBeUndefined();
  });
});

describe('resuming a stream', () => {
  it('inside the kept window: exactly the missed events, then live ones', async () => {
    await pruneChangeEvents(h.deps, 3);
    const first = await stream();
    await first.waitFor((events) => events.some((e) => e.event === 'ready'));
    const last = first.events[0]!.id!;
    first.close();
    await setVariable('missed_a', 1);
    await setVariable('missed_b', 2);
    // The oldest kept event is now the one just after `last`'s predecessor: `last` is inside.
    await pruneChangeEvents(h.deps, 3);
    expect((await storedIds())[0]).toBe(last);
    const resumed = await stream(last);
    await resumed.waitFor((events) => events.length >= 2);
    expect(resumed.events.map((e) => [e.event, e.id])).toEqual([
      ['variable', last + 1],
      ['variable', last + 2],
    ]);
    expect(resumed.events.map((e) => e.data.name)).toEqual(['missed_a', 'missed_b']);
    await setVariable('live', 3);
    await resumed.waitFor((events) => events.length === 3);
    expect(resumed.events[2]).toMatchObject({ event: 'variable', id: last + 3 });
  });

  it('from before the kept window: one reset event at the latest id, then live ones', async () => {
    const first = await stream();
    await first.waitFor((events) => events.some((e) => e.event === 'ready'));
    const last = first.events[0]!.id!;
    first.close();
    for (const n of [1, 2, 3]) await setVariable(`gone_${n}`, n);
    await pruneChangeEvents(h.deps, 1);
    const { change_seq } = await heads();
    expect((await storedIds())[0]).toBeGreaterThan(last + 1);
    const resumed = await stream(last);
    await resumed.waitFor((events) => events.length >= 1);
    expect(resumed.events[0]).toMatchObject({ event: 'reset', id: change_seq, data: { seq: change_seq } });
    await setVariable('after_reset', 1);
    await resumed.waitFor((events) => events.length === 2);
    expect(resumed.events.map((e) => [e.event, e.id])).toEqual([
      ['reset', change_seq],
      ['variable', change_seq + 1],
    ]);
  });

  it('from an id this workspace never handed out: reset', async () => {
    const { change_seq } = await heads();
    const resumed = await stream(change_seq + 1000);
    await resumed.waitFor((events) => events.length >= 1);
    expect(resumed.events[0]).toMatchObject({ event: 'reset', id: change_seq });
  });

  it('from the latest id with nothing missed: no reset', async () => {
    const { change_seq } = await heads();
    const resumed = await stream(change_seq);
    await setVariable('plain', 1);
    await resumed.waitFor((events) => events.length >= 1);
    expect(resumed.events.map((e) => [e.event, e.id])).toEqual([['variable', change_seq + 1]]);
  });

  it('a pre-existing workspace keeps its stream positions: the counter starts at the audit head', async () => {
    // What migration 0013 does to a workspace that predates it.
    await sql`update workspaces set change_seq = audit_seq`.execute(h.store.db);
    const { audit_seq, change_seq } = await heads();
    expect(change_seq).toBe(audit_seq);
    await setVariable('after_migration', 1);
    expect((await storedIds()).at(-1)).toBe(audit_seq + 1);
  });
});
