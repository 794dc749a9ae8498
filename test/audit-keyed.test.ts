// The keyed audit chain against an attacker who can write to the database but does not hold the
// master key: a chain written before 0011_audit_keyed is migrated (one marker entry), grown to
// 286 entries, then edited and re-sealed the way such an attacker would.
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAIN_KEYED_ACTION, GENESIS_HASH, sealEntry, type AuditEntry } from '../src/domain/audit/chain.js';
import { chainKey, type ChainKey } from '../src/domain/audit/keys.js';
import { generateKeyBytes, parseMasterKeys } from '../src/domain/secrets/envelope.js';
import { generateToken, hashToken } from '../src/services/auth.js';
import { rotateMasterKey } from '../src/services/keyring.js';
import { openStore } from '../src/store/database.js';
import type { AuditTable } from '../src/store/schema.js';
import { insertMember, insertToken, insertUser, insertWorkspace } from '../src/store/workspaces.js';
import { createTestDatabase, startHarness, TEST_DB, TEST_MASTER_KEY, WS, type Harness, type TestDatabase } from './support.js';

const UNKEYED = 100;
const TOTAL = 286;
const WORKSPACE_ID = 'ws_legacy';

let database: TestDatabase;
let h: Harness;
let token: string;

const call = (method: string, path: string, body?: unknown, as = token) => h.call(method, path, body, as);

function toEntry(row: Selectable<AuditTable>): AuditEntry {
  return {
    seq: row.seq, id: row.id, at: row.at, actorId: row.actor_id, actorKind: row.actor_kind, actorName: row.actor_name, action: row.action,
    environment: row.environment, target: row.target, beforeDigest: row.before_digest, afterDigest: row.after_digest, requestId: row.request_id,
    details: JSON.parse(row.details), keyId: row.key_id ?? null, prevHash: row.prev_hash, hash: row.hash,
  };
}

function toRow(entry: AuditEntry) {
  return {
    workspace_id: WORKSPACE_ID, seq: entry.seq, id: entry.id, at: entry.at, actor_id: entry.actorId, actor_kind: entry.actorKind, actor_name: entry.actorName,
    action: entry.action, environment: entry.environment, target: entry.target, before_digest: entry.beforeDigest, after_digest: entry.afterDigest,
    request_id: entry.requestId, details: JSON.stringify(entry.details), prev_hash: entry.prevHash, hash: entry.hash, key_id: entry.keyId,
  };
}

/**
 * A database as it was before 0011_audit_keyed: workspace `default` with an owner and a token,
 * and UNKEYED audit entries sealed with the unkeyed formula.
 */
async function legacyDatabase(): Promise<{ database: TestDatabase; token: string }> {
  const database = await createTestDatabase();
  const store = await openStore({ url: database.url, migrateTo: '0010_workflows' });
  const token = generateToken();
  const at = '2026-11-01T00:00:00.000Z';
  await insertWorkspace(store.db, { id: WORKSPACE_ID, slug: 'default', name: 'Default', createdAt: at });
  await insertUser(store.db, { id: 'usr_owner', email: 'owner@example.test', name: 'owner', createdAt: at });
  await insertMember(store.db, { id: 'mem_owner', workspaceId: WORKSPACE_ID, userId: 'usr_owner', role: 'owner', environmentRoles: {}, createdAt: at });
  await insertToken(store.db, {
    id: 'tok_owner', userId: 'usr_owner', workspaceId: null, name: 'owner', kind: 'personal', role: null, environmentRoles: {},
    tokenHash: hashToken(token), prefix: '', createdAt: at, lastUsedAt: null, expiresAt: null, revokedAt: null,
  });
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= UNKEYED; seq += 1) {
    const entry = sealEntry(prevHash, {
      seq, id: `aud_legacy_${seq}`, at, actorId: 'usr_owner', actorKind: 'user', actorName: 'owner', action: 'variable.write',
      environment: null, target: `variable/v${seq}`, beforeDigest: null, afterDigest: null, requestId: `req_${seq}`, details: { n: seq },
    }, null);
    // The columns of the table before 0011 (no key_id).
    const { key_id: _none, ...row } = toRow(entry);
    await store.db.insertInto('audit_log').values(row).execute();
    prevHash = entry.hash;
  }
  await store.db.updateTable('workspaces').set({ audit_seq: UNKEYED, audit_head: prevHash }).where('id', '=', WORKSPACE_ID).execute();
  await store.close();
  return { database, token };
}

beforeAll(async () => {
  ({ database, token } = await legacyDatabase());
  // Migrates to the latest schema with the append-only triggers in place, and keys the chain.
  h = await startHarness({ database });
  const head = (await call('GET', `${WS}/audit-log?limit=1`)).body.data[0].seq;
  for (let i = head; i < TOTAL; i += 1) {
    const res = await call('PUT', `${WS}/variables/v${i % 20}`, { value: i });
    if (res.status !== 200) throw new Error(`variable: ${res.status} ${JSON.stringify(res.body)}`);
  }
}, 120_000);
afterAll(async () => {
  await h?.close();
  await database?.drop();
});

const rows = async () => (await h.store.db.selectFrom('audit_log').selectAll().where('workspace_id', '=', WORKSPACE_ID).orderBy('seq').execute()).map(toEntry);
const verifyLog = async (checkpoint?: unknown) => {
  const query = checkpoint === undefined ? '' : `?checkpoint=${encodeURIComponent(typeof checkpoint === 'string' ? checkpoint : JSON.stringify(checkpoint))}`;
  return call('GET', `${WS}/audit-log/verify${query}`);
};

async function setTriggers(on: boolean) {
  if (TEST_DB === 'sqlite') {
    if (on) {
      await sql`create trigger audit_log_no_update before update on audit_log begin select raise(abort, 'audit_log is append-only'); end`.execute(h.store.db);
      await sql`create trigger audit_log_no_delete before delete on audit_log begin select raise(abort, 'audit_log is append-only'); end`.execute(h.store.db);
    } else {
      await sql`drop trigger audit_log_no_update`.execute(h.store.db);
      await sql`drop trigger audit_log_no_delete`.execute(h.store.db);
    }
  } else if (on) {
    await sql`create trigger audit_log_append_only before update or delete on audit_log for each row execute function stageline_audit_append_only()`.execute(h.store.db);
  } else {
    await sql`drop trigger audit_log_append_only on audit_log`.execute(h.store.db);
  }
}

/** Runs `change` with the append-only triggers dropped, as an attacker would, and puts them back. */
async function asAttacker(change: () => Promise<void>) {
  await setTriggers(false);
  try {
    await change();
  } finally {
    await setTriggers(true);
  }
}

async function writeEntry(entry: AuditEntry) {
  const { workspace_id: _w, seq: _s, ...columns } = toRow(entry);
  await h.store.db.updateTable('audit_log').set(columns).where('workspace_id', '=', WORKSPACE_ID).where('seq', '=', entry.seq).execute();
}

async function setHead(entry: AuditEntry) {
  await h.store.db.updateTable('workspaces').set({ audit_seq: entry.seq, audit_head: entry.hash, audit_key_id: entry.keyId }).where('id', '=', WORKSPACE_ID).execute();
}

/** Edits entry `seq` and recomputes every hash from it to the head with `key` (null: the unkeyed formula). */
async function resealFrom(seq: number, edit: Partial<AuditEntry>, key: ChainKey | null, options: { keepKeyIds?: boolean } = {}) {
  const all = await rows();
  let prevHash = all[seq - 2]?.hash ?? GENESIS_HASH;
  let last: AuditEntry | undefined;
  for (const original of all.slice(seq - 1)) {
    const { prevHash: _p, hash: _h, keyId, ...fields } = original;
    const sealed = sealEntry(prevHash, { ...fields, ...(original.seq === seq ? edit : {}) }, key);
    last = options.keepKeyIds ? { ...sealed, keyId } : sealed;
    await writeEntry(last);
    prevHash = last.hash;
  }
  await setHead(last!);
}

/** Each attack starts from the untouched log and leaves it untouched again. */
async function attack(change: () => Promise<void>, check: () => Promise<void>) {
  const original = await rows();
  await asAttacker(change);
  try {
    await check();
  } finally {
    await asAttacker(async () => {
      await h.store.db.deleteFrom('audit_log').where('workspace_id', '=', WORKSPACE_ID).execute();
      for (const entry of original) await h.store.db.insertInto('audit_log').values(toRow(entry)).execute();
      await setHead(original[original.length - 1]!);
    });
  }
  expect((await verifyLog()).body.valid).toBe(true);
}

describe('migrating a chain written before keying', () => {
  it('keeps the old entries unchanged and keys the chain with one marker entry after them', async () => {
    const all = await rows();
    expect(all.slice(0, UNKEYED).every((entry) => entry.keyId === null && entry.id === `aud_legacy_${entry.seq}`)).toBe(true);
    const marker = all[UNKEYED]!;
    expect(marker).toMatchObject({ seq: UNKEYED + 1, action: CHAIN_KEYED_ACTION, actorKind: 'system', details: { unkeyedEntries: UNKEYED } });
    expect(marker.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(marker.details.keyId).toBe(marker.keyId);
    expect(all.filter((entry) => entry.action === CHAIN_KEYED_ACTION)).toHaveLength(1);
    expect(all.slice(UNKEYED).every((entry) => entry.keyId === marker.keyId)).toBe(true);
  });

  it('verify reports which part is keyed', async () => {
    const res = await verifyLog();
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ valid: true, entries: TOTAL, firstBroken: null, unkeyed: { from: 1, to: UNKEYED }, keyedFrom: UNKEYED + 1 });
    expect(res.body.keyId).toBe((await rows())[UNKEYED]!.keyId);
  });

  it('a second node starting on the keyed chain adds no marker', async () => {
    const second = await startHarness({ database });
    try {
      expect((await rows()).filter((entry) => entry.action === CHAIN_KEYED_ACTION)).toHaveLength(1);
      expect((await rows()).length).toBe(TOTAL);
    } finally {
      await second.close();
    }
  });
});

describe('an attacker with database access and no key', () => {
  const middle = 143;

  it('editing entry 143 and re-sealing forward with the old unkeyed formula is detected at 143', async () => {
    await attack(
      () => resealFrom(middle, { action: 'secret.read', actorName: 'Mallory' }, null),
      async () => {
        expect((await verifyLog()).body).toMatchObject({ valid: false, firstBroken: { seq: middle, reason: 'unkeyed_entry' } });
      },
    );
  });

  it('re-sealing with the old formula but keeping the key ids is detected at 143', async () => {
    await attack(
      () => resealFrom(middle, { action: 'secret.read' }, null, { keepKeyIds: true }),
      async () => {
        expect((await verifyLog()).body).toMatchObject({ valid: false, firstBroken: { seq: middle, reason: 'hash_mismatch' } });
      },
    );
  });

  it('re-sealing with the keyed formula under a wrong key is detected at 143', async () => {
    const keyId = (await rows())[middle - 1]!.keyId!;
    await attack(
      () => resealFrom(middle, { action: 'secret.read' }, { id: keyId, key: randomBytes(32) }),
      async () => {
        expect((await verifyLog()).body).toMatchObject({ valid: false, firstBroken: { seq: middle, reason: 'hash_mismatch' } });
      },
    );
    await attack(
      () => resealFrom(middle, { action: 'secret.read' }, chainKey(randomBytes(32))),
      async () => {
        expect((await verifyLog()).body).toMatchObject({ valid: false, firstBroken: { seq: middle, reason: 'unknown_key' } });
      },
    );
  });

  it('editing an unkeyed entry and re-sealing up to the marker is detected at the marker', async () => {
    const all = await rows();
    await attack(
      async () => {
        let prevHash = all[48]!.hash;
        for (const original of all.slice(49, UNKEYED)) {
          const { prevHash: _p, hash: _h, keyId: _k, ...fields } = original;
          const sealed = sealEntry(prevHash, { ...fields, ...(original.seq === 50 ? { actorName: 'Mallory' } : {}) }, null);
          await writeEntry(sealed);
          prevHash = sealed.hash;
        }
      },
      async () => {
        expect((await verifyLog()).body).toMatchObject({ valid: false, firstBroken: { seq: UNKEYED + 1, reason: 'broken_link' } });
      },
    );
  });

  it('re-sealing the whole chain with the old formula leaves it unkeyed, which is refused', async () => {
    await attack(
      () => resealFrom(50, { actorName: 'Mallory' }, null),
      async () => {
        expect((await verifyLog()).body).toMatchObject({ valid: false, firstBroken: { seq: 1, reason: 'not_keyed' } });
      },
    );
  });

  it('the untouched log verifies after each attack was undone', async () => {
    expect((await verifyLog()).body).toMatchObject({ valid: true, entries: TOTAL });
  });
});

describe('signed checkpoints', () => {
  let checkpoint: { seq: number; hash: string; at: string; keyId: string; signature: string };
  beforeAll(async () => {
    checkpoint = (await call('GET', `${WS}/audit-log/checkpoint`)).body;
  });

  it('sign the head with a key anyone can check against the published public key', async () => {
    const all = await rows();
    expect(checkpoint).toMatchObject({ seq: TOTAL, hash: all[TOTAL - 1]!.hash, keyId: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(Number.isNaN(Date.parse(checkpoint.at))).toBe(false);
    const published = (await call('GET', `${WS}/audit-log/public-key`)).body;
    expect(published).toMatchObject({ algorithm: 'Ed25519', keyId: checkpoint.keyId });
    expect(published.publicKey).toContain('BEGIN PUBLIC KEY');
    // The signed message, written out independently of the code that builds it.
    const message = `{"at":${JSON.stringify(checkpoint.at)},"hash":"${checkpoint.hash}","purpose":"stageline audit checkpoint v1","seq":${checkpoint.seq},"workspace":"${WORKSPACE_ID}"}`;
    expect(verify(null, Buffer.from(message), createPublicKey(published.publicKey), Buffer.from(checkpoint.signature, 'base64'))).toBe(true);
    expect(verify(null, Buffer.from(message.replace(`"seq":${TOTAL}`, `"seq":${TOTAL - 1}`)), createPublicKey(published.publicKey), Buffer.from(checkpoint.signature, 'base64'))).toBe(false);
  });

  it('the same master key gives the same key pair on every node and after a restart', async () => {
    const second = await startHarness({ database });
    try {
      const res = await second.call('GET', `${WS}/audit-log/public-key`, undefined, token);
      expect(res.body).toEqual((await call('GET', `${WS}/audit-log/public-key`)).body);
    } finally {
      await second.close();
    }
  });

  it('a master-key rotation keeps the chain and the checkpoints verifiable once the old key is gone', async () => {
    const next = generateKeyBytes().toString('base64');
    const before = (await call('GET', `${WS}/audit-log/public-key`)).body;
    await rotateMasterKey(h.store, parseMasterKeys(`${next},${TEST_MASTER_KEY}`));
    try {
      const rotated = await startHarness({ database, masterKey: next });
      try {
        const as = (method: string, path: string) => rotated.call(method, path, undefined, token);
        expect((await as('GET', `${WS}/audit-log/public-key`)).body).toEqual(before);
        const res = await as('GET', `${WS}/audit-log/verify?checkpoint=${encodeURIComponent(JSON.stringify(checkpoint))}`);
        expect(res.body).toMatchObject({ valid: true, unkeyed: { from: 1, to: UNKEYED }, keyedFrom: UNKEYED + 1, checkpoint: { valid: true } });
        expect((await rows()).filter((entry) => entry.action === CHAIN_KEYED_ACTION)).toHaveLength(1);
      } finally {
        await rotated.close();
      }
    } finally {
      // Back to the harness's key, so the nodes of later tests start.
      await rotateMasterKey(h.store, parseMasterKeys(`${TEST_MASTER_KEY},${next}`));
    }
  });

  it.each([
    ['as JSON', (c: object) => JSON.stringify(c)],
    ['as base64', (c: object) => Buffer.from(JSON.stringify(c)).toString('base64')],
    ['as base64url', (c: object) => Buffer.from(JSON.stringify(c)).toString('base64url')],
  ])('verify accepts the checkpoint %s while the log extends it', async (_form, encode) => {
    await call('PUT', `${WS}/variables/after_checkpoint`, { value: 1 });
    const res = await verifyLog(encode(checkpoint));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ valid: true, firstBroken: null, checkpoint: { seq: TOTAL, valid: true, reason: null } });
  });

  it('a checkpoint taken before a tamper fails after it', async () => {
    await attack(
      () => resealFrom(143, { action: 'secret.read' }, null),
      async () => {
        const res = await verifyLog(checkpoint);
        expect(res.body).toMatchObject({ valid: false, firstBroken: { seq: 143 }, checkpoint: { seq: TOTAL, valid: false, reason: 'hash_mismatch' } });
      },
    );
  });

  it('a truncated log verifies alone but fails against a checkpoint', async () => {
    await attack(
      async () => {
        const all = await rows();
        await h.store.db.deleteFrom('audit_log').where('workspace_id', '=', WORKSPACE_ID).where('seq', '>', TOTAL - 10).execute();
        await setHead(all[TOTAL - 11]!);
      },
      async () => {
        expect((await verifyLog()).body).toMatchObject({ valid: true, entries: TOTAL - 10 });
        expect((await verifyLog(checkpoint)).body).toMatchObject({ valid: false, firstBroken: null, checkpoint: { seq: TOTAL, valid: false, reason: 'missing_entry' } });
      },
    );
  });

  it.each([
    ['another seq', () => ({ ...checkpoint, seq: TOTAL - 1 }), 'signature_invalid'],
    ['another time', () => ({ ...checkpoint, at: '2020-01-01T00:00:00.000Z' }), 'signature_invalid'],
    ['another signature', () => ({ ...checkpoint, signature: Buffer.alloc(64, 1).toString('base64') }), 'signature_invalid'],
    ['another key id', () => ({ ...checkpoint, keyId: '0'.repeat(16) }), 'unknown_key'],
  ])('a checkpoint with %s does not verify', async (_what, forged, reason) => {
    expect((await verifyLog(forged())).body).toMatchObject({ valid: false, checkpoint: { valid: false, reason } });
  });

  it("another workspace's checkpoint does not verify here", async () => {
    expect((await call('POST', '/api/workspaces', { slug: 'other' })).status).toBe(201);
    const other = (await call('GET', '/api/workspaces/other/audit-log/checkpoint')).body;
    expect(other.keyId).not.toBe(checkpoint.keyId);
    expect((await verifyLog(other)).body).toMatchObject({ valid: false, checkpoint: { valid: false, reason: 'unknown_key' } });
    expect((await call('GET', `/api/workspaces/other/audit-log/verify?checkpoint=${encodeURIComponent(JSON.stringify(other))}`)).body).toMatchObject({
      valid: true,
      unkeyed: null,
      keyedFrom: 1,
      checkpoint: { valid: true },
    });
  });

  it.each([
    ['not JSON', 'not a checkpoint', 'checkpoint'],
    ['a field missing', JSON.stringify({ seq: 1, hash: 'a'.repeat(64), at: 'x', keyId: 'a'.repeat(16) }), 'checkpoint.signature'],
    ['a negative seq', JSON.stringify({ seq: -1, hash: 'a'.repeat(64), at: 'x', keyId: 'a'.repeat(16), signature: 'x' }), 'checkpoint.seq'],
    ['a short hash', JSON.stringify({ seq: 1, hash: 'abc', at: 'x', keyId: 'a'.repeat(16), signature: 'x' }), 'checkpoint.hash'],
  ])('a checkpoint with %s is a 400 naming the field', async (_what, value, field) => {
    const res = await verifyLog(value);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
  });

  it.each([
    ['support', 200],
    ['deployer', 200],
    ['viewer', 403],
  ] as const)('a %s token gets %i from checkpoint, public key and verify', async (role, status) => {
    const created = await call('POST', `${WS}/tokens`, { name: `audit ${role}`, role });
    expect(created.status).toBe(201);
    for (const path of ['checkpoint', 'public-key', 'verify']) {
      const res = await call('GET', `${WS}/audit-log/${path}`, undefined, created.body.token);
      expect(res.status).toBe(status);
      if (status === 403) expect(res.body.error.code).toBe('forbidden');
    }
  });

  it('are described in the OpenAPI document', async () => {
    const doc = (await call('GET', '/api/openapi.json')).body;
    for (const path of ['checkpoint', 'public-key', 'verify']) expect(doc.paths[`/api/workspaces/{ws}/audit-log/${path}`]?.get).toBeDefined();
    const verifyParams = doc.paths['/api/workspaces/{ws}/audit-log/verify'].get.parameters.map((p: any) => p.name);
    expect(verifyParams).toContain('checkpoint');
  });
});
