// In-memory resolved environments for the delivery API, serialised once per build: a read is
// a map lookup and a write of bytes already made. A change event for an environment drops its
// views; the next read rebuilds them.
import { createHash } from 'node:crypto';
import type { StagelineError } from '../domain/errors.js';
import type { ApiKeyKind } from '../services/api-keys.js';
import type { Deps } from '../services/context.js';
import { resolveEnvironment } from '../services/delivery.js';
import type { ChangeEvent } from '../store/changes.js';
import type { ChangeFeed } from './change-feed.js';

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

export class DeliveryCache {
  private readonly views = new Map<string, Promise<EnvironmentView | null>>();
  /** Views whose build has finished, for reads that need not wait. */
  private readonly ready = new Map<string, EnvironmentView>();
  /** Branch environment id → its parent's id, learnt when a branch's view is built. */
  private readonly parents = new Map<string, string>();

  constructor(
    private readonly deps: Deps,
    private readonly feed: ChangeFeed,
  ) {
    feed.subscribe((event) => this.invalidate(event));
  }

  /** The built view, if it is in memory now. */
  viewNow(workspaceId: string, environmentId: string, kind: ApiKeyKind): EnvironmentView | undefined {
    return this.ready.get(`${workspaceId}/${environmentId}/${kind}`);
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
    const resolved = await resolveEnvironment(this.deps, workspaceId, environmentId, kind);
    if (!resolved) {
      this.parents.delete(environmentId);
      return null;
    }
    if (resolved.environment.parentId) this.parents.set(environmentId, resolved.environment.parentId);
    const resources = new Map<string, Served | StagelineError>();
    const bodies: string[] = [];
    const errors: { kind: string; key: string; code: string; message: string }[] = [];
    for (const [id, entry] of resolved.entries) {
      if (entry.ok) {
        const body = JSON.stringify(entry.resource);
        bodies.push(body);
        resources.set(id, { body: prepared(body), etag: `"${entry.resource.hash.slice(0, 27)}"` });
      } else {
        resources.set(id, entry.error);
        const [resourceKind, ...key] = id.split('/');
        errors.push({ kind: resourceKind!, key: key.join('/'), code: entry.error.code, message: entry.error.message });
      }
    }
    const tail = errors.length > 0 ? `,"errors":${JSON.stringify(errors)}` : '';
    const list = `{"data":[${bodies.join(',')}],"next":null,"release":${resolved.release}${tail}}`;
    return { release: resolved.release, list: { body: prepared(list), etag: etagOf(list) }, resources };
  }
}
