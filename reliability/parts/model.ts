// Part 5, the model-based test: random sequences of draft writes and deletions, commits,
// promotions (whole, of some resources, of an earlier release), rollbacks, overrides, kill
// switches, branches and merges (conflicts and resolutions included) run against the real
// server (the HTTP API in-process through h.call, a workspace of its own per sequence) and
// against the reference model of reliability/lib/model.ts. After every command the answer's
// status and code, each environment's release, every resource's committed content, draft,
// override and kill switch, and what the delivery API serves with an sk_ key must be equal.
import fc from 'fast-check';
import { DB, emit, fmt, QUICK, runPart, say, scaled, zero } from '../contract.js';
import { startHarness, type Harness } from '../../test/support.js';
import {
  apply,
  BRANCHES,
  CHAIN,
  compare,
  CONTENTS,
  expectedNumber,
  idOf,
  head,
  KEYS,
  mergeTarget,
  newWorld,
  observe,
  OVERRIDES,
  releaseBack,
  slugOf,
  stable,
  type Command,
  type EnvObservation,
  type Json,
  type Observation,
  type Outcome,
  type World,
} from '../lib/model.js';

const PART = 'model';

// ---------------------------------------------------------------------------------------------
// Commands as fast-check arbitraries (weights: mostly edits and commits, enough promotions,
// merges and branches that sequences reach conflicts).

/** Mostly null, sometimes a value (fc.option's freq is the other way round). */
const rarely = <T>(arb: fc.Arbitrary<T>, nullWeight = 4) => fc.oneof({ weight: nullWeight, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
// Environment indices (slugOf): 0–2 the chain, 3 an existing branch, 4 the second branch slug.
const env = fc.constantFrom(0, 0, 1, 1, 2, 2, 3, 3, 4);
const editableEnv = fc.constantFrom(0, 0, 0, 3, 3, 4);
const key = fc.integer({ min: 0, max: KEYS.length - 1 });
const keys = rarely(fc.uniqueArray(key, { minLength: 1, maxLength: 2 }));
const expected = rarely(fc.constantFrom<'head' | 'stale'>('head', 'head', 'stale'));

export const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ t: fc.constant('write' as const), env: fc.oneof({ weight: 5, arbitrary: editableEnv }, { weight: 1, arbitrary: env }), key, content: fc.integer({ min: 0, max: CONTENTS.length - 1 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('delete' as const), env: editableEnv, key }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('commit' as const), env: fc.oneof({ weight: 5, arbitrary: editableEnv }, { weight: 1, arbitrary: env }), only: keys }) },
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('promote' as const),
      target: fc.constantFrom(1, 1, 1, 1, 2, 2, 2, 0, 3),
      from: rarely(env),
      back: rarely(fc.integer({ min: 0, max: 2 })),
      only: keys,
      expected,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('merge' as const),
      branch: fc.constantFrom(3, 3, 3, 4),
      back: rarely(fc.integer({ min: 0, max: 1 }), 10),
      only: keys,
      take: fc.oneof(
        { weight: 3, arbitrary: fc.constant([] as { key: number; side: 'branch' | 'parent' }[]) },
        { weight: 1, arbitrary: fc.uniqueArray(fc.record({ key, side: fc.constantFrom('branch' as const, 'parent' as const) }), { minLength: 1, maxLength: 2, selector: (t) => t.key }) },
      ),
      expected,
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('rollback' as const), env, back: fc.constantFrom(0, 1, 1, 2, 3), expected }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('override' as const), env, key, override: fc.integer({ min: 0, max: OVERRIDES.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('unoverride' as const), env, key }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('active' as const), env, key, active: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('branch' as const), slug: fc.integer({ min: 0, max: BRANCHES.length - 1 }), from: fc.constantFrom(0, 0, 0, 1, 2, 3) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('drop' as const), env: fc.constantFrom(2, 3, 4) }) },
);

/** A command in words, for the counterexample. */
function describe(world: World, c: Command): string {
  const slug = (i: number) => slugOf(world, i);
  const ids = (ks: number[] | null) => (ks ? ` [${ks.map((k) => idOf(KEYS[k]!)).join(', ')}]` : '');
  const exp = (e: 'head' | 'stale' | null) => (e ? ` expectedRelease=${e}` : '');
  switch (c.t) {
    case 'write':
      return `write ${slug(c.env)} ${idOf(KEYS[c.key]!)} = ${stable(CONTENTS[c.content])}`;
    case 'delete':
      return `delete ${slug(c.env)} ${idOf(KEYS[c.key]!)}`;
    case 'commit':
      return `commit ${slug(c.env)}${ids(c.only)}`;
    case 'promote':
      return `promote into ${slug(c.target)}${c.from !== null ? ` from ${slug(c.from)}` : ''}${c.back !== null ? ` release head-${c.back}` : ''}${ids(c.only)}${exp(c.expected)}`;
    case 'merge':
      return `merge ${slug(c.branch)} into ${mergeTarget(world, slug(c.branch))}${c.back !== null ? ` release head-${c.back}` : ''}${ids(c.only)}${c.take.length ? ` take ${c.take.map((t) => `${KEYS[t.key]}:${t.side}`).join(',')}` : ''}${exp(c.expected)}`;
    case 'rollback':
      return `rollback ${slug(c.env)} to head-${c.back}${exp(c.expected)}`;
    case 'override':
      return `override ${slug(c.env)} ${idOf(KEYS[c.key]!)} = ${stable(OVERRIDES[c.override])}`;
    case 'unoverride':
      return `remove override ${slug(c.env)} ${idOf(KEYS[c.key]!)}`;
    case 'active':
      return `kill switch ${slug(c.env)} ${idOf(KEYS[c.key]!)} active=${c.active}`;
    case 'branch':
      return `create branch ${BRANCHES[c.slug]} from ${slug(c.from)}`;
    case 'drop':
      return `delete environment ${slug(c.env)}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The real system: one harness, a workspace per sequence, an sk_ key per environment.

interface Workspace {
  base: string;
  keys: Map<string, string>;
  cache: Map<string, EnvCache & { servedRelease?: number | undefined }>;
}

let workspaces = 0;

async function newWorkspace(h: Harness): Promise<Workspace> {
  const slug = `model-${++workspaces}`;
  const created = await h.call('POST', '/api/workspaces', { slug, name: slug });
  if (created.status !== 201) throw new Error(`workspace: ${created.status} ${JSON.stringify(created.body)}`);
  const ws: Workspace = { base: `/api/workspaces/${slug}`, keys: new Map(), cache: new Map() };
  const staging = await h.call('POST', `${ws.base}/environments`, { slug: 'staging', name: 'Staging' });
  if (staging.status !== 201) throw new Error(`staging: ${staging.status} ${JSON.stringify(staging.body)}`);
  for (const env of CHAIN) await addKey(h, ws, env);
  return ws;
}

async function addKey(h: Harness, ws: Workspace, env: string) {
  const res = await h.call('POST', `${ws.base}/environments/${env}/api-keys`, { name: `${env} model`, kind: 'secret' });
  if (res.status !== 201) throw new Error(`api key ${env}: ${res.status} ${JSON.stringify(res.body)}`);
  ws.keys.set(env, res.body.key);
}

/** Sends a command over HTTP; numbers relative to a head are read from the model's world. */
async function send(h: Harness, ws: Workspace, world: World, c: Command): Promise<Outcome> {
  const at = (i: number) => `${ws.base}/environments/${slugOf(world, i)}`;
  const rid = (k: number) => idOf(KEYS[k]!);
  const headOf = (i: number) => world.envs.get(slugOf(world, i))?.releases.length ?? 0;
  const expectedField = (i: number, e: 'head' | 'stale' | null) => (e ? { expectedRelease: expectedNumber(headOf(i), e) } : {});

  let res: { status: number; body: any };
  switch (c.t) {
    case 'write':
      res = await h.call('PUT', `${at(c.env)}/resources/${rid(c.key)}`, { content: CONTENTS[c.content] });
      break;
    case 'delete':
      res = await h.call('DELETE', `${at(c.env)}/resources/${rid(c.key)}`);
      break;
    case 'commit':
      res = await h.call('POST', `${at(c.env)}/commits`, { message: 'model', ...(c.only ? { resources: c.only.map(rid) } : {}) });
      break;
    case 'promote': {
      // `back` counts from the head of the source the chain gives (the previous environment).
      const target = slugOf(world, c.target);
      const previous = CHAIN[CHAIN.indexOf(target as (typeof CHAIN)[number]) - 1] ?? CHAIN[0];
      res = await h.call('POST', `${ws.base}/environments/${target}/promotions`, {
        message: 'model',
        ...(c.from !== null ? { from: slugOf(world, c.from) } : {}),
        ...(c.back !== null ? { release: releaseBack(world.envs.get(previous)!.releases.length, c.back) } : {}),
        ...(c.only ? { resources: c.only.map(rid) } : {}),
        ...(c.expected ? { expectedRelease: expectedNumber(world.envs.get(target)?.releases.length ?? 0, c.expected) } : {}),
      });
      break;
    }
    case 'merge': {
      const branch = slugOf(world, c.branch);
      const target = mergeTarget(world, branch);
      res = await h.call('POST', `${ws.base}/environments/${target}/promotions`, {
        message: 'model',
        from: branch,
        ...(c.back !== null ? { release: releaseBack(world.envs.get(branch)?.releases.length ?? 0, c.back) } : {}),
        ...(c.only ? { resources: c.only.map(rid) } : {}),
        ...(c.take.length > 0 ? { resolutions: c.take.map((t) => ({ resource: rid(t.key), take: t.side })) } : {}),
        ...(c.expected ? { expectedRelease: expectedNumber(world.envs.get(target)?.releases.length ?? 0, c.expected) } : {}),
      });
      break;
    }
    case 'rollback':
      res = await h.call('POST', `${at(c.env)}/rollbacks`, { release: releaseBack(headOf(c.env), c.back), message: 'model', ...expectedField(c.env, c.expected) });
      break;
    case 'override':
      res = await h.call('PUT', `${at(c.env)}/resources/${rid(c.key)}/override`, { override: OVERRIDES[c.override] });
      break;
    case 'unoverride':
      res = await h.call('DELETE', `${at(c.env)}/resources/${rid(c.key)}/override`);
      break;
    case 'active':
      res = await h.call('PUT', `${at(c.env)}/resources/${rid(c.key)}/active`, { active: c.active });
      break;
    case 'branch':
      res = await h.call('POST', `${ws.base}/environments`, { slug: BRANCHES[c.slug], name: BRANCHES[c.slug], kind: 'branch', from: slugOf(world, c.from) });
      if (res.status === 201) await addKey(h, ws, BRANCHES[c.slug]!);
      break;
    case 'drop':
      res = await h.call('DELETE', at(c.env));
      if (res.status === 204) ws.keys.delete(slugOf(world, c.env));
      break;
  }
  return { status: res.status, code: res.status >= 400 ? (res.body?.error?.code ?? '(no code)') : null };
}

/** What one environment showed when last read in full, to reuse while its list rows stay the same. */
interface EnvCache {
  rows: string;
  release: number;
  resources: EnvObservation['resources'];
  served: Record<string, Json>;
  unservable: string[];
}

/**
 * What the server shows: environments, every resource's view, and what delivery serves. Every
 * environment's list of resources (committed hash, draft state, kill switch) is read each time;
 * an environment the command named (`full`), or whose list or release moved, is read in full
 * (each resource's view and the delivery API); the others reuse their last full read, which is
 * safe for what the list does not show (drafts' content, overrides): only a command naming the
 * environment changes those, and each sequence ends with a full read of everything.
 */
async function observeReal(h: Harness, ws: Workspace, full: Set<string> | 'all'): Promise<Observation> {
  const envs = await h.call('GET', `${ws.base}/environments`);
  if (envs.status !== 200) throw new Error(`environments: ${envs.status}`);
  const out: Observation = {};
  for (const e of envs.body.data as any[]) {
    const list = await h.call('GET', `${ws.base}/environments/${e.slug}/resources?limit=100`);
    if (list.status !== 200) throw new Error(`resources of ${e.slug}: ${list.status}`);
    const rows = stable(list.body.data);
    const cached = ws.cache.get(e.slug);
    const fresh = full === 'all' || full.has(e.slug) || !cached || cached.rows !== rows || cached.release !== e.release;
    const view = fresh ? await readEnvironment(h, ws, e.slug, list.body.data) : cached;
    ws.cache.set(e.slug, { ...view, rows, release: e.release });
    out[e.slug] = { kind: e.kind, parent: e.parent ?? null, release: e.release, forkRelease: e.forkRelease ?? null, resources: view.resources, served: view.served, unservable: view.unservable };
    if (view.servedRelease !== undefined && view.servedRelease !== e.release) out[e.slug]!.served['(delivery release)'] = view.servedRelease;
  }
  for (const slug of ws.cache.keys()) if (!out[slug]) ws.cache.delete(slug);
  return out;
}

async function readEnvironment(h: Harness, ws: Workspace, slug: string, rows: any[]) {
  const resources: EnvObservation['resources'] = {};
  for (const r of rows) {
    const id = `${r.kind}/${r.key}`;
    const one = await h.call('GET', `${ws.base}/environments/${slug}/resources/${id}`);
    if (one.status !== 200) throw new Error(`${id} in ${slug}: ${one.status}`);
    const v = one.body;
    // The list and the single view must agree on the draft state, the kill switch and the hash.
    const draftState = v.draft === null ? null : v.draft.deleted ? 'deleted' : v.committed ? 'modified' : 'created';
    if (r.draft !== draftState || r.active !== v.active || (r.committedHash ?? null) !== (v.committed?.hash ?? null)) {
      resources[`${id} (list)`] = { committed: r.committedHash, draft: r.draft, override: null, active: r.active } as any;
    }
    resources[id] = {
      committed: v.committed ? (v.committed.content as Json) : null,
      draft: v.draft === null ? null : v.draft.deleted ? 'deleted' : { content: v.draft.content as Json },
      override: (v.override ?? null) as Json,
      active: v.active,
    };
  }
  const key = ws.keys.get(slug);
  const served: Record<string, Json> = {};
  let unservable: string[] = [];
  let servedRelease: number | undefined;
  if (key) {
    const delivery = await h.app.inject({ method: 'GET', url: '/v1/resources', headers: { authorization: `Bearer ${key}` } });
    if (delivery.statusCode !== 200) throw new Error(`delivery ${slug}: ${delivery.statusCode} ${delivery.body}`);
    const body = JSON.parse(delivery.body);
    for (const r of body.data) served[`${r.kind}/${r.key}`] = r.content;
    unservable = ((body.errors ?? []) as any[]).map((x) => `${x.kind}/${x.key}`).sort();
    servedRelease = body.release;
  }
  return { resources, served, unservable, servedRelease };
}

/** The environments a command names (both sides of a promotion or merge). */
function named(world: World, c: Command): Set<string> {
  const slugs = new Set<string>();
  if (c.t === 'branch') slugs.add(BRANCHES[c.slug]!).add(slugOf(world, c.from));
  else if (c.t === 'promote') slugs.add(slugOf(world, c.target)).add(c.from !== null ? slugOf(world, c.from) : '');
  else if (c.t === 'merge') slugs.add(slugOf(world, c.branch)).add(mergeTarget(world, slugOf(world, c.branch)));
  else slugs.add(slugOf(world, c.env));
  return slugs;
}

// ---------------------------------------------------------------------------------------------
// The run.

class Divergence extends Error {}

interface Tally {
  sequences: number;
  commands: number;
  failures: number;
  outcomes: Map<string, number>;
}

/**
 * Every sequence starts from the same small state (two resources committed in development and
 * promoted to staging), run and compared like any other command, so that promotions, overrides
 * and kill switches have something to act on from the first random command.
 */
const PREFIX: Command[] = [
  { t: 'write', env: 0, key: 0, content: 0 },
  { t: 'write', env: 0, key: 1, content: 1 },
  { t: 'commit', env: 0, only: null },
  { t: 'promote', target: 1, from: null, back: null, only: null, expected: null },
];

/** Half the sequences also start with a branch whose k0 conflicts with development's. */
const CONFLICT: Command[] = [
  { t: 'branch', slug: 0, from: 0 },
  { t: 'write', env: 3, key: 0, content: 2 },
  { t: 'commit', env: 3, only: null },
  { t: 'write', env: 0, key: 0, content: 3 },
  { t: 'commit', env: 0, only: null },
];

async function runSequence(h: Harness, [conflicted, random]: [boolean, Command[]], tally: Tally | null, mutate?: (world: World, c: Command) => void): Promise<void> {
  const ws = await newWorkspace(h);
  const world = newWorld();
  const log: string[] = [];
  const cmds = [...PREFIX, ...(conflicted ? CONFLICT : []), ...random];
  for (const c of cmds) {
    const said = describe(world, c);
    const touched = named(world, c);
    const actual = await send(h, ws, world, c);
    const predicted = apply(world, c);
    mutate?.(world, c);
    if (tally) {
      tally.commands++;
      const name = `${c.t} ${predicted.status}${predicted.code ? ` ${predicted.code}` : ''}`;
      tally.outcomes.set(name, (tally.outcomes.get(name) ?? 0) + 1);
    }
    log.push(`${said} → ${actual.status}${actual.code ? ` ${actual.code}` : ''}`);
    const last = c === cmds[cmds.length - 1];
    const real = await observeReal(h, ws, last ? 'all' : touched);
    const diffs = compare({ outcome: predicted, world: observe(world) }, { outcome: actual, world: real });
    if (diffs.length > 0) {
      throw new Divergence(`after:\n  ${log.join('\n  ')}\nmodel ≠ server:\n  ${diffs.slice(0, 12).join('\n  ')}`);
    }
  }
}

/** The comparator must see a perturbed observation: one perturbation of each kind of field. */
async function selfCheck(h: Harness): Promise<{ caught: number; of: number }> {
  const ws = await newWorkspace(h);
  const world = newWorld();
  const setup: Command[] = [
    { t: 'write', env: 0, key: 0, content: 0 },
    { t: 'commit', env: 0, only: null },
    { t: 'promote', target: 1, from: null, back: null, only: null, expected: null },
    { t: 'override', env: 1, key: 0, override: 0 },
    { t: 'write', env: 0, key: 1, content: 1 },
    { t: 'branch', slug: 0, from: 0 },
  ];
  let last: Outcome = { status: 0, code: null };
  for (const c of setup) {
    const said = describe(world, c);
    last = await send(h, ws, world, c);
    const predicted = apply(world, c);
    if (predicted.status !== last.status) throw new Error(`self-check setup diverged at ${said}: ${last.status}`);
  }
  const real = await observeReal(h, ws, 'all');
  const model = observe(world);
  if (compare({ outcome: last, world: model }, { outcome: last, world: real }).length !== 0) throw new Error('self-check: the unperturbed observation already differs');
  const perturbations: ((o: Observation, a: Outcome) => Outcome)[] = [
    (_, a) => ({ ...a, status: a.status === 201 ? 200 : 201 }),
    (_, a) => ({ status: 409, code: 'merge_conflict' }),
    (o, a) => ((o.production!.release += 1), a),
    (o, a) => ((o.staging!.served['config/k0'] = { value: { a: 0, b: 0 } }), a),
    (o, a) => ((o.staging!.resources['config/k0']!.active = false), a),
    (o, a) => ((o.staging!.resources['config/k0']!.override = null), a),
    (o, a) => ((o.development!.resources['config/k1']!.draft = null), a),
    (o, a) => ((o.development!.resources['config/k0']!.committed = { value: 3 }), a),
    (o, a) => (delete o.fa, a),
    (o, a) => ((o.staging!.unservable = ['config/k0']), a),
  ];
  let caught = 0;
  for (const perturb of perturbations) {
    const copy = JSON.parse(JSON.stringify(real)) as Observation;
    const outcome = perturb(copy, { ...last });
    if (compare({ outcome: last, world: model }, { outcome, world: copy }).length > 0) caught++;
  }
  return { caught, of: perturbations.length };
}

runPart(PART, async () => {
  const sequences = scaled(1000, 50);
  const h = await startHarness();
  try {
    const check = await selfCheck(h);
    emit({ part: PART, measure: 'self-check: perturbed observations the comparator flags', value: `${check.caught} of ${check.of}`, goal: `${check.of} of ${check.of}`, ok: check.caught === check.of });

    // A mutant model (writing back the committed content keeps a draft) must be caught by the
    // same sequences and comparisons.
    const mutant = await fc.check(
      fc.asyncProperty(fc.boolean(), fc.array(command, { minLength: 8, maxLength: 24 }), (conflicted, cmds) =>
        runSequence(h, [conflicted, cmds], null, (world, c) => {
          const e = c.t === 'write' ? world.envs.get(slugOf(world, c.env)) : undefined;
          if (c.t === 'write' && e && !e.drafts.has(idOf(KEYS[c.key]!)) && head(e).has(idOf(KEYS[c.key]!))) e.drafts.set(idOf(KEYS[c.key]!), CONTENTS[c.content]!);
        }),
      ),
      { numRuns: 100, endOnFailure: true, seed: 42 },
    );
    emit({
      part: PART,
      measure: 'self-check: a mutant model (a write-back keeps its draft) is caught',
      value: mutant.failed ? `caught after ${mutant.numRuns} sequence(s)` : `not caught in ${mutant.numRuns}`,
      goal: 'caught',
      ok: mutant.failed,
    });

    const tally: Tally = { sequences: 0, commands: 0, failures: 0, outcomes: new Map() };
    const started = Date.now();
    const result = await fc.check(
      fc.asyncProperty(fc.boolean(), fc.array(command, { minLength: 6, maxLength: 24 }), async (conflicted, cmds) => {
        tally.sequences++;
        if (tally.sequences % 100 === 0) say(`  ${tally.sequences} sequences, ${tally.commands} commands, ${((Date.now() - started) / 1000).toFixed(0)} s`);
        try {
          await runSequence(h, [conflicted, cmds], tally);
        } catch (error) {
          // The first divergence as found, before shrinking (which can take a while).
          if (error instanceof Divergence && tally.failures++ === 0) say(`== divergence found (shrinking it):\n${error.message}`);
          throw error;
        }
      }),
      {
        numRuns: sequences,
        ...(process.env.MODEL_SEED ? { seed: Number(process.env.MODEL_SEED) } : {}),
        // MODEL_SHRINK=0 stops at the first divergence.
        ...(process.env.MODEL_SHRINK === '0' ? { endOnFailure: true } : {}),
      },
    );
    const diverged = result.failed ? 1 : 0;
    say(`  outcomes: ${[...tally.outcomes].sort().map(([k, n]) => `${k}: ${n}`).join('; ')}`);
    emit({ part: PART, measure: 'sequences run (each in a new workspace)', value: fmt(result.numRuns), goal: `${fmt(sequences)}`, ok: result.numRuns >= sequences || result.failed });
    emit({ part: PART, measure: 'commands executed and compared', value: fmt(tally.commands), goal: '' });
    zero(PART, 'sequences where the server diverged from the model', diverged, { total: result.numRuns, unit: 'sequences' });
    if (result.failed) {
      const error = result.errorInstance as Error | undefined;
      say(`== shrunk counterexample (seed ${result.seed}, path ${result.counterexamplePath}, ${result.numShrinks} shrinks):\n${error?.message ?? String(result.errorInstance)}`);
      emit({ part: PART, measure: 'shrunk counterexample', value: (error?.message ?? '').split('\n').slice(0, 30).join(' | '), goal: 'none', ok: false });
    }
    say(`  ${DB}${QUICK ? ' quick' : ''}: ${result.numRuns} sequences, ${tally.commands} commands in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await h.close();
  }
});
