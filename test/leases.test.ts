// Named leases (src/store/leases.ts), on both databases: one holder at a time, renewal by the
// holder, take-over after expiry, release, and a race of many nodes for one free lease.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/store/database.js';
import { acquireLease, leaseHolder, releaseLease } from '../src/store/leases.js';
import { createTestDatabase, type TestDatabase } from './support.js';

let database: TestDatabase;
let store: Store;

beforeAll(async () => {
  database = await createTestDatabase();
  store = await openStore({ url: database.url });
});
afterAll(async () => {
  await store?.close();
  await database?.drop();
});

const t0 = new Date('2026-01-01T00:00:00.000Z');
const later = (ms: number) => new Date(t0.getTime() + ms);

describe('leases', () => {
  it('has one holder until it expires, is renewed by its holder and taken over after expiry', async () => {
    expect(await acquireLease(store.db, 'job-a', 'node-1', t0, 10_000)).toBe(true);
    expect(await acquireLease(store.db, 'job-a', 'node-2', later(5_000), 10_000)).toBe(false);
    expect(await leaseHolder(store.db, 'job-a', later(5_000))).toBe('node-1');
    // Renewal moves the expiry: node-2 still loses at 12 s.
    expect(await acquireLease(store.db, 'job-a', 'node-1', later(8_000), 10_000)).toBe(true);
    expect(await acquireLease(store.db, 'job-a', 'node-2', later(12_000), 10_000)).toBe(false);
    // Expired: node-2 takes it over, and node-1 has lost it.
    expect(await acquireLease(store.db, 'job-a', 'node-2', later(18_001), 10_000)).toBe(true);
    expect(await acquireLease(store.db, 'job-a', 'node-1', later(18_002), 10_000)).toBe(false);
    expect(await leaseHolder(store.db, 'job-a', later(18_002))).toBe('node-2');
    expect(await leaseHolder(store.db, 'job-a', later(60_000))).toBe(null);
  });

  it('is free again once released by its holder, and not by anyone else', async () => {
    expect(await acquireLease(store.db, 'job-b', 'node-1', t0, 60_000)).toBe(true);
    await releaseLease(store.db, 'job-b', 'node-2');
    expect(await leaseHolder(store.db, 'job-b', t0)).toBe('node-1');
    await releaseLease(store.db, 'job-b', 'node-1');
    expect(await acquireLease(store.db, 'job-b', 'node-2', t0, 60_000)).toBe(true);
  });

  it('goes to exactly one of many nodes racing for it', async () => {
    const nodes = Array.from({ length: 12 }, (_, i) => `node-${i}`);
    const won = await Promise.all(nodes.map((node) => acquireLease(store.db, 'job-c', node, t0, 60_000)));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(await leaseHolder(store.db, 'job-c', t0)).toBe(nodes[won.indexOf(true)]);
  });
});
