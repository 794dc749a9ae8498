// Snapshots stored as flat rows by the code of migration 0020 (test/fixtures) become trees at
// start-up: every release holds what it held, the conversion resumes after an interruption,
// and the converted database takes commits, promotions, rollbacks and merges.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server.js';
import { openStore, type Store } from '../src/store/database.js';
import { convertFlatSnapshots } from '../src/store/trees.js';
import { createTestDatabase, startTestServer, TEST_DB, type TestDatabase } from './support.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const TOKEN = 'fixture-owner-token-0123456789abcdef';
type Held = { snapshot: string; resourceCount: number; resources: { kind: string; key: string; hash: string; app: string | null }[] };
const expected = JSON.parse(readFileSync(join(FIXTURES, 'store-0020.expected.json'), 'utf8')) as Record<string, Held>;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A database holding the fixture, written by the code of migration 0020. */
async function fixtureDatabase(): Promise<string> {
  if (TEST_DB === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'stageline-fixture-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'stageline.db');
    copyFileSync(join(FIXTURES, 'store-0020.db'), file);
    return file;
  }
  const database: TestDatabase = await createTestDatabase();
  cleanups.push(() => database.drop());
  // pg_dump's psql meta-commands (\restrict) are not SQL.
  const dump = readFileSync(join(FIXTURES, 'store-0020.pg.sql'), 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith('\\'))
    .join('\n');
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  await client.query(dump);
  await client.end();
  return database.url;
}

async function flatRows(store: Store) {
  const [entries, unconverted] = await Promise.all([
    store.db.selectFrom('snapshot_entries').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    store.db.selectFrom('snapshots').select((eb) => eb.fn.countAll<number>().as('n')).where('root', 'is', null).executeTakeFirstOrThrow(),
  ]);
  return { entries: Number(entries.n), unconverted: Number(unconverted.n) };
}

async function serve(url: string): Promise<RunningServer> {
  const node = await startTestServer({ STAGELINE_DATABASE_URL: url, STAGELINE_GATEWAY: 'off' });
  cleanups.push(() => node.close());
  return node.server;
}

function api(server: RunningServer) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}/api/workspaces/default${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
}

describe('the start-up conversion of flat snapshots to trees', () => {
  it('keeps every release of every environment as the earlier code read it', async () => {
    const url = await fixtureDatabase();
    const call = api(await serve(url));
    expect(Object.keys(expected).length).toBeGreaterThanOrEqual(14);
    for (const [name, held] of Object.entries(expected)) {
      const [env, number] = name.split('#');
      const res = await call('GET', `/environments/${env}/releases/${number}`);
      expect(res.status, name).toBe(200);
      // The release keeps its snapshot id; the resources are the same, in the same order.
      expect(res.body.snapshot, name).toBe(held.snapshot);
      expect(res.body.resourceCount, name).toBe(held.resourceCount);
      expect(res.body.resources, name).toEqual(held.resources);
    }
    // Paged reads come from the trees too, in (kind, key) order, by kind.
    const routes = await call('GET', '/environments/production/resources?kind=route&limit=2');
    expect(routes.status).toBe(200);
    expect(routes.body.data.map((r: { key: string }) => r.key)).toEqual(['api-0', 'api-1']);
    const odd = await call('GET', '/environments/development/resources/config/constructor');
    expect(odd.body.committed.content).toEqual({ value: { odd: true } });
  });

  it('resumes after an interruption, and leaves no flat rows', async () => {
    const url = await fixtureDatabase();
    const partial = await openStore({ url, skipConversion: true });
    const before = await flatRows(partial);
    expect(before.unconverted).toBeGreaterThanOrEqual(5);
    expect(before.entries).toBeGreaterThan(100);
    expect(await convertFlatSnapshots(partial, { limit: 3 })).toBe(3);
    expect((await flatRows(partial)).unconverted).toBe(before.unconverted - 3);
    await partial.close();

    const store = await openStore({ url });
    expect(await flatRows(store)).toEqual({ entries: 0, unconverted: 0 });
    await store.close();
    const call = api(await serve(url));
    for (const [name, held] of Object.entries(expected)) {
      const [env, number] = name.split('#');
      expect((await call('GET', `/environments/${env}/releases/${number}`)).body.resources, name).toEqual(held.resources);
    }
  });

  it('takes commits, promotions, rollbacks and merges on the converted releases', async () => {
    const call = api(await serve(await fixtureDatabase()));
    // A merge of a branch whose releases predate the trees: development has not moved since the
    // fork, so the branch's state is the merged one and no settling release is added to it (its
    // old snapshot id and the merged tree's root name the same map).
    const merge = await call('POST', '/environments/development/promotions', { from: 'feature-b', message: 'merge b' });
    expect(merge.status).toBe(201);
    expect(merge.body.changes).toEqual({ added: 0, changed: 1, removed: 0 });
    const branch = await call('GET', '/environments/feature-b/releases?limit=5');
    expect(branch.body.data.map((r: { cause: string }) => r.cause)).toEqual(['commit', 'fork']);
    // The pending request was planned before the conversion: production is protected.
    await call('PATCH', '/environments/production', { protected: false });
    expect((await call('PUT', '/environments/development/resources/config/after-migration', { content: { value: 1 } })).status).toBeLessThan(300);
    const committed = await call('POST', '/environments/development/commits', { message: 'after the conversion' });
    expect(committed.status).toBe(201);
    // Equal maps have equal ids from now on: the new release's id is its tree's root.
    // The draft left in development and the new resource.
    expect(committed.body.changes).toEqual({ added: 1, changed: 1, removed: 0 });
    const staged = await call('POST', '/environments/staging/promotions', {});
    expect(staged.status).toBe(201);
    expect(staged.body.snapshot).toBe(committed.body.snapshot);
    const diff = await call('GET', `/diff?from=staging%231&to=staging`);
    expect(diff.status).toBe(200);
    expect(diff.body.changes.length).toBeGreaterThan(3);
    const rolled = await call('POST', '/environments/staging/rollbacks', { release: 1 });
    expect(rolled.status).toBe(201);
    expect(rolled.body.snapshot).toBe(expected['staging#1']!.snapshot);
  });
});
