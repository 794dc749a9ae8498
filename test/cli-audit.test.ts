// audit through the real command against a real node: filters and paging, the NDJSON export, the
// signed checkpoint verified later, and a chain broken behind the server's back (exit 1, where).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliWorkspace, type CliWorkspace } from './cli-support.js';
import { startTestServer, TEST_DB, type TestServer } from './support.js';

const TOKEN = 'test-server-bootstrap-token-0123456789';
const WS = '/api/workspaces/default';
let node: TestServer;
let cli: CliWorkspace;

beforeAll(async () => {
  node = await startTestServer();
  cli = cliWorkspace({ url: node.server.url, token: TOKEN });
  for (let i = 0; i < 5; i += 1) expect((await node.api('PUT', `${WS}/variables/v${i}`, { value: i })).status).toBe(200);
  expect((await node.api('POST', `${WS}/environments`, { slug: 'staging' })).status).toBe(201);
  expect((await node.api('PUT', `${WS}/environments/staging/secrets/s1`, { value: 'audit-test-secret-value' })).status).toBe(200);
}, 60_000);
afterAll(async () => {
  cli?.dispose();
  await node?.close();
});

type Entry = { seq: number; action: string; environment: string | null; actorId: string };

describe('stageline audit', () => {
  it('lists entries newest first, filtered by environment, action family and actor', async () => {
    const all = await cli.run(['audit', '--json']);
    expect(all.code).toBe(0);
    const entries = all.json().data as Entry[];
    expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(['variable.create', 'environment.create', 'secret.create']));
    expect(entries.map((e) => e.seq)).toEqual([...entries.map((e) => e.seq)].sort((a, b) => b - a));

    const staging = (await cli.run(['audit', '--env', 'staging', '--json'])).json().data as Entry[];
    expect(staging.length).toBeGreaterThan(0);
    expect(staging.every((e) => e.environment === 'staging')).toBe(true);
    const vars = (await cli.run(['audit', '--action', 'variable.*', '--json'])).json().data as Entry[];
    expect(vars).toHaveLength(5);
    const byActor = (await cli.run(['audit', '--actor', 'admin', '--action', 'variable.*', '--json'])).json().data as Entry[];
    expect(byActor).toHaveLength(5);
    expect((await cli.run(['audit', '--actor', 'nobody', '--json'])).json().data).toEqual([]);

    const human = await cli.run(['audit', '--action', 'secret.create']);
    expect(human.stdout).toMatch(/secret\.create\s+staging\s+secret\/s1/);
    expect(human.stdout + all.stdout).not.toContain('audit-test-secret-value');
  });

  it('--limit stops early and says there is more; --all pages through next', async () => {
    const total = ((await node.api('GET', `${WS}/audit-log?limit=500`)).body.data as Entry[]).length;
    const two = await cli.run(['audit', '--limit', '2', '--json']);
    expect(two.json().data).toHaveLength(2);
    expect(two.json().next).not.toBeNull();
    expect((await cli.run(['audit', '--limit', '2'])).stdout).toContain('more entries');

    const paged = await cli.run(['audit', '--all', '--json'], { env: { STAGELINE_PAGE_SIZE: '3' } });
    const seqs = (paged.json().data as Entry[]).map((e) => e.seq);
    expect(seqs).toHaveLength(total);
    expect(new Set(seqs).size).toBe(total);
    expect(paged.json().next).toBeNull();
    expect((await cli.run(['audit', '--limit', '4', '--json'], { env: { STAGELINE_PAGE_SIZE: '3' } })).json().data).toHaveLength(4);
  });

  it('--since and --until take durations and date-times', async () => {
    expect(((await cli.run(['audit', '--since', '1h', '--json'])).json().data as Entry[]).length).toBeGreaterThan(0);
    expect((await cli.run(['audit', '--until', '1h', '--json'])).json().data).toEqual([]);
    expect((await cli.run(['audit', '--since', '2000-01-01T00:00:00Z', '--limit', '1', '--json'])).json().data).toHaveLength(1);
    expect((await cli.run(['audit', '--since', 'yesterday'])).code).toBe(2);
  });

  it('--export writes NDJSON oldest first, to stdout or a file', async () => {
    const out = await cli.run(['audit', '--export', '--action', 'variable.*']);
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split('\n').map((line) => JSON.parse(line) as Entry);
    expect(lines.map((e) => e.action)).toEqual(Array(5).fill('variable.create'));
    expect(lines[0]!.seq).toBeLessThan(lines[4]!.seq);

    const file = join(cli.cwd, 'audit.ndjson');
    const written = await cli.run(['audit', '--export', '-o', file, '--json']);
    expect(written.code).toBe(0);
    const count = readFileSync(file, 'utf8').trim().split('\n').length;
    expect(written.json()).toEqual({ file, entries: count });
    expect(count).toBeGreaterThan(5);
  });

  it('--checkpoint prints a signed checkpoint that --verify --checkpoint-file checks; a forged one fails', async () => {
    const signed = await cli.run(['audit', '--checkpoint']);
    expect(signed.code).toBe(0);
    const checkpoint = JSON.parse(signed.stdout);
    expect(checkpoint).toMatchObject({ seq: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/), signature: expect.any(String) });
    const file = join(cli.cwd, 'checkpoint.json');
    writeFileSync(file, signed.stdout);
    await node.api('PUT', `${WS}/variables/after_checkpoint`, { value: 1 });

    const verified = await cli.run(['audit', '--verify', '--checkpoint-file', file, '--json']);
    expect(verified.code).toBe(0);
    expect(verified.json()).toMatchObject({ valid: true, firstBroken: null, checkpoint: { seq: checkpoint.seq, valid: true } });
    expect((await cli.run(['audit', '--verify'])).stdout).toContain('the audit chain verifies');

    writeFileSync(file, JSON.stringify({ ...checkpoint, hash: 'f'.repeat(64) }));
    const forged = await cli.run(['audit', '--verify', '--checkpoint-file', file, '--json']);
    expect(forged.code).toBe(1);
    expect(forged.json()).toMatchObject({ firstBroken: null, checkpoint: { seq: checkpoint.seq, valid: false } });
    expect((await cli.run(['audit', '--verify', '--checkpoint-file', file])).stderr).toContain(`no longer extends the checkpoint at entry ${checkpoint.seq}`);
  });

  it('usage mistakes exit 2', async () => {
    expect((await cli.run(['audit', '--verify', '--env', 'staging'])).code).toBe(2);
    expect((await cli.run(['audit', '--verify', '--checkpoint'])).code).toBe(2);
    expect((await cli.run(['audit', '--checkpoint-file', 'x.json'])).code).toBe(2);
    expect((await cli.run(['audit', '--limit', '0'])).code).toBe(2);
    expect((await cli.run(['audit', '--verify', '--checkpoint-file', join(cli.cwd, 'missing.json')])).code).toBe(2);
  });

  // Last: it breaks the chain for good. An attacker with database access drops the append-only
  // triggers and removes the newest entry; verify says where.
  it('--verify exits 1 on a broken chain and names the entry', async () => {
    const db = node.server.deps.store.db;
    if (TEST_DB === 'sqlite') await sql`drop trigger audit_log_no_delete`.execute(db);
    else await sql`drop trigger audit_log_append_only on audit_log`.execute(db);
    const last = (await node.api('GET', `${WS}/audit-log?limit=1`)).body.data[0].seq as number;
    await db.deleteFrom('audit_log').where('seq', '=', last).execute();

    const human = await cli.run(['audit', '--verify']);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(`the audit chain is broken at entry ${last} (missing entry)`);
    expect(human.stderr).toContain(`stageline: the audit chain is broken at entry ${last}`);
    const json = await cli.run(['audit', '--verify', '--json']);
    expect(json.code).toBe(1);
    expect(json.json()).toMatchObject({ valid: false, firstBroken: { seq: last, reason: 'missing_entry' } });
  });
});
