// Data records of one environment: JSON values addressed by collection and id, listed in id
// byte order (the column is COLLATE "C" on PostgreSQL; SQLite compares text bytewise).
import type { Db } from './database.js';

type Scope = { workspaceId: string; environmentId: string };

export interface DataRecordRow {
  collection: string;
  id: string;
  /** JSON text of the value. */
  value: string;
  size: number;
  createdAt: string;
  updatedAt: string;
}

function toRecord(r: { collection: string; id: string; value: string; size: number; created_at: string; updated_at: string }): DataRecordRow {
  return { collection: r.collection, id: r.id, value: r.value, size: Number(r.size), createdAt: r.created_at, updatedAt: r.updated_at };
}

export async function findRecord(db: Db, scope: Scope, collection: string, id: string): Promise<DataRecordRow | undefined> {
  const row = await db
    .selectFrom('data_records')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('collection', '=', collection)
    .where('id', '=', id)
    .executeTakeFirst();
  return row && toRecord(row);
}

/**
 * Inserts the record, or replaces its value keeping its creation time. Answers the stored row:
 * its `createdAt` is the one given exactly when this call created it.
 */
export async function putRecord(db: Db, scope: Scope, record: DataRecordRow): Promise<DataRecordRow> {
  const row = await db
    .insertInto('data_records')
    .values({
      workspace_id: scope.workspaceId,
      environment_id: scope.environmentId,
      collection: record.collection,
      id: record.id,
      value: record.value,
      size: record.size,
      created_at: record.createdAt,
      updated_at: record.updatedAt,
    })
    // Environment ids are unique across workspaces, so the key needs no workspace column.
    .onConflict((oc) => oc.columns(['environment_id', 'collection', 'id']).doUpdateSet({ value: record.value, size: record.size, updated_at: record.updatedAt }))
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRecord(row);
}

/** Removes one record; answers whether there was one. */
export async function deleteRecord(db: Db, scope: Scope, collection: string, id: string): Promise<boolean> {
  const result = await db
    .deleteFrom('data_records')
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('collection', '=', collection)
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** One page of a collection in id order, starting after `afterId`. */
export async function listRecords(db: Db, scope: Scope, collection: string, afterId: string | null, limit: number): Promise<DataRecordRow[]> {
  let query = db
    .selectFrom('data_records')
    .selectAll()
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId)
    .where('collection', '=', collection);
  if (afterId !== null) query = query.where('id', '>', afterId);
  const rows = await query.orderBy('id').limit(limit).execute();
  return rows.map(toRecord);
}

/** The values of the records of one collection among `ids` in one environment. */
export async function recipientRecords(db: Db, scope: Scope, collection: string, ids: string[]): Promise<Map<string, Record<string, unknown>>> {
  const found = new Map<string, Record<string, unknown>>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom('data_records')
      .select(['id', 'value'])
      .where('workspace_id', '=', scope.workspaceId)
      .where('environment_id', '=', scope.environmentId)
      .where('collection', '=', collection)
      .where('id', 'in', ids.slice(i, i + 500))
      .execute();
    for (const row of rows) found.set(row.id, JSON.parse(row.value) as Record<string, unknown>);
  }
  return found;
}

export interface CollectionSummary {
  name: string;
  records: number;
  updatedAt: string;
}

/** The collections of one environment in name order, after `afterName`, with their sizes. */
export async function listCollections(db: Db, scope: Scope, afterName: string | null, limit: number): Promise<CollectionSummary[]> {
  let query = db
    .selectFrom('data_records')
    .select((eb) => ['collection', eb.fn.countAll<number | string>().as('records'), eb.fn.max('updated_at').as('updated_at')])
    .where('workspace_id', '=', scope.workspaceId)
    .where('environment_id', '=', scope.environmentId);
  if (afterName !== null) query = query.where('collection', '>', afterName);
  const rows = await query.groupBy('collection').orderBy('collection').limit(limit).execute();
  return rows.map((r) => ({ name: r.collection, records: Number(r.records), updatedAt: String(r.updated_at) }));
}
