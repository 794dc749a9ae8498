// In-memory resolved environments for the delivery API, serialised once per build: a read is
// a map lookup and a write of bytes already made. A change event for an environment drops its
// views; the next read rebuilds them.
import { createHash } from 'node:crypto';
import type { StagelineError } from '../domain/errors.js';
import { resourceId } from '../domain/releases/snapshot.js';
import { deliveredEntry } from '../domain/resolution/resolve.js';
import type { ApiKeyKind } from '../services/api-keys.js';
import type { ChangeEvent } from '../store/changes.js';
import type { ChangeFeed } from './change-feed.js';
import type { Resolver } from './resolver.js';

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
}

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
      const building = this.feed.track(workspaceId).then(() => this.build(workspaceId, environmentId, kind));
      view = building;
      this.views.set(key, building);
      building.then(
        (built) => {
          if (built && this.views.get(key) === building) this.ready.set(key, built);
        },
        () => {
          if (this.views.get(key) === building) this.views.delete(key);
        },
      );
    }
    return view;
  }

  private invalidate(event: ChangeEvent) {
    if (!AFFECTS_DELIVERY.has(event.type)) return;
    const prefixes = [event.environmentId === null ? `${event.workspaceId}/` : `${event.workspaceId}/${event.environmentId}/`];
    // A branch resolves the secrets it has none of with its parent's values.
    if (event.type === 'secret' && event.environmentId !== null) {
      for (const [branch, parent] of this.parents) if (parent === event.environmentId) prefixes.push(`${event.workspaceId}/${branch}/`);
    }
    for (const key of this.views.keys()) {
      if (!prefixes.some((prefix) => key.startsWith(prefix))) continue;
      this.views.delete(key);
      this.ready.delete(key);
    }
  }

  private async build(workspaceId: string, environmentId: string, kind: ApiKeyKind): Promise<EnvironmentView | null> {
    const state = await this.resolver.environment(workspaceId, environmentId);
    if (!state) {
      this.parents.delete(environmentId);
      return null;
    }
    if (state.environment.parentId) this.parents.set(environmentId, state.environment.parentId);
    const [resolutions, scope] = await Promise.all([state.committed.resolveAll(), state.scope(kind === 'secret')]);
    const release = state.environment.headRelease;
    const resources = new Map<string, Served | StagelineError>();
    const bodies: string[] = [];
    const errors: { kind: string; key: string; code: string; message: string }[] = [];
    for (const resolution of resolutions) {
      const entry = deliveredEntry(resolution, kind, scope);
      if (!entry) continue;
      if (entry.ok) {
        const body = JSON.stringify(entry.resource);
        bodies.push(body);
        resources.set(resourceId(entry.resource.kind, entry.resource.key), { body: prepared(body), etag: `"${entry.resource.hash.slice(0, 27)}"` });
      } else {
        const id = resolution.ok ? resourceId(resolution.resource.kind, resolution.resource.key) : resolution.failure.id;
        resources.set(id, entry.error);
        const [resourceKind, ...key] = id.split('/');
        errors.push({ kind: resourceKind!, key: key.join('/'), code: entry.error.code, message: entry.error.message });
      }
    }
    const tail = errors.length > 0 ? `,"errors":${JSON.stringify(errors)}` : '';
    const list = `{"data":[${bodies.join(',')}],"next":null,"release":${release}${tail}}`;
    return { release, list: { body: prepared(list), etag: etagOf(list) }, resources };
  }
}
