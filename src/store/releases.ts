// Content-addressed storage: documents by hash, snapshots by the hash of their entries, and
// the numbered releases of each environment that point at snapshots.
import type { Selectable } from 'kysely';
import { insertOrTouch, type Db, type Store } from './database.js';
import type { ReleaseTable } from './schema.js';
import { nodeReader, putNodes } from './trees.js';
import { resourceId, splitResourceId, toSnapshot, treeOf, type Snapshot, type SnapshotEntry } from '../domain/releases/snapshot.js';
import { compareIds, getEntry, iterateEntries, loadAll, type Entry, type TreeNode } from '../domain/releases/tree.js';
import type { ResourceKind } from '../domain/resources/kinds.js';

export interface Release {
  environmentId: string;
  number: number;
  snapshotId: string;
  resourceCount: number;
  cause: 'commit' | 'promotion' | 'rollback' | 'merge' | 'fork';
  sourceEnvironment: string | null;
  sourceRelease: number | null;
  message: string;
  authorId: string;
  authorName: string;
  createdAt: string;
}

function toRelease(row: Selectable<ReleaseTable>): Release {
  return {
    environmentId: row.environment_id,
    number: row.number,
    snapshotId: row.snapshot_id,
    resourceCount: row.resource_count,
    cause: row.cause as Release['cause'],
    sourceEnvironment: row.source_environment,
    sourceRelease: row.source_release,
    message: row.message,
    authorId: row.author_id,
    authorName: row.author_name,
    createdAt: row.created_at,
  };
}

/**
 * Stores documents; a hash already present keeps its row and gets `touched_at` = `at`, since the
 * GC may be about to delete it as unreachable (src/services/gc.ts).
 */
export async function putContents(store: Store, db: Db, workspaceId: string, docs: { hash: string; body: string; refs: string[] }[], at: string) {
  const unique = new Map(docs.map((d) => [d.hash, d]));
  const rows = [...unique.values()].map((d) => ({
    workspace_id: workspaceId,
    hash: d.hash,
    body: d.body,
    size: Buffer.byteLength(d.body),
    refs: JSON.stringify(d.refs),
    touched_at: at,
  }));
  await insertOrTouch(store, db, 'contents', 'hash', rows);
}

/** The references recorded for each hash (null where a document predates their recording). */
export async function getContentRefs(db: Db, workspaceId: string, hashes: string[]): Promise<Map<string, string[] | null>> {
  const out = new Map<string, string[] | null>();
  const wanted = [...new Set(hashes)];
  for (let i = 0; i < wanted.length; i += 500) {
    const rows = await db
      .selectFrom('contents')
      .select(['hash', 'refs'])
      .where('workspace_id', '=', workspaceId)
      .where('hash', 'in', wanted.slice(i, i + 500))
      .execute();
    for (const row of rows) out.set(row.hash, row.refs === null ? null : (JSON.parse(row.refs) as string[]));
  }
  return out;
}

export async function getContents(db: Db, workspaceId: string, hashes: string[]): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  const wanted = [...new Set(hashes)];
  for (let i = 0; i < wanted.length; i += 500) {
    const rows = await db
      .selectFrom('contents')
      .select(['hash', 'body'])
      .where('workspace_id', '=', workspaceId)
      .where('hash', 'in', wanted.slice(i, i + 500))
      .execute();
    for (const row of rows) out.set(row.hash, JSON.parse(row.body));
  }
  return out;
}

/** The root of a snapshot's tree (its id, for a snapshot stored since the trees). */
export async function snapshotRoot(db: Db, workspaceId: string, snapshotId: string): Promise<string> {
  const row = await db.selectFrom('snapshots').select('root').where('workspace_id', '=', workspaceId).where('id', '=', snapshotId).executeTakeFirst();
  if (!row) throw new Error(`snapshot ${snapshotId} is not stored`);
  // Stored before the trees and not converted yet: openStore converts every one before serving.
  if (row.root === null) throw new Error(`snapshot ${snapshotId} has not been converted to a tree yet`);
  return row.root;
}

function toEntry(entry: Entry): SnapshotEntry {
  const { kind, key } = splitResourceId(entry.id);
  return { kind: kind as ResourceKind, key, hash: entry.hash, app: entry.app };
}

export async function loadSnapshot(db: Db, workspaceId: string, snapshotId: string): Promise<Snapshot> {
  const root = await snapshotRoot(db, workspaceId, snapshotId);
  return toSnapshot((await loadAll(nodeReader(db, workspaceId), root)).map(toEntry));
}

export async function findSnapshotEntry(db: Db, workspaceId: string, snapshotId: string, kind: string, key: string): Promise<SnapshotEntry | undefined> {
  const entry = await getEntry(nodeReader(db, workspaceId), await snapshotRoot(db, workspaceId, snapshotId), resourceId(kind, key));
  return entry ? toEntry(entry) : undefined;
}

/** One page of a snapshot's entries after a resource id, in (kind, key) order. */
export async function pageSnapshotEntries(
  db: Db,
  workspaceId: string,
  snapshotId: string,
  after: { kind: string; key: string } | null,
  limit: number,
  filter: { kind?: string },
): Promise<SnapshotEntry[]> {
  const root = await snapshotRoot(db, workspaceId, snapshotId);
  const kind = filter.kind;
  // Within one kind: start at its first entry (an empty key sorts before every key of it).
  let start = after ? resourceId(after.kind, after.key) : null;
  if (kind !== undefined && (start === null || compareIds(start, resourceId(kind, '')) < 0)) start = resourceId(kind, '');
  const out: SnapshotEntry[] = [];
  for await (const entry of iterateEntries(nodeReader(db, workspaceId), root, start, kind === undefined ? limit : Infinity)) {
    const next = toEntry(entry);
    if (kind !== undefined && next.kind !== kind) break;
    out.push(next);
    if (out.length >= limit) break;
  }
  return out;
}

/**
 * Stores a snapshot (its id is its tree's root, snapshotId): its row, and its tree's nodes. The
 * row and the nodes stored already are touched (`touched_at` = `at`) rather than rewritten, so
 * the GC keeps every node of the tree this writer references (src/services/gc.ts), even when
 * the same map was stored long ago and has been unreachable since.
 */
export async function saveSnapshot(store: Store, db: Db, workspaceId: string, id: string, snapshot: Snapshot, at: string) {
  const tree = treeOf(snapshot);
  if (tree.root !== id) throw new Error(`snapshot id ${id} is not the root of its entries (${tree.root})`);
  await putSnapshotRow(store, db, workspaceId, id, snapshot.size, at);
  // Most nodes of a snapshot that differs from a stored one in a few entries are stored already:
  // those get a touch, not their bodies again. A node a sweep deleted between the two statements
  // is not among those touched, and is written whole.
  const hashes = [...tree.nodes.keys()];
  const touched = new Set<string>();
  for (let i = 0; i < hashes.length; i += 500) {
    const rows = await db
      .updateTable('tree_nodes')
      .set({ touched_at: at })
      .where('workspace_id', '=', workspaceId)
      .where('hash', 'in', hashes.slice(i, i + 500).sort())
      .returning('hash')
      .execute();
    for (const row of rows) touched.add(row.hash);
  }
  await putNodes(store, db, workspaceId, new Map([...tree.nodes].filter(([hash]) => !touched.has(hash))), at);
}

/**
 * Stores the snapshot a tree update made (`updateTree`): its row and the nodes the update wrote,
 * both touched when stored already. The nodes are put even when the row exists: an old
 * unreachable snapshot's nodes may be half swept. The rest of the tree is shared with the tree
 * the update read, which the GC keeps (see src/services/gc.ts), so a commit writes O(k · log n).
 */
export async function saveTreeSnapshot(store: Store, db: Db, workspaceId: string, update: { root: string; nodes: Map<string, TreeNode>; replaced: Map<string, string> }, count: number, at: string) {
  await putSnapshotRow(store, db, workspaceId, update.root, count, at);
  await putNodes(store, db, workspaceId, update.nodes, at, update.replaced);
}

/** The snapshot's row, inserted, or touched when two transactions (or a GC's victim) have it already. */
async function putSnapshotRow(store: Store, db: Db, workspaceId: string, id: string, count: number, at: string): Promise<void> {
  await insertOrTouch(store, db, 'snapshots', 'id', [{ workspace_id: workspaceId, id, resource_count: count, created_at: at, root: id, touched_at: at }]);
}

export async function insertRelease(db: Db, workspaceId: string, release: Release) {
  await db
    .insertInto('releases')
    .values({
      workspace_id: workspaceId,
      environment_id: release.environmentId,
      number: release.number,
      snapshot_id: release.snapshotId,
      resource_count: release.resourceCount,
      cause: release.cause,
      source_environment: release.sourceEnvironment,
      source_release: release.sourceRelease,
      message: release.message,
      author_id: release.authorId,
      author_name: release.authorName,
      created_at: release.createdAt,
    })
    .execute();
}

export async function findRelease(db: Db, workspaceId: string, environmentId: string, number: number): Promise<Release | undefined> {
  const row = await db
    .selectFrom('releases')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('environment_id', '=', environmentId)
    .where('number', '=', number)
    .executeTakeFirst();
  return row && toRelease(row);
}

export async function listReleases(db: Db, workspaceId: string, environmentId: string, before: number | null, limit: number): Promise<Release[]> {
  let query = db.selectFrom('releases').selectAll().where('workspace_id', '=', workspaceId).where('environment_id', '=', environmentId);
  if (before !== null) query = query.where('number', '<', before);
  const rows = await query.orderBy('number', 'desc').limit(limit).execute();
  return rows.map(toRelease);
}

/** Rows that snapshots take: their tree nodes and any flat rows not converted yet. */
export async function countSnapshotRows(db: Db, workspaceId: string) {
  const count = async (table: 'tree_nodes' | 'snapshot_entries') =>
    Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('workspace_id', '=', workspaceId).executeTakeFirstOrThrow()).n);
  return (await count('tree_nodes')) + (await count('snapshot_entries'));
}
