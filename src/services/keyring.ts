// The keys behind secrets and the audit log: the configured master keys (the first wraps, all
// unwrap) and each workspace's data key and audit key, unwrapped once and kept in memory.
import { generateKeyBytes, KeyError, unwrapDataKey, wrapDataKey, type MasterKey } from '../domain/secrets/envelope.js';
import { deriveAuditKey } from '../domain/audit/keys.js';
import { findAuditKey, insertAuditKey, listAuditKeys, rewrapAuditKey } from '../store/audit.js';
import type { Db, Store } from '../store/database.js';
import { SYSTEM_ACTOR } from '../domain/auth/permissions.js';
import { findWorkspaceById } from '../store/workspaces.js';
import { record } from './audit.js';
import { NO_EGRESS, type Deps } from './context.js';
import { findWorkspaceKey, insertWorkspaceKey, listWorkspaceKeys, rewrapWorkspaceKey } from '../store/secrets.js';

export class Keyring {
  private readonly dataKeys = new Map<string, Buffer>();
  private readonly auditKeys = new Map<string, Buffer>();

  constructor(private readonly masters: MasterKey[]) {
    if (masters.length === 0) throw new KeyError('at least one master key is required');
  }

  get primaryId(): string {
    return this.masters[0]!.id;
  }

  /**
   * One value derived from each configured master key, the primary's first: keys that need no
   * storage (signatures verified with any master key a node is started with).
   */
  derive<T>(derivation: (masterKey: Buffer) => T): T[] {
    return this.masters.map((master) => derivation(master.key));
  }

  /** Unwraps every stored data key; throws a KeyError naming the first that cannot be. */
  async verify(db: Db): Promise<number> {
    const rows = await listWorkspaceKeys(db);
    for (const row of rows) this.remember(row.workspaceId, row.masterKeyId, row.wrappedKey);
    for (const row of await listAuditKeys(db)) this.rememberAuditKey(row.workspaceId, row.masterKeyId, row.wrappedKey);
    return rows.length;
  }

  /** The workspace's data key, or null while it has no secret yet. */
  async existingDataKey(db: Db, workspaceId: string): Promise<Buffer | null> {
    const cached = this.dataKeys.get(workspaceId);
    if (cached) return cached;
    const row = await findWorkspaceKey(db, workspaceId);
    return row ? this.remember(workspaceId, row.masterKeyId, row.wrappedKey) : null;
  }

  /** The workspace's data key, created and stored (wrapped) with its first secret. */
  async dataKey(tx: Db, workspaceId: string, at: string): Promise<Buffer> {
    const existing = await this.existingDataKey(tx, workspaceId);
    if (existing) return existing;
    const wrapped = wrapDataKey(this.masters[0]!, generateKeyBytes(), workspaceId);
    await insertWorkspaceKey(tx, { workspaceId, masterKeyId: wrapped.masterKeyId, wrappedKey: wrapped.blob, at });
    // Read back: a concurrent first secret may have stored its key first, and that one wins.
    // Not remembered: if this transaction rolls back, the key it stored never existed.
    const row = (await findWorkspaceKey(tx, workspaceId))!;
    return unwrapDataKey(this.masters, { masterKeyId: row.masterKeyId, blob: row.wrappedKey }, workspaceId);
  }

  /** Re-wraps every data key not yet under the primary master key; returns those changed. */
  async rotate(db: Db, at: string): Promise<{ workspaceId: string; from: string }[]> {
    const changed = [];
    for (const row of await listWorkspaceKeys(db)) {
      if (row.masterKeyId === this.primaryId) continue;
      const dataKey = this.remember(row.workspaceId, row.masterKeyId, row.wrappedKey);
      const wrapped = wrapDataKey(this.masters[0]!, dataKey, row.workspaceId);
      await rewrapWorkspaceKey(db, { workspaceId: row.workspaceId, masterKeyId: wrapped.masterKeyId, wrappedKey: wrapped.blob, at });
      changed.push({ workspaceId: row.workspaceId, from: row.masterKeyId });
    }
    return changed;
  }

  /** The workspace's audit key, or null while it has none (before its first keyed audit entry). */
  async existingAuditKey(db: Db, workspaceId: string): Promise<Buffer | null> {
    const cached = this.auditKeys.get(workspaceId);
    if (cached) return cached;
    const row = await findAuditKey(db, workspaceId);
    return row ? this.rememberAuditKey(workspaceId, row.masterKeyId, row.wrappedKey) : null;
  }

  /**
   * The workspace's audit key, derived from the primary master key and stored (wrapped) when
   * first needed. Stored rather than derived each time, so a master-key rotation re-wraps it
   * but never changes it, and entries sealed before a rotation still verify after it.
   */
  async auditKey(tx: Db, workspaceId: string, at: string): Promise<Buffer> {
    const existing = await this.existingAuditKey(tx, workspaceId);
    if (existing) return existing;
    const wrapped = wrapDataKey(this.masters[0]!, deriveAuditKey(this.masters[0]!.key, workspaceId), workspaceId, 'audit-key');
    await insertAuditKey(tx, { workspaceId, masterKeyId: wrapped.masterKeyId, wrappedKey: wrapped.blob, at });
    // Read back, as for data keys: the key stored first wins, and nothing is remembered before commit.
    const row = (await findAuditKey(tx, workspaceId))!;
    return unwrapDataKey(this.masters, { masterKeyId: row.masterKeyId, blob: row.wrappedKey }, workspaceId, 'audit-key');
  }

  /** Re-wraps every audit key not yet under the primary master key; returns how many changed. */
  async rotateAuditKeys(db: Db, at: string): Promise<number> {
    let changed = 0;
    for (const row of await listAuditKeys(db)) {
      if (row.masterKeyId === this.primaryId) continue;
      const auditKey = this.rememberAuditKey(row.workspaceId, row.masterKeyId, row.wrappedKey);
      const wrapped = wrapDataKey(this.masters[0]!, auditKey, row.workspaceId, 'audit-key');
      await rewrapAuditKey(db, { workspaceId: row.workspaceId, masterKeyId: wrapped.masterKeyId, wrappedKey: wrapped.blob, at });
      changed += 1;
    }
    return changed;
  }

  private rememberAuditKey(workspaceId: string, masterKeyId: string, blob: string): Buffer {
    const key = unwrapDataKey(this.masters, { masterKeyId, blob }, workspaceId, 'audit-key');
    this.auditKeys.set(workspaceId, key);
    return key;
  }

  private remember(workspaceId: string, masterKeyId: string, blob: string): Buffer {
    const key = unwrapDataKey(this.masters, { masterKeyId, blob }, workspaceId);
    this.dataKeys.set(workspaceId, key);
    return key;
  }
}

/**
 * Re-wraps every workspace data key and audit key under the primary master key, in one
 * transaction with an audit entry per workspace whose data key moved. Nodes keep serving
 * throughout as long as they were started with both keys ("new,old"); afterwards the old key
 * can be dropped from their configuration.
 */
export async function rotateMasterKey(store: Store, masters: MasterKey[]): Promise<number> {
  const keyring = new Keyring(masters);
  await keyring.verify(store.db);
  const deps: Deps = { store, now: () => new Date(), keyring, onChange: () => {}, egress: NO_EGRESS };
  return store.transaction(async (tx) => {
    const at = deps.now().toISOString();
    const rotated = await keyring.rotate(tx, at);
    await keyring.rotateAuditKeys(tx, at);
    for (const row of rotated) {
      const workspace = (await findWorkspaceById(tx, row.workspaceId))!;
      await record(deps, tx, { workspace: { id: workspace.id, slug: workspace.slug, name: workspace.name }, actor: SYSTEM_ACTOR, requestId: null }, {
        action: 'keys.rotate_master',
        target: `workspace/${workspace.slug}`,
        details: { from: row.from, to: keyring.primaryId },
      });
    }
    return rotated.length;
  });
}
