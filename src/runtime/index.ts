// The runtime side of a node: the change feed and what follows it (delivery views, API key
// cache, event streams), the delivery channels and the workflow worker, composed over the same
// store and keyring as the management API.
import type { FastifyBaseLogger } from 'fastify';
import type { MasterKey } from '../domain/secrets/envelope.js';
import type { Deps } from '../services/context.js';
import { Keyring } from '../services/keyring.js';
import type { Store } from '../store/database.js';
import { ChangeFeed } from './change-feed.js';
import { Channels } from './channels/index.js';
import { DeliveryCache } from './delivery-cache.js';
import { KeyCache } from './key-cache.js';
import { RuntimeSettings } from './runtime-settings.js';
import { StreamHub } from './stream-hub.js';
import { WorkflowWorker, type WorkflowWorkerOptions } from './workflows/worker.js';

export interface Runtime {
  feed: ChangeFeed;
  delivery: DeliveryCache;
  keys: KeyCache;
  /** The `cors` and `feeds` settings of environments, as runtime calls consult them. */
  settings: RuntimeSettings;
  streams: StreamHub;
  /** Email, webhook and in-app delivery, one instance per node (pooled connections). */
  channels: Channels;
  workflows: WorkflowWorker;
  close(): Promise<void>;
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
  const deps: Deps = { store: options.store, now: options.now ?? (() => new Date()), keyring, onChange: (workspaceId) => feed.poke(workspaceId) };
  await feed.start();
  const streams = new StreamHub(deps, feed, options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {});
  const channels = new Channels();
  const workflows = new WorkflowWorker(deps, channels, options.workflows, options.logger);
  const runtime: Runtime = {
    feed,
    delivery: new DeliveryCache(deps, feed),
    keys: new KeyCache(deps, feed),
    settings: new RuntimeSettings(deps, feed),
    streams,
    channels,
    workflows,
    async close() {
      // Running jobs finish their step and go back to the queue before the channels close.
      await workflows.stop();
      await channels.close();
      streams.close();
      await feed.close();
    },
  };
  workflows.start();
  return { deps, runtime };
}
