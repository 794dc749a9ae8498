// Starting a node: open and migrate the database, initialise an empty one, serve the API and
// the gateway (in this process, or in worker processes sharing its port).
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { buildApp } from './http/app.js';
import { createLogger } from './logger.js';
import { bootstrap } from './services/bootstrap.js';
import type { Deps } from './services/context.js';
import { isPostgresUrl, openStore } from './store/database.js';
import { KeyError } from './domain/secrets/envelope.js';
import { loadMasterKeys } from './master-key.js';
import { createNode, type Runtime } from './runtime/index.js';
import { BranchSweeper } from './runtime/branch-sweeper.js';
import { VERSION } from './version.js';
import { RetentionSweeper } from './runtime/retention-sweeper.js';
import { GcSweeper } from './runtime/gc-sweeper.js';
import { armFaultsFromEnv } from './faults.js';
import type { GatewayObserver } from './gateway/contract.js';
import { gatewayConfig, startGateway, type RunningGateway } from './gateway/server.js';
import { startGatewayWorkers, type GatewayWorkers } from './gateway/workers.js';

export interface RunningServer {
  app: FastifyInstance;
  deps: Deps;
  runtime: Runtime;
  url: string;
  /** `http://host:port` of the gateway; null when it is off (STAGELINE_GATEWAY=off). */
  gatewayUrl: string | null;
  /** The gateway served in this process; null when off or served by worker processes. */
  gateway: RunningGateway | null;
  /** The gateway worker processes (STAGELINE_GATEWAY_WORKERS); null when there are none. */
  workers: GatewayWorkers | null;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** The gateway's per-request hook; by default this node's metrics recorder (none with STAGELINE_METRICS=off). */
  gatewayObserver?: GatewayObserver;
}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  if (!config.publicUrl.startsWith('https://')) {
    logger.warn({ publicUrl: config.publicUrl }, 'STAGELINE_PUBLIC_URL is not an https address: unsubscribe links in emails point there and carry no one-click header (RFC 8058 needs https)');
  }
  const faults = armFaultsFromEnv();
  if (faults.length > 0) logger.warn({ faults }, 'fault injection is armed (NODE_ENV=test): this process dies or fails at these points');
  const store = await openStore({ url: config.databaseUrl });
  let node: Awaited<ReturnType<typeof createNode>>;
  try {
    node = await createNode({
      store,
      masterKeys: loadMasterKeys(config, logger),
      logger,
      limits: { redisUrl: config.redisUrl },
      workflows: { publicUrl: config.publicUrl },
      watchIntervalMs: config.watchIntervalMs,
      alerts: { intervalMs: config.alertIntervalMs },
      gatesIntervalMs: config.gatesIntervalMs,
      events: config.events,
      metrics: { ...config.metrics, retentionSweepMs: config.retentionSweepSeconds * 1000 },
      ...(isPostgresUrl(config.databaseUrl) ? { listenUrl: config.databaseUrl } : {}),
    });
  } catch (error) {
    await store.close();
    if (error instanceof KeyError) {
      throw new Error(`the master key cannot decrypt this database's secrets (${error.message}); set STAGELINE_MASTER_KEY to the key it was encrypted with`);
    }
    throw error;
  }
  const { deps, runtime } = node;

  const initialised = await bootstrap(deps, { token: config.bootstrapToken ?? undefined });
  if (initialised?.generated) {
    mkdirSync(config.dataDir, { recursive: true });
    const file = join(config.dataDir, 'admin-token');
    writeFileSync(file, initialised.token + '\n', { mode: 0o600 });
    // Printed once, on the first start of an empty database; the file keeps it for later.
    process.stdout.write(
      `\nStageline initialised workspace "default" with development and production.\n` +
        `Owner token (shown once, also written to ${file}):\n\n  ${initialised.token}\n\n`,
    );
  } else if (initialised) {
    logger.info('initialised workspace "default"; the owner token is STAGELINE_BOOTSTRAP_TOKEN');
  }

  const app = await buildApp({ deps, runtime, logger, bodyLimit: config.bodyLimit, trustedProxies: config.trustedProxies, corsOrigins: config.corsOrigins, version: VERSION });
  const sweeper = new BranchSweeper(deps, config.branchSweepSeconds * 1000, logger);
  sweeper.start();
  const retention = new RetentionSweeper(
    deps,
    { activityRetentionDays: config.activityRetentionDays, changeRetentionEvents: config.changeRetentionEvents },
    config.retentionSweepSeconds * 1000,
    logger,
  );
  retention.start();
  const gc = new GcSweeper(deps, { retention: config.retention, graceMs: config.gcGraceMs }, config.gcIntervalMs, `node_${randomUUID()}`, logger);
  gc.start();
  const address = await app.listen({ port: config.port, host: config.host });
  // Known only once bound (port 0, or a host that names several addresses): a call to this node
  // itself is refused in every environment, so nothing loops.
  for (const bound of app.addresses()) {
    if (typeof bound !== 'string') runtime.egress.addListener({ address: bound.address, port: bound.port });
  }
  const listeners = app.addresses().flatMap((bound) => (typeof bound === 'string' ? [] : [{ address: bound.address, port: bound.port }]));
  let gateway: RunningGateway | null = null;
  let workers: GatewayWorkers | null = null;
  try {
    if (config.gateway && config.gatewayWorkers > 0) {
      const started = await startGatewayWorkers({ config, count: config.gatewayWorkers, listeners, logger });
      workers = started;
      for (const listener of started.listeners) runtime.egress.addListener(listener);
      // A management call returns once this process and every gateway worker apply its changes.
      // /metrics on this process shows the whole node: the workers' gateway counts too.
      if (runtime.metrics.recorder) runtime.metrics.peers = () => started.series();
      const applyHere = deps.onChange;
      deps.onChange = async (workspaceId) => {
        await applyHere(workspaceId);
        await started.poke(workspaceId);
      };
    } else if (config.gateway) {
      gateway = await startGateway({
        deps,
        runtime,
        port: config.gatewayPort,
        ...gatewayConfig(config),
        logger,
        ...(options.gatewayObserver || runtime.metrics.recorder ? { observer: options.gatewayObserver ?? runtime.metrics.recorder!.gatewayObserver } : {}),
      });
    }
  } catch (error) {
    await sweeper.close();
    await retention.close();
    await gc.close();
    await runtime.close();
    await app.close();
    await store.close();
    throw error;
  }
  logger.info({ address, database: isPostgresUrl(config.databaseUrl) ? 'postgres' : 'sqlite' }, 'stageline is serving');
  return {
    app,
    deps,
    runtime,
    url: address,
    gatewayUrl: gateway?.url ?? workers?.url ?? null,
    gateway,
    workers,
    async close() {
      await workers?.close();
      await gateway?.close();
      await sweeper.close();
      await retention.close();
      await gc.close();
      await runtime.close();
      await app.close();
      await store.close();
    },
  };
}
