// Data records: runtime reads and writes with an environment's secret API key, and the one read
// path through which members see records (masked where the environment obfuscates data).
import { authorize } from '../domain/auth/permissions.js';
import { maskValue } from '../domain/data/mask.js';
import { decodeCursor, encodeCursor } from '../domain/cursor.js';
import { assertCollection, assertRecordRef, COLLECTION_POSITION, pageSize, RECORD_POSITION, recordText, type RecordValue } from '../domain/data/records.js';
import type { Environment } from '../domain/environments/chain.js';
import { notFound } from '../domain/errors.js';
import {
  deleteRecord as deleteRecordRow,
  findRecord,
  listCollections as listCollectionRows,
  listRecords as listRecordRows,
  putRecord as putRecordRow,
  type CollectionSummary,
  type DataRecordRow,
} from '../store/data.js';
import type { Db } from '../store/database.js';
import type { KeyPrincipal } from './api-keys.js';
import { assertSecretKey, type CredentialKind } from '../domain/resources/visibility.js';
import { recordActivity } from './activity.js';
import { record } from './audit.js';
import { keyCallContext, type KeyCall } from './key-context.js';
import type { CallContext, Deps } from './context.js';
import { environmentOf } from './scope.js';

export interface DataRecordView {
  collection: string;
  id: string;
  value: RecordValue;
  createdAt: string;
  updatedAt: string;
}

export type { KeyCall };

interface Page {
  data: DataRecordView[];
  next: string | null;
}

function toView(row: DataRecordRow, masked: boolean): DataRecordView {
  const value = JSON.parse(row.value) as RecordValue;
  return { collection: row.collection, id: row.id, value: masked ? (maskValue(value) as RecordValue) : value, createdAt: row.createdAt, updatedAt: row.updatedAt };
}

/** `rows` were read with one more than `limit`: the extra one says there is a next page. */
function toPage(rows: DataRecordRow[], limit: number, masked: boolean): Page {
  const items = rows.slice(0, limit);
  return { data: items.map((row) => toView(row, masked)), next: rows.length > limit ? encodeCursor({ id: items[items.length - 1]!.id }) : null };
}

function afterId(cursor: string | undefined): string | null {
  return decodeCursor(cursor, RECORD_POSITION)?.id ?? null;
}

function keyScope(key: KeyPrincipal) {
  return { workspaceId: key.workspaceId, environmentId: key.environmentId };
}

/** Data is for servers: records may hold any user's data, and a publishable key is public. */
function assertDataKey(kind: CredentialKind) {
  assertSecretKey(kind, 'data records', "they may hold any user's data; call the data API from a server");
}

/** Creates or replaces a record of the key's environment; `created` tells which. */
export async function putRecordByKey(deps: Deps, call: KeyCall, collection: string, id: string, body: unknown) {
  assertDataKey(call.key.kind);
  assertRecordRef(collection, id);
  const { value, json, size } = recordText(body);
  return deps.store.transaction(async (tx) => {
    const { ctx, env } = await keyCallContext(deps, tx, call);
    const scope = keyScope(call.key);
    const previous = await findRecord(tx, scope, collection, id);
    const at = deps.now().toISOString();
    const stored = await putRecordRow(tx, scope, { collection, id, value: json, size, createdAt: previous?.createdAt ?? at, updatedAt: at });
    // A concurrent first write of the same id may have won; the stored creation time tells.
    const created = previous === undefined && stored.createdAt === at;
    await recordActivity(deps, tx, ctx, env, { action: 'data.put', target: `data/${collection}/${id}`, details: { collection, id, size, created } });
    const view: DataRecordView = { collection, id, value, createdAt: stored.createdAt, updatedAt: stored.updatedAt };
    return { created, record: view };
  });
}

export async function deleteRecordByKey(deps: Deps, call: KeyCall, collection: string, id: string): Promise<void> {
  assertDataKey(call.key.kind);
  assertRecordRef(collection, id);
  await deps.store.transaction(async (tx) => {
    const { ctx, env } = await keyCallContext(deps, tx, call);
    const scope = keyScope(call.key);
    const previous = await findRecord(tx, scope, collection, id);
    if (!previous) throw notFound(`data record ${collection}/${id}`);
    await deleteRecordRow(tx, scope, collection, id);
    await recordActivity(deps, tx, ctx, env, { action: 'data.delete', target: `data/${collection}/${id}`, details: { collection, id, size: previous.size } });
  });
}

export async function getRecordByKey(deps: Deps, call: KeyCall, collection: string, id: string): Promise<DataRecordView> {
  assertDataKey(call.key.kind);
  assertRecordRef(collection, id);
  const row = await findRecord(deps.store.db, keyScope(call.key), collection, id);
  if (!row) throw notFound(`data record ${collection}/${id}`);
  return toView(row, false);
}

export async function listRecordsByKey(deps: Deps, call: KeyCall, collection: string, options: { cursor?: string; limit?: number }): Promise<Page> {
  assertDataKey(call.key.kind);
  assertCollection(collection);
  const limit = pageSize(options.limit);
  const rows = await listRecordRows(deps.store.db, keyScope(call.key), collection, afterId(options.cursor), limit + 1);
  return toPage(rows, limit, false);
}

/**
 * The one read path of members. In an environment that obfuscates data, values are masked
 * unless the member asks to reveal them and holds `data.reveal` there; a reveal is audited,
 * with the ids it showed, in the transaction that reads them. Elsewhere values are plain for
 * every reader and `reveal` changes nothing.
 */
async function readAsMember<T>(
  deps: Deps,
  ctx: CallContext,
  slug: string,
  reveal: boolean,
  read: (db: Db, env: Environment, masked: boolean) => Promise<{ result: T; ids: string[] }>,
  audit: { target: string; collection: string },
): Promise<T & { masked: boolean }> {
  authorize(ctx.actor, 'data.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const masked = env.obfuscateData && !reveal;
  if (!env.obfuscateData || masked) return { ...(await read(deps.store.db, env, masked)).result, masked };
  authorize(ctx.actor, 'data.reveal', slug);
  return deps.store.transaction(async (tx) => {
    const { result, ids } = await read(tx, env, false);
    await record(deps, tx, ctx, { action: 'data.reveal', environment: slug, target: audit.target, details: { collection: audit.collection, ids } });
    return { ...result, masked: false };
  });
}

export async function listRecords(deps: Deps, ctx: CallContext, slug: string, collection: string, options: { cursor?: string; limit?: number; reveal?: boolean }) {
  return readAsMember(
    deps,
    ctx,
    slug,
    options.reveal ?? false,
    async (db, env, masked) => {
      assertCollection(collection);
      const limit = pageSize(options.limit);
      const rows = await listRecordRows(db, { workspaceId: env.workspaceId, environmentId: env.id }, collection, afterId(options.cursor), limit + 1);
      const page = toPage(rows, limit, masked);
      return { result: page, ids: page.data.map((r) => r.id) };
    },
    { target: `data/${collection}`, collection },
  );
}

export async function getRecord(deps: Deps, ctx: CallContext, slug: string, collection: string, id: string, options: { reveal?: boolean }) {
  return readAsMember(
    deps,
    ctx,
    slug,
    options.reveal ?? false,
    async (db, env, masked) => {
      assertRecordRef(collection, id);
      const row = await findRecord(db, { workspaceId: env.workspaceId, environmentId: env.id }, collection, id);
      if (!row) throw notFound(`data record ${collection}/${id} in ${slug}`);
      return { result: toView(row, masked), ids: [id] };
    },
    { target: `data/${collection}/${id}`, collection },
  );
}

/**
 * The collections of an environment with how many records each holds, for members' data
 * browser. Names and counts only, never values: nothing to mask, nothing to audit.
 */
export async function listCollections(deps: Deps, ctx: CallContext, slug: string, options: { cursor?: string; limit?: number }): Promise<{ data: CollectionSummary[]; next: string | null }> {
  authorize(ctx.actor, 'data.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const limit = pageSize(options.limit);
  const after = decodeCursor(options.cursor, COLLECTION_POSITION)?.collection ?? null;
  const rows = await listCollectionRows(deps.store.db, { workspaceId: env.workspaceId, environmentId: env.id }, after, limit + 1);
  const page = rows.slice(0, limit);
  return { data: page, next: rows.length > limit ? encodeCursor({ collection: page[page.length - 1]!.name }) : null };
}
