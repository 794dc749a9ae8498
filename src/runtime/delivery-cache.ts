// In-memory resolved environments for the delivery API, serialised once per build: a read is
// a map lookup and a write of bytes already made. A change event for an environment drops its
// views and the next read rebuilds them — except a release that names the resources it changed
// and follows the release a view holds: only those are resolved again (release-changes.ts).
import { createHash } from 'node:crypto';
import type { StagelineError } from '../domain/errors.js';
import { resourceId } from '../domain/releases/snapshot.js';
import { deliveredEntry, type Resolution } from '../domain/resolution/resolve.js';
import type { RenderScope } from '../domain/templates/render.js';
import type { ApiKeyKind } from '../services/api-keys.js';
import type { ChangeEvent } from '../store/changes.js';
import type { ChangeFeed } from './change-feed.js';
import { advanceOrRebuild, releaseStep, type RebuildCounts, type ReleaseStep } from './release-changes.js';
import type { EnvironmentResolution, Resolver } from './resolver.js';

export interface Served {
  /**
   * The JSON answer, ready to write. Large answers are encoded to bytes once; small ones stay
   * strings, which Node writes in one piece with the headers.
   */
  body: string | Buffer;
  etag: string;
}

const ENCODE_ABOVE_CHARS = 16 * 1024;

function prepared(body: string): string | Buffer {
  return body.length > ENCODE_ABOVE_CHARS ? Buffer.from(body) : body;
}

export interface EnvironmentView {
  release: number;
  list: Served;
  resources: Map<string, Served | StagelineError>;
  /** What the list is made of, per resource id, for a release step to patch. */
  items: Map<string, ListItem>;
  /** The ids of `items`, sorted as the list answers them. */
  order: string[];
}

/** One resource of the list: its JSON, or the error that replaces it there. */
type ListItem = { body: string } | { error: { kind: string; key: string; code: string; message: string } };

/** Change types that alter what the delivery API serves. */
// `reset` (this node missed pruned events) is workspace-wide: every view of the workspace goes.
const AFFECTS_DELIVERY = new Set(['release', 'override', 'active', 'secret', 'variable', 'environment', 'reset']);

function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** What names a view: the workspace, environment and key kind of a runtime credential. */
export interface ViewScope {
  readonly workspaceId: string;
  readonly environmentId: string;
  readonly kind: ApiKeyKind;
}

export class DeliveryCache {
  private readonly views = new Map<string, Promise<EnvironmentView | null>>();
  /** Views whose build has finished, for reads that need not wait. */
  private readonly ready = new Map<string, EnvironmentView>();
  private readonly viewKeys = new WeakMap<ViewScope, string>();
  /** Branch environment id → its parent's id, learnt when a branch's view is built. */
  private readonly parents = new Map<string, string>();
  /** Views built whole, and views moved by a release step. */
  readonly counts: RebuildCounts = { full: 0, incremental: 0 };

  constructor(
    private readonly resolver: Resolver,
    private readonly feed: ChangeFeed,
  ) {
    feed.subscribe((event) => this.invalidate(event));
  }

  /**
   * The built view of a key's environment, if it is in memory now. The map key is made once
   * per key object (a cached principal), not once per read.
   */
  viewNow(scope: ViewScope): EnvironmentView | undefined {
    let key = this.viewKeys.get(scope);
    if (key === undefined) {
      key = `${scope.workspaceId}/${scope.environmentId}/${scope.kind}`;
      this.viewKeys.set(scope, key);
    }
    return this.ready.get(key);
  }

  async view(workspaceId: string, environmentId: string, kind: ApiKeyKind): Promise<EnvironmentView | null> {
    const key = `${workspaceId}/${environmentId}/${kind}`;
    let view = this.views.get(key);
    if (!view) {
      // Follow the workspace before reading it, so a change committed during the build is
      // dispatched afterwards and drops this view again.
      view = this.follow(key, this.feed.track(workspaceId).then(() => this.build(workspaceId, environmentId, kind)));
    }
    return view;
  }

  /** Makes `building` the view of `key`, served without waiting once it is built. */
  private follow(key: string, building: Promise<EnvironmentView | null>): Promise<EnvironmentView | null> {
    this.views.set(key, building);
    this.ready.delete(key);
    building.then(
      (built) => {
        if (built && this.views.get(key) === building) this.ready.set(key, built);
      },
      () => {
        if (this.views.get(key) === building) this.views.delete(key);
      },
    );
    return building;
  }

  private invalidate(event: ChangeEvent) {
    if (!AFFECTS_DELIVERY.has(event.type)) return;
    const prefixes = [event.environmentId === null ? `${event.workspaceId}/` : `${event.workspaceId}/${event.environmentId}/`];
    // A branch resolves the secrets it has none of with its parent's values.
    if (event.type === 'secret' && event.environmentId !== null) {
      for (const [branch, parent] of this.parents) if (parent === event.environmentId) prefixes.push(`${event.workspaceId}/${branch}/`);
    }
    const step = releaseStep(event);
    for (const [key, previous] of [...this.views]) {
      if (!prefixes.some((prefix) => key.startsWith(prefix))) continue;
      if (step) {
        this.advance(key, previous, event.workspaceId, event.environmentId!, step);
        continue;
      }
      this.views.delete(key);
      this.ready.delete(key);
    }
  }

  private advance(key: string, previous: Promise<EnvironmentView | null>, workspaceId: string, environmentId: string, step: ReleaseStep) {
    const kind = key.slice(key.lastIndexOf('/') + 1) as ApiKeyKind;
    // Taken now: the resolver follows the feed first (it subscribed first), so this is its state
    // at exactly this step, not at a later change.
    const state = this.resolver.environment(workspaceId, environmentId);
    state.catch(() => {});
    this.follow(
      key,
      advanceOrRebuild(
        previous,
        (view) => view.release,
        step,
        (view) => this.stepped(view, state, kind, step),
        () => this.build(workspaceId, environmentId, kind),
      ),
    );
  }

  /** `view` at the step's release: the changed resources resolved again, the others kept as they are. */
  private async stepped(view: EnvironmentView, pending: Promise<EnvironmentResolution | null>, kind: ApiKeyKind, step: ReleaseStep): Promise<EnvironmentView | null> {
    const state = await pending;
    if (!state || state.environment.headRelease !== step.release) return null;
    const [resolutions, scope] = await Promise.all([state.committed.resolveSome(step.resources), state.scope(kind === 'secret')]);
    const resources = new Map(view.resources);
    const items = new Map(view.items);
    for (const id of step.resources) {
      resources.delete(id);
      items.delete(id);
    }
    for (const resolution of resolutions) deliver(resolution, kind, scope, resources, items);
    // Ids that are gone leave the order as it was; new ones are sorted in as a rebuild sorts them.
    const order = view.order.filter((id) => items.has(id));
    const added = step.resources.filter((id) => items.has(id) && !view.items.has(id));
    if (added.length > 0) {
      order.push(...added);
      order.sort();
    }
    this.counts.incremental += 1;
    return assemble(step.release, order, items, resources);
  }

  private async build(workspaceId: string, environmentId: string, kind: ApiKeyKind): Promise<EnvironmentView | null> {
    const state = await this.resolver.environment(workspaceId, environmentId);
    if (!state) {
      this.parents.delete(environmentId);
      return null;
    }
    if (state.environment.parentId) this.parents.set(environmentId, state.environment.parentId);
    this.counts.full += 1;
    const [resolutions, scope] = await Promise.all([state.committed.resolveAll(), state.scope(kind === 'secret')]);
    const resources = new Map<string, Served | StagelineError>();
    const items = new Map<string, ListItem>();
    for (const resolution of resolutions) deliver(resolution, kind, scope, resources, items);
    // resolveAll answers in id order.
    return assemble(state.environment.headRelease, [...items.keys()], items, resources);
  }
}

/** Adds what a key of `kind` is served of one resolution (nothing when it sees none of it). */
function deliver(resolution: Resolution, kind: ApiKeyKind, scope: RenderScope, resources: Map<string, Served | StagelineError>, items: Map<string, ListItem>) {
  const entry = deliveredEntry(resolution, kind, scope);
  if (!entry) return;
  if (entry.ok) {
    const body = JSON.stringify(entry.resource);
    const id = resourceId(entry.resource.kind, entry.resource.key);
    resources.set(id, { body: prepared(body), etag: `"${entry.resource.hash.slice(0, 27)}"` });
    items.set(id, { body });
  } else {
    const id = resolution.ok ? resourceId(resolution.resource.kind, resolution.resource.key) : resolution.failure.id;
    resources.set(id, entry.error);
    const [resourceKind, ...key] = id.split('/');
    items.set(id, { error: { kind: resourceKind!, key: key.join('/'), code: entry.error.code, message: entry.error.message } });
  }
}

/** The view of a release from its items in list order: the list's body made once, here. */
function assemble(release: number, order: string[], items: Map<string, ListItem>, resources: Map<string, Served | StagelineError>): EnvironmentView {
  // The list (a join, a hash and an encoding of every resource's JSON) is made on its first
  // read, not when a release step lands: the step then costs what changed, and a change that
  // nobody lists before the next one is never joined at all.
  let list: Served | undefined;
  return {
    release,
    get list() {
      return (list ??= listOf(release, order, items));
    },
    resources,
    items,
    order,
  };
}

function listOf(release: number, order: string[], items: Map<string, ListItem>): Served {
  const bodies: string[] = [];
  const errors: { kind: string; key: string; code: string; message: string }[] = [];
  for (const id of order) {
    const item = items.get(id)!;
    if ('body' in item) bodies.push(item.body);
    else errors.push(item.error);
  }
  const tail = errors.length > 0 ? `,"errors":${JSON.stringify(errors)}` : '';
  const list = `{"data":[${bodies.join(',')}],"next":null,"release":${release}${tail}}`;
  return { body: prepared(list), etag: etagOf(list) };
}
