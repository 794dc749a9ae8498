// Secrets: write-only, encrypted at rest with envelope encryption, bound to their row.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyBytes, parseMasterKeys } from '../src/domain/secrets/envelope.js';
import { createNode } from '../src/runtime/index.js';
import { rotateMasterKey } from '../src/services/keyring.js';
import { openStore } from '../src/store/database.js';
import { commitDrafts, createApiKey, runtimeCall, startHarness, TEST_DB, TEST_MASTER_KEY, WS, type Harness } from './support.js';

let h: Harness;
let workspaceId: string;
const PLAINTEXT = 'sk_live_TOP-SECRET-0123456789';

beforeAll(async () => {
  h = await startHarness();
  workspaceId = (await h.call('GET', WS)).body.id;
});
afterAll(async () => h?.close());

async function everyRowAsText(): Promise<string> {
  const tables = [
    'workspaces', 'users', 'members', 'tokens', 'environments', 'contents', 'snapshots', 'snapshot_entries', 'tree_nodes', 'releases', 'drafts',
    'overrides', 'resource_states', 'audit_log', 'variables', 'variable_values', 'settings', 'workspace_keys', 'secrets', 'api_keys', 'change_events', 'activity_log',
  ] as const;
  const parts = [];
  for (const table of tables) parts.push(JSON.stringify(await h.store.db.selectFrom(table).selectAll().execute()));
  return parts.join('\n');
}

describe('secrets', () => {
  it('a write answers metadata and a masked hint, never the value', async () => {
    const res = await h.call('PUT', `${WS}/environments/development/secrets/stripe_key`, { value: PLAINTEXT });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'stripe_key', environment: 'development', version: 1, hint: '••••6789' });
    expect(JSON.stringify(res.body)).not.toContain(PLAINTEXT);
    const again = await h.call('PUT', `${WS}/environments/development/secrets/stripe_key`, { value: PLAINTEXT + 'x' });
    expect(again.body.version).toBe(2);
  });

  it('reads and lists give metadata only', async () => {
    const one = await h.call('GET', `${WS}/environments/development/secrets/stripe_key`);
    expect(Object.keys(one.body).sort()).toEqual(['environment', 'hint', 'name', 'updatedAt', 'updatedBy', 'version']);
    const list = await h.call('GET', `${WS}/environments/development/secrets`);
    expect(list.body.data.map((s: any) => s.name)).toEqual(['stripe_key']);
    expect(JSON.stringify(list.body)).not.toContain('TOP-SECRET');
    expect((await h.call('GET', `${WS}/environments/production/secrets/stripe_key`)).status).toBe(404);
  });

  it('no table holds the plaintext, and neither does the audit log', async () => {
    const text = await everyRowAsText();
    expect(text).not.toContain('TOP-SECRET');
    const audit = (await h.call('GET', `${WS}/audit-log?action=secret.*`)).body.data;
    expect(audit.map((e: any) => e.action)).toEqual(['secret.update', 'secret.create']);
    expect(JSON.stringify(audit)).not.toContain('TOP-SECRET');
  });

  it.runIf(TEST_DB === 'sqlite')('the SQLite files on disk do not contain the plaintext', async () => {
    const dir = dirname(h.database.url);
    for (const file of readdirSync(dir)) {
      expect(readFileSync(`${dir}/${file}`).includes(Buffer.from('TOP-SECRET')), file).toBe(false);
    }
  });

  it('bad names and empty values are 400 naming the field', async () => {
    expect((await h.call('PUT', `${WS}/environments/development/secrets/bad-name`, { value: 'x' })).body.error.details[0].field).toBe('name');
    expect((await h.call('PUT', `${WS}/environments/development/secrets/ok`, { value: '' })).body.error.details[0].field).toBe('value');
  });
});

describe('ciphertext integrity', () => {
  let key: string;
  beforeAll(async () => {
    await h.call('PUT', `${WS}/environments/development/secrets/other_key`, { value: 'other-value-0123456789' });
    await commitDrafts(h, { 'config/uses-secret': { value: { stripe: '{{ secrets.stripe_key }}', other: '{{ secrets.other_key }}' } } });
    key = await createApiKey(h, 'development', 'secret');
  });

  const row = (name: string) =>
    h.store.db.selectFrom('secrets').selectAll().where('workspace_id', '=', workspaceId).where('name', '=', name).executeTakeFirstOrThrow();
  const setCiphertext = (name: string, ciphertext: string) =>
    h.store.db.updateTable('secrets').set({ ciphertext }).where('workspace_id', '=', workspaceId).where('name', '=', name).execute();
  // The runtime re-reads secrets when it is told something changed.
  const reread = () => h.call('PUT', `${WS}/variables/nudge`, { value: Date.now() });

  it('resolves when untouched', async () => {
    const res = await runtimeCall(h, key, '/v1/resources/config/uses-secret');
    expect(res.body.content.value.stripe).toBe(PLAINTEXT + 'x');
  });

  it('a flipped ciphertext byte fails to decrypt', async () => {
    const original = (await row('stripe_key')).ciphertext;
    const bytes = Buffer.from(original.slice(3), 'base64');
    bytes[bytes.length - 1]! ^= 0x01;
    await setCiphertext('stripe_key', 'v1.' + bytes.toString('base64'));
    await reread();
    const res = await runtimeCall(h, key, '/v1/resources/config/uses-secret');
    expect(res.status).toBe(500);
    // Not an anonymous internal error: the operator learns which secret cannot be read.
    expect(res.body.error.code).toBe('secret_unreadable');
    expect(res.body.error.message).toContain('secret stripe_key cannot be decrypted');
    expect(res.text).not.toContain('TOP-SECRET');
    await setCiphertext('stripe_key', original);
    await reread();
    expect((await runtimeCall(h, key, '/v1/resources/config/uses-secret')).status).toBe(200);
  });

  it('a ciphertext moved to another row fails to decrypt', async () => {
    const original = (await row('other_key')).ciphertext;
    await setCiphertext('other_key', (await row('stripe_key')).ciphertext);
    await reread();
    const res = await runtimeCall(h, key, '/v1/resources/config/uses-secret');
    expect(res.status).toBe(500);
    expect(res.body.error).toMatchObject({ code: 'secret_unreadable', message: expect.stringContaining('secret other_key cannot be decrypted') });
    expect(res.text).not.toContain('TOP-SECRET');
    await setCiphertext('other_key', original);
    await reread();
  });
});

describe('data keys', () => {
  it('a data key created in a transaction that rolls back is not used afterwards', async () => {
    const fresh = await h.call('POST', '/api/workspaces', { slug: 'keyless', name: 'Keyless' });
    const id = fresh.body.id;
    await expect(
      h.store.transaction(async (tx) => {
        await h.deps.keyring.dataKey(tx, id, new Date().toISOString());
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await h.store.db.selectFrom('workspace_keys').selectAll().where('workspace_id', '=', id).execute()).toEqual([]);
    expect((await h.call('PUT', '/api/workspaces/keyless/environments/development/secrets/k', { value: 'value-0123456789abcdef' })).status).toBe(200);
    // A node that starts now must be able to read it: the stored key is the one used.
    const store = await openStore({ url: h.database.url });
    try {
      const node = await createNode({ store, masterKeys: parseMasterKeys(TEST_MASTER_KEY) });
      const { secretValues } = await import('../src/services/secrets.js');
      const { findEnvironment } = await import('../src/store/environments.js');
      const env = (await findEnvironment(store.db, id, 'development'))!;
      expect(await secretValues(node.deps, store.db, env)).toEqual({ k: 'value-0123456789abcdef' });
      await node.runtime.close();
    } finally {
      await store.close();
    }
  });
});

describe('master keys', () => {
  it('a node with the wrong master key refuses to start', async () => {
    const store = await openStore({ url: h.database.url });
    try {
      const wrong = generateKeyBytes().toString('base64');
      await expect(createNode({ store, masterKeys: parseMasterKeys(wrong) })).rejects.toThrow(/cannot be decrypted|no configured master key/);
    } finally {
      await store.close();
    }
  });

  it('rotation re-wraps data keys; nodes holding both keys serve throughout, the new key alone afterwards', async () => {
    const next = generateKeyBytes().toString('base64');
    const store = await openStore({ url: h.database.url });
    try {
      const during = await createNode({ store, masterKeys: parseMasterKeys(`${next},${TEST_MASTER_KEY}`) });
      await during.runtime.close();
      const wrapped = (await store.db.selectFrom('workspace_keys').selectAll().execute()).length;
      expect(wrapped).toBeGreaterThan(0);
      expect(await rotateMasterKey(store, parseMasterKeys(`${next},${TEST_MASTER_KEY}`))).toBe(wrapped);
      expect(await rotateMasterKey(store, parseMasterKeys(`${next},${TEST_MASTER_KEY}`))).toBe(0);
      const after = await createNode({ store, masterKeys: parseMasterKeys(next) });
      await after.runtime.close();
      await expect(createNode({ store, masterKeys: parseMasterKeys(TEST_MASTER_KEY) })).rejects.toThrow();
      const [entry] = (await h.call('GET', `${WS}/audit-log?action=keys.rotate_master`)).body.data;
      expect(entry.details.to).toBe(parseMasterKeys(next)[0]!.id);
      // Put the original key back so the running harness keeps working.
      expect(await rotateMasterKey(store, parseMasterKeys(`${TEST_MASTER_KEY},${next}`))).toBe(wrapped);
    } finally {
      await store.close();
    }
  });
});

describe('logs and errors', () => {
  it('a failed secret write logs the error without the value, and the caller gets no internals', async () => {
    const lines: string[] = [];
    const pino = (await import('pino')).default;
    const { Writable } = await import('node:stream');
    const { sql } = await import('kysely');
    const { buildApp, LOG_REDACT } = await import('../src/http/app.js');
    const logger = pino({ level: 'trace', redact: { paths: LOG_REDACT, censor: '[redacted]' } }, new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }));
    const app = await buildApp({ deps: h.deps, runtime: h.runtime, logger });
    if (TEST_DB === 'sqlite') {
      await sql`create trigger fail_secret before insert on secrets begin select raise(abort, 'injected failure'); end`.execute(h.store.db);
    } else {
      await sql`create function fail_secret() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$`.execute(h.store.db);
      await sql`create trigger fail_secret before insert on secrets for each row execute function fail_secret()`.execute(h.store.db);
    }
    try {
      const res = await app.inject({
        method: 'PUT',
        url: `${WS}/environments/development/secrets/logged`,
        headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json', 'x-request-id': 'trace-secret-1' },
        payload: JSON.stringify({ value: 'LOGGED-SECRET-0123456789' }),
      });
      expect(res.statusCode).toBe(500);
      expect(res.body).not.toContain('LOGGED-SECRET');
      expect(res.body).not.toContain('injected');
      const broken = await app.inject({
        method: 'PUT',
        url: `${WS}/environments/development/secrets/logged`,
        headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
        payload: '{"value": "LOGGED-SECRET-0123456789", oops',
      });
      expect(broken.statusCode).toBe(400);
      expect(broken.body).not.toContain('LOGGED-SECRET');
    } finally {
      await sql`drop trigger fail_secret${sql.raw(TEST_DB === 'sqlite' ? '' : ' on secrets')}`.execute(h.store.db);
      if (TEST_DB === 'postgres') await sql`drop function fail_secret()`.execute(h.store.db);
      await app.close();
    }
    const text = lines.join('');
    const errors = lines.filter((line) => line.includes('"level":50'));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('')).toContain('trace-secret-1');
    expect(text).not.toContain('LOGGED-SECRET');
    expect(text).not.toContain(h.token);
  });
});
