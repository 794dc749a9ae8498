// A gateway worker process (src/gateway/workers.ts): opens the node's store, builds a runtime
// without the workflow worker or sweepers, follows the change feed and serves the shared port.
import cluster from 'node:cluster';
import { createLogger } from '../logger.js';
import { loadMasterKeys } from '../master-key.js';
import { createNode } from '../runtime/index.js';
import { isPostgresUrl, openStore } from '../store/database.js';
import { gatewayConfig, startGateway } from './server.js';
import { totalsOf } from '../metrics/recorder.js';
import type { WorkerPoke, WorkerReport, WorkerSeriesRequest, WorkerStart } from './workers.js';

/** Without LISTEN (SQLite) a worker learns of the primary's changes by polling, so it polls often. */
const SQLITE_POLL_MS = 250;

function report(message: WorkerReport) {
  process.send?.(message);
}

async function run({ config, listeners, port }: WorkerStart) {
  const logger = createLogger(config.logLevel).child({ gatewayWorker: process.pid });
  const store = await openStore({ url: config.databaseUrl });
  const postgres = isPostgresUrl(config.databaseUrl);
  const { deps, runtime } = await createNode({
    store,
    masterKeys: loadMasterKeys(config, logger),
    logger,
    limits: { redisUrl: config.redisUrl },
    // A worker is a node of its own: it counts its traffic and flushes its own rollup rows.
    metrics: { ...config.metrics, retentionSweepMs: 0 },
    // The primary runs the node's periodic jobs (alerts, watches, gates, events): a worker only proxies.
    watchIntervalMs: 0,
    alerts: { intervalMs: 0 },
    gatesIntervalMs: 0,
    events: { ...config.events, intervalMs: 0 },
    listeners,
    workflows: { start: false },
    ...(postgres ? { listenUrl: config.databaseUrl } : { pollIntervalMs: SQLITE_POLL_MS }),
  });
  const gateway = await startGateway({
    deps,
    runtime,
    port,
    ...gatewayConfig(config),
    logger,
    exclusive: false,
    ...(runtime.metrics.recorder ? { observer: runtime.metrics.recorder.gatewayObserver } : {}),
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await gateway.close();
    await runtime.close();
    await store.close();
    process.exit(0);
  };
  process.on('message', (message: { type?: string } | WorkerPoke | WorkerSeriesRequest) => {
    if (message?.type === 'stop') void stop();
    // The primary serves /metrics for the whole node: this worker's counts are part of it.
    else if (message?.type === 'series') {
      const recorder = runtime.metrics.recorder;
      report({ type: 'series', id: (message as WorkerSeriesRequest).id, totals: recorder ? totalsOf(recorder.series()) : [] });
    }
    // The primary committed changes: read them now rather than at the next poll (read-your-writes).
    else if (message?.type === 'poke') {
      const { id, workspaceId } = message as WorkerPoke;
      void runtime.feed.poke(workspaceId).then(() => report({ type: 'applied', id }));
    }
  });
  // The primary is gone: nobody restarts or stops this worker any more.
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
  report({ type: 'ready', address: gateway.address.address, port: gateway.address.port });
}

if (cluster.isWorker) {
  const onStart = (message: WorkerStart) => {
    if (message?.type !== 'start') return;
    process.off('message', onStart);
    run(message).catch((error: unknown) => {
      report({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
      process.exit(1);
    });
  };
  process.on('message', onStart);
  report({ type: 'waiting' });
}
