// `stageline db copy / backup / restore` (src/services/db-copy.ts): a running installation
// copied into a fresh PostgreSQL database (the target is always PostgreSQL here; the source is
// the project's database), resumed after an interruption, and restored from a backup file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { parseMasterKeys } from '../src/domain/secrets/envelope.js';
import { setFaults } from '../src/faults.js';
import { backupDatabase, copyDatabase, restoreDatabase } from '../src/services/db-copy.js';
import { openStore } from '../src/store/database.js';
import { commitDrafts, createApiKey, createStaging, PG_ADMIN_URL, promote, runtimeCall, startHarness, startTestServer, TEST_DB, TEST_MASTER_KEY, WS, type Harness } from './support.js';

const masterKeys = parseMasterKeys(TEST_MASTER_KEY);

async function pgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `stageline_copy_${randomBytes(6).toString('hex')}`;
  const admin = async (text: string) => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    await client.query(text).finally(() => client.end());
  };
  await admin(`create database ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) };
}

describe('db copy', () => {
  let h: Harness;
  let sk: string;
  const drops: (() => Promise<void>)[] = [];
  const target = async () => {
    const db = await pgDatabase();
    drops.push(db.drop);
    return db.url;
  };

  beforeAll(async () => {
    h = await startHarness();
    await createStaging(h);
    await h.call('PUT', `${WS}/environments/development/secrets/db_password`, { value: 'hunter2-0123456789abcdef' });
    await h.call('PUT', `${WS}/environments/staging/secrets/db_password`, { value: 'staging-password-0123456789' });
    for (let i = 0; i < 3; i++) {
      const drafts: Record<string, unknown> = { 'config/db': { value: { dsn: 'postgres://app:{{ secrets.db_password }}@db', round: i } } };
      for (let j = 0; j < 30; j++) drafts[`config/item-${j}`] = { value: { j, round: j % 3 === i ? i : 0 } };
      await commitDrafts(h, drafts, `round ${i}`);
    }
    expect((await promote(h, 'staging')).status).toBeLessThan(300);
    sk = await createApiKey(h, 'staging');
    await h.call('PUT', `${WS}/variables/app_url`, { value: 'https://example.test' });
  });

  afterAll(async () => {
    setFaults(null);
    await h?.close();
    await Promise.all(drops.map((drop) => drop()));
  });

  let copied = '';

  it('copies a running installation with no differences', async () => {
    copied = await target();
    const report = await copyDatabase(h.database.url, copied, { masterKeys });
    expect(report.verification.differences).toEqual([]);
    expect(report.verification.ok).toBe(true);
    expect(report.verification.releases).toBeGreaterThanOrEqual(4);
    expect(report.verification.auditEntries).toBeGreaterThan(5);
    expect(report.resumed).toBe(false);
  });

  it('refuses a target that is not empty', async () => {
    await expect(copyDatabase(h.database.url, copied, { masterKeys })).rejects.toThrow(/not empty/);
  });

  it('resumes an interrupted copy without duplicates', async () => {
    const url = await target();
    setFaults('db-copy.after-page:throw@3');
    await expect(copyDatabase(h.database.url, url, { masterKeys })).rejects.toThrow(/injected fault/);
    setFaults(null);
    // The node keeps writing; a copy from SQLite resumes from the snapshot it started with.
    if (TEST_DB === 'sqlite') expect((await h.call('PUT', `${WS}/variables/app_url`, { value: 'https://changed.example.test' })).status).toBe(200);
    const resumed = await copyDatabase(h.database.url, url, { masterKeys });
    expect(resumed.resumed).toBe(true);
    expect(resumed.verification.differences).toEqual([]);
    expect(Object.values(resumed.written).reduce((n, rows) => n + rows, 0)).toBeLessThan(resumed.verification.rows);
  });

  it('reports a target row changed behind an interrupted copy when it resumes', async () => {
    const other = await target();
    setFaults('db-copy.after-page:throw@7');
    await expect(copyDatabase(h.database.url, other, { masterKeys })).rejects.toThrow(/injected fault/);
    setFaults(null);
    const store = await openStore({ url: other });
    await sql`update contents set body = '{"value":{"tampered":true}}' where hash = (select min(hash) from contents)`.execute(store.db);
    await store.close();
    const tampered = await copyDatabase(h.database.url, other, { masterKeys });
    expect(tampered.verification.ok).toBe(false);
    expect(tampered.verification.differences.join('\n')).toMatch(/table contents: the same number of rows with different values/);
  });

  it('restores a backup onto a fresh database that serves the same values, secrets included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stageline-backup-'));
    try {
      const file = join(dir, 'stageline.ndjson.gz');
      const backup = await backupDatabase(h.database.url, file, { masterKeys });
      expect(backup.rows).toBeGreaterThan(50);
      const url = await target();
      const restored = await restoreDatabase(file, url, { masterKeys });
      expect(restored.verification.differences).toEqual([]);
      // The same file restores into SQLite too.
      const intoSqlite = await restoreDatabase(file, join(dir, 'restored.db'), { masterKeys });
      expect(intoSqlite.verification.differences).toEqual([]);
      expect(intoSqlite.verification.rows).toBe(restored.verification.rows);

      const before = await runtimeCall(h, sk, '/v1/resources/config/db');
      expect(before.status).toBe(200);
      const node = await startTestServer({ STAGELINE_DATABASE_URL: url });
      try {
        const after = await fetch(`${node.server.url}/v1/resources/config/db`, { headers: { authorization: `Bearer ${sk}` } });
        expect(after.status).toBe(200);
        expect(after.headers.get('etag')).toBe(before.headers.etag);
        const body = (await after.json()) as any;
        expect(JSON.stringify(body)).toContain('staging-password-0123456789');
        expect(body).toEqual(before.body);
      } finally {
        await node.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
