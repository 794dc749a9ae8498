// Environments of a workspace and their release head, the pointer every release moves.
import type { Db, Store } from './database.js';
import type { Environment } from '../domain/environments/chain.js';
import { flag, toEnvironment } from './rows.js';

export async function listEnvironments(db: Db, workspaceId: string): Promise<Environment[]> {
  const rows = await db.selectFrom('environments').selectAll().where('workspace_id', '=', workspaceId).execute();
  return rows.map(toEnvironment);
}

export async function findEnvironment(db: Db, workspaceId: string, slug: string): Promise<Environment | undefined> {
  const row = await db
    .selectFrom('environments')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('slug', '=', slug)
    .executeTakeFirst();
  return row && toEnvironment(row);
}

/**
 * Re-reads an environment inside a transaction and, where the database has row locks, holds
 * its row until the transaction ends: the release head is read and moved under this lock.
 */
export async function lockEnvironment(store: Store, tx: Db, workspaceId: string, slug: string): Promise<Environment | undefined> {
  let query = tx.selectFrom('environments').selectAll().where('workspace_id', '=', workspaceId).where('slug', '=', slug);
  // NO KEY UPDATE, as for the audit head (src/store/audit.ts): writes referencing the row by
  // foreign key take key-share locks that FOR UPDATE would deadlock against.
  if (store.supportsRowLocks) query = query.forNoKeyUpdate();
  const row = await query.executeTakeFirst();
  return row && toEnvironment(row);
}

export async function insertEnvironment(db: Db, env: Environment) {
  await db
    .insertInto('environments')
    .values({
      id: env.id,
      workspace_id: env.workspaceId,
      slug: env.slug,
      name: env.name,
      kind: env.kind,
      position: env.position,
      protected: flag(env.protected),
      approvals_required: env.approvalsRequired,
      approvals_for_rollback: flag(env.approvalsForRollback),
      obfuscate_data: flag(env.obfuscateData),
      region: env.region,
      color: env.color,
      parent_id: env.parentId,
      head_release: env.headRelease,
      fork_release: env.forkRelease,
      merge_base: env.mergeBase,
      expires_at: env.expiresAt,
      created_at: env.createdAt,
      updated_at: env.updatedAt,
    })
    .execute();
}

/** Writes the name and flags; position and release head move only through their own writes. */
export async function updateEnvironmentFlags(db: Db, env: Environment) {
  await db
    .updateTable('environments')
    .set({
      name: env.name,
      protected: flag(env.protected),
      approvals_required: env.approvalsRequired,
      approvals_for_rollback: flag(env.approvalsForRollback),
      obfuscate_data: flag(env.obfuscateData),
      region: env.region,
      color: env.color,
      updated_at: env.updatedAt,
    })
    .where('workspace_id', '=', env.workspaceId)
    .where('id', '=', env.id)
    .execute();
}

export async function setPositions(db: Db, workspaceId: string, positions: { id: string; position: number }[]) {
  for (const { id, position } of positions) {
    await db.updateTable('environments').set({ position }).where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
  }
}

export async function setHeadRelease(db: Db, workspaceId: string, id: string, head: number, at: string) {
  await db
    .updateTable('environments')
    .set({ head_release: head, updated_at: at })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .execute();
}

export async function countEnvironmentContents(db: Db, workspaceId: string, id: string) {
  const [releases, drafts] = await Promise.all([
    db
      .selectFrom('releases')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('workspace_id', '=', workspaceId)
      .where('environment_id', '=', id)
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('drafts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('workspace_id', '=', workspaceId)
      .where('environment_id', '=', id)
      .executeTakeFirstOrThrow(),
  ]);
  return { releases: Number(releases.n), drafts: Number(drafts.n) };
}

/** The tables holding rows scoped to one environment, by what they hold. */
const SCOPED_TABLES = {
  drafts: 'drafts',
  releases: 'releases',
  overrides: 'overrides',
  killSwitches: 'resource_states',
  apiKeys: 'api_keys',
  secrets: 'secrets',
  variableValues: 'variable_values',
  settings: 'settings',
  freezeWindows: 'freeze_windows',
  dataRecords: 'data_records',
  feedMessages: 'feed_messages',
  promotionRequests: 'promotion_requests',
  workflowRuns: 'workflow_runs',
  gates: 'environment_gates',
  releaseChecks: 'release_checks',
  checklistTicks: 'checklist_ticks',
} as const;

export type EnvironmentContents = Record<keyof typeof SCOPED_TABLES, number>;

/** How many rows of each kind an environment holds (what deleting it removes). */
export async function environmentContents(db: Db, workspaceId: string, id: string): Promise<EnvironmentContents> {
  const counts = await Promise.all(
    Object.entries(SCOPED_TABLES).map(async ([name, table]) => {
      const row = await db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('workspace_id', '=', workspaceId)
        .where('environment_id', '=', id)
        .executeTakeFirstOrThrow();
      return [name, Number(row.n)] as const;
    }),
  );
  return Object.fromEntries(counts) as EnvironmentContents;
}

/** Removes an environment and every row scoped to it. */
export async function deleteEnvironment(db: Db, workspaceId: string, id: string) {
  for (const table of Object.values(SCOPED_TABLES)) {
    await db.deleteFrom(table).where('workspace_id', '=', workspaceId).where('environment_id', '=', id).execute();
  }
  await db.deleteFrom('environments').where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
}

/** Branches whose TTL has run out, across workspaces. */
export async function expiredBranches(db: Db, now: string, limit: number): Promise<{ workspaceId: string; slug: string }[]> {
  const rows = await db
    .selectFrom('environments')
    .select(['workspace_id', 'slug'])
    .where('kind', '=', 'branch')
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ workspaceId: r.workspace_id, slug: r.slug }));
}

/** Reads every environment of a workspace, locking their rows (in id order) for the transaction. */
export async function lockEnvironments(store: Store, tx: Db, workspaceId: string): Promise<Environment[]> {
  let query = tx.selectFrom('environments').selectAll().where('workspace_id', '=', workspaceId).orderBy('id');
  if (store.supportsRowLocks) query = query.forNoKeyUpdate();
  return (await query.execute()).map(toEnvironment);
}

export async function findEnvironmentById(db: Db, workspaceId: string, id: string): Promise<Environment | undefined> {
  const row = await db.selectFrom('environments').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return row && toEnvironment(row);
}

/** Moves a branch's merge base (the snapshot its next merge is three-way against). */
export async function setMergeBase(db: Db, workspaceId: string, id: string, mergeBase: string, at: string) {
  await db.updateTable('environments').set({ merge_base: mergeBase, updated_at: at }).where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
}
