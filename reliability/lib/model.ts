// The reference model of the model-based test (reliability/parts/model.ts): the rules of drafts,
// commits, promotions, rollbacks, overrides, kill switches, branches and merges, written from
// DESIGN.md, docs/resources.md and docs/decisions.md as plain maps — never by calling src/.
//
// A world is one workspace: the chain development → staging → production and up to two branches.
// Resources are `config/<key>` documents; a snapshot maps a resource id to its content.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Snapshot = ReadonlyMap<string, Json>;

/** What an answer says, as the model predicts it and the server gives it. */
export interface Outcome {
  status: number;
  code: string | null;
}

export interface ModelEnv {
  slug: string;
  kind: 'chain' | 'branch';
  parent: string | null;
  /** Release n is releases[n - 1]; the head is the last. */
  releases: Snapshot[];
  /** Drafts: content, or null for a drafted deletion. */
  drafts: Map<string, Json | null>;
  overrides: Map<string, Json>;
  /** Kill switches: the ids switched off here. */
  inactive: Set<string>;
  /** Branches: the state both sides last agreed on (the merge base), and the parent's release it forked at. */
  base: Snapshot | null;
  forkRelease: number | null;
}

export interface World {
  envs: Map<string, ModelEnv>;
}

export const CHAIN = ['development', 'staging', 'production'] as const;
export const BRANCHES = ['fa', 'fb'] as const;
/** Every slug a command may name (a branch slug may not exist at that moment). */
export const SLUGS = [...CHAIN, ...BRANCHES] as const;
export const KEYS = ['k0', 'k1', 'k2'] as const;
export const idOf = (key: string) => `config/${key}`;

/**
 * The environment a command's index names: 0–2 the chain, 3 "a branch" (the first that exists,
 * else development, so edits land where a branch was made), 4 the second branch's slug whether
 * or not it exists.
 */
export function slugOf(world: World, i: number): string {
  if (i === 3) return BRANCHES.find((b) => world.envs.has(b)) ?? CHAIN[0];
  return SLUGS[i]!;
}

/** Draft contents: equal values come back often, so write-backs and same-change merges happen. */
export const CONTENTS: Json[] = [{ value: { a: 0, b: 0 } }, { value: { a: 1, b: 0 } }, { value: { a: 1, b: 1 } }, { value: 3 }];
/** Overrides: a field, an inherited field (null), a replaced value, an inherit-all, an invalid one. */
export const OVERRIDES: Json[] = [{ value: { a: 9 } }, { value: { a: null, c: [1] } }, { value: 7 }, { value: null }, { bogus: 1 }];

export type Command =
  | { t: 'write'; env: number; key: number; content: number }
  | { t: 'delete'; env: number; key: number }
  | { t: 'commit'; env: number; only: number[] | null }
  | {
      t: 'promote';
      target: number;
      /** null: the default source; else a slug, right or wrong. */
      from: number | null;
      /** How many releases behind the source's head to promote (null: its head). */
      back: number | null;
      only: number[] | null;
      expected: 'head' | 'stale' | null;
    }
  /** Promote a branch into its parent (development when the branch is not there). */
  | { t: 'merge'; branch: number; back: number | null; only: number[] | null; take: { key: number; side: 'branch' | 'parent' }[]; expected: 'head' | 'stale' | null }
  | { t: 'rollback'; env: number; back: number; expected: 'head' | 'stale' | null }
  | { t: 'override'; env: number; key: number; override: number }
  | { t: 'unoverride'; env: number; key: number }
  | { t: 'active'; env: number; key: number; active: boolean }
  | { t: 'branch'; slug: number; from: number }
  | { t: 'drop'; env: number };

// ---------------------------------------------------------------------------------------------
// JSON helpers (the model's own; equality is by value, keys in any order).

export function stable(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  const entries = Object.keys(value as object)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

const same = (a: unknown, b: unknown) => stable(a) === stable(b);
const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * An override over content (docs/resources.md "Overrides"): objects merge field by field,
 * arrays and other values replace, and null or absence inherits — so a null never becomes a
 * value of the merged document, whatever the base holds there.
 */
export function mergeOverride(base: Json | undefined, override: Json | undefined): Json | undefined {
  if (override === null || override === undefined) return base;
  if (!isObject(override)) return override;
  const merged: Record<string, Json> = isObject(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(override)) {
    const next = mergeOverride(merged[k], v);
    if (next !== undefined) merged[k] = next;
  }
  return merged;
}

/** A config document (docs/resources.md "config"): `value` required, no unknown field. */
export function validConfig(doc: Json | undefined): boolean {
  if (!isObject(doc) || !('value' in doc)) return false;
  return Object.keys(doc).every((k) => ['value', 'schema', 'public', 'description'].includes(k));
}

// ---------------------------------------------------------------------------------------------
// The world and its rules.

export function newWorld(): World {
  const envs = new Map<string, ModelEnv>();
  for (const slug of CHAIN) envs.set(slug, blankEnv(slug, 'chain', null));
  return { envs };
}

function blankEnv(slug: string, kind: 'chain' | 'branch', parent: string | null): ModelEnv {
  return { slug, kind, parent, releases: [], drafts: new Map(), overrides: new Map(), inactive: new Set(), base: null, forkRelease: null };
}

export const head = (e: ModelEnv): Snapshot => e.releases.at(-1) ?? new Map();
const ok = (status: number): Outcome => ({ status, code: null });
const fail = (status: number, code: string): Outcome => ({ status, code });

/** Editable: the first chain environment and every branch (DESIGN.md "Editable environment"). */
const editable = (e: ModelEnv) => e.kind === 'branch' || e.slug === CHAIN[0];
/** A resource exists in an environment when committed there or drafted (decisions.md). */
const known = (e: ModelEnv, id: string) => head(e).has(id) || e.drafts.has(id);

/** The release number a `back` counts to, from a head (at least 1, so "nothing earlier" shows). */
export const releaseBack = (headNumber: number, back: number) => Math.max(1, headNumber - back);

/** Applies a command to the world and says what the answer should be. */
export function apply(world: World, c: Command): Outcome {
  switch (c.t) {
    case 'write': {
      const e = world.envs.get(slugOf(world, c.env));
      if (!e) return fail(404, 'not_found');
      if (!editable(e)) return fail(409, 'environment_not_editable');
      const id = idOf(KEYS[c.key]!);
      const content = CONTENTS[c.content]!;
      // Writing back the committed content removes the draft (decisions.md).
      if (head(e).has(id) && same(head(e).get(id), content)) e.drafts.delete(id);
      else e.drafts.set(id, content);
      return ok(200);
    }
    case 'delete': {
      const e = world.envs.get(slugOf(world, c.env));
      if (!e) return fail(404, 'not_found');
      if (!editable(e)) return fail(409, 'environment_not_editable');
      const id = idOf(KEYS[c.key]!);
      if (!known(e, id)) return fail(404, 'not_found');
      // On a committed resource a drafted deletion; on one never committed, the draft goes.
      if (head(e).has(id)) e.drafts.set(id, null);
      else e.drafts.delete(id);
      return ok(200);
    }
    case 'commit': {
      const e = world.envs.get(slugOf(world, c.env));
      if (!e) return fail(404, 'not_found');
      if (!editable(e)) return fail(409, 'environment_not_editable');
      const ids = c.only ? unique(c.only.map((k) => idOf(KEYS[k]!))) : [...e.drafts.keys()];
      if (c.only && ids.some((id) => !e.drafts.has(id))) return fail(400, 'invalid_request');
      if (ids.length === 0) return fail(409, 'nothing_to_commit');
      const next = new Map(head(e));
      for (const id of ids) {
        const draft = e.drafts.get(id)!;
        if (draft === null) next.delete(id);
        else next.set(id, draft);
        e.drafts.delete(id);
      }
      e.releases.push(next);
      return ok(201);
    }
    case 'promote':
      return promote(world, slugOf(world, c.target), c.from === null ? null : slugOf(world, c.from), { ...c, take: [] });
    case 'merge': {
      const branch = slugOf(world, c.branch);
      return promote(world, mergeTarget(world, branch), branch, c);
    }
    case 'rollback': {
      const e = world.envs.get(slugOf(world, c.env));
      if (!e) return fail(404, 'not_found');
      if (c.expected === 'stale') return fail(409, 'release_conflict');
      const to = releaseBack(e.releases.length, c.back);
      // A rollback returns to an earlier release (decisions.md): never the current one.
      if (to >= e.releases.length) return fail(400, 'invalid_request');
      e.releases.push(e.releases[to - 1]!);
      return ok(201);
    }
    case 'override': {
      const e = world.envs.get(slugOf(world, c.env));
      if (!e) return fail(404, 'not_found');
      const id = idOf(KEYS[c.key]!);
      if (!known(e, id)) return fail(404, 'not_found');
      const override = OVERRIDES[c.override]!;
      // Validated against the committed content it will be merged over, where there is one.
      if (head(e).has(id) && !validConfig(mergeOverride(head(e).get(id), override))) return fail(400, 'invalid_request');
      e.overrides.set(id, override);
      return ok(200);
    }
    case 'unoverride': {
      const e = world.envs.get(slugOf(world, c.env));
      if (!e) return fail(404, 'not_found');
      const id = idOf(KEYS[c.key]!);
      if (!e.overrides.has(id)) return fail(404, 'not_found');
      e.overrides.delete(id);
      return ok(204);
    }
    case 'active': {
      const e = world.envs.get(slugOf(world, c.env));
      if (!e) return fail(404, 'not_found');
      const id = idOf(KEYS[c.key]!);
      if (!known(e, id)) return fail(404, 'not_found');
      if (c.active) e.inactive.delete(id);
      else e.inactive.add(id);
      return ok(200);
    }
    case 'branch': {
      const slug = BRANCHES[c.slug]!;
      if (world.envs.has(slug)) return fail(409, 'environment_exists');
      const parent = world.envs.get(slugOf(world, c.from));
      if (!parent || parent.kind !== 'chain') return fail(400, 'invalid_request');
      // Forked at the parent's current release: the branch starts with that state as its own.
      const b = blankEnv(slug, 'branch', parent.slug);
      if (parent.releases.length > 0) b.releases.push(head(parent));
      b.base = head(parent);
      b.forkRelease = parent.releases.length;
      world.envs.set(slug, b);
      return ok(201);
    }
    case 'drop': {
      const e = world.envs.get(slugOf(world, c.env));
      if (!e) return fail(404, 'not_found');
      // development and production are always required (decisions.md).
      if (e.kind === 'chain') return fail(409, 'environment_required');
      world.envs.delete(e.slug);
      return ok(204);
    }
  }
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

/** The number an `expected` names: the head, or one the environment is not at. */
export function expectedNumber(headNumber: number, expected: 'head' | 'stale'): number {
  return expected === 'head' ? headNumber : headNumber + 1;
}

/** Where a merge of `branch` goes: its parent (development when there is no such branch). */
export function mergeTarget(world: World, branch: string): string {
  return world.envs.get(branch)?.parent ?? CHAIN[0];
}

type PromoteOptions = Pick<Extract<Command, { t: 'merge' }>, 'back' | 'only' | 'take' | 'expected'>;

function promote(world: World, targetSlug: string, named: string | null, c: PromoteOptions): Outcome {
  const target = world.envs.get(targetSlug);
  if (!target) return fail(404, 'not_found');
  // The source: a branch of the target (a merge) when `from` names one, else the previous
  // chain environment; anything else is out of the chain's order.
  const namedEnv = named ? world.envs.get(named) : undefined;
  let source: ModelEnv;
  if (namedEnv?.kind === 'branch') {
    if (namedEnv.parent !== target.slug) return fail(409, 'promotion_out_of_order');
    source = namedEnv;
  } else {
    const index = target.kind === 'chain' ? CHAIN.indexOf(target.slug as (typeof CHAIN)[number]) : -1;
    if (index <= 0) return fail(409, 'promotion_out_of_order');
    source = world.envs.get(CHAIN[index - 1]!)!;
    if (named !== null && named !== source.slug) return fail(409, 'promotion_out_of_order');
  }
  if (c.expected === 'stale') return fail(409, 'release_conflict');
  const headNumber = source.releases.length;
  const number = c.back === null ? headNumber : releaseBack(headNumber, c.back);
  // A branch merges its current release only.
  if (source.kind === 'branch' && c.back !== null && number !== headNumber) return fail(400, 'invalid_request');
  if (number === 0) return fail(409, 'nothing_to_promote');
  if (number > headNumber) return fail(404, 'not_found'); // a named release that is not there
  const ids = c.only ? unique(c.only.map((k) => idOf(KEYS[k]!))) : null;
  const from = source.releases[number - 1]!;

  if (source.kind === 'chain') {
    // Whole: the source's release; some resources: the target with those taken from the source
    // (absent there: removed); a resource in neither is unknown.
    let next: Map<string, Json>;
    if (ids) {
      if (ids.some((id) => !from.has(id) && !head(target).has(id))) return fail(409, 'unknown_resources');
      next = new Map(head(target));
      for (const id of ids) from.has(id) ? next.set(id, from.get(id)!) : next.delete(id);
    } else next = new Map(from);
    target.releases.push(next);
    return ok(201);
  }

  // A merge: three-way per resource against the merge base (decisions.md "Branches").
  const base = source.base!;
  const parent = head(target);
  const all = unique([...base.keys(), ...from.keys(), ...parent.keys()]).sort();
  const scope = ids ?? all;
  if (scope.some((id) => !base.has(id) && !from.has(id) && !parent.has(id))) return fail(409, 'unknown_resources');
  const take = new Map(c.take.map((t) => [idOf(KEYS[t.key]!), t.side] as const));
  const merged = new Map(parent);
  const put = (id: string, v: Json | undefined) => (v === undefined ? merged.delete(id) : merged.set(id, v));
  const used = new Set<string>();
  let conflicts = 0;
  for (const id of scope) {
    const [b, x, p] = [base.get(id), from.get(id), parent.get(id)];
    if (same(x, b) || same(x, p)) continue; // the branch left it alone, or both did the same
    if (same(p, b)) {
      put(id, x); // only the branch changed it
      continue;
    }
    const side = take.get(id);
    if (side) {
      used.add(id);
      put(id, side === 'branch' ? x : p);
    } else conflicts++;
  }
  if (conflicts > 0) return fail(409, 'merge_conflict');
  if ([...take.keys()].some((id) => !used.has(id))) return fail(409, 'merge_resolution_unused');
  target.releases.push(merged);
  // The branch and its merge base take the merged state of the merged resources; the branch
  // gets a release only when that changes what it holds.
  const settle = (state: Snapshot) => {
    const next = new Map(state);
    for (const id of scope) merged.has(id) ? next.set(id, merged.get(id)!) : next.delete(id);
    return next;
  };
  const branchNext = settle(from);
  if (!sameSnapshot(branchNext, head(source))) source.releases.push(branchNext);
  source.base = settle(base);
  // forkRelease stays the parent's release the branch forked at (docs/api.md), merges or not.
  return ok(201);
}

function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  return a.size === b.size && [...a].every(([id, v]) => b.has(id) && same(v, b.get(id)));
}

// ---------------------------------------------------------------------------------------------
// What can be observed, in one shape for the model and the server.

export interface ResourceObservation {
  committed: Json | null;
  /** null: no draft; `deleted`: a drafted deletion. */
  draft: { content: Json } | 'deleted' | null;
  override: Json | null;
  active: boolean;
}

export interface EnvObservation {
  kind: 'chain' | 'branch';
  parent: string | null;
  release: number;
  forkRelease: number | null;
  /** Every resource committed or drafted there. */
  resources: Record<string, ResourceObservation>;
  /** What the delivery API serves: committed, active, override merged. */
  served: Record<string, Json>;
  /** Resources the delivery API reports under `errors` (an override that makes them invalid). */
  unservable: string[];
}

export type Observation = Record<string, EnvObservation>;

export function observe(world: World): Observation {
  const out: Observation = {};
  for (const e of world.envs.values()) {
    const committed = head(e);
    const resources: Record<string, ResourceObservation> = {};
    for (const id of unique([...committed.keys(), ...e.drafts.keys()]).sort()) {
      const draft = e.drafts.get(id);
      resources[id] = {
        committed: committed.get(id) ?? null,
        draft: draft === undefined ? null : draft === null ? 'deleted' : { content: draft },
        override: e.overrides.get(id) ?? null,
        active: !e.inactive.has(id),
      };
    }
    const served: Record<string, Json> = {};
    const unservable: string[] = [];
    for (const [id, content] of [...committed].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (e.inactive.has(id)) continue; // switched off: not served
      const merged = mergeOverride(content, e.overrides.get(id));
      if (validConfig(merged)) served[id] = merged!;
      else unservable.push(id);
    }
    out[e.slug] = { kind: e.kind, parent: e.parent, release: e.releases.length, forkRelease: e.forkRelease, resources, served, unservable };
  }
  return out;
}

/** Every difference between two observations (and answers), as `path: expected ≠ actual`. */
export function compare(expected: { outcome: Outcome; world: Observation }, actual: { outcome: Outcome; world: Observation }): string[] {
  const diffs: string[] = [];
  if (expected.outcome.status !== actual.outcome.status || expected.outcome.code !== actual.outcome.code) {
    diffs.push(`answer: ${expected.outcome.status} ${expected.outcome.code ?? ''} ≠ ${actual.outcome.status} ${actual.outcome.code ?? ''}`);
  }
  walk('', expected.world, actual.world, diffs);
  return diffs;
}

function walk(path: string, a: unknown, b: unknown, diffs: string[]): void {
  if (isObject(a as Json) && isObject(b as Json)) {
    for (const k of unique([...Object.keys(a as object), ...Object.keys(b as object)]).sort()) {
      walk(path ? `${path}.${k}` : k, (a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], diffs);
    }
    return;
  }
  if (!same(a, b)) diffs.push(`${path}: ${stable(a)} ≠ ${stable(b)}`);
}
