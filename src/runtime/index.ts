// The runtime side of a node: the change feed and what follows it (delivery views, API key
// cache, event streams), the delivery channels and the workflow worker, composed over the same
// store and keyring as the management API.
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { MasterKey } from '../domain/secrets/envelope.js';
import type { Deps } from '../services/context.js';
import { Keyring } from '../services/keyring.js';
import { keyAuditChains } from '../services/audit.js';
import type { Store } from '../store/database.js';
import { ChangeFeed } from './change-feed.js';
import { Channels } from './channels/index.js';
import { DeliveryCache } from './delivery-cache.js';
import { KeyCache } from './key-cache.js';
import { Resolver } from './resolver.js';
import { Limits, type LimitsOptions } from './limits.js';
import { LoginCounters } from './login-throttle.js';
import { Outbound, type Resolve } from './outbound.js';
import type { Listener } from '../domain/egress/policy.js';
import { RuntimeSettings } from './runtime-settings.js';
import { StreamHub } from './stream-hub.js';
import { WorkflowWorker, type WorkflowWorkerOptions } from './workflows/worker.js';
import { Watcher } from '../metrics/watches.js';
import { AlertEvaluator, alertStates, type AlertEvaluatorOptions } from '../metrics/alerts.js';
import { eventsConfig, type EventsConfig } from '../config.js';
import { EventDispatcher } from './event-dispatcher.js';
import { Sweeper } from './sweeper.js';
import { GATES_LEASE, sweepGates } from '../services/gates.js';
import { releaseLease } from '../store/leases.js';
import type { MetricsConfig } from '../config.js';
import { Recorder, type SeriesTotals } from '../metrics/recorder.js';
import { RollupReader } from '../metrics/reader.js';
import { MetricsRetentionSweeper, newNodeId, RollupFlusher } from '../metrics/rollups.js';

export interface Runtime {
  feed: ChangeFeed;
  /** What each environment runs now: delivery, tools, workflows and the test runner read here. */
  resolver: Resolver;
  delivery: DeliveryCache;
  keys: KeyCache;
  /** The `cors` and `feeds` settings of environments, as runtime calls consult them. */
  settings: RuntimeSettings;
  streams: StreamHub;
  /** Email, webhook and in-app delivery, one instance per node (pooled connections). */
  channels: Channels;
  workflows: WorkflowWorker;
  /** Counters of every limit on this node (memory, or Redis shared across nodes). */
  limits: Limits;
  /** Failed-login counters: per account and address, per account, per address. */
  logins: LoginCounters;
  /** Outbound connections behind the egress policy; tell it every socket this node listens on. */
  egress: Outbound;
  /** Checks running watches after promotions (on the node holding the 'watches' lease). */
  watches: Watcher;
  /** Alert evaluation and notification delivery (on the node holding the `alerts` lease). */
  alerts: AlertEvaluator;
  /** Sends outbound events to event subscriptions (while this node holds the 'events' lease). */
  events: EventDispatcher;
  /** Applies promotion requests whose gates passed with nobody calling (soak time), on the node holding the `gates` lease. */
  gates: Sweeper;
  /** This node's metrics: the hot-path recorder (null when STAGELINE_METRICS=off) and the merged reader. */
  metrics: NodeMetrics;
  close(): Promise<void>;
}

export interface NodeMetrics {
  recorder: Recorder | null;
  reader: RollupReader;
  /** This process's id in rollup rows. */
  nodeId: string;
  /** Who may scrape /metrics: STAGELINE_METRICS_TOKEN and STAGELINE_METRICS_OPEN. */
  access: { token: string | null; open: boolean };
  /** The cumulative series of this node's other processes (its gateway workers), for /metrics; null: none. */
  peers: (() => Promise<SeriesTotals[][]>) | null;
}

export interface NodeOptions {
  store: Store;
  masterKeys: MasterKey[];
  /** PostgreSQL URL for cross-node change notifications (absent on SQLite). */
  listenUrl?: string;
  pollIntervalMs?: number;
  heartbeatMs?: number;
  logger?: FastifyBaseLogger;
  now?: () => Date;
  /** The workflow worker: poll interval, lease, concurrency, retries; `start: false` runs no jobs here. */
  workflows?: WorkflowWorkerOptions;
  /** Where limit counters live: `redisUrl` (STAGELINE_REDIS_URL) shares them; absent keeps them in memory. */
  limits?: LimitsOptions;
  /** This node's listen addresses and ports, refused as egress destinations in every environment. */
  listeners?: Listener[];
  /** Name resolution for outbound calls (the system resolver by default). */
  resolve?: Resolve;
  /** How often running watches are checked (STAGELINE_WATCH_INTERVAL_MS, 15 s by default). */
  watchIntervalMs?: number;
  /** Alert evaluation: interval (STAGELINE_ALERT_INTERVAL_MS), retries of notifications. */
  alerts?: AlertEvaluatorOptions;
  /** Outbound event delivery; absent: the STAGELINE_EVENTS_* settings of the process environment. */
  events?: EventsConfig;
  /** How often the gate sweep runs (STAGELINE_GATES_INTERVAL_MS); 0 runs it only on demand. */
  gatesIntervalMs?: number;
  /** Recording, flush interval and retention of metrics (on, every 60 s, 7 and 90 days by default). */
  metrics?: Partial<MetricsConfig> & {
    /** How often rollups past retention are deleted (STAGELINE_RETENTION_SWEEP_SECONDS; 0: never on this node). */
    retentionSweepMs?: number;
  };
}

/** Dependencies and runtime of one node; the keyring is verified against stored data keys. */
export async function createNode(options: NodeOptions): Promise<{ deps: Deps; runtime: Runtime }> {
  const keyring = new Keyring(options.masterKeys);
  await keyring.verify(options.store.db);
  const feed = new ChangeFeed(options.store, {
    ...(options.listenUrl ? { listenUrl: options.listenUrl } : {}),
    ...(options.pollIntervalMs ? { pollIntervalMs: options.pollIntervalMs } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const egress = new Outbound(options.store, {
    ...(options.listeners ? { listeners: options.listeners } : {}),
    ...(options.resolve ? { resolve: options.resolve } : {}),
  });
  const metricsOptions = options.metrics ?? {};
  const nodeId = newNodeId();
  const recorder = metricsOptions.enabled === false ? null : new Recorder();
  const flusher = recorder ? new RollupFlusher(options.store, recorder, nodeId, { flushMs: metricsOptions.flushMs ?? 60_000, logger: options.logger }) : null;
  const access = { token: metricsOptions.token ?? null, open: metricsOptions.open ?? false };
  const metrics: NodeMetrics = { recorder, reader: new RollupReader(options.store, flusher), nodeId, access, peers: null };
  const deps: Deps = { store: options.store, now: options.now ?? (() => new Date()), keyring, onChange: (workspaceId) => feed.poke(workspaceId), egress, metrics: metrics.reader };
  // Chains written before 0011_audit_keyed get their keying marker before this node serves.
  await keyAuditChains(deps);
  await feed.start();
  const streams = new StreamHub(deps, feed, options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {});
  const channels = new Channels();
  const resolver = new Resolver(deps, feed);
  deps.alerts = alertStates(deps);
  const alerts = new AlertEvaluator(deps, channels, { ...options.alerts, ...(options.logger ? { logger: options.logger } : {}) });
  const events = new EventDispatcher(deps, options.events ?? eventsConfig(), options.logger);
  const workflows = new WorkflowWorker(deps, resolver, channels, { ...options.workflows, recorder }, options.logger);
  const retention = new MetricsRetentionSweeper(
    options.store,
    deps.now,
    { minuteDays: metricsOptions.minuteRetentionDays ?? 7, hourDays: metricsOptions.hourRetentionDays ?? 90 },
    metricsOptions.retentionSweepMs ?? 600_000,
    options.logger,
  );
  const limits = Limits.create({ ...options.limits, ...(options.logger ? { logger: options.logger } : {}) });
  const watches = new Watcher(deps, { intervalMs: options.watchIntervalMs ?? 15_000, ...(options.logger ? { logger: options.logger } : {}) });
  const gatesIntervalMs = options.gatesIntervalMs ?? 15_000;
  const holder = `node_${randomUUID()}`;
  // The lease outlives a missed sweep or two, so a slow sweep does not hand it to another node.
  const gatesLeaseMs = Math.max(3 * gatesIntervalMs, 30_000);
  const gates = new Sweeper(async () => void (await sweepGates(deps, holder, gatesLeaseMs, options.logger)), gatesIntervalMs, 'gate sweep', options.logger);
  const runtime: Runtime = {
    feed,
    resolver,
    delivery: new DeliveryCache(resolver, feed),
    keys: new KeyCache(deps, feed),
    settings: new RuntimeSettings(deps, feed),
    streams,
    channels,
    workflows,
    limits,
    logins: new LoginCounters(limits),
    egress,
    watches,
    alerts,
    events,
    gates,
    metrics,
    async close() {
      await watches.close();
      await gates.close();
      await releaseLease(options.store.db, GATES_LEASE, holder).catch(() => {});
      // Running jobs finish their step and go back to the queue before the channels close.
      await workflows.stop();
      await alerts.close();
      await events.close();
      // Counted until here, written before the store closes.
      await flusher?.close();
      await retention.close();
      await channels.close();
      await egress.close();
      streams.close();
      await feed.close();
      await limits.close();
    },
  };
  workflows.start();
  watches.start();
  alerts.start();
  events.start();
  gates.start();
  flusher?.start();
  retention.start();
  return { deps, runtime };
}
