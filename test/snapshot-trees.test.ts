// The snapshot trees against the flat model, on the test's database (SQLite or PostgreSQL):
// random sequences of draft writes and deletes, commits, promotions (whole and of some
// resources), rollbacks, branch forks and merges, run through the services, must leave every
// environment holding exactly the map the flat snapshot rules (src/domain/releases/snapshot.ts
// and merge.ts, the model the store implemented before the trees) give, and equal maps must
// have equal roots.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash } from '../src/domain/canonical.js';
import { applyDrafts, resourceId, snapshotId, takeResources, type DraftChange, type Snapshot } from '../src/domain/releases/snapshot.js';
import { settle, threeWayMerge } from '../src/domain/releases/merge.js';
import { parseMasterKeys } from '../src/domain/secrets/envelope.js';
import { authenticate, enterWorkspace, type Principal } from '../src/services/auth.js';
import { createWorkspace } from '../src/services/workspaces.js';
import { bootstrap } from '../src/services/bootstrap.js';
import { NO_EGRESS, type CallContext, type Deps } from '../src/services/context.js';
import { createEnvironment, deleteEnvironment } from '../src/services/environments.js';
import { Keyring } from '../src/services/keyring.js';
import { commit, promote, rollback } from '../src/services/releases.js';
import { deleteResource, writeDraft } from '../src/services/resources.js';
import { openStore, type Store } from '../src/store/database.js';
import { findEnvironment } from '../src/store/environments.js';
import { findRelease, loadSnapshot, snapshotRoot } from '../src/store/releases.js';
import { createTestDatabase, TEST_DB, TEST_MASTER_KEY, type TestDatabase } from './support.js';

let database: TestDatabase;
let store: Store;
let deps: Deps;
let owner: CallContext;
let principal: Principal;

beforeAll(async () => {
  database = await createTestDatabase();
  store = await openStore({ url: database.url });
  deps = { store, now: () => new Date(), keyring: new Keyring(parseMasterKeys(TEST_MASTER_KEY)), onChange: () => {}, egress: NO_EGRESS };
  const boot = await bootstrap(deps, {});
  principal = await authenticate(deps, `Bearer ${boot!.token}`);
  owner = await enterWorkspace(deps, principal, 'default', null);
});
afterAll(async () => {
  await store?.close();
  await database?.drop();
});

const KEYS = 12;
const id = (key: number) => `config/k${key}`;
const value = (v: number) => ({ value: v });

type Op =
  | { t: 'write'; env: number; key: number; v: number }
  | { t: 'delete'; env: number; key: number }
  | { t: 'commit'; env: number }
  | { t: 'promote'; keys: number[] | null }
  | { t: 'rollback'; env: number; back: number }
  | { t: 'fork' }
  | { t: 'merge' };

const env = fc.integer({ min: 0, max: 2 });
const key = fc.integer({ min: 0, max: KEYS - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('write' as const), env, key, v: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('delete' as const), env, key }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('commit' as const), env }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('promote' as const), keys: fc.option(fc.uniqueArray(key, { minLength: 1, maxLength: 3 }), { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('rollback' as const), env, back: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'fork' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'merge' as const }) },
);

/** One environment of the model: its releases' maps (index = number − 1) and its drafts. */
interface ModelEnv {
  slug: string;
  releases: Snapshot[];
  drafts: Map<string, DraftChange>;
  /** A branch's merge base. */
  base?: Snapshot;
}

const head = (m: ModelEnv): Snapshot => m.releases.at(-1) ?? new Map();
const hashes = (s: Snapshot) => Object.fromEntries([...s].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, e]) => [k, e.hash]));
const codeOf = (error: unknown) => (error as { code?: string }).code;

let runs = 0;

/** Runs `ops` in a workspace of its own (development and production, as a new one has). */
async function run(ops: Op[]) {
  const slug = `prop-${++runs}`;
  await createWorkspace(deps, { userId: principal.userId, actor: owner.actor }, { slug }, null);
  const ctx = await enterWorkspace(deps, principal, slug, null);
  const dev: ModelEnv = { slug: 'development', releases: [], drafts: new Map() };
  const prod: ModelEnv = { slug: 'production', releases: [], drafts: new Map() };
  let feature: ModelEnv | null = null;
  // Drafts go to development or the branch; rollbacks to any of the three.
  const editable = (i: number) => (i === 0 ? dev : (feature ?? dev));
  const any = (i: number) => [dev, prod, feature ?? dev][i]!;
  const roots = new Map<string, string>();
  // A first release in both environments, so that every operation has something to act on.
  for (let k = 0; k < KEYS / 2; k++) await writeDraft(deps, ctx, 'development', { kind: 'config', key: `k${k}` }, { content: value(0) });
  await commit(deps, ctx, 'development', { message: 'seed' });
  await promote(deps, ctx, 'production', { from: 'development' });
  const seeded: Snapshot = applyDrafts(new Map(), Array.from({ length: KEYS / 2 }, (_, k) => ({ kind: 'config', key: `k${k}`, hash: contentHash(value(0)), app: null }) as DraftChange));
  dev.releases.push(seeded);
  prod.releases.push(seeded);

  for (const o of ops) {
    const m = o.t === 'rollback' ? any(o.env) : editable('env' in o ? o.env : 0);
    if (o.t === 'write') {
      const content = value(o.v);
      await writeDraft(deps, ctx, m.slug, { kind: 'config', key: `k${o.key}` }, { content });
      // A draft equal to the committed resource is no draft (the service drops it).
      if (head(m).get(id(o.key))?.hash === contentHash(content)) m.drafts.delete(id(o.key));
      else m.drafts.set(id(o.key), { kind: 'config', key: `k${o.key}`, hash: contentHash(content), app: null } as DraftChange);
    } else if (o.t === 'delete') {
      const visible = applyDrafts(head(m), [...m.drafts.values()]);
      if (!visible.has(id(o.key))) continue;
      await deleteResource(deps, ctx, m.slug, { kind: 'config', key: `k${o.key}` });
      // Deleting a resource never committed drops its draft.
      if (!head(m).has(id(o.key))) m.drafts.delete(id(o.key));
      else m.drafts.set(id(o.key), { kind: 'config', key: `k${o.key}`, hash: null, app: null } as DraftChange);
    } else if (o.t === 'commit') {
      const next = applyDrafts(head(m), [...m.drafts.values()]);
      try {
        await commit(deps, ctx, m.slug, { message: 'c' });
        m.releases.push(next);
      } catch (error) {
        // Drafts equal to the head are no drafts at all.
        expect(codeOf(error)).toBe('nothing_to_commit');
        expect(hashes(next)).toEqual(hashes(head(m)));
      }
      m.drafts.clear();
    } else if (o.t === 'promote') {
      if (dev.releases.length === 0) continue;
      const ids = o.keys?.map(id);
      let next: Snapshot;
      try {
        next = ids ? takeResources(head(prod), head(dev), ids) : head(dev);
      } catch (error) {
        await expect(promote(deps, ctx, prod.slug, { from: dev.slug, ...(ids ? { resources: ids } : {}) })).rejects.toMatchObject({ code: codeOf(error) });
        continue;
      }
      await promote(deps, ctx, prod.slug, { from: dev.slug, force: true, ...(ids ? { resources: ids } : {}) });
      prod.releases.push(next);
    } else if (o.t === 'rollback') {
      const to = m.releases.length - o.back;
      if (to < 1) continue;
      await rollback(deps, ctx, m.slug, { release: to });
      m.releases.push(m.releases[to - 1]!);
    } else if (o.t === 'fork') {
      if (feature) continue;
      feature = { slug: `f${ops.indexOf(o)}`, releases: [], drafts: new Map(), base: head(dev) };
      await createEnvironment(deps, ctx, { slug: feature.slug, kind: 'branch', from: dev.slug });
      if (dev.releases.length > 0) feature.releases.push(head(dev));
    } else if (o.t === 'merge') {
      if (!feature || feature.releases.length === 0) continue;
      let result: ReturnType<typeof threeWayMerge>;
      try {
        result = threeWayMerge(feature.base!, head(feature), head(dev));
      } catch (error) {
        await expect(promote(deps, ctx, dev.slug, { from: feature.slug })).rejects.toMatchObject({ code: codeOf(error) });
        continue;
      }
      await promote(deps, ctx, dev.slug, { from: feature.slug, force: true });
      dev.releases.push(result.merged);
      const settled = settle(head(feature), result.merged, result.settled);
      const branchEnv = (await findEnvironment(store.db, ctx.workspace.id, feature.slug))!;
      if (branchEnv.headRelease > feature.releases.length) feature.releases.push(settled);
      feature.base = settle(feature.base!, result.merged, result.settled);
      await deleteEnvironment(deps, ctx, feature.slug);
      feature = null;
    }

    // After every step: each environment's every release holds the model's map, and equal
    // maps have equal roots.
    for (const e of [dev, prod, ...(feature ? [feature] : [])]) {
      const stored = (await findEnvironment(store.db, ctx.workspace.id, e.slug))!;
      expect(stored.headRelease, e.slug).toBe(e.releases.length);
      if (stored.headRelease === 0) continue;
      const release = (await findRelease(store.db, ctx.workspace.id, stored.id, stored.headRelease))!;
      const map = await loadSnapshot(store.db, ctx.workspace.id, release.snapshotId);
      expect(hashes(map), `${e.slug}#${stored.headRelease}`).toEqual(hashes(head(e)));
      const root = await snapshotRoot(store.db, ctx.workspace.id, release.snapshotId);
      expect(root).toBe(snapshotId(head(e)));
      const key = JSON.stringify(hashes(head(e)));
      expect(roots.get(key) ?? root).toBe(root);
      roots.set(key, root);
    }
  }
}

describe(`snapshot trees against the flat model (${TEST_DB})`, () => {
  it('any sequence of commits, promotions, rollbacks and merges holds the flat model’s maps (500 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 6, maxLength: 18, size: 'max' }), (ops) => run(ops)),
      { numRuns: 500, endOnFailure: true },
    );
  }, 600_000);

  it('keeps a resource id once per map whatever its name, including names of object properties', async () => {
    const slug = 'odd-names';
    await createEnvironment(deps, owner, { slug, kind: 'branch', from: 'development' });
    for (const k of ['__proto__', 'constructor', 'hasOwnProperty', 'toString']) {
      await writeDraft(deps, owner, slug, { kind: 'config', key: k }, { content: value(1) });
    }
    const release = await commit(deps, owner, slug, { message: 'odd' });
    const stored = (await findEnvironment(store.db, owner.workspace.id, slug))!;
    const row = (await findRelease(store.db, owner.workspace.id, stored.id, release.number))!;
    const map = await loadSnapshot(store.db, owner.workspace.id, row.snapshotId);
    expect([...map.keys()].sort()).toEqual(['config/__proto__', 'config/constructor', 'config/hasOwnProperty', 'config/toString']);
    expect(resourceId('config', '__proto__')).toBe('config/__proto__');
  });
});
