// Writes a database with the code of this checkout through its API, as a user would: the
// fixture that migration tests open with later code (test/fixtures/README.md). Releases of
// every cause (commits, promotions, a rollback, a fork, a merge), a deletion, a pending
// promotion request, drafts, an override, a branch with its own commit.
//   npx tsx scripts/make-store-fixture.ts sqlite <out.db> <expected.json>
//   npx tsx scripts/make-store-fixture.ts postgres <out.sql> <expected.json>   (pg_dump)
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const [kind, out, expectedOut] = process.argv.slice(2);
if ((kind !== 'sqlite' && kind !== 'postgres') || !out || !expectedOut) {
  console.error('usage: make-store-fixture.ts sqlite|postgres <out> <expected.json>');
  process.exit(2);
}
const TOKEN = 'fixture-owner-token-0123456789abcdef';
const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
const PORT = 4790 + Math.floor(Math.random() * 100);

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'stageline-fixture-'));
  let databaseUrl = join(dir, 'stageline.db');
  const pgName = `fixture_${process.pid}`;
  if (kind === 'postgres') {
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${pgName}`);
    await admin.end();
    databaseUrl = `postgres://postgres@127.0.0.1:5432/${pgName}`;
  }
  const server = spawn(process.execPath, ['dist/cli/main.js', 'server'], {
    env: {
      ...process.env,
      STAGELINE_PORT: String(PORT),
      STAGELINE_HOST: '127.0.0.1',
      STAGELINE_GATEWAY: 'off',
      STAGELINE_DATA_DIR: dir,
      STAGELINE_DATABASE_URL: databaseUrl,
      STAGELINE_BOOTSTRAP_TOKEN: TOKEN,
      STAGELINE_MASTER_KEY: MASTER_KEY,
      STAGELINE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  process.on('exit', () => server.kill('SIGKILL'));
  const base = `http://127.0.0.1:${PORT}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {}
    if (i > 100) throw new Error('the server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const ws = `${base}/api/workspaces/default`;
  const call = async (method: string, path: string, body?: unknown, expect?: number) => {
    const res = await fetch(`${ws}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (expect !== undefined ? res.status !== expect : res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };

  await call('POST', '/environments', { slug: 'staging', name: 'Staging' });
  for (let i = 0; i < 40; i++) {
    await call('PUT', `/environments/development/resources/config/setting-${String(i).padStart(2, '0')}`, { content: { value: { n: i, label: `setting ${i}` } } });
  }
  // Ids that a careless lookup by plain object would get wrong.
  await call('PUT', '/environments/development/resources/config/constructor', { content: { value: { odd: true } } });
  await call('PUT', '/environments/development/resources/config/hasOwnProperty', { content: { value: { odd: true } } });
  for (let i = 0; i < 4; i++) {
    await call('PUT', `/environments/development/resources/route/api-${i}`, { content: { match: { pathPrefix: `/api/${i}` }, upstream: { url: `https://api-${i}.example.com` } }, app: i % 2 ? 'billing' : undefined });
  }
  await call('POST', '/environments/development/commits', { message: 'first' });
  await call('POST', '/environments/staging/promotions', {});
  await call('POST', '/environments/production/promotions', { message: 'first production release' });
  for (const i of [3, 7, 11]) await call('PUT', `/environments/development/resources/config/setting-${String(i).padStart(2, '0')}`, { content: { value: { n: i * 100 } } });
  await call('DELETE', '/environments/development/resources/config/setting-39');
  await call('POST', '/environments/development/commits', { message: 'second: three changes, one deletion' });
  await call('POST', '/environments/staging/promotions', {});
  await call('POST', '/environments/production/promotions', {});
  await call('POST', '/environments/production/rollbacks', { release: 1, message: 'back to the first' });
  // Selective promotion of one resource.
  await call('PUT', '/environments/development/resources/config/setting-20', { content: { value: { n: 2020 } } });
  await call('POST', '/environments/development/commits', { message: 'third' });
  await call('POST', '/environments/staging/promotions', { resources: ['config/setting-20'] });
  // A branch with its own commit, merged back; a second branch left open with a draft.
  await call('POST', '/environments', { slug: 'feature-a', kind: 'branch', from: 'development' });
  await call('PUT', '/environments/feature-a/resources/config/setting-05', { content: { value: { n: 555 } } });
  await call('PUT', '/environments/feature-a/resources/config/branch-only', { content: { value: { from: 'feature-a' } } });
  await call('POST', '/environments/feature-a/commits', { message: 'branch work' });
  await call('POST', '/environments/development/promotions', { from: 'feature-a', message: 'merge feature-a' });
  await call('POST', '/environments', { slug: 'feature-b', kind: 'branch', from: 'development' });
  await call('PUT', '/environments/feature-b/resources/config/setting-06', { content: { value: { n: 666 } } });
  await call('POST', '/environments/feature-b/commits', { message: 'branch b' });
  await call('PUT', '/environments/feature-b/resources/config/setting-07', { content: { value: { draft: true } } });
  // Uncommitted drafts in development, an override in production.
  await call('PUT', '/environments/development/resources/config/setting-01', { content: { value: { draft: 'not committed' } } });
  await call('PUT', '/environments/production/resources/route/api-1/override', { override: { upstream: { url: 'https://api-1-prod.example.com' } } });
  // A pending promotion request holding a plan.
  await call('PATCH', '/environments/production', { protected: true, approvalsRequired: 1 });
  await call('POST', '/environments/production/promotions', { message: 'waits for approval' }, 202);

  // What every release of every environment holds, as this code reads it.
  const expected: Record<string, unknown> = {};
  const envs = (await call('GET', '/environments')).data as { slug: string; release: number }[];
  for (const env of envs) {
    for (let n = 1; n <= env.release; n++) {
      const release = await call('GET', `/environments/${env.slug}/releases/${n}`);
      expected[`${env.slug}#${n}`] = { snapshot: release.snapshot, resourceCount: release.resourceCount, resources: release.resources };
    }
  }
  writeFileSync(expectedOut!, JSON.stringify(expected, null, 1) + '\n');
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  if (kind === 'sqlite') {
    execFileSync('sqlite3', [databaseUrl, 'PRAGMA wal_checkpoint(TRUNCATE); VACUUM;']);
    copyFileSync(databaseUrl, out!);
  } else {
    const dump = execFileSync('pg_dump', ['--no-owner', '--no-privileges', '--inserts', '-h', '127.0.0.1', '-U', 'postgres', pgName], { maxBuffer: 256 * 1024 * 1024 });
    writeFileSync(out!, dump);
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
    await admin.connect();
    await admin.query(`DROP DATABASE ${pgName}`);
    await admin.end();
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(`wrote ${out} and ${expectedOut} (${Object.keys(expected).length} releases)`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
