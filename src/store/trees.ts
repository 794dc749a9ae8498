// Snapshot trees in the database: the nodes of src/domain/releases/tree.ts in tree_nodes, read
// in batches and written once (a node's hash names its content), and the start-up conversion
// of the flat snapshots stored before them.
import { buildTree, encodeNode, type NodeReader, type TreeNode } from '../domain/releases/tree.js';
import { resourceId } from '../domain/releases/snapshot.js';
import type { Db, Store } from './database.js';
import { insertOrTouch } from './database.js';

/** Hashes per `in (…)` query. */
const READ_BATCH = 500;
/** Snapshots converted per query of the start-up conversion. */
const CONVERT_BATCH = 20;

/** Reads a workspace's nodes through `db` (a transaction sees the nodes it wrote itself). */
export function nodeReader(db: Db, workspaceId: string): NodeReader {
  return {
    async get(hashes) {
      const out = new Map<string, TreeNode>();
      const wanted = [...new Set(hashes)];
      for (let i = 0; i < wanted.length; i += READ_BATCH) {
        const rows = await db
          .selectFrom('tree_nodes')
          .select(['hash', 'body'])
          .where('workspace_id', '=', workspaceId)
          .where('hash', 'in', wanted.slice(i, i + READ_BATCH))
          .execute();
        for (const row of rows) out.set(row.hash, JSON.parse(row.body) as TreeNode);
      }
      const missing = wanted.filter((hash) => !out.has(hash));
      if (missing.length > 0) throw new Error(`snapshot tree nodes missing from the store: ${missing.slice(0, 3).join(', ')}`);
      return out;
    },
  };
}

/**
 * Stores nodes; one already present (same hash, same content) keeps its row and gets `touched_at`
 * = `at`, since the GC may be about to delete it as unreachable (src/services/gc.ts).
 */
export async function putNodes(store: Store, db: Db, workspaceId: string, nodes: Map<string, TreeNode>, at: string): Promise<void> {
  if (nodes.size === 0) return;
  const rows = [...nodes].map(([hash, node]) => ({
    workspace_id: workspaceId,
    hash,
    level: node.level,
    count: node.level === 0 ? (node as { entries: unknown[] }).entries.length : (node as { children: { count: number }[] }).children.reduce((n, c) => n + c.count, 0),
    body: encodeNode(node),
    touched_at: at,
  }));
  await insertOrTouch(store, db, 'tree_nodes', 'hash', rows);
}

/**
 * Converts the snapshots stored as flat rows (before migration 0021) to trees, one snapshot per
 * transaction: its nodes, its root, and its flat rows deleted. Resumable (the snapshots left are
 * those without a root) and safe on several nodes at once (every step is idempotent).
 */
export async function convertFlatSnapshots(store: Store, options: { limit?: number } = {}): Promise<number> {
  let converted = 0;
  const limit = options.limit ?? Infinity;
  for (;;) {
    if (converted >= limit) return converted;
    const pending = await store.db.selectFrom('snapshots').select(['workspace_id', 'id']).where('root', 'is', null).limit(Math.min(CONVERT_BATCH, limit - converted)).execute();
    if (pending.length === 0) return converted;
    for (const { workspace_id: workspaceId, id } of pending) {
      await store.transaction(async (tx) => {
        const rows = await tx
          .selectFrom('snapshot_entries')
          .select(['kind', 'key', 'hash', 'app'])
          .where('workspace_id', '=', workspaceId)
          .where('snapshot_id', '=', id)
          .execute();
        const tree = buildTree(rows.map((r) => ({ id: resourceId(r.kind, r.key), hash: r.hash, app: r.app })));
        const at = new Date().toISOString();
        await putNodes(store, tx, workspaceId, tree.nodes, at);
        await tx.updateTable('snapshots').set({ root: tree.root, touched_at: at }).where('workspace_id', '=', workspaceId).where('id', '=', id).where('root', 'is', null).execute();
        await tx.deleteFrom('snapshot_entries').where('workspace_id', '=', workspaceId).where('snapshot_id', '=', id).execute();
      });
      converted += 1;
    }
  }
}
