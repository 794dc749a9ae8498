// Content-addressed storage: documents by hash, snapshots by the hash of their entries, and
// the numbered releases of each environment that point at snapshots.
import type { Selectable } from 'kysely';
import { insertMany, type Db, type Store } from './database.js';
import type { ReleaseTable } from './schema.js';
import { afterResource } from './rows.js';
import { toSnapshot, type Snapshot, type SnapshotEntry } from '../domain/releases/snapshot.js';
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

/** Stores documents that are not stored yet; a hash already present is left as it is. */
export async function putContents(store: Store, db: Db, workspaceId: string, docs: { hash: string; body: string; refs: string[] }[]) {
  const unique = new Map(docs.map((d) => [d.hash, d]));
  const rows = [...unique.values()].map((d) => ({
    workspace_id: workspaceId,
    hash: d.hash,
    body: d.body,
    size: Buffer.byteLength(d.body),
    refs: JSON.stringify(d.refs),
  }));
  await insertMany(store, db, 'contents', rows, true);
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

export async function loadSnapshot(db: Db, workspaceId: string, snapshotId: string): Promise<Snapshot> {
  const rows = await db
    .selectFrom('snapshot_entries')
    .select(['kind', 'key', 'hash', 'app'])
    .where('workspace_id', '=', workspaceId)
    .where('snapshot_id', '=', snapshotId)
    .execute();
  return toSnapshot(rows.map((r) => ({ kind: r.kind as ResourceKind, key: r.key, hash: r.hash, app: r.app })));
}

export async function findSnapshotEntry(db: Db, workspaceId: string, snapshotId: string, kind: string, key: string) {
  return db
    .selectFrom('snapshot_entries')
    .select(['kind', 'key', 'hash', 'app'])
    .where('workspace_id', '=', workspaceId)
    .where('snapshot_id', '=', snapshotId)
    .where('kind', '=', kind)
    .where('key', '=', key)
    .executeTakeFirst();
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
  let query = db
    .selectFrom('snapshot_entries')
    .select(['kind', 'key', 'hash', 'app'])
    .where('workspace_id', '=', workspaceId)
    .where('snapshot_id', '=', snapshotId);
  if (after) query = query.where((eb) => afterResource(eb, after));
  if (filter.kind) query = query.where('kind', '=', filter.kind);
  const rows = await query.orderBy('kind').orderBy('key').limit(limit).execute();
  return rows.map((r) => ({ kind: r.kind as ResourceKind, key: r.key, hash: r.hash, app: r.app }));
}

/** Stores a snapshot unless one with the same id (the same entries) is stored already. */
export async function saveSnapshot(store: Store, db: Db, workspaceId: string, id: string, snapshot: Snapshot, at: string) {
  // Two transactions may produce the same snapshot at once: the one whose row lands writes
  // the entries, the other finds it there.
  const inserted = await db
    .insertInto('snapshots')
    .values({ workspace_id: workspaceId, id, resource_count: snapshot.size, created_at: at })
    .onConflict((oc) => oc.doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!inserted) return;
  const rows = [...snapshot.values()].map((e) => ({ workspace_id: workspaceId, snapshot_id: id, kind: e.kind, key: e.key, hash: e.hash, app: e.app }));
  await insertMany(store, db, 'snapshot_entries', rows);
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

export async function countSnapshotRows(db: Db, workspaceId: string) {
  const row = await db
    .selectFrom('snapshot_entries')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
