// Dependency faults the store and the error handler meet (reliability part 8 found each): a full
// SQLite database, a PostgreSQL connection cut under a query, a listener that cannot connect.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { handleError } from '../src/http/errors.js';
import { listenForChanges } from '../src/store/changes.js';
import { openStore } from '../src/store/database.js';
import { TEST_DB } from './support.js';

describe.runIf(TEST_DB === 'sqlite')('a full SQLite database', () => {
  it('fails the transaction with SQLITE_FULL (not a failed ROLLBACK) and the store goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stageline-full-'));
    const store = await openStore({ url: join(dir, 'full.db') });
    try {
      await sql`create table filler (blob text)`.execute(store.db);
      const pages = Number((await sql<{ page_count: number }>`pragma page_count`.execute(store.db)).rows[0]!.page_count);
      await sql.raw(`pragma max_page_count = ${pages + 8}`).execute(store.db);
      const failed = await store
        .transaction(async (tx) => {
          for (let i = 0; i < 20; i++) await sql`insert into filler values (${'x'.repeat(8192)})`.execute(tx);
        })
        .catch((error: unknown) => error as { code?: string });
      expect(failed).toMatchObject({ code: 'SQLITE_FULL' });
      // Nothing of it was written, and the next transaction works.
      expect((await sql<{ n: number }>`select count(*) as n from filler`.execute(store.db)).rows[0]!.n).toBe(0);
      await store.transaction(async (tx) => void (await sql`insert into filler values ('small')`.execute(tx)));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dependency errors in the error shape', () => {
  it('a full disk is 507 insufficient_storage, a connection lost under a query 503 unavailable', async () => {
    const app = Fastify({ logger: false });
    app.setErrorHandler(handleError);
    app.get('/full', async () => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    });
    app.get('/lost', async () => {
      throw new Error('Client has encountered a connection error and is not queryable');
    });
    const full = await app.inject({ method: 'GET', url: '/full' });
    expect(full.statusCode).toBe(507);
    expect(full.json().error.code).toBe('insufficient_storage');
    const lost = await app.inject({ method: 'GET', url: '/lost' });
    expect(lost.statusCode).toBe(503);
    expect(lost.json().error.code).toBe('unavailable');
    await app.close();
  });
});

describe('the change listener', () => {
  it('that cannot connect only rejects: it does not also report itself lost (which started a second reconnect)', async () => {
    let lost = 0;
    await expect(listenForChanges('postgres://postgres@127.0.0.1:1/none', () => {}, () => void (lost += 1))).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(lost).toBe(0);
  });
});
