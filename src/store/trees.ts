// Snapshot trees in the database: the nodes of src/domain/releases/tree.ts in tree_nodes, read
// in batches and written once (a node's hash names its content), and the start-up conversion
// of the flat snapshots stored before them.
import { buildTree, encodeNode, type NodeReader, type TreeNode } from '../domain/releases/tree.js';
import { applyDelta, deltaWorthIt, nodeDelta, type NodeDelta } from '../domain/releases/tree-delta.js';
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
      const wanted = [...new Set(hashes)];
      const rows = await nodeRows(db, workspaceId, wanted);
      // A delta's keyframe is whole (every delta names one directly): one more read at most.
      const keyframes = [...new Set([...rows.values()].flatMap((row) => (row.base !== null && !rows.has(row.base) ? [row.base] : [])))];
      for (const [hash, row] of await nodeRows(db, workspaceId, keyframes)) rows.set(hash, row);
      const out = new Map<string, TreeNode>();
      for (const hash of wanted) {
        const row = rows.get(hash);
        if (row) out.set(hash, decodeRow(row, rows));
      }
      const missing = wanted.filter((hash) => !out.has(hash));
      if (missing.length > 0) throw new Error(`snapshot tree nodes missing from the store: ${missing.slice(0, 3).join(', ')}`);
      return out;
    },
  };
}

interface NodeRow {
  body: string;
  base: string | null;
}

async function nodeRows(db: Db, workspaceId: string, hashes: string[]): Promise<Map<string, NodeRow>> {
  const out = new Map<string, NodeRow>();
  for (let i = 0; i < hashes.length; i += READ_BATCH) {
    const rows = await db
      .selectFrom('tree_nodes')
      .select(['hash', 'body', 'base'])
      .where('workspace_id', '=', workspaceId)
      .where('hash', 'in', hashes.slice(i, i + READ_BATCH))
      .execute();
    for (const row of rows) out.set(row.hash, { body: row.body, base: row.base });
  }
  return out;
}

function decodeRow(row: NodeRow, rows: Map<string, NodeRow>): TreeNode {
  if (row.base === null) return JSON.parse(row.body) as TreeNode;
  const keyframe = rows.get(row.base);
  if (!keyframe || keyframe.base !== null) throw new Error(`snapshot tree node keyframe ${row.base} is missing or not whole`);
  return applyDelta(JSON.parse(keyframe.body) as TreeNode, JSON.parse(row.body) as NodeDelta);
}

/**
 * Stores nodes; one already present (same hash, same content) keeps its row and gets `touched_at`
 * = `at`, since the GC may be about to delete it as unreachable (src/services/gc.ts). A node that took the place of a stored one (`replaced`, from updateTree) is stored as a delta
 * of that one's keyframe when the delta is small (tree-delta.ts): a commit of one change then
 * adds a few items per level, not a whole node per level.
 */
export async function putNodes(store: Store, db: Db, workspaceId: string, nodes: Map<string, TreeNode>, at: string, replaced: Map<string, string> = new Map()): Promise<void> {
  if (nodes.size === 0) return;
  const predecessors = await nodeRows(db, workspaceId, [...new Set([...nodes.keys()].flatMap((hash) => (replaced.has(hash) ? [replaced.get(hash)!] : [])))]);
  const keyframeOf = (hash: string) => {
    const row = predecessors.get(hash);
    return row ? (row.base ?? hash) : null;
  };
  // Whole predecessors are their own keyframes; a delta predecessor's keyframe is read.
  const keyframes = new Map([...predecessors].filter(([, row]) => row.base === null));
  const further = [...new Set([...predecessors.values()].flatMap((row) => (row.base !== null && !keyframes.has(row.base) ? [row.base] : [])))];
  for (const [hash, row] of await nodeRows(db, workspaceId, further)) keyframes.set(hash, row);
  const rows = [...nodes].map(([hash, node]) => {
    const count = node.level === 0 ? (node as { entries: unknown[] }).entries.length : (node as { children: { count: number }[] }).children.reduce((n, c) => n + c.count, 0);
    const previous = replaced.get(hash);
    const keyframe = previous === undefined ? null : keyframeOf(previous);
    const whole = keyframe === null ? undefined : keyframes.get(keyframe);
    const delta = whole && whole.base === null ? nodeDelta(JSON.parse(whole.body) as TreeNode, node) : null;
    if (delta && deltaWorthIt(node, delta)) return { workspace_id: workspaceId, hash, level: node.level, count, body: JSON.stringify(delta), base: keyframe, touched_at: at };
    return { workspace_id: workspaceId, hash, level: node.level, count, body: encodeNode(node), base: null, touched_at: at };
  });
  await insertOrTouch(store, db, 'tree_nodes', 'hash', rows);
  // A delta's keyframe is read with it: the GC keeps the keyframes of the nodes it keeps, and
  // one a new delta names is touched like a node re-used.
  const named = [...new Set(rows.flatMap((row) => (row.base !== null ? [row.base] : [])))];
  for (let i = 0; i < named.length; i += READ_BATCH) {
    await db.updateTable('tree_nodes').set({ touched_at: at }).where('workspace_id', '=', workspaceId).where('hash', 'in', named.slice(i, i + READ_BATCH)).execute();
  }
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
