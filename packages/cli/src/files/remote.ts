// The server side of configuration as code: an environment's resources through one paged list
// (hashes and draft states) and concurrent reads of the contents that are needed, never one
// request waiting on the last.
import type { components, Connection } from '../api.js';
import type { Progress } from '../output.js';
import { resourceId, type Json, type ResourceKind } from './format.js';

export type Environment = components['schemas']['Environment'];
export type ResourceSummary = components['schemas']['ResourceSummary'];
export type Resource = components['schemas']['Resource'];

/** How many requests are in flight at once when reading or writing many resources. */
export const CONCURRENCY = 24;

export async function readEnvironment(conn: Connection, env: string): Promise<Environment> {
  return conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}', { params: { path: conn.ws({ env }) } }));
}

/** Every resource of the environment (all pages), by `kind/key`. */
export async function listResources(conn: Connection, env: string): Promise<Map<string, ResourceSummary>> {
  const out = new Map<string, ResourceSummary>();
  let cursor: string | undefined;
  do {
    const page = await conn.call(
      conn.api.GET('/api/workspaces/{ws}/environments/{env}/resources', { params: { path: conn.ws({ env }), query: { limit: 500, ...(cursor ? { cursor } : {}) } } }),
    );
    for (const summary of page.data) out.set(resourceId(summary.kind, summary.key), summary);
    cursor = page.next ?? undefined;
  } while (cursor);
  return out;
}

export async function readResource(conn: Connection, env: string, kind: ResourceKind, key: string): Promise<Resource> {
  return conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}', { params: { path: conn.ws({ env, kind, key }) } }));
}

/** A resource's working state: the draft if any (null for a drafted deletion), else the committed content. */
export function workingState(resource: Resource, editable: boolean): { content: Json; hash: string } | null {
  if (editable && resource.draft) return resource.draft.deleted || resource.draft.hash === null ? null : { content: resource.draft.content as Json, hash: resource.draft.hash };
  return resource.committed ? { content: resource.committed.content as Json, hash: resource.committed.hash } : null;
}

/** The hash of the working state from a list entry when it tells it (no draft); undefined when only a read can. */
export function summaryHash(summary: ResourceSummary, editable: boolean): string | null | undefined {
  if (editable && summary.draft === 'deleted') return null;
  if (editable && summary.draft !== null) return undefined;
  return summary.committedHash;
}

/** Runs `task` over the items with at most `limit` in flight, results in the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>, progress?: Progress): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let done = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await task(items[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
      progress?.tick(++done);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  } finally {
    progress?.done();
  }
  return results;
}
