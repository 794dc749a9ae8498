// Writing, reading and proving the audit log. `record` is called inside the mutation's own
// transaction, so an operation and its audit entry are committed together or not at all.
import { digest } from '../domain/canonical.js';
import { CHAIN_START, endBreak, firstBreak, keyingMarker, sealEntry, type AuditEntry, type AuditFields, type ChainBreak, type ChainPosition } from '../domain/audit/chain.js';
import { chainKey, checkpointKeys, checkpointSignatureValid, signCheckpoint, type CheckpointPoint } from '../domain/audit/keys.js';
import { authorize, SYSTEM_ACTOR } from '../domain/auth/permissions.js';
import { conflict } from '../domain/errors.js';
import { decodeCursor, encodeCursor, SEQ_POSITION } from '../domain/cursor.js';
import type { Db } from '../store/database.js';
import {
  auditHead,
  findAuditEntry,
  insertAuditEntry,
  listAudit,
  listAuditForward,
  listUnkeyedChains,
  lockAuditHead,
  readAuditRange,
  type AuditFilter,
} from '../store/audit.js';
import { insertChange } from '../store/changes.js';
import { newId, type CallContext, type Deps } from './context.js';

export interface AuditRecord {
  action: string;
  environment?: string | null;
  target?: string | null;
  /** State before and after; only their digests are stored. */
  before?: unknown;
  after?: unknown;
  /** Non-secret facts worth reading later (release numbers, messages, counts). */
  details?: Record<string, unknown>;
  /**
   * What runtimes must react to, if anything: recorded under the workspace's next change id
   * (its own counter, not the audit sequence), announced to the change feed once the
   * transaction commits.
   */
  change?: { environmentId: string | null; type: string; payload?: Record<string, unknown> };
}

/**
 * Seals `fields` as the workspace's next entry under its chain key, after the one marker entry
 * a chain of unkeyed entries gets before its first keyed one. Locks the head (the workspace row)
 * first, for the rest of the transaction, as the last lock a mutation takes.
 */
async function append(deps: Deps, tx: Db, workspaceId: string, fields: Omit<AuditFields, 'seq' | 'keyId'> | null): Promise<AuditEntry | null> {
  let head = await lockAuditHead(deps.store, tx, workspaceId);
  const at = deps.now().toISOString();
  const key = chainKey(await deps.keyring.auditKey(tx, workspaceId, at));
  const marker = keyingMarker(head, key.id);
  if (marker) {
    const { kind, id, name } = SYSTEM_ACTOR;
    const entry = sealEntry(
      head.hash,
      { seq: head.seq + 1, id: newId('aud'), at, actorId: id, actorKind: kind, actorName: name, environment: null, target: null, beforeDigest: null, afterDigest: null, requestId: null, ...marker },
      key,
    );
    await insertAuditEntry(tx, workspaceId, entry);
    head = { seq: entry.seq, hash: entry.hash, keyId: entry.keyId };
  }
  if (!fields) return null;
  const entry = sealEntry(head.hash, { ...fields, seq: head.seq + 1 }, key);
  await insertAuditEntry(tx, workspaceId, entry);
  return entry;
}

/**
 * Keys every chain still unkeyed (entries written before 0011_audit_keyed) with its marker
 * entry. Run at start, before the node serves, so a chain ends keyed before anyone verifies it.
 */
export async function keyAuditChains(deps: Deps): Promise<number> {
  const workspaces = await listUnkeyedChains(deps.store.db);
  for (const workspaceId of workspaces) await deps.store.transaction((tx) => append(deps, tx, workspaceId, null));
  return workspaces.length;
}

export async function record(deps: Deps, tx: Db, ctx: CallContext, entry: AuditRecord) {
  const sealed = (await append(deps, tx, ctx.workspace.id, {
    id: newId('aud'),
    at: deps.now().toISOString(),
    actorId: ctx.actor.id,
    actorKind: ctx.actor.kind,
    actorName: ctx.actor.name,
    action: entry.action,
    environment: entry.environment ?? null,
    target: entry.target ?? null,
    beforeDigest: digest(entry.before),
    afterDigest: digest(entry.after),
    requestId: ctx.requestId,
    details: entry.details ?? {},
  }))!;
  if (entry.change) {
    await insertChange(deps.store, tx, {
      workspaceId: ctx.workspace.id,
      environmentId: entry.change.environmentId,
      type: entry.change.type,
      payload: { ...entry.change.payload, ...(entry.environment ? { environment: entry.environment } : {}) },
      at: sealed.at,
    });
    const workspaceId = ctx.workspace.id;
    deps.store.onCommit(tx, () => deps.onChange(workspaceId));
  }
  return sealed;
}

export async function listAuditLog(deps: Deps, ctx: CallContext, filter: AuditFilter, cursor: string | undefined, limit: number) {
  authorize(ctx.actor, 'audit.read');
  const before = decodeCursor(cursor, SEQ_POSITION)?.seq ?? null;
  const rows = await listAudit(deps.store.db, ctx.workspace.id, filter, before, limit + 1);
  const page = rows.slice(0, limit);
  return { data: page, next: rows.length > limit ? encodeCursor({ seq: page[page.length - 1]!.seq }) : null };
}

export interface Checkpoint extends CheckpointPoint {
  keyId: string;
  signature: string;
}

export interface CheckpointCheck {
  seq: number;
  valid: boolean;
  /** Why it does not hold: its signature, or the log no longer having that hash at that seq. */
  reason: 'signature_invalid' | 'unknown_key' | 'missing_entry' | 'hash_mismatch' | null;
}

export interface VerifyResult {
  valid: boolean;
  entries: number;
  head: string | null;
  firstBroken: ChainBreak | null;
  /** The unkeyed beginning of a chain keyed by 0011_audit_keyed (plain SHA-256), or null. */
  unkeyed: { from: number; to: number } | null;
  /** The first entry sealed under the chain key (the marker, on a migrated chain), or null. */
  keyedFrom: number | null;
  keyId: string | null;
  /** Present when a checkpoint was given: whether the log still extends it. */
  checkpoint?: CheckpointCheck;
}

/**
 * Recomputes the whole chain, page by page, and checks it ends keyed at the recorded head;
 * with a checkpoint, also that its signature holds and the log still has its hash at its seq.
 */
export async function verifyAuditLog(deps: Deps, ctx: CallContext, checkpoint?: Checkpoint): Promise<VerifyResult> {
  authorize(ctx.actor, 'audit.read');
  const db = deps.store.db;
  const head = await auditHead(db, ctx.workspace.id);
  const auditKey = await deps.keyring.existingAuditKey(db, ctx.workspace.id);
  const key = auditKey ? chainKey(auditKey) : null;
  let previous: ChainPosition = CHAIN_START;
  let checked = 0;
  let lastUnkeyed = 0;
  let keyedFrom: number | null = null;
  let broken: ChainBreak | null = null;
  for (;;) {
    // Entries appended while verifying are beyond the head read above and are left for next time.
    const page: AuditEntry[] = (await readAuditRange(db, ctx.workspace.id, previous.seq, 1000)).filter((e) => e.seq <= head.seq);
    broken = firstBreak(page, previous, key);
    if (broken || page.length === 0) break;
    for (const entry of page) {
      if (entry.keyId === null) lastUnkeyed = entry.seq;
      else keyedFrom ??= entry.seq;
    }
    checked += page.length;
    const last: AuditEntry = page[page.length - 1]!;
    previous = { seq: last.seq, hash: last.hash, keyId: last.keyId };
  }
  if (!broken && (previous.seq !== head.seq || previous.hash !== (head.hash || CHAIN_START.hash))) {
    broken = { seq: previous.seq + 1, reason: 'missing_entry' };
  }
  broken ??= endBreak(previous);
  const result: VerifyResult = {
    valid: broken === null,
    entries: checked,
    head: head.hash || null,
    firstBroken: broken,
    unkeyed: lastUnkeyed > 0 ? { from: 1, to: lastUnkeyed } : null,
    keyedFrom,
    keyId: key?.id ?? null,
  };
  if (checkpoint) {
    result.checkpoint = await checkCheckpoint(db, ctx.workspace.id, auditKey, checkpoint);
    result.valid &&= result.checkpoint.valid;
  }
  return result;
}

async function checkCheckpoint(db: Db, workspaceId: string, auditKey: Buffer | null, checkpoint: Checkpoint): Promise<CheckpointCheck> {
  const failed = (reason: CheckpointCheck['reason']): CheckpointCheck => ({ seq: checkpoint.seq, valid: false, reason });
  const keys = auditKey ? checkpointKeys(auditKey) : null;
  if (!keys || keys.keyId !== checkpoint.keyId) return failed('unknown_key');
  if (!checkpointSignatureValid(keys.publicKey, workspaceId, checkpoint, checkpoint.signature)) return failed('signature_invalid');
  if (checkpoint.seq > 0) {
    const entry = await findAuditEntry(db, workspaceId, checkpoint.seq);
    if (!entry) return failed('missing_entry');
    if (entry.hash !== checkpoint.hash) return failed('hash_mismatch');
  }
  return { seq: checkpoint.seq, valid: true, reason: null };
}

/** The workspace's chain head now, signed with its checkpoint key. */
export async function auditCheckpoint(deps: Deps, ctx: CallContext): Promise<Checkpoint> {
  authorize(ctx.actor, 'audit.read');
  const keys = await checkpointKeysOf(deps, ctx.workspace.id);
  const head = await auditHead(deps.store.db, ctx.workspace.id);
  const point: CheckpointPoint = { seq: head.seq, hash: head.hash || CHAIN_START.hash, at: deps.now().toISOString() };
  return { ...point, keyId: keys.keyId, signature: signCheckpoint(keys, ctx.workspace.id, point) };
}

export async function auditPublicKey(deps: Deps, ctx: CallContext) {
  authorize(ctx.actor, 'audit.read');
  const keys = await checkpointKeysOf(deps, ctx.workspace.id);
  return { algorithm: 'Ed25519' as const, publicKey: keys.publicKeyPem, keyId: keys.keyId };
}

async function checkpointKeysOf(deps: Deps, workspaceId: string) {
  const auditKey = await deps.keyring.existingAuditKey(deps.store.db, workspaceId);
  // Every workspace gets its audit key with its first entry (or at start, for older chains).
  if (!auditKey) throw conflict('audit_not_keyed', 'this workspace has no audit key yet: it is created with the first audit entry');
  return checkpointKeys(auditKey);
}

/** Every matching entry, oldest first, one JSON document per line (NDJSON), read in pages. */
export async function* exportAuditLog(deps: Deps, ctx: CallContext, filter: AuditFilter): AsyncGenerator<string> {
  authorize(ctx.actor, 'audit.read');
  for (let after = 0; ; ) {
    const page = await listAuditForward(deps.store.db, ctx.workspace.id, filter, after, 1000);
    if (page.length > 0) yield page.map((entry) => JSON.stringify(entry)).join('\n') + '\n';
    if (page.length < 1000) return;
    after = page[page.length - 1]!.seq;
  }
}
