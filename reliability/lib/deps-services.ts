// Private dependencies for the dependency-fault part: a PostgreSQL cluster and a Redis server of
// its own (on free ports, in temporary directories), which it may restart, stop and kill without
// touching the shared ones on 5432 and 6379. PostgreSQL refuses to run as root, so its binaries
// run as the `postgres` user on a directory that user owns.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { freePort, type Cleanup } from './nodes.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs a PostgreSQL binary as the `postgres` user (root when we are not root); throws on failure. */
function asPostgres(binary: string, args: string[], timeoutMs = 60_000): string {
  const file = join(PG_BIN, binary);
  const isRoot = process.getuid?.() === 0;
  const run = isRoot ? spawnSync('runuser', ['-u', 'postgres', '--', file, ...args], { encoding: 'utf8', timeout: timeoutMs }) : spawnSync(file, args, { encoding: 'utf8', timeout: timeoutMs });
  if (run.status !== 0) throw new Error(`${binary} ${args.join(' ')} failed (${run.status ?? run.signal}): ${run.stderr || run.stdout}`);
  return run.stdout;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export interface PrivatePostgres {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/<name> */
  url(database: string): string;
  createDatabase(name: string): Promise<string>;
  /** `pg_ctl restart -m <mode>`: every connection is cut; resolves once it accepts connections again. Returns ms down. */
  restart(mode: 'fast' | 'immediate' | 'smart'): Promise<number>;
  stop(mode?: 'fast' | 'immediate'): void;
  start(): Promise<void>;
  /** Waits until a connection and `select 1` succeed. */
  ready(timeoutMs?: number): Promise<void>;
}

/** initdb + pg_ctl start on a free port; stopped and removed by `cleanup`. */
export async function startPrivatePostgres(cleanup: Cleanup): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'stageline-rel-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const { uid, gid } = { uid: Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout), gid: Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout) };
    chownSync(dir, uid, gid);
  }
  cleanup.add(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
  asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 -c shared_buffers=32MB`;
  const log = join(dir, 'postgres.log');
  let running = false;
  const pgctl = (args: string[]) => asPostgres('pg_ctl', ['-D', data, '-l', log, '-o', options, ...args]);
  const admin = () => new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2_000 });
  const self: PrivatePostgres = {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async createDatabase(name) {
      const client = admin();
      await client.connect();
      try {
        await client.query(`create database ${name}`);
      } finally {
        await client.end();
      }
      return self.url(name);
    },
    async restart(mode) {
      const started = performance.now();
      pgctl(['restart', '-w', '-m', mode]);
      running = true;
      await self.ready();
      return performance.now() - started;
    },
    stop(mode = 'fast') {
      if (!running) return;
      pgctl(['stop', '-w', '-m', mode]);
      running = false;
    },
    async start() {
      pgctl(['start', '-w']);
      running = true;
      await self.ready();
    },
    async ready(timeoutMs = 30_000) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const client = admin();
        try {
          await client.connect();
          await client.query('select 1');
          await client.end();
          return;
        } catch (error) {
          await client.end().catch(() => {});
          if (performance.now() > deadline) throw new Error(`private PostgreSQL on ${port} not ready: ${(error as Error).message}`);
          await sleep(50);
        }
      }
    },
  };
  cleanup.add(`stop private PostgreSQL on ${port}`, async () => {
    try {
      // Immediate: nothing in it is worth a checkpoint, and a hung client must not delay the end.
      if (running || statSync(join(data, 'postmaster.pid'), { throwIfNoEntry: false })) pgctl(['stop', '-w', '-m', 'immediate']);
    } catch {
      // Already stopped.
    }
    running = false;
  });
  await self.start();
  return self;
}

export interface PrivateRedis {
  port: number;
  url: string;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>;
  /** A new redis-server on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  running(): boolean;
}

/** redis-server on a free port, no persistence; killed by `cleanup`. */
export async function startPrivateRedis(cleanup: Cleanup): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const self: PrivateRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    running: () => child !== null && child.exitCode === null && child.signalCode === null,
    async kill() {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
      child = null;
    },
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      const deadline = performance.now() + 10_000;
      while (!(await portOpen(port))) {
        if (performance.now() > deadline) throw new Error(`private redis-server on ${port} did not start`);
        await sleep(25);
      }
    },
  };
  cleanup.add(`kill private Redis on ${port}`, () => self.kill());
  await self.start();
  return self;
}
