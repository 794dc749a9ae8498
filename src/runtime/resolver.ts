// The one resolver for "what does environment E run for kind/key now": per environment it reads
// the release, overrides, kill switches, variables and (when asked) secrets once, and keeps them
// until the change feed reports a change; delivery, tools, workflows and the test runner read here.
import type { Environment } from '../domain/environments/chain.js';
import { notFound } from '../domain/errors.js';
import { applyDrafts, resourceId, type Snapshot, type SnapshotEntry } from '../domain/releases/snapshot.js';
import type { ResourceKind } from '../domain/resources/kinds.js';
import { resolveResource, templateScope, type Resolution } from '../domain/resolution/resolve.js';
import type { RenderScope } from '../domain/templates/render.js';
import type { Deps } from '../services/context.js';
import { secretValues } from '../services/secrets.js';
import { headSnapshotId, releaseName, snapshotOf } from '../services/snapshots.js';
import type { ChangeEvent } from '../store/changes.js';
import { findEnvironmentById } from '../store/environments.js';
import { getContents } from '../store/releases.js';
import { listDrafts, listInactive, listOverrides } from '../store/resources.js';
import { variablesForEnvironment } from '../store/variables.js';
import type { ChangeFeed } from './change-feed.js';
import { advanceOrRebuild, releaseStep, stepEntries, steppedSnapshot, type RebuildCounts, type ReleaseStep } from './release-changes.js';

/** Change types that alter what an environment runs. */
// `reset` (this node missed pruned events) is workspace-wide: every state of the workspace goes.
export const AFFECTS_RESOLUTION: ReadonlySet<string> = new Set(['release', 'override', 'active', 'secret', 'variable', 'environment', 'reset']);

/** One version of an environment (its head, a run's release, or the draft state) to resolve in. */
export class ResolutionView {
  private readonly contents = new Map<string, Promise<unknown>>();

  constructor(
    readonly state: EnvironmentResolution,
    /** The release's snapshot; null for the draft state (and an environment with no release). */
    readonly snapshotId: string | null,
    private readonly snapshot: Snapshot,
    /** Named when a resource is missing: `staging#4`, `the draft state of development`. */
    readonly version: string,
  ) {}

  get environment(): Environment {
    return this.state.environment;
  }

  /** The content hash this version holds for `kind/key`, before any override. */
  hashOf(kind: string, key: string): string | undefined {
    return this.snapshot.get(resourceId(kind, key))?.hash;
  }

  /** Resource ids of this version, sorted. */
  ids(): string[] {
    return [...this.snapshot.keys()].sort();
  }

  async resolve<K extends ResourceKind>(kind: K, key: string): Promise<Resolution<K>> {
    const hash = this.hashOf(kind, key);
    const [content] = hash === undefined ? [undefined] : await this.load([hash]);
    return resolveResource(kind, key, { hash, content, ...this.state.stateOf(kind, key) }, { environment: this.environment.slug, version: this.version });
  }

  /**
   * Every resource of this version, sorted by id, with the contents of the active ones read in
   * one go. They are not kept: whoever reads them all (a delivery view) keeps what it makes.
   */
  async resolveAll(): Promise<Resolution[]> {
    return this.resolveEntries(this.ids().map((id) => this.snapshot.get(id)!));
  }

  /**
   * The resources of those ids this version holds (an id it lacks is left out), with the
   * contents of the active ones read in one go: what a cache re-resolves after a release step.
   */
  async resolveSome(ids: Iterable<string>): Promise<Resolution[]> {
    const entries: SnapshotEntry[] = [];
    for (const id of ids) {
      const entry = this.snapshot.get(id);
      if (entry) entries.push(entry);
    }
    return this.resolveEntries(entries);
  }

  private async resolveEntries(entries: SnapshotEntry[]): Promise<Resolution[]> {
    const active = entries.filter((e) => this.state.isActive(e.kind, e.key)).map((e) => e.hash);
    const contents = active.length > 0 ? await getContents(this.state.deps.store.db, this.environment.workspaceId, active) : new Map<string, unknown>();
    return entries.map((entry) =>
      resolveResource(entry.kind, entry.key, { hash: entry.hash, content: contents.get(entry.hash), ...this.state.stateOf(entry.kind, entry.key) }, { environment: this.environment.slug, version: this.version }),
    );
  }

  /** The environment's template scope: vars and env, and its secrets when `withSecrets`. */
  scope(withSecrets: boolean): Promise<RenderScope> {
    return this.state.scope(withSecrets);
  }

  /** Contents by hash, each read once per view. */
  private async load(hashes: string[]): Promise<unknown[]> {
    const wanted = [...new Set(hashes.filter((hash) => !this.contents.has(hash)))];
    if (wanted.length > 0) {
      const read = getContents(this.state.deps.store.db, this.environment.workspaceId, wanted);
      for (const hash of wanted) this.contents.set(hash, read.then((found) => found.get(hash)));
      read.catch(() => {
        for (const hash of wanted) this.contents.delete(hash);
      });
    }
    return Promise.all(hashes.map((hash) => this.contents.get(hash)!));
  }
}

/** One environment's values as they were when read: kept until a change event drops them. */
export class EnvironmentResolution {
  private scopes = new Map<boolean, Promise<RenderScope>>();
  private secrets?: Promise<Record<string, string>>;
  /** The committed head release. */
  readonly committed: ResolutionView;

  constructor(
    readonly deps: Deps,
    readonly environment: Environment,
    headSnapshotId: string | null,
    private readonly headSnapshot: Snapshot,
    private readonly overrides: Map<string, unknown>,
    private readonly inactive: Set<string>,
    private readonly vars: Record<string, unknown>,
  ) {
    this.committed = new ResolutionView(this, headSnapshotId, headSnapshot, releaseName(environment, environment.headRelease));
  }

  /**
   * This state at the step's release: the changed entries applied to a copy of the head's map,
   * everything else (overrides, kill switches, variables, the scopes made of them) shared, since
   * a release changes none of it. The state itself is left as it was for whoever holds it.
   */
  stepped(step: ReleaseStep, snapshotId: string, entries: Map<string, SnapshotEntry>, at: string): EnvironmentResolution {
    const environment = { ...this.environment, headRelease: step.release, updatedAt: at };
    const next = new EnvironmentResolution(this.deps, environment, snapshotId, steppedSnapshot(this.headSnapshot, step, entries), this.overrides, this.inactive, this.vars);
    next.scopes = this.scopes;
    next.secrets = this.secrets;
    return next;
  }

  /** The environment's own state of a resource: its override and its kill switch. */
  stateOf(kind: string, key: string): { override: unknown; active: boolean } {
    const id = resourceId(kind, key);
    return { override: this.overrides.get(id), active: !this.inactive.has(id) };
  }

  isActive(kind: string, key: string): boolean {
    return !this.inactive.has(resourceId(kind, key));
  }

  /** Secrets are decrypted on first use only (a publishable key's view never needs them). */
  scope(withSecrets: boolean): Promise<RenderScope> {
    let scope = this.scopes.get(withSecrets);
    if (!scope) {
      const env = { slug: this.environment.slug, name: this.environment.name };
      scope = withSecrets ? (this.secrets ??= secretValues(this.deps, this.deps.store.db, this.environment)).then((secrets) => templateScope({ vars: this.vars, secrets, env })) : Promise.resolve(templateScope({ vars: this.vars, env }));
      scope.catch(() => {
        this.scopes.delete(withSecrets);
        this.secrets = undefined;
      });
      this.scopes.set(withSecrets, scope);
    }
    return scope;
  }

  /** The draft state (drafts over the committed head), read now: drafts change without events. */
  async drafts(): Promise<ResolutionView> {
    const env = this.environment;
    const drafts = await listDrafts(this.deps.store.db, { workspaceId: env.workspaceId, environmentId: env.id });
    return new ResolutionView(this, null, applyDrafts(this.headSnapshot, drafts), `the draft state of ${env.slug}`);
  }

  /** A release a run was queued on: the head's view when it is still the head. */
  async release(snapshotId: string | null, release: number): Promise<ResolutionView> {
    if (snapshotId === this.committed.snapshotId) return this.committed;
    return new ResolutionView(this, snapshotId, await snapshotOf(this.deps.store.db, this.environment, snapshotId), releaseName(this.environment, release));
  }
}

export class Resolver {
  private readonly states = new Map<string, Promise<EnvironmentResolution | null>>();
  /** Environment states read whole, and states moved by a release step (see release-changes.ts). */
  readonly counts: RebuildCounts = { full: 0, incremental: 0 };
  /** Branch `workspace/environment` → its parent's id: a branch inherits the parent's secrets. */
  private readonly parents = new Map<string, string>();

  constructor(
    private readonly deps: Deps,
    private readonly feed: ChangeFeed,
  ) {
    feed.subscribe((event) => this.invalidate(event));
  }

  /** The environment's values now; null when it does not exist. */
  environment(workspaceId: string, environmentId: string): Promise<EnvironmentResolution | null> {
    const key = `${workspaceId}/${environmentId}`;
    let state = this.states.get(key);
    if (!state) {
      // Follow the workspace before reading it, so a change committed during the read is
      // dispatched afterwards and drops this state again.
      const loading = this.feed.track(workspaceId).then(() => this.load(workspaceId, environmentId));
      state = loading;
      this.states.set(key, loading);
      loading.then(
        (loaded) => {
          if (loaded?.environment.parentId) this.parents.set(key, loaded.environment.parentId);
        },
        () => {
          if (this.states.get(key) === loading) this.states.delete(key);
        },
      );
    }
    return state;
  }

  /** What the environment's committed release runs for `kind/key`, e.g. `resolve(env, 'route', key)`. */
  async resolve<K extends ResourceKind>(env: { workspaceId: string; id: string }, kind: K, key: string): Promise<Resolution<K>> {
    const state = await this.environment(env.workspaceId, env.id);
    if (!state) throw notFound(`environment ${env.id}`);
    return state.committed.resolve(kind, key);
  }

  private async load(workspaceId: string, environmentId: string): Promise<EnvironmentResolution | null> {
    this.counts.full += 1;
    const db = this.deps.store.db;
    const env = await findEnvironmentById(db, workspaceId, environmentId);
    if (!env) return null;
    const scope = { workspaceId, environmentId };
    const snapshotId = await headSnapshotId(db, env);
    const [snapshot, overrides, inactive, vars] = await Promise.all([
      snapshotOf(db, env, snapshotId),
      listOverrides(db, scope),
      listInactive(db, scope),
      variablesForEnvironment(db, workspaceId, environmentId),
    ]);
    return new EnvironmentResolution(this.deps, env, snapshotId, snapshot, overrides, inactive, vars);
  }

  /** The state after `step`: the held one stepped when it holds the release the step follows, else read again. */
  private advance(key: string, workspaceId: string, environmentId: string, step: ReleaseStep) {
    const previous = this.states.get(key)!;
    const next = advanceOrRebuild(
      previous,
      (state) => state.environment.headRelease,
      step,
      async (state) => {
        const read = await stepEntries(this.deps.store.db, state.environment, step);
        if (!read) return null;
        this.counts.incremental += 1;
        return state.stepped(step, read.snapshotId, read.entries, read.createdAt);
      },
      () => this.load(workspaceId, environmentId),
    );
    this.states.set(key, next);
    next.catch(() => {
      if (this.states.get(key) === next) this.states.delete(key);
    });
  }

  private invalidate(event: ChangeEvent) {
    if (!AFFECTS_RESOLUTION.has(event.type)) return;
    const step = releaseStep(event);
    for (const key of [...this.states.keys()]) {
      const slash = key.indexOf('/');
      if (key.slice(0, slash) !== event.workspaceId) continue;
      const environmentId = key.slice(slash + 1);
      const drop =
        event.environmentId === null ||
        event.environmentId === environmentId ||
        // A branch resolves the secrets it has none of with its parent's values.
        (event.type === 'secret' && this.parents.get(key) === event.environmentId);
      if (drop && step && event.environmentId === environmentId) this.advance(key, event.workspaceId, environmentId, step);
      else if (drop) {
        this.states.delete(key);
        this.parents.delete(key);
      }
    }
  }
}
