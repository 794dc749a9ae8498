// Garbage collection with retention, on both databases: which releases pruning keeps, that a
// sweep leaves every retained release and draft whole and removes what nothing reaches, the grace
// period, and a property test interleaving commits, promotions and rollbacks with mark and sweep.
import { nodeReader } from '../src/store/trees.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SYSTEM_ACTOR } from '../src/domain/auth/permissions.js';
import type { CallContext } from '../src/services/context.js';
import { commit, getRelease, promote, rollback } from '../src/services/releases.js';
import { deleteResource, getResource, writeDraft } from '../src/services/resources.js';
import { createEnvironment, updateEnvironment } from '../src/services/environments.js';
import { collectGarbage, markWorkspace, pruneReleases, sweepWorkspace } from '../src/services/gc.js';
import { getContents } from '../src/store/releases.js';
import { countRows } from '../src/store/gc.js';
import { findEnvironment } from '../src/store/environments.js';
import { findWorkspace } from '../src/store/workspaces.js';
import { sha256 } from '../src/domain/canonical.js';
import { startHarness, TEST_DB, type Harness } from './support.js';

const DAY = 86_400_000;
const GRACE = 60_000;

let h: Harness;
// Every write and every mark reads this clock; it only moves forward, from after the bootstrap.
let clock = Date.now() + DAY;
let workspaces = 0;

beforeAll(async () => {
  h = await startHarness();
  h.deps.now = () => new Date(clock);
});
afterAll(async () => {
  await h?.close();
});

/** A workspace of its own (development and production) and the system's context in it. */
async function newWorkspace(): Promise<CallContext> {
  const slug = `gc-${++workspaces}`;
  const res = await h.call('POST', '/api/workspaces', { slug, name: slug });
  if (res.status !== 201) throw new Error(`workspace: ${res.status} ${JSON.stringify(res.body)}`);
  const workspace = (await findWorkspace(h.store.db, slug))!;
  return { workspace: { id: workspace.id, slug, name: slug }, actor: SYSTEM_ACTOR, requestId: null };
}

const ref = (id: string) => {
  const [kind, key] = id.split('/') as ['config', string];
  return { kind, key };
};

async function draft(ctx: CallContext, id: string, value: unknown, env = 'development') {
  await writeDraft(h.deps, ctx, env, ref(id), { content: { value } });
}

async function commitValues(ctx: CallContext, values: Record<string, unknown>, env = 'development') {
  for (const [id, value] of Object.entries(values)) await draft(ctx, id, value, env);
  return commit(h.deps, ctx, env, { message: 'change' });
}

async function headOf(ctx: CallContext, env: string): Promise<number> {
  return (await findEnvironment(h.store.db, ctx.workspace.id, env))!.headRelease;
}

async function releaseNumbers(ctx: CallContext, env: string): Promise<number[]> {
  const e = (await findEnvironment(h.store.db, ctx.workspace.id, env))!;
  const rows = await h.store.db.selectFrom('releases').select('number').where('environment_id', '=', e.id).orderBy('number').execute();
  return rows.map((r) => r.number);
}

/** A release as a flat map id → content, read through its snapshot tree and the contents. */
async function releaseMap(ctx: CallContext, env: string, number: number): Promise<Map<string, unknown>> {
  const release = await getRelease(h.deps, ctx, env, number);
  const contents = await getContents(h.store.db, ctx.workspace.id, release.resources.map((r: { hash: string }) => r.hash));
  const out = new Map<string, unknown>();
  for (const r of release.resources as { kind: string; key: string; hash: string }[]) {
    if (!contents.has(r.hash)) throw new Error(`content ${r.hash} of ${r.kind}/${r.key} in ${env}#${number} is gone`);
    out.set(`${r.kind}/${r.key}`, contents.get(r.hash));
  }
  return out;
}

const sorted = (map: Map<string, unknown>) => [...map].sort(([a], [b]) => (a < b ? -1 : 1));

const counts = async (ctx: CallContext) => ({
  nodes: await countRows(h.store.db, 'tree_nodes', ctx.workspace.id),
  snapshots: await countRows(h.store.db, 'snapshots', ctx.workspace.id),
  contents: await countRows(h.store.db, 'contents', ctx.workspace.id),
});

/**
 * What the live roots reach, walked independently of the GC: every release's tree and every
 * branch's merge base, their nodes and leaf contents, and the contents drafts hold.
 */
async function reachable(ctx: CallContext) {
  const db = h.store.db;
  const ws = ctx.workspace.id;
  const releases = await db.selectFrom('releases').select('snapshot_id').where('workspace_id', '=', ws).execute();
  const bases = await db.selectFrom('environments').select('merge_base').where('workspace_id', '=', ws).where('merge_base', 'is not', null).execute();
  const snapshots = new Set([...releases.map((r) => r.snapshot_id), ...bases.map((b) => b.merge_base!)]);
  const nodes = new Set<string>();
  const keyframes = new Set<string>();
  const contents = new Set<string>();
  const drafts = await db.selectFrom('drafts').select(['hash', 'base_hash']).where('workspace_id', '=', ws).execute();
  for (const d of drafts) for (const hash of [d.hash, d.base_hash]) if (hash) contents.add(hash);
  const roots = await db.selectFrom('snapshots').select('root').where('workspace_id', '=', ws).where('id', 'in', [...snapshots, '']).execute();
  let frontier = roots.map((r) => r.root!);
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const hash of frontier) {
      if (nodes.has(hash)) continue;
      nodes.add(hash);
      const row = await db.selectFrom('tree_nodes').select(['body', 'base']).where('workspace_id', '=', ws).where('hash', '=', hash).executeTakeFirstOrThrow();
      // A node stored as a delta (src/domain/releases/tree-delta.ts) is read with its keyframe, which stays too.
      if (row.base !== null) keyframes.add(row.base);
      const node = (await nodeReader(db, ws).get([hash])).get(hash) as { entries?: { hash: string }[]; children?: { hash: string }[] };
      for (const entry of node.entries ?? []) contents.add(entry.hash);
      for (const child of node.children ?? []) next.push(child.hash);
    }
    frontier = next;
  }
  for (const hash of keyframes) nodes.add(hash);
  return { nodes: nodes.size, snapshots: snapshots.size, contents: contents.size };
}

describe(`garbage collection (${TEST_DB})`, () => {
  it('pruning keeps the last M releases, the last N days, heads, and releases pending requests and branches need', async () => {
    const ctx = await newWorkspace();
    await createEnvironment(h.deps, ctx, { slug: 'staging', name: 'Staging' });
    // development #1..#8, a day apart; a branch forks at #3.
    for (let n = 1; n <= 8; n++) {
      await commitValues(ctx, { 'config/a': n });
      if (n === 3) await createEnvironment(h.deps, ctx, { slug: 'feature', kind: 'branch', from: 'development' });
      if (n < 8) clock += DAY;
    }
    // A pending request into protected staging needs development#4.
    await updateEnvironment(h.deps, ctx, 'staging', { protected: true, approvalsRequired: 1 });
    const request = await promote(h.deps, ctx, 'staging', { release: 4, message: 'ship 4' });
    expect(request).toHaveProperty('request');

    expect(await pruneReleases(h.deps, { days: 2, releases: 2 }, { workspaceId: ctx.workspace.id })).toBe(3);
    // #7 and #8 are the last two; #6 (5 days ago, exactly at the 2-day cutoff from day 7) by age; #4 and #3 by pin.
    expect(await releaseNumbers(ctx, 'development')).toEqual([3, 4, 6, 7, 8]);
    expect(await releaseNumbers(ctx, 'feature')).toEqual([1]);

    const listed = await h.call('GET', `/api/workspaces/${ctx.workspace.slug}/environments/development/releases`);
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((r: { number: number }) => r.number)).toEqual([8, 7, 6, 4, 3]);
    expect((await h.call('GET', `/api/workspaces/${ctx.workspace.slug}/environments/development/releases/2`)).status).toBe(404);
    expect((await h.call('GET', `/api/workspaces/${ctx.workspace.slug}/environments/development/releases/3`)).status).toBe(200);
    expect((await h.call('POST', `/api/workspaces/${ctx.workspace.slug}/environments/development/rollbacks`, { release: 1, message: 'back' })).status).toBe(404);

    // 0 and 0 still keeps every head and every pinned release.
    await pruneReleases(h.deps, { days: 0, releases: 0 }, { workspaceId: ctx.workspace.id });
    expect(await releaseNumbers(ctx, 'development')).toEqual([3, 4, 8]);
    expect(await releaseNumbers(ctx, 'feature')).toEqual([1]);
    expect(await releaseNumbers(ctx, 'production')).toEqual([]);
  });

  it('a sweep keeps every retained release and draft whole and deletes what nothing reaches', async () => {
    const ctx = await newWorkspace();
    const bulk = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`config/k${i}`, i]));
    await commitValues(ctx, bulk);
    for (let n = 1; n <= 6; n++) {
      await commitValues(ctx, { [`config/k${n * 7}`]: `v${n}`, [`config/new${n}`]: n });
      await promote(h.deps, ctx, 'production', { message: `promote ${n}` });
    }
    await rollback(h.deps, ctx, 'production', { release: 2, message: 'back' });
    // A draft overwritten before any commit leaves its first content unreachable.
    await draft(ctx, 'config/k1', 'overwritten');
    await draft(ctx, 'config/k1', 'drafted');
    await draft(ctx, 'config/fresh', 'only a draft');

    const expected = new Map<string, [string, unknown][]>();
    for (const env of ['development', 'production']) {
      for (const n of await releaseNumbers(ctx, env)) expected.set(`${env}#${n}`, sorted(await releaseMap(ctx, env, n)));
    }
    const before = await counts(ctx);

    const policy = { days: 0, releases: 2 };
    await collectGarbage(h.deps, { retention: policy, graceMs: GRACE });
    // Pruned releases' snapshots stay for one grace period (a promotion may have just read them).
    clock += 2 * GRACE;
    await collectGarbage(h.deps, { retention: policy, graceMs: GRACE });

    const after = await counts(ctx);
    expect(after.nodes).toBeLessThan(before.nodes);
    expect(after.snapshots).toBeLessThan(before.snapshots);
    expect(after.contents).toBeLessThan(before.contents);
    // What is left is exactly what the live roots reach.
    expect(after).toEqual(await reachable(ctx));

    const retained = [...(await releaseNumbers(ctx, 'development')).map((n) => `development#${n}`), ...(await releaseNumbers(ctx, 'production')).map((n) => `production#${n}`)];
    expect(retained.length).toBeGreaterThan(2);
    for (const name of retained) {
      const [env, n] = name.split('#') as [string, string];
      expect(sorted(await releaseMap(ctx, env, Number(n))), name).toEqual(expected.get(name));
    }
    expect((await getResource(h.deps, ctx, 'development', ref('config/k1'))).draft).toMatchObject({ content: { value: 'drafted' } });
    expect((await getResource(h.deps, ctx, 'development', ref('config/fresh'))).draft).toMatchObject({ content: { value: 'only a draft' } });
    // And the next commit works on what is left.
    await commitValues(ctx, { 'config/k2': 'after gc' });
    expect((await releaseMap(ctx, 'development', await headOf(ctx, 'development'))).get('config/k2')).toEqual({ value: 'after gc' });
  });

  it('nothing written or re-used within the grace period is collected', async () => {
    const ctx = await newWorkspace();
    await draft(ctx, 'config/a', 'first');
    await draft(ctx, 'config/a', 'second');
    const before = await counts(ctx);
    clock += GRACE / 2;
    await collectGarbage(h.deps, { retention: { days: 0, releases: 0 }, graceMs: GRACE });
    expect((await counts(ctx)).contents).toBe(before.contents);
    clock += GRACE;
    await collectGarbage(h.deps, { retention: { days: 0, releases: 0 }, graceMs: GRACE });
    expect((await counts(ctx)).contents).toBe(before.contents - 1);
    expect((await getResource(h.deps, ctx, 'development', ref('config/a'))).draft).toMatchObject({ content: { value: 'second' } });
  });

  it('a commit that re-creates an unreachable tree between mark and sweep keeps it', async () => {
    const ctx = await newWorkspace();
    const bulk = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`config/k${i}`, i]));
    await commitValues(ctx, { ...bulk, 'config/a': 1 });
    await commitValues(ctx, { 'config/a': 2 });
    await pruneReleases(h.deps, { days: 0, releases: 0 }, { workspaceId: ctx.workspace.id });
    expect(await releaseNumbers(ctx, 'development')).toEqual([2]);
    clock += 2 * GRACE;
    // The mark sees #1's tree unreachable and long untouched; then a commit makes the same map.
    const mark = (await markWorkspace(h.deps, ctx.workspace.id, new Date(clock), GRACE))!;
    await commitValues(ctx, { 'config/a': 1 });
    const swept = await sweepWorkspace(h.deps, mark);
    expect(swept.contents).toBe(0);
    expect((await releaseMap(ctx, 'development', 3)).get('config/a')).toEqual({ value: 1 });
    expect((await releaseMap(ctx, 'development', 3)).size).toBe(81);
  });

  it('no interleaving of commits, promotions, rollbacks and retention with mark and sweep removes anything reachable', async () => {
    // A few hot resources whose values and trees come back often (contents and nodes that become
    // unreachable and are then stored again), after a few others that make trees of several leaves:
    // three of them end a leaf (the chunk rule of src/domain/releases/tree.ts, 1 in 32 ids), so the
    // hot resources' leaf changes while the others are shared.
    const HOT = 2;
    const endsLeaf = (id: string) => Number.parseInt(sha256(`0:${id}`).slice(0, 8), 16) % 32 === 0;
    const candidates = Array.from({ length: 2000 }, (_, i) => `config/b${i}`);
    const bulk = [...candidates.filter(endsLeaf).slice(0, 3), ...candidates.filter((c) => !endsLeaf(c)).slice(0, 9)];
    const op = fc.oneof(
      { arbitrary: fc.record({ t: fc.constant('commit' as const), edits: fc.array(fc.tuple(fc.nat(HOT), fc.oneof(fc.nat(1), fc.constant(null))), { minLength: 1, maxLength: 3 }) }), weight: 5 },
      // Back to an earlier state of development (perhaps pruned and unreachable): the same tree again.
      { arbitrary: fc.record({ t: fc.constant('revert' as const), pick: fc.nat() }), weight: 3 },
      { arbitrary: fc.record({ t: fc.constant('draft' as const), key: fc.nat(HOT), value: fc.nat(1) }), weight: 1 },
      { arbitrary: fc.record({ t: fc.constant('promote' as const), only: fc.option(fc.array(fc.nat(HOT), { minLength: 1, maxLength: 3 }), { nil: null }) }), weight: 3 },
      { arbitrary: fc.record({ t: fc.constant('rollback' as const), env: fc.constantFrom('development', 'production'), pick: fc.nat() }), weight: 2 },
      { arbitrary: fc.record({ t: fc.constant('prune' as const), releases: fc.nat(2) }), weight: 3 },
      { arbitrary: fc.record({ t: fc.constant('mark' as const), wait: fc.boolean() }), weight: 3 },
      { arbitrary: fc.record({ t: fc.constant('sweep' as const) }), weight: 2 },
      { arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.constantFrom(GRACE / 4, 2 * GRACE) }), weight: 2 },
    );
    type Model = { releases: Map<string, Map<number, Map<string, number>>>; drafts: Map<string, number | null> };
    const id = (key: number) => `config/k${key}`;

    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 8, maxLength: TEST_DB === 'postgres' ? 24 : 30 }), async (ops) => {
        const ctx = await newWorkspace();
        const ws = ctx.workspace.id;
        const model: Model = { releases: new Map([['development', new Map()], ['production', new Map()]]), drafts: new Map() };
        const head = async (env: string) => {
          const n = await headOf(ctx, env);
          return { n, map: model.releases.get(env)!.get(n) ?? new Map<string, number>() };
        };
        // Every release the database keeps reads whole, as the model says; so does every draft.
        const check = async () => {
          for (const env of ['development', 'production']) {
            const numbers = await releaseNumbers(ctx, env);
            expect(numbers).toEqual([...model.releases.get(env)!.keys()].sort((a, b) => a - b));
            for (const n of numbers) {
              const map = await releaseMap(ctx, env, n);
              expect(sorted(map)).toEqual(sorted(new Map([...model.releases.get(env)!.get(n)!].map(([k, v]) => [k, { value: v }]))));
            }
          }
          for (const [key, value] of model.drafts) {
            if (value !== null) expect((await getResource(h.deps, ctx, 'development', ref(key))).draft).toMatchObject({ content: { value } });
          }
        };
        const writeDraftModel = async (key: string, value: number | null) => {
          const committed = (await head('development')).map;
          if (value === null) {
            if (!committed.has(key) || model.drafts.has(key)) return;
            await deleteResource(h.deps, ctx, 'development', ref(key));
            model.drafts.set(key, null);
            return;
          }
          await draft(ctx, key, value);
          if (committed.get(key) === value) model.drafts.delete(key);
          else model.drafts.set(key, value);
        };

        // Enough resources for trees of several nodes.
        for (const [k, key] of bulk.entries()) await writeDraftModel(key, 100 + k);
        for (let k = 0; k < HOT; k++) await writeDraftModel(id(k), 0);
        let pending: Awaited<ReturnType<typeof markWorkspace>> = null;
        // Every state development has had, pruned or not.
        const history: Map<string, number>[] = [];
        const apply = async (o: (typeof ops)[number] | { t: 'commit'; edits: [number, number | null][] }): Promise<void> => {
          switch (o.t) {
            case 'draft':
              return writeDraftModel(id(o.key), o.value);
            case 'commit': {
              for (const [key, value] of o.edits) await writeDraftModel(id(key), value);
              if (model.drafts.size === 0) return;
              const { map } = await head('development');
              const next = new Map(map);
              for (const [key, value] of model.drafts) value === null ? next.delete(key) : next.set(key, value);
              await commit(h.deps, ctx, 'development', { message: 'c' });
              model.releases.get('development')!.set(await headOf(ctx, 'development'), next);
              model.drafts.clear();
              history.push(next);
              return;
            }
            case 'revert': {
              const earlier = history[o.pick % history.length]!;
              const edits: [number, number | null][] = Array.from({ length: HOT + 1 }, (_, k) => [k, earlier.get(id(k)) ?? null]);
              return apply({ t: 'commit', edits });
            }
            case 'promote': {
              const source = await head('development');
              if (source.n === 0) return;
              const target = await head('production');
              const ids = o.only?.map(id).filter((key) => source.map.has(key));
              if (ids && ids.length === 0) return;
              const next = ids ? new Map(target.map) : new Map(source.map);
              for (const key of ids ?? []) next.set(key, source.map.get(key)!);
              await promote(h.deps, ctx, 'production', { message: 'p', ...(ids ? { resources: [...new Set(ids)] } : {}) });
              const n = await headOf(ctx, 'production');
              if (n !== target.n) model.releases.get('production')!.set(n, next);
              return;
            }
            case 'rollback': {
              const current = await headOf(ctx, o.env);
              const earlier = [...model.releases.get(o.env)!.keys()].filter((n) => n < current);
              if (earlier.length === 0) return;
              const to = earlier[o.pick % earlier.length]!;
              await rollback(h.deps, ctx, o.env, { release: to, message: 'r' });
              model.releases.get(o.env)!.set(await headOf(ctx, o.env), model.releases.get(o.env)!.get(to)!);
              return;
            }
            case 'prune': {
              await pruneReleases(h.deps, { days: 0, releases: o.releases }, { workspaceId: ws });
              for (const env of ['development', 'production']) {
                const kept = new Set(await releaseNumbers(ctx, env));
                expect(kept.has(await headOf(ctx, env)) || (await headOf(ctx, env)) === 0).toBe(true);
                for (const n of model.releases.get(env)!.keys()) if (!kept.has(n)) model.releases.get(env)!.delete(n);
              }
              return;
            }
            case 'mark':
              if (pending) return;
              // After a wait, what became unreachable before is past the grace period at the mark.
              if (o.wait) clock += 2 * GRACE;
              pending ??= await markWorkspace(h.deps, ws, new Date(clock), GRACE);
              return;
            case 'sweep':
              if (!pending) return;
              await sweepWorkspace(h.deps, pending, 7);
              pending = null;
              return check();
            case 'tick':
              clock += o.ms;
              return;
          }
        };
        await apply({ t: 'commit', edits: [] });
        const leaves = await h.store.db.selectFrom('tree_nodes').select('hash').where('workspace_id', '=', ws).where('level', '=', 0).execute();
        expect(leaves.length).toBeGreaterThan(2);
        for (const o of ops) await apply(o);
        if (pending) await sweepWorkspace(h.deps, pending, 7);
        await pruneReleases(h.deps, { days: 0, releases: 1 }, { workspaceId: ws, batch: 2 });
        clock += 2 * GRACE;
        await sweepWorkspace(h.deps, (await markWorkspace(h.deps, ws, new Date(clock), GRACE))!, 7);
        for (const env of ['development', 'production']) {
          const kept = new Set(await releaseNumbers(ctx, env));
          for (const n of model.releases.get(env)!.keys()) if (!kept.has(n)) model.releases.get(env)!.delete(n);
        }
        await check();
      }),
      {
        numRuns: TEST_DB === 'postgres' ? 50 : 100,
        // Found by this property: a revert re-used a stored delta without touching its keyframe,
        // and the sweep deleted the keyframe (the DELETE now keeps any node a delta names).
        examples: [
          [
            [
              { t: 'commit', edits: [[0, null]] },
              { t: 'draft', key: 1, value: 1 },
              { t: 'commit', edits: [[0, 1]] },
              { t: 'prune', releases: 0 },
              { t: 'tick', ms: 15000 },
              { t: 'sweep' },
              { t: 'tick', ms: 120000 },
              { t: 'prune', releases: 0 },
              { t: 'prune', releases: 0 },
              { t: 'mark', wait: false },
              { t: 'revert', pick: 1285368628 },
              { t: 'prune', releases: 0 },
            ],
          ],
        ] as never,
      },
    );
  }, 120_000);
});
