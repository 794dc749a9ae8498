// The audit log table and the workspaces' wrapped audit keys. Appending reads and moves the
// workspace's chain head under the workspace row's lock, so concurrent mutations still produce
// one unbroken sequence.
import type { Selectable } from 'kysely';
import type { Db, Store } from './database.js';
import type { AuditTable } from './schema.js';
import { GENESIS_HASH, type AuditEntry, type ChainPosition } from '../domain/audit/chain.js';
import { toWorkspaceKey, type WorkspaceKeyRecord } from './secrets.js';
import { faultPoint } from '../faults.js';

function toEntry(row: Selectable<AuditTable>): AuditEntry {
  return {
    seq: row.seq,
    id: row.id,
    at: row.at,
    actorId: row.actor_id,
    actorKind: row.actor_kind,
    actorName: row.actor_name,
    action: row.action,
    environment: row.environment,
    target: row.target,
    beforeDigest: row.before_digest,
    afterDigest: row.after_digest,
    requestId: row.request_id,
    details: JSON.parse(row.details) as Record<string, unknown>,
    keyId: row.key_id,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** Locks the workspace's chain head until the transaction ends and returns it. */
export async function lockAuditHead(store: Store, tx: Db, workspaceId: string): Promise<ChainPosition> {
  let head = tx.selectFrom('workspaces').select(['audit_seq', 'audit_head', 'audit_key_id']).where('id', '=', workspaceId);
  // NO KEY UPDATE: rows inserted earlier in the transaction hold a key-share lock on the
  // workspace through their foreign key; FOR UPDATE would conflict with other writers' ones and
  // deadlock two first writes. No key column of the row changes here.
  if (store.supportsRowLocks) head = head.forNoKeyUpdate();
  const row = await head.executeTakeFirstOrThrow();
  return { seq: row.audit_seq, hash: row.audit_head || GENESIS_HASH, keyId: row.audit_key_id };
}

/** Stores a sealed entry that follows the head read by `lockAuditHead`, and makes it the head. */
export async function insertAuditEntry(tx: Db, workspaceId: string, entry: AuditEntry): Promise<void> {
  faultPoint('audit.write');
  await tx
    .insertInto('audit_log')
    .values({
      workspace_id: workspaceId,
      seq: entry.seq,
      id: entry.id,
      at: entry.at,
      actor_id: entry.actorId,
      actor_kind: entry.actorKind,
      actor_name: entry.actorName,
      action: entry.action,
      environment: entry.environment,
      target: entry.target,
      before_digest: entry.beforeDigest,
      after_digest: entry.afterDigest,
      request_id: entry.requestId,
      details: JSON.stringify(entry.details),
      prev_hash: entry.prevHash,
      hash: entry.hash,
      key_id: entry.keyId,
    })
    .execute();
  await tx.updateTable('workspaces').set({ audit_seq: entry.seq, audit_head: entry.hash, audit_key_id: entry.keyId }).where('id', '=', workspaceId).execute();
}

/** Workspaces whose chain has entries but no keyed one yet (written before keying existed). */
export async function listUnkeyedChains(db: Db): Promise<string[]> {
  const rows = await db.selectFrom('workspaces').select('id').where('audit_seq', '>', 0).where('audit_key_id', 'is', null).orderBy('id').execute();
  return rows.map((row) => row.id);
}

export interface AuditFilter {
  environment?: string;
  actor?: string;
  action?: string;
  since?: string;
  until?: string;
}

function filtered(db: Db, workspaceId: string, filter: AuditFilter) {
  let query = db.selectFrom('audit_log').selectAll().where('workspace_id', '=', workspaceId);
  if (filter.environment) query = query.where('environment', '=', filter.environment);
  if (filter.actor) query = query.where('actor_id', '=', filter.actor);
  if (filter.action) {
    query = filter.action.endsWith('.*')
      ? query.where('action', 'like', `${filter.action.slice(0, -1)}%`)
      : query.where('action', '=', filter.action);
  }
  if (filter.since) query = query.where('at', '>=', filter.since);
  if (filter.until) query = query.where('at', '<', filter.until);
  return query;
}

/** Newest first, before the `beforeSeq` cursor. */
export async function listAudit(db: Db, workspaceId: string, filter: AuditFilter, beforeSeq: number | null, limit: number) {
  let query = filtered(db, workspaceId, filter);
  if (beforeSeq !== null) query = query.where('seq', '<', beforeSeq);
  return (await query.orderBy('seq', 'desc').limit(limit).execute()).map(toEntry);
}

/** Oldest first, after the `afterSeq` cursor (for exports). */
export async function listAuditForward(db: Db, workspaceId: string, filter: AuditFilter, afterSeq: number, limit: number) {
  const rows = await filtered(db, workspaceId, filter).where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
  return rows.map(toEntry);
}

/** Entries in sequence order after `afterSeq`, for verification in pages. */
export async function readAuditRange(db: Db, workspaceId: string, afterSeq: number, limit: number): Promise<AuditEntry[]> {
  const rows = await db
    .selectFrom('audit_log')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map(toEntry);
}

/** The workspace's chain head as written last: its sequence number and hash ('' before any entry). */
export async function auditHead(db: Db, workspaceId: string): Promise<{ seq: number; hash: string }> {
  const row = await db.selectFrom('workspaces').select(['audit_seq', 'audit_head']).where('id', '=', workspaceId).executeTakeFirstOrThrow();
  return { seq: row.audit_seq, hash: row.audit_head };
}

export async function findAuditEntry(db: Db, workspaceId: string, seq: number): Promise<AuditEntry | undefined> {
  const row = await db.selectFrom('audit_log').selectAll().where('workspace_id', '=', workspaceId).where('seq', '=', seq).executeTakeFirst();
  return row ? toEntry(row) : undefined;
}

export async function findAuditKey(db: Db, workspaceId: string): Promise<WorkspaceKeyRecord | undefined> {
  const row = await db.selectFrom('audit_keys').selectAll().where('workspace_id', '=', workspaceId).executeTakeFirst();
  return row && toWorkspaceKey(row);
}

/** Every workspace's audit key: verifying and rotating the master keys spans all workspaces by design. */
export async function listAuditKeys(db: Db): Promise<WorkspaceKeyRecord[]> {
  return (await db.selectFrom('audit_keys').selectAll().orderBy('workspace_id').execute()).map(toWorkspaceKey);
}

/** Stores a workspace's audit key; a concurrent first write keeps the key stored first. */
export async function insertAuditKey(db: Db, row: { workspaceId: string; masterKeyId: string; wrappedKey: string; at: string }) {
  await db
    .insertInto('audit_keys')
    .values({ workspace_id: row.workspaceId, master_key_id: row.masterKeyId, wrapped_key: row.wrappedKey, created_at: row.at, rotated_at: null })
    .onConflict((oc) => oc.column('workspace_id').doNothing())
    .execute();
}

export async function rewrapAuditKey(db: Db, row: { workspaceId: string; masterKeyId: string; wrappedKey: string; at: string }) {
  await db
    .updateTable('audit_keys')
    .set({ master_key_id: row.masterKeyId, wrapped_key: row.wrappedKey, rotated_at: row.at })
    .where('workspace_id', '=', row.workspaceId)
    .execute();
}
