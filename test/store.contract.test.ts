// The store's contract, the same on SQLite and PostgreSQL: content addressing, snapshot
// sharing, unique release numbers, idempotent migrations, and workspace scoping.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash, canonicalJson } from '../src/domain/canonical.js';
import { snapshotId, toSnapshot } from '../src/domain/releases/snapshot.js';
import { openStore, type Store } from '../src/store/database.js';
import { migrate } from '../src/store/migrations.js';
import { findEnvironment, lockEnvironment } from '../src/store/environments.js';
import { getContents, insertRelease, loadSnapshot, pageSnapshotEntries, putContents, saveSnapshot, type Release } from '../src/store/releases.js';
import { findWorkspace } from '../src/store/workspaces.js';
import { findPromotionRequest, insertDecision, insertPromotionRequest, listDecisions, listPromotionRequests, type PromotionRequest } from '../src/store/promotion-requests.js';
import { bootstrap } from '../src/services/bootstrap.js';
import { createTestDatabase, TEST_DB, TEST_MASTER_KEY, type TestDatabase } from './support.js';
import { Keyring } from '../src/services/keyring.js';
import { parseMasterKeys } from '../src/domain/secrets/envelope.js';
import { NO_EGRESS } from '../src/services/context.js';

let database: TestDatabase;
let store: Store;
let workspaceId: string;
const at = '2026-01-01T00:00:00.000Z';

beforeAll(async () => {
  database = await createTestDatabase();
  store = await openStore({ url: database.url });
  await bootstrap({ store, now: () => new Date(at), keyring: new Keyring(parseMasterKeys(TEST_MASTER_KEY)), onChange: () => {}, egress: NO_EGRESS }, {});
  workspaceId = (await findWorkspace(store.db, 'default'))!.id;
});
afterAll(async () => {
  await store?.close();
  await database?.drop();
});

const doc = (value: unknown) => {
  const body = canonicalJson(value);
  return { hash: contentHash(value), body, refs: [] as string[] };
};

describe(`store contract (${TEST_DB})`, () => {
  it('opening an already-migrated database again applies no migration', async () => {
    const again = await openStore({ url: database.url });
    try {
      expect(await migrate(again.db, again.dialect)).toEqual([]);
    } finally {
      await again.close();
    }
  });

  it('stores each content once per hash, whatever the key order', async () => {
    await putContents(store, store.db, workspaceId, [doc({ a: 1, b: 2 }), doc({ b: 2, a: 1 })], at);
    await putContents(store, store.db, workspaceId, [doc({ a: 1, b: 2 })], at);
    const rows = await store.db.selectFrom('contents').selectAll().where('hash', '=', contentHash({ a: 1, b: 2 })).execute();
    expect(rows).toHaveLength(1);
    expect((await getContents(store.db, workspaceId, [rows[0]!.hash])).get(rows[0]!.hash)).toEqual({ a: 1, b: 2 });
  });

  it('content of another workspace is not readable by hash', async () => {
    const hash = contentHash({ a: 1, b: 2 });
    expect((await getContents(store.db, 'ws_other', [hash])).size).toBe(0);
  });

  it('a snapshot with the same entries is stored once and reads back identically', async () => {
    const entries = Array.from({ length: 1200 }, (_, i) => ({ kind: 'config' as const, key: `k${i}`, hash: contentHash(i), app: i % 2 ? 'billing' : null }));
    const snapshot = toSnapshot(entries);
    const id = snapshotId(snapshot);
    await saveSnapshot(store, store.db, workspaceId, id, snapshot, at);
    await saveSnapshot(store, store.db, workspaceId, id, toSnapshot([...entries].reverse()), at);
    const snapshots = await store.db.selectFrom('snapshots').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
    expect(snapshots).toMatchObject([{ root: id, resource_count: 1200 }]);
    // A tree of ~32 entries a leaf: the nodes, not a row per entry.
    const nodes = Number((await store.db.selectFrom('tree_nodes').select((eb) => eb.fn.countAll<number>().as('n')).where('workspace_id', '=', workspaceId).executeTakeFirstOrThrow()).n);
    expect(nodes).toBeGreaterThan(10);
    expect(nodes).toBeLessThan(200);
    // One changed entry adds a path of nodes, not a copy.
    const changed = toSnapshot(entries.map((e, i) => (i === 600 ? { ...e, hash: contentHash('changed') } : e)));
    await saveSnapshot(store, store.db, workspaceId, snapshotId(changed), changed, at);
    const after = Number((await store.db.selectFrom('tree_nodes').select((eb) => eb.fn.countAll<number>().as('n')).where('workspace_id', '=', workspaceId).executeTakeFirstOrThrow()).n);
    expect(after - nodes).toBeGreaterThan(0);
    expect(after - nodes).toBeLessThanOrEqual(4);
    expect([...(await loadSnapshot(store.db, workspaceId, snapshotId(changed))).values()]).toEqual([...changed.values()].sort((a, b) => (a.key < b.key ? -1 : 1)));
    const loaded = await loadSnapshot(store.db, workspaceId, id);
    expect(snapshotId(loaded)).toBe(id);
    const page = await pageSnapshotEntries(store.db, workspaceId, id, { kind: 'config', key: 'k998' }, 3, { kind: 'config' });
    expect(page.map((e) => e.key)).toEqual(['k999']);
  });

  it('refuses two releases with one number in one environment', async () => {
    const env = (await findEnvironment(store.db, workspaceId, 'development'))!;
    const release: Release = {
      environmentId: env.id,
      number: 1,
      snapshotId: 'snap',
      resourceCount: 0,
      cause: 'commit',
      sourceEnvironment: null,
      sourceRelease: null,
      message: 'm',
      authorId: 'a',
      authorName: 'a',
      createdAt: at,
    };
    await insertRelease(store.db, workspaceId, release);
    await expect(insertRelease(store.db, workspaceId, release)).rejects.toThrow();
  });

  it.runIf(TEST_DB === 'postgres')('lockEnvironment holds the row until the transaction ends', async () => {
    const env = (await findEnvironment(store.db, workspaceId, 'production'))!;
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const first = store.transaction(async (tx) => {
      await lockEnvironment(store, tx, workspaceId, env.slug);
      order.push('first locked');
      await held;
      order.push('first done');
    });
    await new Promise((r) => setTimeout(r, 50));
    const second = store.transaction(async (tx) => {
      await lockEnvironment(store, tx, workspaceId, env.slug);
      order.push('second locked');
    });
    await new Promise((r) => setTimeout(r, 100));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first locked', 'first done', 'second locked']);
  });

  it('promotion requests and their decisions are typed records read only within their workspace', async () => {
    const env = (await findEnvironment(store.db, workspaceId, 'production'))!;
    const request: PromotionRequest = {
      id: 'prq_contract',
      workspaceId,
      environmentId: env.id,
      kind: 'rollback',
      sourceEnvironmentId: env.id,
      sourceRelease: 1,
      targetRelease: 2,
      input: { from: 'production', release: 1 },
      plan: { kind: 'rollback' },
      planHash: 'h',
      status: 'pending',
      approvalsRequired: 1,
      requestedBy: { id: 'usr_a', name: 'A' },
      createdAt: at,
      decidedAt: null,
      reason: null,
      release: null,
    };
    await insertPromotionRequest(store.db, request);
    const decision = { requestId: request.id, actor: { id: 'usr_b', name: 'B' }, decision: 'approve' as const, comment: null, at };
    await insertDecision(store.db, workspaceId, decision);
    expect(await findPromotionRequest(store.db, workspaceId, request.id)).toEqual(request);
    expect(await listDecisions(store.db, workspaceId, [request.id])).toEqual([decision]);
    expect(await findPromotionRequest(store.db, 'ws_other', request.id)).toBeUndefined();
    expect(await listPromotionRequests(store.db, 'ws_other', {}, null, 10)).toEqual([]);
    expect(await listDecisions(store.db, 'ws_other', [request.id])).toEqual([]);
    await expect(insertDecision(store.db, 'ws_other', { ...decision, actor: { id: 'usr_c', name: 'C' } })).rejects.toThrow('is not in workspace');
    expect(await listDecisions(store.db, workspaceId, [request.id])).toHaveLength(1);
  });
});
