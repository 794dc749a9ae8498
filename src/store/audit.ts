// The audit log table. Appending reads and moves the workspace's chain head under the
// workspace row's lock, so concurrent mutations still produce one unbroken sequence.
import type { Selectable } from 'kysely';
import type { Db, Store } from './database.js';
import type { AuditTable } from './schema.js';
import { GENESIS_HASH, sealEntry, type AuditEntry, type AuditFields } from '../domain/audit/chain.js';

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
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export async function appendAudit(store: Store, tx: Db, workspaceId: string, fields: Omit<AuditFields, 'seq'>): Promise<AuditEntry> {
  let head = tx.selectFrom('workspaces').select(['audit_seq', 'audit_head']).where('id', '=', workspaceId);
  if (store.supportsRowLocks) head = head.forUpdate();
  const { audit_seq, audit_head } = await head.executeTakeFirstOrThrow();
  const entry = sealEntry(audit_head || GENESIS_HASH, { ...fields, seq: audit_seq + 1 });
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
    })
    .execute();
  await tx.updateTable('workspaces').set({ audit_seq: entry.seq, audit_head: entry.hash }).where('id', '=', workspaceId).execute();
  return entry;
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

export async function auditHead(db: Db, workspaceId: string) {
  return db.selectFrom('workspaces').select(['audit_seq', 'audit_head']).where('id', '=', workspaceId).executeTakeFirstOrThrow();
}
