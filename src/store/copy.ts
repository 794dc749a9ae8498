// Whole-installation copies between databases (src/services/db-copy.ts): which tables are copied
// and in what order, reading them in primary-key pages, and the target's resumable progress.
import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Db, Store } from './database.js';
import type { Database } from './schema.js';

export type Row = Record<string, unknown>;

export interface CopiedTable {
  name: keyof Database & string;
  /** The primary key: rows are read in its order and a resumed copy continues after the last one. */
  key: string[];
}

const byId = (name: CopiedTable['name']): CopiedTable => ({ name, key: ['id'] });

/**
 * Every table that holds an installation's state, parents before the rows whose foreign keys
 * name them (members after users and workspaces, workflow steps after their runs, …). Rows that
 * name others without a foreign key (tree_nodes.base, releases.snapshot_id, environments.parent_id)
 * may arrive in any order.
 */
export const COPIED_TABLES: CopiedTable[] = [
  byId('workspaces'),
  byId('users'),
  byId('members'),
  byId('tokens'),
  byId('environments'),
  { name: 'contents', key: ['workspace_id', 'hash'] },
  { name: 'snapshots', key: ['workspace_id', 'id'] },
  { name: 'snapshot_entries', key: ['workspace_id', 'snapshot_id', 'kind', 'key'] },
  { name: 'tree_nodes', key: ['workspace_id', 'hash'] },
  { name: 'releases', key: ['environment_id', 'number'] },
  { name: 'drafts', key: ['environment_id', 'kind', 'key'] },
  { name: 'overrides', key: ['environment_id', 'kind', 'key'] },
  { name: 'resource_states', key: ['environment_id', 'kind', 'key'] },
  { name: 'audit_log', key: ['workspace_id', 'seq'] },
  { name: 'audit_keys', key: ['workspace_id'] },
  { name: 'variables', key: ['workspace_id', 'name'] },
  { name: 'variable_values', key: ['workspace_id', 'name', 'environment_id'] },
  { name: 'settings', key: ['environment_id', 'name'] },
  { name: 'recipient_preferences', key: ['environment_id', 'recipient'] },
  { name: 'workspace_keys', key: ['workspace_id'] },
  { name: 'secrets', key: ['environment_id', 'name'] },
  byId('api_keys'),
  { name: 'change_events', key: ['workspace_id', 'seq'] },
  byId('freeze_windows'),
  byId('review_items'),
  { name: 'data_records', key: ['environment_id', 'collection', 'id'] },
  byId('promotion_requests'),
  { name: 'promotion_approvals', key: ['request_id', 'actor_id', 'decision'] },
  byId('feed_messages'),
  byId('workflow_runs'),
  { name: 'workflow_steps', key: ['run_id', 'step', 'recipient_index'] },
  byId('workflow_jobs'),
  byId('activity_log'),
  { name: 'metric_rollups', key: ['node_id', 'resolution', 'bucket_start', 'workspace_id', 'environment_id', 'family', 'subject'] },
  byId('alert_rules'),
  byId('alert_silences'),
  byId('alert_events'),
  byId('alert_notifications'),
  { name: 'environment_gates', key: ['workspace_id', 'environment_id'] },
  byId('release_checks'),
  { name: 'checklist_ticks', key: ['workspace_id', 'request_id', 'item'] },
  byId('watches'),
  { name: 'environment_holds', key: ['environment_id'] },
  byId('event_subscriptions'),
  byId('events'),
  byId('event_deliveries'),
];

/** The progress of a copy into a target, until it has been verified. */
export const PROGRESS_TABLE = 'stageline_copy_progress';

/** Tables a copy leaves behind, and why (docs/backup.md). */
export const SKIPPED_TABLES: Record<string, string> = {
  leases: 'held by the running nodes of the source; the target’s nodes take their own',
  stageline_migrations: 'the target records its own migrations (it is migrated to the same schema first)',
  stageline_migrations_lock: 'the migrator’s lock',
  [PROGRESS_TABLE]: 'the progress of a copy into this database',
};

/** Fails on a table that is neither copied nor skipped on purpose: a new migration must say which it is. */
export async function checkTableSet(store: Store): Promise<void> {
  const known = new Set([...COPIED_TABLES.map((t) => t.name), ...Object.keys(SKIPPED_TABLES)]);
  const tables = await store.db.introspection.getTables();
  const unknown = tables.map((t) => t.name).filter((name) => !known.has(name) && !name.startsWith('sqlite_'));
  if (unknown.length > 0) throw new Error(`tables this version does not know how to copy: ${unknown.join(', ')} (src/store/copy.ts COPIED_TABLES)`);
}

/** The newest migration applied: the schema a copy or backup is of. */
export async function schemaVersion(db: Db): Promise<string> {
  const row = await (db as unknown as Kysely<any>).selectFrom('stageline_migrations').select('name').orderBy('name', 'desc').limit(1).executeTakeFirst();
  if (!row) throw new Error('the database has no migrations applied');
  return row.name as string;
}

/** One page of `table` after `after` (a primary key, null for the first page), in key order. */
export async function readPage(db: Db, table: CopiedTable, after: unknown[] | null, limit: number): Promise<Row[]> {
  let query = (db as unknown as Kysely<any>).selectFrom(table.name).selectAll();
  if (after) {
    const columns = sql.join(table.key.map((column) => sql.ref(column)));
    query = query.where(sql<boolean>`(${columns}) > (${sql.join(after)})`);
  }
  for (const column of table.key) query = query.orderBy(column);
  return (await query.limit(limit).execute()) as Row[];
}

export function keyOf(table: CopiedTable, row: Row): unknown[] {
  return table.key.map((column) => row[column]);
}

export async function countRows(db: Db, table: string): Promise<number> {
  const row = await (db as unknown as Kysely<any>)
    .selectFrom(table)
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * An order-independent digest of every row of a table (the sum of the rows' SHA-256 modulo
 * 2^256): equal on two databases when they hold the same rows with the same values, whatever
 * order each database returns them in.
 */
export async function tableDigest(db: Db, table: CopiedTable): Promise<{ rows: number; digest: string }> {
  let sum = 0n;
  let rows = 0;
  for (let after: unknown[] | null = null; ; ) {
    const page = await readPage(db, table, after, 1000);
    for (const row of page) sum = (sum + rowHash(row)) & MASK;
    rows += page.length;
    if (page.length < 1000) break;
    after = keyOf(table, page[page.length - 1]!);
  }
  return { rows, digest: sum.toString(16).padStart(64, '0') };
}

const MASK = (1n << 256n) - 1n;

/** Both databases hand back the same JS values for a column (text, integer and double only, no booleans or bytes). */
function rowHash(row: Row): bigint {
  const fields = Object.keys(row)
    .sort()
    .map((column) => [column, row[column] ?? null]);
  return BigInt('0x' + createHash('sha256').update(JSON.stringify(fields)).digest('hex'));
}

export async function listWorkspaceRefs(db: Db): Promise<{ id: string; slug: string; name: string }[]> {
  return db.selectFrom('workspaces').select(['id', 'slug', 'name']).orderBy('id').execute();
}

export interface TableProgress {
  /** Rows copied so far (a resumed copy from a backup file skips as many). */
  copied: number;
  /** The primary key of the last row copied (a resumed copy from a database reads after it). */
  lastKey: unknown[] | null;
}

export interface CopyProgress {
  /** What the copy is from: a resumed copy must name the same source. */
  source: string;
  tables: Map<string, TableProgress>;
}

const HEADER = '';

/** The progress recorded in the target, or null when no copy into it has started. */
export async function readProgress(store: Store): Promise<CopyProgress | null> {
  const tables = await store.db.introspection.getTables();
  if (!tables.some((t) => t.name === PROGRESS_TABLE)) return null;
  const rows = await (store.db as unknown as Kysely<any>).selectFrom(PROGRESS_TABLE).selectAll().execute();
  const header = rows.find((row) => row.name === HEADER);
  if (!header) return null;
  const progress: CopyProgress = { source: header.source as string, tables: new Map() };
  for (const row of rows) {
    if (row.name === HEADER) continue;
    progress.tables.set(row.name as string, { copied: Number(row.copied), lastKey: row.last_key === null ? null : (JSON.parse(row.last_key as string) as unknown[]) });
  }
  return progress;
}

/** The first copied table that holds rows (a target must be empty before a copy starts). */
export async function firstNonEmptyTable(store: Store): Promise<string | null> {
  for (const table of COPIED_TABLES) {
    if ((await readPage(store.db, table, null, 1)).length > 0) return table.name;
  }
  return null;
}

export async function startProgress(store: Store, source: string, at: string): Promise<void> {
  const db = store.db as unknown as Kysely<any>;
  await db.schema
    .createTable(PROGRESS_TABLE)
    .ifNotExists()
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('source', 'text')
    .addColumn('copied', 'integer', (c) => c.notNull())
    .addColumn('last_key', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.insertInto(PROGRESS_TABLE).values({ name: HEADER, source, copied: 0, last_key: null, updated_at: at }).execute();
}

/** Bound parameters per statement, below each database's limit (SQLite 32,766, PostgreSQL 65,535). */
const PARAMETERS = { sqlite: 30_000, postgres: 60_000 } as const;

/**
 * Writes one page of rows and the table's new progress in one transaction: an interrupted copy
 * has either both or neither, so a resumed one neither skips nor repeats a row. A row present
 * already (the same primary key) is left as it is.
 */
export async function writePage(store: Store, table: string, rows: Row[], progress: TableProgress, at: string): Promise<void> {
  const perStatement = Math.max(1, Math.floor(PARAMETERS[store.dialect] / Math.max(1, Object.keys(rows[0] ?? {}).length)));
  await store.transaction(async (tx) => {
    const db = tx as unknown as Kysely<any>;
    for (let i = 0; i < rows.length; i += perStatement) {
      await db
        .insertInto(table)
        .values(rows.slice(i, i + perStatement))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    const values = { name: table, source: null, copied: progress.copied, last_key: progress.lastKey ? JSON.stringify(progress.lastKey) : null, updated_at: at };
    await db
      .insertInto(PROGRESS_TABLE)
      .values(values)
      .onConflict((oc) => oc.column('name').doUpdateSet({ copied: values.copied, last_key: values.last_key, updated_at: at }))
      .execute();
  });
}

/** Removes the progress once the copy has been verified: the target is an installation like any other. */
export async function dropProgress(store: Store): Promise<void> {
  await (store.db as unknown as Kysely<any>).schema.dropTable(PROGRESS_TABLE).ifExists().execute();
}

/**
 * Moves every PostgreSQL sequence owned by a column past the largest value copied into it.
 * The schema has none today (ids are text, counters are columns of their rows), so this is
 * for a future serial or identity column; returns how many were reset.
 */
export async function resetSequences(store: Store): Promise<number> {
  if (store.dialect !== 'postgres') return 0;
  const { rows } = await sql<{ table_name: string; column_name: string }>`
    select table_name, column_name from information_schema.columns
    where table_schema = current_schema() and (column_default like 'nextval(%' or is_identity = 'YES')`.execute(store.db);
  for (const { table_name, column_name } of rows) {
    await sql`select setval(pg_get_serial_sequence(${table_name}, ${column_name}), coalesce((select max(${sql.ref(column_name)}) from ${sql.table(table_name)}), 0) + 1, false)`.execute(
      store.db,
    );
  }
  return rows.length;
}
