// The gateway's listener: a node:http server of its own (not Fastify: nothing of a framework
// sits on the data path) serving one workspace's environments, composed from the node's runtime.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import type { Environment } from '../domain/environments/chain.js';
import type { RouteContent } from '../domain/resources/kinds.js';
import { handleClientError, refuseConnect, refuseExpectation } from '../http/errors.js';
import type { Deps } from '../services/context.js';
import type { Runtime } from '../runtime/index.js';
import { compileAllowList, compileTrustedProxies } from './clients.js';
import type { GatewayObserver, RouteLimiter } from './contract.js';
import { Environments, type TableFactory } from './environments.js';
import { compileRouteLimiter } from './limits.js';
import { UpstreamPools, type PoolFactory } from './pools.js';
import { GatewayHandler, nextRequestId } from './proxy.js';
import { compileSplit } from './splits.js';
import { createUpstreamPool, parseUpstreamUrl } from './upstream.js';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** Like Fastify's: longer than the 60 s idle timeout of common load balancers, so they close first. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;
/** A client has this long to send a request's head (checked by one timer per server, not per request). */
const HEADERS_TIMEOUT_MS = 60_000;
/** Connections still open this long after close() are cut. */
const CLOSE_GRACE_MS = 10_000;

export interface GatewayOptions {
  deps: Deps;
  runtime: Runtime;
  port: number;
  host: string;
  /** The workspace served (STAGELINE_GATEWAY_WORKSPACE); `default` by default. */
  workspace?: string;
  /** STAGELINE_GATEWAY_DEFAULT_ENV; absent: the workspace's production. */
  defaultEnvironment?: string | null;
  /** STAGELINE_REGION / --region: only environments of this region, or of none, are served. */
  region?: string | null;
  trustedProxies?: string[];
  /** Largest JSON body read for `injectBody` (STAGELINE_GATEWAY_BODY_LIMIT), 1 MiB by default. */
  bodyLimit?: number;
  /** STAGELINE_GATEWAY_OPEN_EDITABLE: `x-stageline-env` alone may select development and branches. */
  openEditable?: boolean;
  /** The per-request hook (metrics); absent costs nothing. */
  observer?: GatewayObserver;
  logger?: FastifyBaseLogger;
  /** How upstream pools are made (the lean HTTP/1.1 client of upstream.ts by default). */
  createPool?: PoolFactory;
  /** Under node:cluster the port is shared with the other workers (the primary holds it). */
  exclusive?: boolean;
}

/** The gateway's options that come from the node's configuration, the same in-process and in workers. */
export function gatewayConfig(config: Config): Pick<GatewayOptions, 'host' | 'workspace' | 'defaultEnvironment' | 'region' | 'trustedProxies' | 'bodyLimit' | 'openEditable'> {
  return {
    openEditable: config.gatewayOpenEditable,
    host: config.host,
    workspace: config.gatewayWorkspace,
    defaultEnvironment: config.gatewayDefaultEnv,
    region: config.region,
    trustedProxies: config.trustedProxies,
    bodyLimit: config.gatewayBodyLimit,
  };
}

export interface RunningGateway {
  /** `http://host:port` as bound. */
  url: string;
  address: AddressInfo;
  server: Server;
  environments: Environments;
  close(): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { runtime, logger } = options;
  const pools = new UpstreamPools(options.createPool ?? ((target, admit) => createUpstreamPool(target, { admit })), (egress, host, port) =>
    runtime.egress.admit(egress, host, port),
  );
  const factory: TableFactory = {
    pools,
    parts: {
      parseUpstreamUrl,
      allowList: compileAllowList,
      split: (_route, primaryUrl, spec) => {
        const split = compileSplit(spec, primaryUrl);
        const names = 'blueGreen' in spec ? ['blue', 'green'] : ['primary', 'canary'];
        return { targets: split.targets.map((url, i) => ({ name: names[i]!, url })), splitter: split.choose };
      },
    },
    limiter: (environment: Environment, route: string, spec: NonNullable<RouteContent['rateLimit']>): RouteLimiter =>
      compileRouteLimiter(spec, { limits: runtime.limits, scopeKey: `${environment.workspaceId}:${environment.id}:${route}`, ...(logger ? { logger } : {}) }),
  };
  const environments = new Environments({
    deps: options.deps,
    runtime,
    workspace: options.workspace ?? 'default',
    defaultEnvironment: options.defaultEnvironment ?? null,
    factory,
    ...(logger ? { logger } : {}),
  });
  const handler = new GatewayHandler({
    environments,
    keys: runtime.keys,
    region: options.region ?? null,
    trustedProxies: compileTrustedProxies(options.trustedProxies ?? []),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    openEditable: options.openEditable ?? false,
    observer: options.observer,
    logger,
  });

  // Without Host the request is still served (the upstream gets its own Host) rather than refused.
  const server = createServer({ requireHostHeader: false, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 0, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (req, res) =>
    handler.handle(req, res),
  );
  // Request bodies stream for as long as they take (an upload): no per-request timer.
  server.setTimeout(0);
  const tunnels = new Set<Duplex>();
  server.on('upgrade', (req, socket, head) => {
    // Node has removed its own error listener from an upgraded socket: a peer that resets it
    // before the answer is written must not become an uncaught exception.
    socket.on('error', () => socket.destroy());
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
    handler.upgrade(req, socket, head);
  });
  // Answers made before the handler sees the request carry a request id like every other.
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => handleClientError(error, socket, nextRequestId()));
  server.on('checkExpectation', (req, res) => refuseExpectation(req, res, nextRequestId()));
  server.on('connect', (req, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    refuseConnect(req, socket, nextRequestId());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port, host: options.host, exclusive: options.exclusive ?? true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  // A route to the gateway itself would loop: the egress policy refuses it in every environment.
  runtime.egress.addListener({ address: address.address, port: address.port });
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger?.info({ address: `http://${host}:${address.port}`, workspace: options.workspace ?? 'default', region: options.region ?? null }, 'stageline gateway is serving');

  // The first request should not wait for the environments to be read.
  environments.load().catch((error: unknown) => logger?.warn({ err: error }, 'gateway: environments not readable yet; the first request reads them'));

  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${address.port}`,
    address,
    server,
    environments,
    close() {
      return (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const grace = setTimeout(() => {
          server.closeAllConnections();
          // Tunnels (WebSockets) are no longer the HTTP server's: they are cut here.
          for (const socket of tunnels) socket.destroy();
        }, CLOSE_GRACE_MS);
        grace.unref();
        await closed;
        clearTimeout(grace);
        environments.close();
        await pools.close();
      })());
    },
  };
}
