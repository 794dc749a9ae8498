// Writing and reading the audit log. `record` is called inside the mutation's own transaction,
// so an operation and its audit entry are committed together or not at all.
import { digest } from '../domain/canonical.js';
import { firstBreak, type AuditEntry, type ChainBreak } from '../domain/audit/chain.js';
import { authorize } from '../domain/auth/permissions.js';
import { decodeCursor, encodeCursor, SEQ_POSITION } from '../domain/cursor.js';
import type { Db } from '../store/database.js';
import { appendAudit, auditHead, listAudit, listAuditForward, readAuditRange, type AuditFilter } from '../store/audit.js';
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

export async function record(deps: Deps, tx: Db, ctx: CallContext, entry: AuditRecord) {
  const sealed = await appendAudit(deps.store, tx, ctx.workspace.id, {
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
  });
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

export interface VerifyResult {
  valid: boolean;
  entries: number;
  head: string | null;
  firstBroken: ChainBreak | null;
}

/** Recomputes the whole chain, page by page, and checks it ends at the recorded head. */
export async function verifyAuditLog(deps: Deps, ctx: CallContext): Promise<VerifyResult> {
  authorize(ctx.actor, 'audit.read');
  const db = deps.store.db;
  const head = await auditHead(db, ctx.workspace.id);
  let previous: { seq: number; hash: string } | null = null;
  let checked = 0;
  for (;;) {
    // Entries appended while verifying are beyond the head read above and are left for next time.
    const page: AuditEntry[] = (await readAuditRange(db, ctx.workspace.id, previous?.seq ?? 0, 1000)).filter((e) => e.seq <= head.audit_seq);
    const broken = firstBreak(page, previous);
    if (broken) return { valid: false, entries: checked, head: head.audit_head || null, firstBroken: broken };
    if (page.length === 0) break;
    checked += page.length;
    const last: AuditEntry = page[page.length - 1]!;
    previous = { seq: last.seq, hash: last.hash };
  }
  if ((previous?.seq ?? 0) !== head.audit_seq || (previous?.hash ?? '') !== head.audit_head) {
    const missing: ChainBreak = { seq: (previous?.seq ?? 0) + 1, reason: 'missing_entry' };
    return { valid: false, entries: checked, head: head.audit_head || null, firstBroken: missing };
  }
  return { valid: true, entries: checked, head: head.audit_head || null, firstBroken: null };
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
