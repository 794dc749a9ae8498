// Diffs between any two states: `env` (current release), `env#N` (a release) or `env~draft`
// (current release with drafts applied), per resource and per field.
import { authorize } from '../domain/auth/permissions.js';
import { invalid } from '../domain/errors.js';
import { SLUG_PATTERN } from '../domain/environments/chain.js';
import { fieldChanges, type ResourceChange } from '../domain/releases/snapshot.js';
import type { TreeNode } from '../domain/releases/tree.js';
import type { Db } from '../store/database.js';
import { getContents } from '../store/releases.js';
import type { CallContext, Deps } from './context.js';
import { environmentOf } from './scope.js';
import { compareRoots, draftTree, headRoot, readerWith, releaseOf, rootOf } from './snapshots.js';

const REF = new RegExp(`^(${SLUG_PATTERN.source.slice(1, -1)})(?:#(\\d{1,9})|~(draft))?$`);

export interface StateRef {
  environment: string;
  release: number | null;
  draft: boolean;
}

export function parseStateRef(text: string, field: string): StateRef {
  const match = REF.exec(text);
  if (!match) {
    throw invalid([{ field, message: `"${text}" is not env, env#N or env~draft`, in: 'query' }]);
  }
  return { environment: match[1]!, release: match[2] ? Number(match[2]) : null, draft: match[3] === 'draft' };
}

/** A state as a tree: its root, and the nodes of a draft state that are not stored. */
async function resolveState(db: Db, ctx: CallContext, ref: StateRef): Promise<{ root: string; nodes: Map<string, TreeNode>; release: number }> {
  const env = await environmentOf(db, ctx, ref.environment);
  authorize(ctx.actor, 'resource.read', env.slug);
  if (ref.draft) {
    const draft = await draftTree(db, env);
    return { root: draft.root, nodes: draft.nodes, release: env.headRelease };
  }
  if (ref.release !== null) {
    const release = await releaseOf(db, env, ref.release);
    return { root: await rootOf(db, env, release.snapshotId), nodes: new Map(), release: release.number };
  }
  return { root: await headRoot(db, env), nodes: new Map(), release: env.headRelease };
}

/** Adds field-level changes to resource changes, reading each distinct content once. */
export async function describeChanges(db: Db, workspaceId: string, changes: ResourceChange[]) {
  const hashes = changes.flatMap((c) => [c.fromHash, c.toHash]).filter((h): h is string => h !== null);
  const contents = await getContents(db, workspaceId, hashes);
  return changes.map((c) => {
    const before = c.fromHash ? contents.get(c.fromHash) : undefined;
    const after = c.toHash ? contents.get(c.toHash) : undefined;
    return {
      kind: c.kind,
      key: c.key,
      status: c.status,
      fromHash: c.fromHash,
      toHash: c.toHash,
      ...(c.fromApp !== c.toApp ? { app: { before: c.fromApp, after: c.toApp } } : {}),
      fields: fieldChanges(before ?? null, after ?? null),
    };
  });
}

export async function diff(deps: Deps, ctx: CallContext, fromText: string, toText: string) {
  const from = parseStateRef(fromText, 'from');
  const to = parseStateRef(toText, 'to');
  const db = deps.store.db;
  const [a, b] = await Promise.all([resolveState(db, ctx, from), resolveState(db, ctx, to)]);
  // Walks only the subtrees whose hashes differ: the cost is what changed, not what exists.
  const changes = await compareRoots(readerWith(db, ctx.workspace.id, new Map([...a.nodes, ...b.nodes])), a.root, b.root);
  return {
    from: { ref: fromText, environment: from.environment, release: a.release, draft: from.draft },
    to: { ref: toText, environment: to.environment, release: b.release, draft: to.draft },
    changes: await describeChanges(db, ctx.workspace.id, changes),
  };
}
