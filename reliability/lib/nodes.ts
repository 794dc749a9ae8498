// Real Stageline nodes for the reliability parts: `stageline server` (the built dist/cli/main.js,
// as users run it) in a process of its own, on a database the part chose, killable with any signal.
// Built on the benchmarks' child-process and HTTP helpers, so there is one of each.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Child, freePort, HttpClient } from '../../bench/delivery-support.js';
import { Cleanup, createDatabase } from '../../bench/support.js';
import { TEST_MASTER_KEY } from '../../test/support.js';
import type { Database } from '../contract.js';

export { Child, Cleanup, createDatabase, freePort, HttpClient };

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SERVER_MAIN = join(ROOT, 'dist', 'cli', 'main.js');
export const NODE_TOKEN = 'reliability-bootstrap-token-0123456789abcdef';

export interface NodeOptions {
  /** A name for logs and cleanup labels (node-a, node-b, …). */
  name: string;
  /** The database URL (a SQLite path or postgres://…). */
  databaseUrl: string;
  masterKey?: string;
  /** STAGELINE_REDIS_URL (limits shared across nodes). */
  redisUrl?: string;
  /** STAGELINE_FAULTS (see src/faults.ts); the node runs with NODE_ENV=test either way. */
  faults?: string;
  /** Reuse ports (a node restarted in the place of one that died). */
  port?: number;
  gatewayPort?: number;
  /** The data directory (kept across a restart when given; a new one is made and removed otherwise). */
  dataDir?: string;
  /** Any other STAGELINE_* settings (they win over the defaults here). */
  env?: Record<string, string>;
  /** Milliseconds to wait for /healthz (default 30 s). */
  readyTimeoutMs?: number;
}

export interface StagelineNode {
  name: string;
  child: Child;
  /** http://127.0.0.1:<port>: the management and runtime APIs. */
  url: string;
  /** http://127.0.0.1:<gateway port>. */
  gatewayUrl: string;
  port: number;
  gatewayPort: number;
  dataDir: string;
  /** A keep-alive client as the bootstrap owner. */
  api: HttpClient;
  /** Sends a signal (SIGKILL by default) and waits for the exit; returns the exit code (null when signalled). */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGTERM, SIGKILL after 5 s. */
  stop(): Promise<void>;
}

/**
 * Starts a node and waits until /healthz answers 200. It runs with NODE_ENV=test (so faults can
 * be armed), the bootstrap token NODE_TOKEN, the tests' master key unless another is given, its
 * gateway in its own process unless `env` says otherwise, and log level `warn`.
 */
export async function startNode(cleanup: Cleanup, options: NodeOptions): Promise<StagelineNode> {
  const port = options.port ?? (await freePort());
  const gatewayPort = options.gatewayPort ?? (await freePort());
  let dataDir = options.dataDir;
  if (!dataDir) {
    dataDir = mkdtempSync(join(tmpdir(), `stageline-rel-${options.name}-`));
    const dir = dataDir;
    cleanup.add(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
  }
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    STAGELINE_PORT: String(port),
    STAGELINE_GATEWAY_PORT: String(gatewayPort),
    STAGELINE_HOST: '127.0.0.1',
    STAGELINE_DATA_DIR: dataDir,
    STAGELINE_DATABASE_URL: options.databaseUrl,
    STAGELINE_BOOTSTRAP_TOKEN: NODE_TOKEN,
    STAGELINE_MASTER_KEY: options.masterKey ?? TEST_MASTER_KEY,
    STAGELINE_LOG_LEVEL: 'warn',
    ...(options.redisUrl ? { STAGELINE_REDIS_URL: options.redisUrl } : {}),
    ...(options.faults ? { STAGELINE_FAULTS: options.faults } : {}),
    ...options.env,
  };
  const started = performance.now();
  const child = Child.start(options.name, cleanup, process.execPath, [SERVER_MAIN, 'server'], env);
  const url = `http://127.0.0.1:${port}`;
  await child.waitForHttp(`${url}/healthz`, options.readyTimeoutMs ?? 30_000);
  const api = new HttpClient(url, NODE_TOKEN);
  cleanup.add(`close client of ${options.name}`, async () => api.close());
  process.stderr.write(`  ${options.name}: pid ${child.pid} on ${url} after ${Math.round(performance.now() - started)} ms\n`);
  return {
    name: options.name,
    child,
    url,
    gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
    port,
    gatewayPort,
    dataDir,
    api,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.running) process.kill(child.pid, signal);
      return child.exited;
    },
    async stop() {
      api.close();
      await child.stop();
    },
  };
}

/** A new empty database of the part's kind, removed by `cleanup`. */
export async function newDatabase(kind: Database, cleanup: Cleanup, label: string): Promise<string> {
  return (await createDatabase(kind, cleanup, `rel_${label}`)).url;
}
