// Moving up and recovering (docs/backup.md): a seeded installation on the part's database, with
// a node running on it and writing drafts, is copied into a fresh PostgreSQL database by
// `stageline db copy` (the built CLI, as users run it); a second copy is killed (SIGKILL at a
// fault point halfway through its pages) and run again; a backup taken from the running node is
// restored onto a fresh database and a new node on it must serve the same ETags and bodies to
// an sk_ key as the source node.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DB, QUICK, emit, fmt, runPart, say, scaled, zero } from '../contract.js';
import { Child, Cleanup, NODE_TOKEN, SERVER_MAIN, newDatabase, startNode, type StagelineNode } from '../lib/nodes.js';
import { seedDrafts, type Bench } from '../../bench/support.js';
import { sleep } from '../../bench/delivery-support.js';
import { TEST_MASTER_KEY } from '../../test/support.js';
import { parseMasterKeys } from '../../src/domain/secrets/envelope.js';
import { createApiKey } from '../../src/services/api-keys.js';
import { authenticate, enterWorkspace } from '../../src/services/auth.js';
import { bootstrap } from '../../src/services/bootstrap.js';
import { NO_EGRESS, type Deps } from '../../src/services/context.js';
import type { CopyReport } from '../../src/services/db-copy.js';
import { Keyring } from '../../src/services/keyring.js';
import { commit } from '../../src/services/releases.js';
import { putSecret } from '../../src/services/secrets.js';
import { openStore } from '../../src/store/database.js';

const PART = 'db-copy';
const RESOURCES = scaled(10_000, 1_000);
const RELEASES = scaled(100, 10);
/** Resources changed by each release after the first. */
const CHANGED = Math.max(10, RESOURCES / 100);
const SECRET = 'copy-secret-value-0123456789';

/** The installation: RESOURCES config documents over RELEASES commits, one reading a secret; returns an sk_ key of development. */
async function seed(url: string): Promise<string> {
  const store = await openStore({ url, poolSize: 4 });
  try {
    const deps: Deps = { store, now: () => new Date(), keyring: new Keyring(parseMasterKeys(TEST_MASTER_KEY)), onChange: () => {}, egress: NO_EGRESS };
    await bootstrap(deps, { token: NODE_TOKEN });
    const ctx = await enterWorkspace(deps, await authenticate(deps, `Bearer ${NODE_TOKEN}`), 'default', null);
    const bench: Bench = { kind: DB, store, deps, ctx, dispose: async () => {} };
    await putSecret(deps, ctx, 'development', 'db_password', SECRET);
    const item = (i: number, round: number) => ({ kind: 'config' as const, key: `item-${i}`, content: { value: { i, round, text: `resource ${i} of round ${round}` } } });
    await seedDrafts(bench, 'development', [
      { kind: 'config', key: 'db', content: { value: { dsn: 'postgres://app:{{ secrets.db_password }}@db/app' } } },
      ...Array.from({ length: RESOURCES }, (_, i) => item(i, 0)),
    ]);
    await commit(deps, ctx, 'development', { message: 'round 0' });
    for (let round = 1; round < RELEASES; round++) {
      const start = (round * CHANGED) % RESOURCES;
      await seedDrafts(bench, 'development', Array.from({ length: CHANGED }, (_, j) => item((start + j) % RESOURCES, round)));
      await commit(deps, ctx, 'development', { message: `round ${round}` });
    }
    return (await createApiKey(deps, ctx, 'development', { name: 'db-copy reader', kind: 'secret' })).key;
  } finally {
    await store.close();
  }
}

/** Drafts written through the node's API until stopped: the source keeps changing while it is copied. */
function keepWriting(node: StagelineNode): { stop: () => Promise<number> } {
  let running = true;
  let writes = 0;
  const loop = (async () => {
    for (let i = 0; running && i < 20_000; i++) {
      await node.api.call('PUT', `/api/workspaces/default/environments/development/resources/config/live-${i % 50}`, { content: { value: { i } } });
      writes += 1;
      await sleep(20);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return writes;
    },
  };
}

interface CliRun {
  code: number | null;
  ms: number;
  report: CopyReport | null;
  output: string;
}

/** `stageline db …` as a user runs it (the built CLI), with the node's master key. */
async function cli(cleanup: Cleanup, name: string, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const dataDir = mkdtempSync(join(tmpdir(), `stageline-rel-${name}-`));
  cleanup.add(`remove ${dataDir}`, async () => rmSync(dataDir, { recursive: true, force: true }));
  const started = performance.now();
  const child = Child.start(name, cleanup, process.execPath, [SERVER_MAIN, ...args, '--json'], {
    NODE_ENV: 'test',
    STAGELINE_MASTER_KEY: TEST_MASTER_KEY,
    STAGELINE_DATA_DIR: dataDir,
    ...env,
  });
  const code = await child.exited;
  const ms = performance.now() - started;
  const output = child.tail(200);
  const json = output.slice(output.indexOf('\n{') + 1 || output.indexOf('{'));
  let report: CopyReport | null = null;
  try {
    const parsed = JSON.parse(json.slice(0, json.lastIndexOf('}') + 1));
    if (parsed.verification) report = parsed as CopyReport;
  } catch {
    // A killed run prints no report.
  }
  return { code, ms, report, output };
}

const totalRows = (report: CopyReport) => Object.values(report.written).reduce((n, rows) => n + rows, 0);

runPart(PART, async () => {
  const cleanup = new Cleanup();
  try {
    const sourceUrl = await newDatabase(DB, cleanup, 'copy_src');
    const seeding = performance.now();
    const sk = await seed(sourceUrl);
    say(`  seeded ${fmt(RESOURCES)} resources × ${RELEASES} releases on ${DB} in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);
    const source = await startNode(cleanup, { name: 'source', databaseUrl: sourceUrl, readyTimeoutMs: 120_000 });

    // 1. A copy of the running node into a fresh PostgreSQL database.
    const writer = keepWriting(source);
    const first = await cli(cleanup, 'copy', ['db', 'copy', '--from', sourceUrl, '--to', await newDatabase('postgres', cleanup, 'copy_dst')]);
    const writes = await writer.stop();
    if (!first.report) throw new Error(`db copy printed no report (exit ${first.code}):\n${first.output}`);
    const v = first.report.verification;
    const seconds = first.ms / 1000;
    const goal = QUICK ? 30 : 300;
    emit({ part: PART, measure: `copy time, ${fmt(RESOURCES)} resources × ${RELEASES} releases (${DB} → postgres)`, value: `${seconds.toFixed(1)} s (${fmt(totalRows(first.report))} rows)`, goal: `≤ ${goal} s`, ok: seconds <= goal });
    emit({ part: PART, measure: 'drafts written by the running source node during the copy', value: fmt(writes), goal: '≥ 1', ok: writes >= 1 });
    zero(PART, 'differences after the copy (tables, release hashes, audit, keys)', v.differenceCount, { total: v.rows + v.resources, unit: 'rows and release entries' });
    if (first.code !== 0 || v.releases < RELEASES || v.resources < RESOURCES * RELEASES) {
      emit({ part: PART, measure: 'copy verified every release', value: `exit ${first.code}, ${v.releases} releases, ${fmt(v.resources)} entries`, goal: `exit 0, ≥ ${RELEASES} releases`, ok: false });
    }
    for (const line of v.differences.slice(0, 5)) say(`  difference: ${line}`);

    // 2. A copy killed (SIGKILL) halfway through its pages, then run again. A PostgreSQL source's
    // snapshot ends with the killed run, so the node stops writing until the copy is resumed there.
    const pages = Object.values(first.report.written).reduce((n, rows) => n + Math.ceil(rows / 1000), 0);
    const killAt = Math.max(2, Math.floor(pages / 2));
    const writer2 = DB === 'sqlite' ? keepWriting(source) : null;
    const target2 = await newDatabase('postgres', cleanup, 'copy_resume');
    const killed = await cli(cleanup, 'copy-killed', ['db', 'copy', '--from', sourceUrl, '--to', target2], { STAGELINE_FAULTS: `db-copy.after-page:kill@${killAt}` });
    const wasKilled = killed.code === null && killed.output.includes('fault point db-copy.after-page reached');
    const resumed = await cli(cleanup, 'copy-resumed', ['db', 'copy', '--from', sourceUrl, '--to', target2]);
    await writer2?.stop();
    if (!resumed.report) throw new Error(`the resumed db copy printed no report (exit ${resumed.code}):\n${resumed.output}`);
    const rewritten = totalRows(resumed.report);
    emit({
      part: PART,
      measure: `kill -9 after page ${killAt} of ${pages}, then resumed: rows the second run wrote`,
      value: `${fmt(rewritten)} of ${fmt(resumed.report.verification.rows)}`,
      goal: 'killed, resumed, < all',
      ok: wasKilled && resumed.report.resumed && rewritten > 0 && rewritten < resumed.report.verification.rows,
    });
    zero(PART, 'differences after kill -9 mid-copy and a resumed run', resumed.report.verification.differenceCount, {
      total: resumed.report.verification.rows + resumed.report.verification.resources,
      unit: 'rows and release entries',
    });

    // 3. A backup of the running node restored on a fresh machine (new data dir, new node process).
    const dir = mkdtempSync(join(tmpdir(), 'stageline-rel-backup-'));
    cleanup.add(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'stageline.ndjson.gz');
    const backup = await cli(cleanup, 'backup', ['db', 'backup', file, '--from', sourceUrl]);
    if (backup.code !== 0) throw new Error(`db backup failed (exit ${backup.code}):\n${backup.output}`);
    const freshUrl = await newDatabase('postgres', cleanup, 'copy_restore');
    const restore = await cli(cleanup, 'restore', ['db', 'restore', file, '--to', freshUrl]);
    if (!restore.report) throw new Error(`db restore printed no report (exit ${restore.code}):\n${restore.output}`);
    zero(PART, 'differences after a restore of a backup (tables, release hashes, audit, keys)', restore.report.verification.differenceCount, {
      total: restore.report.verification.rows + restore.report.verification.resources,
      unit: 'rows and release entries',
    });
    const fresh = await startNode(cleanup, { name: 'restored', databaseUrl: freshUrl, readyTimeoutMs: 120_000 });
    const paths = ['/v1/resources/config/db', '/v1/resources', ...Array.from({ length: scaled(200, 40) }, (_, i) => `/v1/resources/config/item-${(i * 7919) % RESOURCES}`)];
    let mismatches = 0;
    let secretServed = false;
    for (const path of paths) {
      const [a, b] = await Promise.all([source.url, fresh.url].map((base) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${sk}` } }).then(async (r) => ({ status: r.status, etag: r.headers.get('etag'), body: await r.text() }))));
      if (a!.status !== 200 || b!.status !== a!.status || b!.etag !== a!.etag || b!.body !== a!.body) {
        mismatches += 1;
        if (mismatches <= 3) say(`  ${path}: source ${a!.status} ${a!.etag}, restored ${b!.status} ${b!.etag}`);
      }
      if (path === paths[0] && b!.body.includes(SECRET)) secretServed = true;
    }
    zero(PART, 'delivery reads (sk_ key) whose status, ETag or body differ on the restored node', mismatches, { total: paths.length, unit: 'reads' });
    emit({ part: PART, measure: 'secret-backed value served by the restored node (same master key)', value: secretServed ? 'served' : 'not served', goal: 'served', ok: secretServed });
  } finally {
    await cleanup.runAll();
  }
});
