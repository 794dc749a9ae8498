// Moving an installation to another database and back: `stageline db copy`, `db backup` and
// `db restore` (docs/backup.md). A copy reads one consistent snapshot of the source, writes the
// target table by table with resumable progress, and is verified through the store's own reads.
import { closeSync, createReadStream, createWriteStream, existsSync, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { createGunzip, createGzip } from 'node:zlib';
import SQLite from 'better-sqlite3';
import { SYSTEM_ACTOR } from '../domain/auth/permissions.js';
import { contentHash, sha256 } from '../domain/canonical.js';
import { loadAll, type NodeReader, type TreeNode } from '../domain/releases/tree.js';
import { parseMasterKeys, type MasterKey } from '../domain/secrets/envelope.js';
import { faultPoint } from '../faults.js';
import { MASTER_KEY_FILE } from '../master-key.js';
import {
  checkTableSet,
  COPIED_TABLES,
  dropProgress,
  firstNonEmptyTable,
  keyOf,
  listWorkspaceRefs,
  readPage,
  readProgress,
  resetSequences,
  schemaVersion,
  startProgress,
  tableDigest,
  writePage,
  type CopiedTable,
  type CopyProgress,
  type Row,
  type TableProgress,
} from '../store/copy.js';
import { isPostgresUrl, openStore, type Db, type Store } from '../store/database.js';
import { listEnvironments } from '../store/environments.js';
import { getContents, listReleases, snapshotRoot } from '../store/releases.js';
import { nodeReader } from '../store/trees.js';
import { verifyAuditLog } from './audit.js';
import { NO_EGRESS, type Deps } from './context.js';
import { Keyring } from './keyring.js';

/** Rows read and written per page. */
const PAGE = 1000;
/** Differences listed in a report (all are counted). */
const MAX_DIFFERENCES = 100;

/** What two databases must agree on after a copy, computed the same way on each. */
export interface Fingerprint {
  schema: string;
  /** Per copied table: its row count and an order-independent digest of its rows. */
  tables: Record<string, { rows: number; digest: string }>;
  /** Per release (`workspace/environment#number`): how many resources, and a digest of their (id, content hash, app). */
  releases: Record<string, { resources: number; digest: string }>;
  /** Per workspace: the audit chain's length and head. */
  audit: Record<string, { entries: number; head: string | null }>;
}

export interface Verification {
  ok: boolean;
  /** How the target differs from the source, or fails a check of its own (the first 100); empty when ok. */
  differences: string[];
  differenceCount: number;
  tables: number;
  rows: number;
  releases: number;
  resources: number;
  contents: number;
  auditEntries: number;
  workspaces: number;
  /** Data and audit keys unwrapped on the target with the master key. */
  keys: number;
}

export interface CopyReport {
  from: string;
  to: string;
  resumed: boolean;
  /** Rows written by this run, per table (a resumed run writes only what the last one had not). */
  written: Record<string, number>;
  sequencesReset: number;
  ms: number;
  verification: Verification;
}

export interface Progress {
  phase: 'snapshot' | 'copy' | 'verify';
  table?: string;
  rows?: number;
}

export interface CopyOptions {
  masterKeys: MasterKey[];
  onProgress?: (progress: Progress) => void;
}

/** A URL or path with any password left out, for reports and the progress record. */
export function describeUrl(url: string): string {
  if (!isPostgresUrl(url)) return url;
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/**
 * The master keys a command outside a node uses to check keys and the audit chain: the node's
 * STAGELINE_MASTER_KEY or its data dir's key file. Never generated: a new key would read nothing.
 */
export function masterKeysFor(config: { masterKey: string | null; dataDir: string }): MasterKey[] {
  if (config.masterKey) return parseMasterKeys(config.masterKey);
  const file = join(config.dataDir, MASTER_KEY_FILE);
  if (existsSync(file)) return parseMasterKeys(readFileSync(file, 'utf8'));
  throw new Error(`set STAGELINE_MASTER_KEY (or STAGELINE_DATA_DIR to the node's data dir holding ${MASTER_KEY_FILE}): verifying a copy unwraps its keys`);
}

/** What a copy reads: its rows in table order, from a given progress on, and the fingerprint it must match. */
interface Source {
  label: string;
  schema: string;
  pages(progress: Map<string, TableProgress>): AsyncGenerator<{ table: string; rows: Row[]; progress: TableProgress }>;
  fingerprint(): Promise<Fingerprint>;
}

/** A source database's rows, read through `db` (a snapshot), from each table's last key on. */
function databaseSource(label: string, schema: string, db: Db, keys: Keyring, onProgress?: CopyOptions['onProgress']): Source {
  return {
    label,
    schema,
    async *pages(done) {
      for (const table of COPIED_TABLES) {
        let { copied, lastKey } = done.get(table.name) ?? { copied: 0, lastKey: null };
        for (;;) {
          const rows = await readPage(db, table, lastKey, PAGE);
          if (rows.length === 0) break;
          copied += rows.length;
          lastKey = keyOf(table, rows[rows.length - 1]!);
          yield { table: table.name, rows, progress: { copied, lastKey } };
          if (rows.length < PAGE) break;
        }
      }
    },
    fingerprint: () => fingerprintOf(db, schema, keys, onProgress),
  };
}

/**
 * Runs `work` on a consistent snapshot of the database at `url` while its nodes keep writing:
 * SQLite, an online backup (better-sqlite3's backup API) opened as a store of its own;
 * PostgreSQL, one REPEATABLE READ, READ ONLY transaction for the whole copy and its verification.
 * `keep`: the SQLite snapshot's file, kept after `work` (a copy resumes from the same snapshot)
 * and reused when it exists and `reuse` is set.
 */
async function withSnapshot<T>(url: string, work: (db: Db, schema: string) => Promise<T>, keep?: { file: string; reuse: boolean }): Promise<T> {
  if (isPostgresUrl(url)) {
    const store = await openStore({ url, poolSize: 2 });
    try {
      await checkTableSet(store);
      return await store.db
        .transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute(async (tx) => work(tx, await schemaVersion(tx)));
    } finally {
      await store.close();
    }
  }
  const dir = keep ? null : mkdtempSync(join(tmpdir(), 'stageline-snapshot-'));
  try {
    const file = keep?.file ?? join(dir!, 'snapshot.db');
    if (!(keep?.reuse && existsSync(file))) {
      if (keep) removeSnapshot(file);
      // Under another name until complete: a copy killed while it is taken never reuses half of one.
      await onlineBackup(url, `${file}.partial`);
      renameSync(`${file}.partial`, file);
    }
    const store = await openStore({ url: file, poolSize: 1 });
    try {
      await checkTableSet(store);
      return await work(store.db, await schemaVersion(store.db));
    } finally {
      await store.close();
    }
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** Where a copy from the SQLite database `url` into `to` keeps its snapshot until the copy is verified. */
export function copySnapshotFile(url: string, to: string): string {
  return `${url}.copy-${sha256(describeUrl(to)).slice(0, 12)}`;
}

function removeSnapshot(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '.partial']) rmSync(`${file}${suffix}`, { force: true });
}

/** SQLite's online backup of a database a node may be writing to (WAL mode: the node is not blocked). */
export async function onlineBackup(file: string, into: string): Promise<void> {
  if (!existsSync(file)) throw new Error(`no SQLite database at ${file}`);
  const connection = new SQLite(file, { fileMustExist: true });
  try {
    connection.pragma('busy_timeout = 5000');
    await connection.backup(into);
  } finally {
    connection.close();
  }
}

/** Copies a whole installation from `from` (a database URL or a backup file) into the empty database `to`. */
export async function copyDatabase(from: string, to: string, options: CopyOptions): Promise<CopyReport> {
  const keys = new Keyring(options.masterKeys);
  if (describeUrl(from) === describeUrl(to)) throw new Error('the source and the target are the same database');
  if (isBackupFile(from)) {
    const source = await fileSource(from, options.onProgress);
    return copyInto(to, source.label, options, (_, run) => run(source));
  }
  const label = describeUrl(from);
  // A copy from SQLite resumes from the snapshot it started with, so rows changed since by the
  // running node cannot make it differ; PostgreSQL's snapshot ends with the transaction.
  const keep = isPostgresUrl(from) ? undefined : copySnapshotFile(from, to);
  return copyInto(to, label, options, async (resuming, run) => {
    options.onProgress?.({ phase: 'snapshot' });
    const report = await withSnapshot(from, (db, schema) => run(databaseSource(label, schema, db, keys, options.onProgress)), keep ? { file: keep, reuse: resuming } : undefined);
    if (keep && report.verification.ok) removeSnapshot(keep);
    return report;
  });
}

async function copyInto(
  to: string,
  label: string,
  options: CopyOptions,
  withSource: (resuming: boolean, run: (source: Source) => Promise<CopyReport>) => Promise<CopyReport>,
): Promise<CopyReport> {
  const started = Date.now();
  const target = await openStore({ url: to, poolSize: 2 });
  try {
    await checkTableSet(target);
    const keys = new Keyring(options.masterKeys);
    let progress = await readProgress(target);
    const resumed = progress !== null;
    if (progress && progress.source !== label) {
      throw new Error(`${describeUrl(to)} holds an unfinished copy from ${progress.source}, not from ${label}: resume with that source or start on an empty database`);
    }
    if (!progress) {
      const filled = await firstNonEmptyTable(target);
      if (filled) throw new Error(`${describeUrl(to)} is not empty (table ${filled} has rows): a copy goes into an empty database`);
    }
    return await withSource(resumed, async (source) => {
      const schema = await schemaVersion(target.db);
      if (source.schema !== schema) {
        throw new Error(`the source is at schema ${source.schema} and this version writes ${schema}: copy with the version the source was written by`);
      }
      if (!progress) {
        await startProgress(target, source.label, new Date().toISOString());
        progress = { source: source.label, tables: new Map() } satisfies CopyProgress;
      }
      const done = progress;
      const written: Record<string, number> = {};
      for await (const page of source.pages(done.tables)) {
        await writePage(target, page.table, page.rows, page.progress, new Date().toISOString());
        faultPoint('db-copy.after-page');
        written[page.table] = (written[page.table] ?? 0) + page.rows.length;
        options.onProgress?.({ phase: 'copy', table: page.table, rows: page.progress.copied });
      }
      const sequencesReset = await resetSequences(target);
      options.onProgress?.({ phase: 'verify' });
      const verification = compare(await source.fingerprint(), await fingerprintOf(target.db, schema, keys, options.onProgress));
      await checkTarget(target, keys, verification);
      verification.ok = verification.differences.length === 0;
      verification.differenceCount = verification.differences.length;
      verification.differences = verification.differences.slice(0, MAX_DIFFERENCES);
      // Kept when the copy differs: running the command again re-verifies (and finishes) it.
      if (verification.ok) await dropProgress(target);
      return { from: source.label, to: describeUrl(to), resumed, written, sequencesReset, ms: Date.now() - started, verification };
    });
  } finally {
    await target.close();
  }
}

/** A memo of tree nodes over the store's reader: the releases of an environment share most of theirs. */
function cachedReader(db: Db, workspaceId: string): NodeReader {
  const reader = nodeReader(db, workspaceId);
  const cache = new Map<string, TreeNode>();
  return {
    async get(hashes) {
      const missing = hashes.filter((hash) => !cache.has(hash));
      if (missing.length > 0) for (const [hash, node] of await reader.get(missing)) cache.set(hash, node);
      return new Map(hashes.map((hash) => [hash, cache.get(hash)!]));
    },
  };
}

function deps(db: Db, keys: Keyring): Deps {
  // The verification reads through `db` (the snapshot's transaction on a PostgreSQL source).
  const store = { db, dialect: 'sqlite' } as unknown as Store;
  return { store, now: () => new Date(), keyring: keys, onChange: () => {}, egress: NO_EGRESS };
}

/** The fingerprint of the database `db` reads, through the store's read functions. */
async function fingerprintOf(db: Db, schema: string, keys: Keyring, onProgress?: CopyOptions['onProgress']): Promise<Fingerprint> {
  const out: Fingerprint = { schema, tables: {}, releases: {}, audit: {} };
  for (const table of COPIED_TABLES) out.tables[table.name] = await tableDigest(db, table);
  for (const workspace of await listWorkspaceRefs(db)) {
    const reader = cachedReader(db, workspace.id);
    for (const env of await listEnvironments(db, workspace.id)) {
      for (let before: number | null = null; ; ) {
        const releases = await listReleases(db, workspace.id, env.id, before, 100);
        for (const release of releases) {
          const entries = await loadAll(reader, await snapshotRoot(db, workspace.id, release.snapshotId));
          const lines = entries.map((e) => `${e.id}\t${e.hash}\t${e.app ?? ''}`).join('\n');
          out.releases[`${workspace.slug}/${env.slug}#${release.number}`] = { resources: entries.length, digest: sha256(lines) };
        }
        if (releases.length < 100) break;
        before = releases[releases.length - 1]!.number;
      }
      onProgress?.({ phase: 'verify', table: `${workspace.slug}/${env.slug}` });
    }
    const audit = await verifyAuditLog(deps(db, keys), { workspace, actor: SYSTEM_ACTOR, requestId: null });
    out.audit[workspace.slug] = { entries: audit.entries, head: audit.head };
  }
  return out;
}

function compare(source: Fingerprint, target: Fingerprint): Verification {
  const differences: string[] = [];
  if (source.schema !== target.schema) differences.push(`schema: ${source.schema} in the source, ${target.schema} in the target`);
  const each = <T>(what: string, a: Record<string, T>, b: Record<string, T>, same: (x: T, y: T) => string | null) => {
    for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const x = a[name];
      const y = b[name];
      if (x === undefined) differences.push(`${what} ${name}: only in the target`);
      else if (y === undefined) differences.push(`${what} ${name}: missing from the target`);
      else {
        const why = same(x, y);
        if (why) differences.push(`${what} ${name}: ${why}`);
      }
    }
  };
  each('table', source.tables, target.tables, (x, y) =>
    x.rows !== y.rows ? `${x.rows} rows in the source, ${y.rows} in the target` : x.digest !== y.digest ? 'the same number of rows with different values' : null,
  );
  each('release', source.releases, target.releases, (x, y) =>
    x.resources !== y.resources ? `${x.resources} resources in the source, ${y.resources} in the target` : x.digest !== y.digest ? 'resources with different content hashes' : null,
  );
  each('audit chain of', source.audit, target.audit, (x, y) =>
    x.entries !== y.entries || x.head !== y.head ? `${x.entries} entries (head ${x.head}) in the source, ${y.entries} (head ${y.head}) in the target` : null,
  );
  const rows = Object.values(target.tables).reduce((n, t) => n + t.rows, 0);
  const resources = Object.values(target.releases).reduce((n, r) => n + r.resources, 0);
  const auditEntries = Object.values(target.audit).reduce((n, a) => n + a.entries, 0);
  return {
    ok: differences.length === 0,
    differences,
    differenceCount: differences.length,
    tables: Object.keys(target.tables).length,
    rows,
    releases: Object.keys(target.releases).length,
    resources,
    contents: 0,
    auditEntries,
    workspaces: Object.keys(target.audit).length,
    keys: 0,
  };
}

/**
 * The target's own checks: every audit chain verifies, every content a release names is stored
 * and hashes to its address, and the master key unwraps every data and audit key.
 */
async function checkTarget(target: Store, keys: Keyring, verification: Verification): Promise<void> {
  const db = target.db;
  try {
    verification.keys = await keys.verify(db);
  } catch (error) {
    verification.differences.push(`keys: ${(error as Error).message}`);
  }
  for (const workspace of await listWorkspaceRefs(db)) {
    const audit = await verifyAuditLog(deps(db, keys), { workspace, actor: SYSTEM_ACTOR, requestId: null });
    if (!audit.valid) verification.differences.push(`audit chain of ${workspace.slug}: does not verify on the target (first break at ${audit.firstBroken?.seq}: ${audit.firstBroken?.reason})`);
    const hashes = new Set<string>();
    const reader = cachedReader(db, workspace.id);
    for (const env of await listEnvironments(db, workspace.id)) {
      for (let before: number | null = null; ; ) {
        const releases = await listReleases(db, workspace.id, env.id, before, 100);
        for (const release of releases) {
          for (const entry of await loadAll(reader, await snapshotRoot(db, workspace.id, release.snapshotId))) hashes.add(entry.hash);
        }
        if (releases.length < 100) break;
        before = releases[releases.length - 1]!.number;
      }
    }
    const wanted = [...hashes];
    let bad = 0;
    for (let i = 0; i < wanted.length; i += 500) {
      const slice = wanted.slice(i, i + 500);
      const bodies = await getContents(db, workspace.id, slice);
      for (const hash of slice) if (!bodies.has(hash) || contentHash(bodies.get(hash)) !== hash) bad += 1;
    }
    verification.contents += wanted.length;
    if (bad > 0) verification.differences.push(`contents of ${workspace.slug}: ${bad} of ${wanted.length} missing or not matching their hash`);
  }
}

// --- Backup files -----------------------------------------------------------------------------
//
// One portable format for both databases: gzip of NDJSON lines. The first line is the header
// {format, version, id, schema, createdAt, source}; each table is {table, columns} followed by
// one JSON array of values per row and {end, rows}; the last line is {fingerprint}, the source's
// fingerprint that a restore is verified against.

const FORMAT = 'stageline-backup';
const FORMAT_VERSION = 1;

interface BackupHeader {
  format: typeof FORMAT;
  version: number;
  id: string;
  schema: string;
  createdAt: string;
  source: 'sqlite' | 'postgres';
}

export interface BackupReport {
  file: string;
  from: string;
  schema: string;
  tables: number;
  rows: number;
  bytes: number;
  ms: number;
}

/** A backup file (ours, gzip) rather than a database. */
function isBackupFile(from: string): boolean {
  if (isPostgresUrl(from) || !existsSync(from)) return false;
  const head = Buffer.alloc(2);
  const fd = openSync(from, 'r');
  try {
    readSync(fd, head, 0, 2, 0);
  } finally {
    closeSync(fd);
  }
  return head[0] === 0x1f && head[1] === 0x8b;
}

/** Writes a consistent snapshot of the database at `url` to `file` (atomically: a partial file never has the final name). */
export async function backupDatabase(url: string, file: string, options: CopyOptions): Promise<BackupReport> {
  const started = Date.now();
  const keys = new Keyring(options.masterKeys);
  const partial = `${file}.partial`;
  options.onProgress?.({ phase: 'snapshot' });
  const report = await withSnapshot(url, async (db, schema) => {
    const gzip = createGzip();
    const out = createWriteStream(partial, { mode: 0o600 });
    gzip.pipe(out);
    const write = async (value: unknown) => {
      if (!gzip.write(JSON.stringify(value) + '\n')) await once(gzip, 'drain');
    };
    const header: BackupHeader = { format: FORMAT, version: FORMAT_VERSION, id: randomUUID(), schema, createdAt: new Date().toISOString(), source: isPostgresUrl(url) ? 'postgres' : 'sqlite' };
    await write(header);
    let rows = 0;
    for (const table of COPIED_TABLES) {
      let columns: string[] | null = null;
      let count = 0;
      for (let after: unknown[] | null = null; ; ) {
        const page = await readPage(db, table, after, PAGE);
        if (page.length > 0 && columns === null) {
          columns = Object.keys(page[0]!);
          await write({ table: table.name, columns });
        }
        for (const row of page) await write(columns!.map((column) => row[column] ?? null));
        count += page.length;
        options.onProgress?.({ phase: 'copy', table: table.name, rows: count });
        if (page.length < PAGE) break;
        after = keyOf(table, page[page.length - 1]!);
      }
      if (columns === null) await write({ table: table.name, columns: [] });
      await write({ end: table.name, rows: count });
      rows += count;
    }
    options.onProgress?.({ phase: 'verify' });
    await write({ fingerprint: await fingerprintOf(db, schema, keys, options.onProgress) });
    gzip.end();
    await once(out, 'close');
    return { schema, tables: COPIED_TABLES.length, rows };
  });
  renameSync(partial, file);
  return { file, from: describeUrl(url), ...report, bytes: statSync(file).size, ms: Date.now() - started };
}

/** Restores a backup file into the empty database `to` (resumable like a copy), then verifies it. */
export function restoreDatabase(file: string, to: string, options: CopyOptions): Promise<CopyReport> {
  if (!existsSync(file)) return Promise.reject(new Error(`no backup file at ${file}`));
  // A SQLite database file (another node's, or an online backup of one) restores as a copy from it.
  return copyDatabase(file, to, options);
}

async function* backupLines(file: string): AsyncGenerator<any> {
  const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity });
  for await (const line of lines) if (line) yield JSON.parse(line);
}

async function fileSource(file: string, onProgress?: CopyOptions['onProgress']): Promise<Source> {
  const first = await backupLines(file).next();
  const header = first.value as BackupHeader | undefined;
  if (!header || header.format !== FORMAT) throw new Error(`${file} is not a Stageline backup file`);
  if (header.version !== FORMAT_VERSION) throw new Error(`${file} is a backup of format version ${header.version}; this version reads ${FORMAT_VERSION}`);
  let fingerprint: Fingerprint | null = null;
  const tables = new Map<string, CopiedTable>(COPIED_TABLES.map((t) => [t.name, t]));
  return {
    label: `backup ${header.id} (${header.source}, ${header.createdAt})`,
    schema: header.schema,
    async *pages(done) {
      let table: CopiedTable | null = null;
      let columns: string[] = [];
      let position = 0;
      let skip = 0;
      let page: Row[] = [];
      const seen = new Set<string>();
      for await (const value of backupLines(file)) {
        if (Array.isArray(value)) {
          if (!table) throw new Error(`${file}: a row outside any table`);
          position += 1;
          if (position <= skip) continue;
          page.push(Object.fromEntries(columns.map((column, i) => [column, value[i]])));
          if (page.length === PAGE) {
            yield { table: table.name, rows: page, progress: { copied: position, lastKey: keyOf(table, page[page.length - 1]!) } };
            page = [];
          }
        } else if ('table' in value) {
          table = tables.get(value.table) ?? null;
          if (!table) throw new Error(`${file}: table ${value.table} is not one this version copies`);
          seen.add(table.name);
          columns = value.columns;
          position = 0;
          skip = done.get(table.name)?.copied ?? 0;
        } else if ('end' in value) {
          if (!table || value.end !== table.name || value.rows !== position) throw new Error(`${file}: table ${value.end} ends after ${position} rows, its footer says ${value.rows}: the file is damaged`);
          if (page.length > 0) yield { table: table.name, rows: page, progress: { copied: position, lastKey: keyOf(table, page[page.length - 1]!) } };
          page = [];
          table = null;
        } else if ('fingerprint' in value) {
          fingerprint = value.fingerprint as Fingerprint;
        }
      }
      const missing = COPIED_TABLES.filter((t) => !seen.has(t.name)).map((t) => t.name);
      if (missing.length > 0) throw new Error(`${file} has no ${missing.join(', ')}: the file is incomplete`);
      if (!fingerprint) throw new Error(`${file} ends before its fingerprint: the file is incomplete`);
      onProgress?.({ phase: 'verify' });
    },
    async fingerprint() {
      if (!fingerprint) throw new Error(`${file} has no fingerprint`);
      return fingerprint;
    },
  };
}
