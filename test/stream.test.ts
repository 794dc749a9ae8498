// Change streams: live events, resume with Last-Event-ID, heartbeats, and propagation across
// nodes sharing one PostgreSQL database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  commitDrafts,
  config,
  createApiKey,
  eventually,
  openStream,
  promote,
  runtimeCall,
  startHarness,
  TEST_DB,
  WS,
  type Harness,
  type OpenStream,
} from './support.js';

let h: Harness;
let url: string;
let devKey: string;
let prodKey: string;
const streams: OpenStream[] = [];

async function stream(key: string, lastEventId?: number) {
  const s = await openStream(url, key, lastEventId);
  streams.push(s);
  return s;
}

beforeAll(async () => {
  h = await startHarness({ heartbeatMs: 100 });
  url = await h.app.listen({ port: 0, host: '127.0.0.1' });
  devKey = await createApiKey(h, 'development');
  prodKey = await createApiKey(h, 'production');
});
afterAll(async () => {
  for (const s of streams) s.close();
  await h?.close();
});

describe('event stream', () => {
  it('starts with a ready event carrying the current position, then streams changes of its environment', async () => {
    const dev = await stream(devKey);
    const prod = await stream(prodKey);
    await dev.waitFor((events) => events.some((e) => e.event === 'ready'));
    expect(dev.status).toBe(200);
    await commitDrafts(h, { 'config/a': config(1) });
    await dev.waitFor((events) => events.some((e) => e.event === 'release'));
    const release = dev.events.find((e) => e.event === 'release')!;
    expect(release.data).toMatchObject({ type: 'release', environment: 'development', release: 1, cause: 'commit' });
    expect(release.id).toBe(release.data.seq);
    await h.call('PUT', `${WS}/variables/shared`, { value: 1 });
    await prod.waitFor((events) => events.some((e) => e.event === 'variable'));
    // Development's commit is not production's business.
    expect(prod.events.map((e) => e.event)).toEqual(['ready', 'variable']);
  });

  it('sends heartbeats', async () => {
    const s = await stream(devKey);
    await eventually(() => expect(s.comments).toContain('ping'), 2000);
  });

  it('resumes with Last-Event-ID, delivering exactly the missed events in order', async () => {
    const first = await stream(devKey);
    await first.waitFor((events) => events.length > 0);
    const last = first.events[first.events.length - 1]!.id!;
    first.close();
    // While disconnected: changes to development, and one to production that must not appear.
    await commitDrafts(h, { 'config/b': config(2) });
    await h.call('PUT', `${WS}/environments/development/resources/config/b/override`, { override: { value: 3 } });
    await h.call('PUT', `${WS}/environments/development/resources/config/b/active`, { active: false });
    await h.call('PUT', `${WS}/environments/production/settings/branding`, { value: { name: 'Acme' } });
    const resumed = await stream(devKey, last);
    await resumed.waitFor((events) => events.length >= 3);
    await new Promise((r) => setTimeout(r, 150));
    expect(resumed.events.map((e) => e.event)).toEqual(['release', 'override', 'active']);
    const ids = resumed.events.map((e) => e.id!);
    expect(ids.every((id) => id > last)).toBe(true);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    // Live events continue on the resumed stream.
    await h.call('PUT', `${WS}/environments/development/resources/config/b/active`, { active: true });
    await resumed.waitFor((events) => events.length === 4);
  });

  it('a revoked key’s open stream ends', async () => {
    const created = await h.call('POST', `${WS}/environments/development/api-keys`, { name: 'to revoke', kind: 'secret' });
    const s = await stream(created.body.key);
    await s.waitFor((events) => events.some((e) => e.event === 'ready'));
    let ended = false;
    s.onEnd(() => (ended = true));
    await h.call('DELETE', `${WS}/environments/development/api-keys/${created.body.id}`);
    await eventually(() => expect(ended).toBe(true), 3000);
  });

  it('a publishable key’s stream says what changed without naming secrets or settings', async () => {
    const pk = await createApiKey(h, 'development', 'publishable');
    const s = await stream(pk);
    await s.waitFor((events) => events.some((e) => e.event === 'ready'));
    await h.call('PUT', `${WS}/environments/development/secrets/hidden_name`, { value: 'value-0123456789abcdef' });
    await h.call('PUT', `${WS}/environments/development/settings/branding`, { value: { name: 'Acme' } });
    await h.call('PUT', `${WS}/environments/development/resources/config/b/active`, { active: false });
    await s.waitFor((events) => events.some((e) => e.event === 'active'));
    expect(s.events.map((e) => e.event)).toEqual(['ready', 'active']);
    expect(Object.keys(s.events[1]!.data).sort()).toEqual(['at', 'environment', 'seq', 'type']);
  });

  it('isolation: each key kind of each environment streams only its own environment', async () => {
    await h.call('POST', `${WS}/environments`, { slug: 'staging' });
    const envs = ['development', 'staging', 'production'];
    await commitDrafts(h, { 'config/iso': config(0) });
    await promote(h, 'staging');
    await promote(h, 'production');
    const opened = [];
    for (const env of envs) {
      for (const kind of ['secret', 'publishable'] as const) {
        const s = await stream(await createApiKey(h, env, kind, `iso ${env} ${kind}`));
        await s.waitFor((events) => events.some((e) => e.event === 'ready'));
        opened.push({ env, kind, s });
      }
    }
    for (const env of envs) await h.call('PUT', `${WS}/environments/${env}/resources/config/iso/active`, { active: false });
    for (const { env, kind, s } of opened) {
      await s.waitFor((events) => events.some((e) => e.event === 'active'));
      await new Promise((r) => setTimeout(r, 50));
      const changes = s.events.filter((e) => e.event !== 'ready');
      expect(changes.map((e) => [e.event, e.data.environment]), `${kind} key of ${env}`).toEqual([['active', env]]);
      if (kind === 'secret') expect(changes[0]!.data.resource).toBe('config/iso');
      else expect(changes[0]!.data).not.toHaveProperty('resource');
    }
  });

  it('refuses a malformed Last-Event-ID and a missing key', async () => {
    const bad = await h.app.inject({ method: 'GET', url: '/v1/stream', headers: { authorization: `Bearer ${devKey}`, 'last-event-id': 'yesterday' } });
    expect(bad.statusCode).toBe(400);
    expect((await h.app.inject({ method: 'GET', url: '/v1/stream' })).statusCode).toBe(401);
  });
});

describe.runIf(TEST_DB === 'postgres')('two nodes on one PostgreSQL', () => {
  let b: Harness;
  let urlB: string;
  beforeAll(async () => {
    // No polling to speak of: what B learns, it learns through LISTEN/NOTIFY.
    b = await startHarness({ database: h.database, pollIntervalMs: 600_000 });
    urlB = await b.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => b?.close());

  it('a change made on node A is served and streamed by node B', async () => {
    await commitDrafts(h, { 'config/cross': config('one') });
    await promote(h, 'staging');
    await promote(h, 'production');
    expect((await runtimeCall(b, prodKey, '/v1/resources/config/cross')).body.content.value).toBe('one');
    const onB = await openStream(urlB, prodKey);
    streams.push(onB);
    await onB.waitFor((events) => events.some((e) => e.event === 'ready'));
    await commitDrafts(h, { 'config/cross': config('two') });
    await promote(h, 'staging');
    await promote(h, 'production');
    await onB.waitFor((events) => events.some((e) => e.event === 'release'), 3000);
    await eventually(async () => expect((await runtimeCall(b, prodKey, '/v1/resources/config/cross')).body.content.value).toBe('two'), 3000);
  });

  it('node B catches up after its listener connection is cut', async () => {
    await b.store.db.selectFrom('workspaces').select('id').execute();
    // Terminate B's LISTEN connection from the server side; B reconnects and reads the table.
    const { sql } = await import('kysely');
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where query ilike 'LISTEN%' and datname = current_database()`.execute(h.store.db);
    await commitDrafts(h, { 'config/cross': config('three') });
    await promote(h, 'staging');
    await promote(h, 'production');
    await eventually(async () => expect((await runtimeCall(b, prodKey, '/v1/resources/config/cross')).body.content.value).toBe('three'), 5000);
  });
});
