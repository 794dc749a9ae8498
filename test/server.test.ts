// The node as `stageline server` starts it: migrations, first-start initialisation, the
// owner token file, and a restart on the same data.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import { createTestDatabase, TEST_DB, TEST_MASTER_KEY, type TestDatabase } from './support.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  vi.restoreAllMocks();
});

async function start(env: Record<string, string>, database: TestDatabase): Promise<RunningServer> {
  const config = loadConfig({
    STAGELINE_PORT: '0',
    STAGELINE_HOST: '127.0.0.1',
    STAGELINE_LOG_LEVEL: 'silent',
    STAGELINE_DATABASE_URL: database.url,
    ...(TEST_DB === 'postgres' ? { STAGELINE_MASTER_KEY: TEST_MASTER_KEY } : {}),
    ...env,
  });
  return startServer(config);
}

async function setup() {
  const dataDir = mkdtempSync(join(tmpdir(), 'stageline-data-'));
  const database = await createTestDatabase();
  cleanups.push(async () => {
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { dataDir, database };
}

describe(`server on ${TEST_DB}`, () => {
  it('first start creates the owner token, prints it once and writes it with mode 0600', async () => {
    const { dataDir, database } = await setup();
    const printed: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: any) => (printed.push(String(chunk)), true));
    const first = await start({ STAGELINE_DATA_DIR: dataDir }, database);
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    expect(token).toMatch(/^stl_/);
    expect(statSync(join(dataDir, 'admin-token')).mode & 0o777).toBe(0o600);
    expect(printed.join('')).toContain(token);

    const res = await fetch(`${first.url}/api/workspaces/default/environments`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect((await fetch(`${first.url}/healthz`).then((r) => r.json()))).toEqual({ status: 'ok' });
    await first.close();

    printed.length = 0;
    const second = await start({ STAGELINE_DATA_DIR: dataDir }, database);
    expect(printed.join('')).not.toContain(token);
    const again = await fetch(`${second.url}/api/workspaces/default/environments`, { headers: { authorization: `Bearer ${token}` } });
    expect(again.status).toBe(200);
    await second.close();
  });

  it('STAGELINE_BOOTSTRAP_TOKEN becomes the owner token and is neither printed nor written', async () => {
    const { dataDir, database } = await setup();
    const printed: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: any) => (printed.push(String(chunk)), true));
    const token = 'ci-bootstrap-token-0123456789';
    const server = await start({ STAGELINE_DATA_DIR: dataDir, STAGELINE_BOOTSTRAP_TOKEN: token }, database);
    expect(printed.join('')).not.toContain(token);
    expect(() => statSync(join(dataDir, 'admin-token'))).toThrow();
    const res = await fetch(`${server.url}/api/workspaces`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await res.json()) as any).data.map((w: any) => w.slug)).toEqual(['default']);
    await server.close();
  });

  // Several nodes share a database only on PostgreSQL; SQLite serves one node.
  it.runIf(TEST_DB === 'postgres')('two nodes starting together on one database initialise it once', async () => {
    const { dataDir, database } = await setup();
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const token = 'shared-bootstrap-token-0123456789';
    const nodes = await Promise.all([0, 1].map(() => start({ STAGELINE_DATA_DIR: dataDir, STAGELINE_BOOTSTRAP_TOKEN: token }, database)));
    const res = await fetch(`${nodes[1]!.url}/api/workspaces`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await res.json()) as any).data).toHaveLength(1);
    for (const node of nodes) await node.close();
  });

  it('refuses to start when the master key cannot decrypt the stored data keys', async () => {
    const { dataDir, database } = await setup();
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const token = 'master-key-test-token-0123456789';
    const first = await start({ STAGELINE_DATA_DIR: dataDir, STAGELINE_BOOTSTRAP_TOKEN: token, STAGELINE_MASTER_KEY: TEST_MASTER_KEY }, database);
    const res = await fetch(`${first.url}/api/workspaces/default/environments/development/secrets/k`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'value-0123456789abcdef' }),
    });
    expect(res.status).toBe(200);
    await first.close();
    const other = Buffer.alloc(32, 9).toString('base64');
    await expect(start({ STAGELINE_DATA_DIR: dataDir, STAGELINE_MASTER_KEY: other }, database)).rejects.toThrow(/master key cannot decrypt/);
  });

  it.runIf(TEST_DB === 'sqlite')('generates a master key file with mode 0600 when none is configured', async () => {
    const { dataDir, database } = await setup();
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const server = await start({ STAGELINE_DATA_DIR: dataDir }, database);
    expect(statSync(join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
    await server.close();
  });

  it.runIf(TEST_DB === 'postgres')('refuses to generate a master key for a shared PostgreSQL database', async () => {
    const { dataDir, database } = await setup();
    await expect(start({ STAGELINE_DATA_DIR: dataDir, STAGELINE_MASTER_KEY: '' }, database)).rejects.toThrow(/set STAGELINE_MASTER_KEY/);
  });

  it('refuses a bootstrap token shorter than 16 characters', () => {
    expect(() => loadConfig({ STAGELINE_BOOTSTRAP_TOKEN: 'short' })).toThrow(/at least 16/);
  });
});
