// Gateway worker processes (STAGELINE_GATEWAY_WORKERS=N): the primary keeps the API, migrations,
// bootstrap, workflows and sweepers; each worker opens the store, follows the change feed and
// serves the gateway port, which node:cluster shares. A worker that dies is started again.
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import type { Listener } from '../domain/egress/policy.js';
import type { SeriesTotals } from '../metrics/recorder.js';

/** What the primary sends a worker once it is up (over IPC, so no secret sits in its environment). */
export interface WorkerStart {
  type: 'start';
  config: Config;
  /** The node's other listeners (the API): refused as upstreams. */
  listeners: Listener[];
  /** The gateway port every worker listens on, as configured (0: the one the primary picks, shared). */
  port: number;
}

/**
 * The primary committed change events of a workspace: the worker reads them (as its change feed
 * would on its next poll or notification) and answers `applied` with the same id.
 */
export interface WorkerPoke {
  type: 'poke';
  id: number;
  workspaceId: string;
}

/** The primary serves /metrics: the worker answers `series` with its cumulative counts. */
export interface WorkerSeriesRequest {
  type: 'series';
  id: number;
}

/** What a worker reports. */
export type WorkerReport =
  | { type: 'waiting' }
  | { type: 'ready'; address: string; port: number }
  | { type: 'failed'; message: string }
  | { type: 'applied'; id: number }
  | { type: 'series'; id: number; totals: SeriesTotals[] };

export interface GatewayWorkers {
  url: string;
  /** The gateway's listen address, refused as an upstream by the primary too. */
  listeners: Listener[];
  /** Process ids of the running workers. */
  pids(): number[];
  /** How many times a worker was started again after dying. */
  restarts(): number;
  /**
   * Tells every worker that `workspaceId` has new change events and resolves once each has
   * applied them (or after `POKE_TIMEOUT_MS` for a worker that does not answer): a management
   * call returns only when the gateway serves what it changed, as on a single process.
   */
  poke(workspaceId: string): Promise<void>;
  /**
   * Every running worker's metric series (its recorder's cumulative counts), for /metrics; a
   * worker that does not answer within `SERIES_TIMEOUT_MS` is left out of that scrape.
   */
  series(): Promise<SeriesTotals[][]>;
  close(): Promise<void>;
}

export interface WorkersOptions {
  config: Config;
  count: number;
  listeners: Listener[];
  logger?: FastifyBaseLogger;
  /** First restart delay; doubled per restart in a row, up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/** A worker alive this long resets the restart backoff. */
const STABLE_MS = 30_000;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
/** A worker that has not applied a poke by then is not waited for (it still polls and catches up). */
const POKE_TIMEOUT_MS = 2_000;
/** A scrape does not wait longer than this for a worker's series. */
const SERIES_TIMEOUT_MS = 1_000;

/** The worker's entry: the compiled file next to this one, or the TypeScript source run through tsx. */
function workerEntry(): { exec: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const exec = fileURLToPath(new URL(fromSource ? './worker-main.ts' : './worker-main.js', import.meta.url));
  // Only flags the worker needs: the primary's own (a debugger port, a CPU profile) are not inherited.
  return { exec, execArgv: fromSource ? ['--import', 'tsx'] : [] };
}

export async function startGatewayWorkers(options: WorkersOptions): Promise<GatewayWorkers> {
  if (!cluster.isPrimary) throw new Error('gateway workers are started by the primary process');
  const { logger, config } = options;
  cluster.setupPrimary({ ...workerEntry(), silent: false });
  const backoff = options.backoffMs ?? 250;
  const maxBackoff = options.maxBackoffMs ?? 10_000;
  // Every worker listens with the same arguments: node:cluster shares one handle per (address,
  // port asked for), so with port 0 they all get the port the first one was given.
  const port = config.gatewayPort;
  let boundPort = port;
  let host = config.host;
  let closing = false;
  let restarts = 0;
  let failuresInRow = 0;
  const running = new Set<Worker>();
  const timers = new Set<NodeJS.Timeout>();
  /** Pokes waiting for their answer, by id: each settles when every worker asked has answered. */
  const pending = new Map<number, { waiting: Set<Worker>; done: () => void }>();
  let nextPoke = 0;
  /** Series requests waiting for their answers, by id. */
  const seriesWaiting = new Map<number, (worker: Worker, totals: SeriesTotals[] | null) => void>();
  let nextSeries = 0;
  const answered = (worker: Worker, id: number) => {
    const poke = pending.get(id);
    if (!poke || !poke.waiting.delete(worker)) return;
    if (poke.waiting.size === 0) poke.done();
  };

  function fork(): Promise<{ address: string; port: number }> {
    const worker = cluster.fork({ STAGELINE_GATEWAY_WORKER: '1' });
    const startedAt = Date.now();
    running.add(worker);
    const ready = new Promise<{ address: string; port: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gateway worker ${worker.process.pid} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      worker.on('message', (message: WorkerReport) => {
        if (message?.type === 'waiting') {
          // The worker listens for its configuration now (a message sent earlier would be lost).
          const start: WorkerStart = { type: 'start', config, listeners: options.listeners, port };
          worker.send(start);
        } else if (message?.type === 'ready') {
          clearTimeout(timer);
          resolve({ address: message.address, port: message.port });
        } else if (message?.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(`gateway worker failed to start: ${message.message}`));
        } else if (message?.type === 'applied') {
          answered(worker, message.id);
        } else if (message?.type === 'series') {
          seriesWaiting.get(message.id)?.(worker, message.totals);
        }
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`gateway worker exited before serving (${signal ?? `code ${code}`})`));
      });
    });
    worker.once('exit', (code, signal) => {
      running.delete(worker);
      // A worker gone is not waited for; the one started in its place reads everything at start.
      for (const id of [...pending.keys()]) answered(worker, id);
      for (const settle of [...seriesWaiting.values()]) settle(worker, null);
      if (closing) return;
      failuresInRow = Date.now() - startedAt >= STABLE_MS ? 0 : failuresInRow + 1;
      const delay = Math.min(maxBackoff, backoff * 2 ** Math.max(0, failuresInRow - 1));
      logger?.warn({ pid: worker.process.pid, code, signal, restartInMs: delay }, 'gateway worker exited; starting another');
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (closing) return;
        restarts += 1;
        fork().catch((error: unknown) => logger?.error({ err: error }, 'gateway worker restart failed'));
      }, delay);
      timers.add(timer);
    });
    return ready;
  }

  const stopAll = async () => {
    closing = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    await Promise.all(
      [...running].map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            const kill = setTimeout(() => worker.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
            worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            if (worker.isConnected()) worker.send({ type: 'stop' });
            else worker.process.kill('SIGTERM');
          }),
      ),
    );
  };

  try {
    // The first worker binds the port (a free one when 0 was asked for); the others share it.
    const first = await fork();
    boundPort = first.port;
    host = first.address;
    await Promise.all(Array.from({ length: options.count - 1 }, () => fork()));
  } catch (error) {
    await stopAll();
    throw error;
  }
  const shown = host.includes(':') ? `[${host}]` : host;
  logger?.info({ workers: options.count, address: `http://${shown}:${boundPort}` }, 'stageline gateway workers are serving');
  return {
    url: `http://${shown}:${boundPort}`,
    listeners: [{ address: host, port: boundPort }],
    pids: () => [...running].filter((w) => !w.isDead()).map((w) => w.process.pid!),
    restarts: () => restarts,
    poke(workspaceId) {
      const asked = [...running].filter((w) => w.isConnected());
      if (asked.length === 0) return Promise.resolve();
      const id = (nextPoke += 1);
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          if (pending.delete(id)) logger?.warn({ workspaceId, workers: [...asked].filter((w) => !w.isDead()).length }, 'a gateway worker did not apply changes in time');
          resolve();
        }, POKE_TIMEOUT_MS);
        timer.unref();
        pending.set(id, {
          waiting: new Set(asked),
          done: () => {
            clearTimeout(timer);
            pending.delete(id);
            resolve();
          },
        });
        const message: WorkerPoke = { type: 'poke', id, workspaceId };
        for (const worker of asked) worker.send(message, (error: Error | null) => error && answered(worker, id));
      });
    },
    series() {
      const asked = new Set([...running].filter((w) => w.isConnected()));
      if (asked.size === 0) return Promise.resolve([]);
      const id = (nextSeries += 1);
      return new Promise<SeriesTotals[][]>((resolve) => {
        const answers: SeriesTotals[][] = [];
        const finish = () => {
          clearTimeout(timer);
          seriesWaiting.delete(id);
          resolve(answers);
        };
        const timer = setTimeout(() => {
          logger?.warn({ workers: asked.size }, 'a gateway worker did not send its metrics in time; this scrape leaves it out');
          finish();
        }, SERIES_TIMEOUT_MS);
        timer.unref();
        seriesWaiting.set(id, (worker, totals) => {
          if (!asked.delete(worker)) return;
          if (totals) answers.push(totals);
          if (asked.size === 0) finish();
        });
        const request: WorkerSeriesRequest = { type: 'series', id };
        for (const worker of [...asked]) worker.send(request, (error: Error | null) => error && seriesWaiting.get(id)?.(worker, null));
      });
    },
    close: async () => {
      await stopAll();
      for (const poke of [...pending.values()]) poke.done();
    },
  };
}
