// The environments a gateway node serves (one workspace) and the route table of each: found by
// slug, id or default without waiting once known, rebuilt when the change feed reports what
// alters them (or, for a release naming the routes it changed, patched at those routes only),
// swapped whole so a request reads one complete table.
import type { FastifyBaseLogger } from 'fastify';
import { defaultEnvironment, isEditable, type Environment } from '../domain/environments/chain.js';
// A table is compiled from the resolver's state: it goes stale on the events that drop that state.
import { AFFECTS_RESOLUTION, type EnvironmentResolution } from '../runtime/resolver.js';
import { releaseStep, type RebuildCounts, type ReleaseStep } from '../runtime/release-changes.js';
import { mergeOverride } from '../domain/overrides/merge.js';
import type { RouteContent } from '../domain/resources/kinds.js';
import { resolveResource } from '../domain/resolution/resolve.js';
import { contentReferences } from '../domain/templates/template.js';
import type { Deps } from '../services/context.js';
import type { Runtime } from '../runtime/index.js';
import type { ChangeEvent } from '../store/changes.js';
import { listEnvironments } from '../store/environments.js';
import { getContents } from '../store/releases.js';
import { findWorkspace } from '../store/workspaces.js';
import type { RouteLimiter } from './contract.js';
import type { UpstreamPools } from './pools.js';
import { compileTable, patchTable, type RouteSource, type RouteTable, type TableParts } from './table.js';

/** An unknown slug re-reads the environments at most this often (environments are created without a change event). */
const UNKNOWN_SLUG_REFRESH_MS = 1000;
/** After a failed build, the last good table serves and the next build waits this long. */
const BUILD_RETRY_MS = 1000;

/** What builds a table beyond the resolver: the pools, and the policy parts made per route. */
export interface TableFactory {
  pools: UpstreamPools;
  /** The parts that do not depend on the environment. */
  parts: Omit<TableParts, 'limiter' | 'pool'>;
  /**
   * Makes a route's limiter; its counters are named by environment and route, so a rebuild that
   * leaves a route's limits as they were keeps counting on them (src/gateway/limits.ts).
   */
  limiter(environment: Environment, route: string, spec: NonNullable<RouteContent['rateLimit']>): RouteLimiter;
}

/** One environment the node serves: its row and its current table. */
/** Builds in a row that a change overtook before one is served anyway. */
const MAX_BUILD_ATTEMPTS = 3;

export class ServedEnvironment {
  private current: RouteTable | null = null;
  /** Bumped by every change that alters the table; a table built at an older one is stale. */
  private generation = 0;
  private builtAt = -1;
  private building: Promise<RouteTable> | null = null;
  private retryAfter = 0;
  /** Set when the environment is gone: its table is released. */
  removed = false;
  /** Development or a branch: anyone with write access to drafts decides where its routes go. */
  editable = false;

  constructor(
    public environment: Environment,
    private readonly owner: Environments,
  ) {}

  /** The table to serve now without waiting, or null when a build must finish first. */
  tableNow(): RouteTable | null {
    if (this.builtAt === this.generation) return this.current;
    // A build failed a moment ago: the last good table serves until the retry.
    if (this.current !== null && this.building === null && Date.now() < this.retryAfter) return this.current;
    return null;
  }

  /** The current table, built (once, however many requests wait) when stale. */
  table(): Promise<RouteTable> {
    return (this.building ??= this.build(null));
  }

  invalidate(): void {
    this.generation += 1;
    this.retryAfter = 0;
    // Rebuilt at once where the environment serves traffic, so requests rarely wait.
    if (this.current !== null && this.building === null) void this.table().catch(() => {});
  }

  /**
   * A new release that names what it changed: when the table serving now is current at the
   * release the step follows, the next one is that table with the changed routes compiled again;
   * in any other case (a build under way, a stale or failed table) it is built whole.
   */
  advance(step: ReleaseStep): void {
    const current = this.builtAt === this.generation && this.building === null ? this.current : null;
    if (current === null || current.atRelease !== step.from) return this.invalidate();
    this.generation += 1;
    this.retryAfter = 0;
    this.building = this.build(step);
    void this.building.catch(() => {});
  }

  private async build(step: ReleaseStep | null): Promise<RouteTable> {
    try {
      for (let attempt = 1; ; attempt++) {
        const generation = this.generation;
        const base = attempt === 1 && step !== null ? this.current : null;
        // A patch that cannot be made (or fails) is no error: the table is built whole instead.
        const patched = base && (await this.owner.patchTable(this.environment, base, step!).catch(() => null));
        const table = patched ?? (await this.owner.buildTable(this.environment));
        if (this.removed) {
          this.owner.releaseTable(table);
          throw new Error('the environment was deleted');
        }
        // A change arrived while building: what was read may predate it, so read again — but
        // not forever: under changes faster than a build, the requests waiting get a complete
        // table at most a few changes old, and the next request builds again.
        if (generation !== this.generation && attempt < MAX_BUILD_ATTEMPTS) {
          this.owner.releaseTable(table);
          continue;
        }
        this.swap(table);
        this.builtAt = generation;
        return table;
      }
    } catch (error) {
      this.retryAfter = Date.now() + BUILD_RETRY_MS;
      if (this.current !== null) {
        this.owner.logger?.warn({ err: error, environment: this.environment.slug }, 'gateway route table build failed; the previous table serves');
        return this.current;
      }
      throw error;
    } finally {
      this.building = null;
    }
  }

  private swap(table: RouteTable) {
    const old = this.current;
    this.current = table;
    if (old) this.owner.releaseTable(old);
    for (const problem of table.problems) this.owner.logger?.warn({ environment: this.environment.slug, route: problem.route, code: problem.code }, problem.message);
  }

  remove(): void {
    this.removed = true;
    if (this.current) this.owner.releaseTable(this.current);
    this.current = null;
  }
}

export interface EnvironmentsOptions {
  deps: Deps;
  runtime: Runtime;
  /** The workspace served (STAGELINE_GATEWAY_WORKSPACE). */
  workspace: string;
  /** STAGELINE_GATEWAY_DEFAULT_ENV; absent: the workspace's production (the last of the chain). */
  defaultEnvironment?: string | null;
  factory: TableFactory;
  logger?: FastifyBaseLogger;
}

/** The served workspace's environments by slug and id, kept current by the change feed. */
export class Environments {
  private workspaceId: string | null = null;
  private bySlug = new Map<string, ServedEnvironment>();
  private byId = new Map<string, ServedEnvironment>();
  private fallback: ServedEnvironment | null = null;
  private loading: Promise<void> | null = null;
  private loadedAt = 0;
  private failedAt = 0;
  private failure: unknown = null;
  private stale = true;
  /** Bumped by every event that makes the directory stale. */
  private version = 0;
  /** Route tables compiled whole, and tables patched at the routes a release changed. */
  readonly counts: RebuildCounts = { full: 0, incremental: 0 };
  private readonly unsubscribe: () => void;
  readonly logger: FastifyBaseLogger | undefined;

  constructor(private readonly options: EnvironmentsOptions) {
    this.logger = options.logger;
    this.unsubscribe = options.runtime.feed.subscribe((event) => this.onChange(event));
  }

  /** The workspace's id once known (tables and keys are checked against it). */
  get workspace(): string | null {
    return this.workspaceId;
  }

  /** The environment of a slug if known now; undefined when `load` must decide. */
  bySlugNow(slug: string): ServedEnvironment | undefined {
    return this.stale ? undefined : this.bySlug.get(slug);
  }

  byIdNow(id: string): ServedEnvironment | undefined {
    return this.stale ? undefined : this.byId.get(id);
  }

  /** The default environment if known now; undefined when `load` must decide, null when there is none. */
  defaultNow(): ServedEnvironment | null | undefined {
    return this.stale ? undefined : this.fallback;
  }

  /** Whether the directory is current (no read is needed to answer for a known slug). */
  get ready(): boolean {
    return !this.stale;
  }

  /** The environment of a slug, reading the environments again when it is not known (at most once a second). */
  async bySlugLoaded(slug: string): Promise<ServedEnvironment | undefined> {
    if (this.stale || (!this.bySlug.has(slug) && Date.now() - this.loadedAt >= UNKNOWN_SLUG_REFRESH_MS)) await this.refresh();
    return this.bySlug.get(slug);
  }

  async byIdLoaded(id: string): Promise<ServedEnvironment | undefined> {
    if (this.stale || (!this.byId.has(id) && Date.now() - this.loadedAt >= UNKNOWN_SLUG_REFRESH_MS)) await this.refresh();
    return this.byId.get(id);
  }

  async defaultLoaded(): Promise<ServedEnvironment | null> {
    if (this.stale) await this.refresh();
    return this.fallback;
  }

  /** Reads the environments again; when the database cannot answer, what was read last serves. */
  async refresh(): Promise<void> {
    // After a failed read the next attempt waits a while: the last directory serves meanwhile,
    // or, before any read succeeded, requests get the same failure without asking the database.
    if (this.failure !== null && Date.now() - this.failedAt < BUILD_RETRY_MS) {
      if (this.loadedAt === 0) throw this.failure;
      return;
    }
    try {
      await this.load();
      this.failure = null;
    } catch (error) {
      this.failure = error;
      this.failedAt = Date.now();
      if (this.loadedAt === 0) throw error;
      this.logger?.warn({ err: error }, 'gateway: cannot read the environments; serving the ones read last');
    }
  }

  /** Reads the workspace's environments (one read however many requests wait). */
  load(): Promise<void> {
    return (this.loading ??= this.read().finally(() => (this.loading = null)));
  }

  private async read(): Promise<void> {
    const db = this.options.deps.store.db;
    for (;;) {
      if (this.workspaceId === null) {
        const workspace = await findWorkspace(db, this.options.workspace);
        if (!workspace) throw new UnknownWorkspace(this.options.workspace);
        await this.options.runtime.feed.track(workspace.id);
        this.workspaceId = workspace.id;
      }
      // An environment change during the read makes what was read stale: read once more.
      const version = this.version;
      const all = await listEnvironments(db, this.workspaceId);
      if (version !== this.version) continue;
      this.apply(all);
      this.stale = false;
      this.loadedAt = Date.now();
      return;
    }
  }

  private apply(all: Environment[]) {
    const byId = new Map<string, ServedEnvironment>();
    const bySlug = new Map<string, ServedEnvironment>();
    for (const environment of all) {
      let served = this.byId.get(environment.id);
      if (served) {
        // A changed row (region, slug) keeps its table unless the change feed said otherwise.
        served.environment = environment;
      } else {
        served = new ServedEnvironment(environment, this);
      }
      served.editable = isEditable(environment, all);
      byId.set(environment.id, served);
      bySlug.set(environment.slug, served);
    }
    for (const [id, served] of this.byId) if (!byId.has(id)) served.remove();
    this.byId = byId;
    this.bySlug = bySlug;
    const wanted = this.options.defaultEnvironment;
    const fallback = wanted ? all.find((e) => e.slug === wanted) : defaultEnvironment(all);
    this.fallback = fallback ? byId.get(fallback.id)! : null;
  }

  private onChange(event: ChangeEvent) {
    if (event.workspaceId !== this.workspaceId) return;
    // Environments are created without an event of their own; the first change of one (a
    // branch's fork release, a promotion's release, an override) names an id not known here.
    if (event.type === 'environment' || event.type === 'reset' || (event.environmentId !== null && !this.byId.has(event.environmentId))) {
      this.stale = true;
      this.version += 1;
    }
    const affected: ServedEnvironment[] = [];
    const step = releaseStep(event);
    const stepped = step ? this.byId.get(event.environmentId!) : undefined;
    if (step && stepped) stepped.advance(step);
    else if (AFFECTS_RESOLUTION.has(event.type)) {
      if (event.environmentId === null) affected.push(...this.byId.values());
      else {
        const served = this.byId.get(event.environmentId);
        if (served) affected.push(served);
        // A branch resolves the secrets it has none of with its parent's values.
        if (event.type === 'secret') for (const s of this.byId.values()) if (s.environment.parentId === event.environmentId) affected.push(s);
      }
    } else if (event.type === 'setting' && event.payload.name === 'egress' && event.environmentId !== null) {
      const served = this.byId.get(event.environmentId);
      if (served) affected.push(served);
    }
    for (const served of affected) served.invalidate();
  }

  /** Builds a table of `environment` from its committed release. */
  async buildTable(environment: Environment): Promise<RouteTable> {
    const { runtime } = this.options;
    const state = await runtime.resolver.environment(environment.workspaceId, environment.id);
    if (!state) throw new Error(`environment ${environment.slug} no longer exists`);
    const keys = state.committed
      .ids()
      .filter((id) => id.startsWith('route/'))
      .map((id) => id.slice('route/'.length));
    const [{ routes, secrets }, egress] = await Promise.all([this.routeSources(state, keys), runtime.egress.policy(state.environment)]);
    // Secrets are decrypted only when a route names one.
    const scope = await state.committed.scope(secrets);
    this.counts.full += 1;
    return this.retained(compileTable({ environment: state.environment, routes: routes.filter((r): r is RouteSource => r !== null), scope, egress }, this.tableParts(state.environment)), state);
  }

  /**
   * `base` (the table at `step.from`) with the routes `step` changed compiled again at
   * `step.release`; null when the resolver's state is not at that release (build it whole).
   */
  async patchTable(environment: Environment, base: RouteTable, step: ReleaseStep): Promise<RouteTable | null> {
    const { runtime } = this.options;
    const state = await runtime.resolver.environment(environment.workspaceId, environment.id);
    if (!state || state.environment.headRelease !== step.release || base.atRelease !== step.from) return null;
    const keys = step.resources.filter((id) => id.startsWith('route/')).map((id) => id.slice('route/'.length));
    const [{ routes, secrets }, egress] = await Promise.all([this.routeSources(state, keys), runtime.egress.policy(state.environment)]);
    const scope = await state.committed.scope(secrets);
    const changed = new Map(keys.map((key, i) => [key, routes[i]!]));
    this.counts.incremental += 1;
    return this.retained(patchTable(base, changed, { environment: state.environment, scope, egress }, this.tableParts(state.environment)), state);
  }

  private tableParts(env: Environment): TableParts {
    const { factory } = this.options;
    return { ...factory.parts, limiter: (route, spec) => factory.limiter(env, route, spec), pool: (e, target) => factory.pools.get(e, target) };
  }

  private retained(table: RouteTable, state: EnvironmentResolution): RouteTable {
    table.atRelease = state.environment.headRelease;
    this.options.factory.pools.retain(table.pools);
    return table;
  }

  /**
   * What each route of `keys` is in the state (null: the release has no such route), and
   * whether an active one names a secret.
   */
  private async routeSources(state: EnvironmentResolution, keys: string[]): Promise<{ routes: (RouteSource | null)[]; secrets: boolean }> {
    const env = state.environment;
    const view = state.committed;
    const hashes = keys.map((key) => view.hashOf('route', key));
    const present = hashes.filter((hash): hash is string => hash !== undefined);
    const contents = present.length > 0 ? await getContents(this.options.deps.store.db, env.workspaceId, present) : new Map<string, unknown>();
    const place = { environment: env.slug, version: view.version };
    const routes: (RouteSource | null)[] = [];
    let secrets = false;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const hash = hashes[i];
      if (hash === undefined) {
        routes.push(null);
        continue;
      }
      const content = contents.get(hash);
      const own = state.stateOf('route', key);
      // Resolved as if active so that a switched-off route still holds its prefix (and answers 503).
      const resolution = resolveResource('route', key, { hash, content, override: own.override, active: true }, place);
      if (!resolution.ok) {
        if (resolution.failure.reason !== 'invalid') {
          routes.push(null);
          continue;
        }
        const merged = mergeOverride(content, own.override) as { match?: { pathPrefix?: unknown } } | undefined;
        const prefix = typeof merged?.match?.pathPrefix === 'string' ? merged.match.pathPrefix : ((content as RouteContent | undefined)?.match?.pathPrefix ?? null);
        routes.push({ key, state: 'invalid', pathPrefix: prefix, issues: resolution.failure.issues });
        continue;
      }
      const route = resolution.resource.content;
      if (!own.active) {
        routes.push({ key, state: 'inactive', content: route });
        continue;
      }
      routes.push({ key, state: 'active', content: route });
      if (!secrets && contentReferences(route).some((ref) => ref.startsWith('secrets.'))) secrets = true;
    }
    return { routes, secrets };
  }

  /** A table no longer serves: its pools are released once its last request ends. */
  releaseTable(table: RouteTable): void {
    const pools = this.options.factory.pools;
    table.retire(() => pools.release(table.pools));
  }

  close(): void {
    this.unsubscribe();
    for (const served of this.byId.values()) served.remove();
  }
}

/** STAGELINE_GATEWAY_WORKSPACE names no workspace (yet: an empty database is initialised at start). */
export class UnknownWorkspace extends Error {
  constructor(readonly slug: string) {
    super(`workspace ${slug} does not exist`);
  }
}
