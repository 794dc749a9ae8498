// Opens the one database a node uses: embedded SQLite by default, PostgreSQL for a
// `postgres://` URL. The differences between the two live here, as capability flags.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, SqliteDriver, sql, type DatabaseConnection, type Driver, type Transaction, type TransactionBuilder } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { migrate } from './migrations.js';
import { convertFlatSnapshots } from './trees.js';
import { conflict } from '../domain/errors.js';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database> | Transaction<Database>;

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Rows per multi-row INSERT, within each database's bound-parameter limit. */
  insertBatch: number;
  /** Takes a row lock for the rest of the transaction where the database has them. */
  supportsRowLocks: boolean;
  transaction<T>(work: (tx: Transaction<Database>) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` once `tx` has committed, before `transaction` returns (at once when `tx` is not a
   * transaction of this store). Its failure does not fail the committed transaction.
   */
  onCommit(tx: Db, fn: () => Promise<void> | void): void;
  /**
   * After a write removed many rows of `table`: lets the database reclaim them and refresh its
   * statistics in the background (PostgreSQL: VACUUM ANALYZE; nothing on SQLite), so the next
   * small queries of that table do not wade through dead rows until autovacuum comes by.
   */
  reclaim(table: 'drafts'): void;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** `postgres://…` or `postgresql://…`, or a SQLite file path, or `:memory:`. */
  url: string;
  poolSize?: number;
  /** Stop after this migration instead of applying all (tests that start from an older schema). */
  migrateTo?: string;
  /** Leave the flat snapshots of before migration 0021 unconverted (tests of the conversion). */
  skipConversion?: boolean;
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

export async function openStore(options: StoreOptions): Promise<Store> {
  const store = isPostgresUrl(options.url) ? openPostgres(options) : openSqlite(options.url);
  try {
    await migrate(store.db, store.dialect, options.migrateTo);
    // Snapshots stored as flat rows before their trees (migration 0021) are converted before
    // anything reads them.
    if (options.migrateTo === undefined && !options.skipConversion) await convertFlatSnapshots(store);
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

function openSqlite(file: string): Store {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const connection = new SQLite(file);
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = NORMAL');
  connection.pragma('foreign_keys = ON');
  // better-sqlite3 waits for a lock synchronously, freezing the whole node: it waits only a
  // moment here, and BusyWaitingDriver waits the rest asynchronously.
  connection.pragma(`busy_timeout = ${SQLITE_BUSY_SPIN_MS}`);
  // 64 MiB of page cache (the default is 2 MiB): snapshots of thousands of entries stay in memory.
  connection.pragma('cache_size = -65536');
  const db = new Kysely<Database>({ dialect: new BusyWaitingSqliteDialect({ database: connection }) });
  return {
    db,
    dialect: 'sqlite',
    insertBatch: 500,
    supportsRowLocks: false,
    reclaim: () => {},
    // Kysely serialises SQLite access through one connection, so a transaction here is
    // already exclusive within the process; across processes it begins IMMEDIATE (the driver).
    ...transactions(db, () => db.transaction()),
    close: () => db.destroy(),
  };
}

/** How long a statement or transaction waits in all for another process's write lock before failing with SQLITE_BUSY (503). */
const SQLITE_BUSY_WAIT_MS = 5_000;
/** How long SQLite's own (synchronous) busy handler waits per try. */
const SQLITE_BUSY_SPIN_MS = 20;

const isBusy = (error: unknown) => String((error as { code?: unknown }).code ?? '').startsWith('SQLITE_BUSY');

/**
 * Another process holding the database's write lock (a backup, the CLI, a second node on the same
 * file by mistake) must not freeze this one: statements outside a transaction and the BEGIN of a
 * transaction are retried, with the event loop and the connection free between tries (so reads
 * and other waiters are not queued behind them), until SQLITE_BUSY_WAIT_MS after they were
 * queued, then fail. Transactions begin IMMEDIATE, so they take the write lock
 * at BEGIN (where retrying is safe) and never meet another writer's lock half-way through.
 */
class BusyWaitingSqliteDialect extends SqliteDialect {
  constructor(private readonly options: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(options);
  }

  override createDriver(): Driver {
    return new BusyWaitingSqliteDriver(this.options);
  }
}

class BusyWaitingSqliteDriver extends SqliteDriver {
  private inTransaction = false;

  constructor(private readonly config: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(config);
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const deadline = performance.now() + SQLITE_BUSY_WAIT_MS;
    const connection = await super.acquireConnection();
    return {
      executeQuery: async (query) => {
        for (;;) {
          try {
            return await connection.executeQuery(query);
          } catch (error) {
            // Inside a transaction a statement is not retried: the transaction fails as a whole.
            if (this.inTransaction || !isBusy(error) || performance.now() >= deadline) throw error;
            // The node's other statements (reads need no lock) go on while this one waits.
            await super.releaseConnection();
            await new Promise((resolve) => setTimeout(resolve, 25));
            await super.acquireConnection();
          }
        }
      },
      streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
    };
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    this.inTransaction = true;
  }

  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await connection.executeQuery(CompiledQuery.raw('commit'));
    } finally {
      this.inTransaction = false;
    }
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      // SQLite rolls a transaction back itself on some errors (SQLITE_FULL, SQLITE_IOERR): a
      // ROLLBACK then fails with "no transaction is active" and hides the error that caused it.
      if (!(this.config.database as SQLite.Database).inTransaction) return;
      await connection.executeQuery(CompiledQuery.raw('rollback'));
    } finally {
      this.inTransaction = false;
    }
  }
}

function openPostgres(options: StoreOptions): Store {
  const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 10 });
  // A pooled client that errors while idle must not crash the node; the pool replaces it.
  pool.on('error', () => {});
  // The pool listens only to idle clients: one checked out between two queries (inside a
  // transaction) whose server goes away (57P01 on a restart) would emit an unheard 'error' and
  // crash the node. Its next query fails instead, and the pool drops it when it is released.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    dialect: 'postgres',
    insertBatch: 1000,
    supportsRowLocks: true,
    ...transactions(db, () => db.transaction().setIsolationLevel('read committed')),
    reclaim(table) {
      // Outside any transaction (VACUUM cannot run in one); it takes no lock writers wait on.
      void sql`vacuum (analyze) ${sql.table(table)}`.execute(db).catch(() => {});
    },
    close: () => db.destroy(),
  };
}

/** Transactions with after-commit callbacks, shared by both databases. */
function transactions(db: Kysely<Database>, begin: () => TransactionBuilder<Database>): Pick<Store, 'transaction' | 'onCommit'> {
  const pending = new WeakMap<object, (() => Promise<void> | void)[]>();
  return {
    async transaction(work) {
      const callbacks: (() => Promise<void> | void)[] = [];
      const result = await begin()
        .execute((tx) => {
          pending.set(tx, callbacks);
          return work(tx);
        })
        .catch(translateConflict);
      for (const callback of callbacks) await Promise.resolve(callback()).catch(() => {});
      return result;
    },
    onCommit(tx, fn) {
      const callbacks = pending.get(tx);
      if (callbacks && tx !== db) callbacks.push(fn);
      else void Promise.resolve(fn()).catch(() => {});
    },
  };
}

/**
 * A unique-key violation that escapes a transaction means a concurrent request created the
 * same row first (the checks before the insert could not see it yet): the caller may retry.
 */
function translateConflict(error: unknown): never {
  const code = (error as { code?: unknown }).code;
  if (code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    throw conflict('concurrent_change', 'another request changed the same thing at the same moment; read it again and retry');
  }
  throw error;
}

/** Inserts many rows in batches that fit the database's bound-parameter limit. */
export async function insertMany<T extends keyof Database>(
  store: Store,
  db: Db,
  table: T,
  rows: Database[T][],
  onConflictDoNothing = false,
): Promise<void> {
  for (let i = 0; i < rows.length; i += store.insertBatch) {
    const batch = rows.slice(i, i + store.insertBatch);
    let query = db.insertInto(table).values(batch as any);
    if (onConflictDoNothing) query = query.onConflict((oc) => oc.doNothing());
    await query.execute();
  }
}

/**
 * Inserts content-addressed rows (same key, same content) and bumps `touched_at` of those stored
 * already, so the GC's grace period counts from this write too (src/services/gc.ts). Rows go in
 * key order: two transactions touching the same rows lock them in the same order.
 */
export async function insertOrTouch(
  store: Store,
  db: Db,
  table: 'tree_nodes' | 'snapshots' | 'contents',
  key: 'hash' | 'id',
  rows: (Database['tree_nodes'] | Database['snapshots'] | Database['contents'])[],
): Promise<void> {
  const sorted = [...rows].sort((a, b) => ((a as any)[key] < (b as any)[key] ? -1 : (a as any)[key] > (b as any)[key] ? 1 : 0));
  for (let i = 0; i < sorted.length; i += store.insertBatch) {
    await db
      .insertInto(table)
      .values(sorted.slice(i, i + store.insertBatch) as any)
      .onConflict((oc) => oc.columns(['workspace_id', key] as any).doUpdateSet({ touched_at: (eb: any) => eb.ref('excluded.touched_at') } as any))
      .execute();
  }
}

export async function ping(store: Store): Promise<void> {
  await sql`select 1`.execute(store.db);
}
