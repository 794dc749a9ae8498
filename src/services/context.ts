// What every use case receives: the store, a clock, and who is acting in which workspace.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { EgressPolicy } from '../domain/egress/policy.js';
import type { Environment } from '../domain/environments/chain.js';
import type { Actor } from '../domain/auth/permissions.js';
import type { AlertStates, MetricsReader } from '../metrics/contract.js';
import type { Store } from '../store/database.js';
import type { Keyring } from './keyring.js';

export interface Deps {
  store: Store;
  now: () => Date;
  /** Master keys and the unwrapped data keys of workspaces. */
  keyring: Keyring;
  /**
   * Told, after commit, that a workspace has new change events; the call that made them
   * returns once this node's runtime has applied them (read-your-writes on one node).
   */
  onChange: (workspaceId: string) => Promise<void> | void;
  /** The only way out: every outbound connection of an environment goes through its egress policy. */
  egress: Egress;
  /** Figures merged over every node's rollups (src/metrics/reader.ts); absent outside a node. */
  metrics?: MetricsReader;
  /** Which alerts fire (src/metrics/alerts.ts); absent outside a node. */
  alerts?: AlertStates;
}

/** An environment's egress policy as read now; `key` changes when the policy does. */
export interface EgressFor {
  policy: EgressPolicy;
  key: string;
  /** The stored setting no longer parses: every call is refused until it is fixed. */
  invalid: boolean;
}

/** Outbound connections checked at connect time against an environment's egress policy (src/runtime/outbound.ts). */
export interface Egress {
  policy(env: Environment): Promise<EgressFor>;
  /** For undici requests of `env`; refused connections fail with EgressDenied. */
  dispatcher(env: Environment): Promise<Dispatcher>;
  /** A TCP connection to `host:port` through the policy; fails with EgressDenied before connecting. */
  socket(egress: EgressFor, host: string, port: number, timeoutMs: number): Promise<Socket>;
}

export interface WorkspaceRef {
  id: string;
  slug: string;
  name: string;
}

/** One call's scope: the workspace it touches, the actor, and the request that carried it. */
export interface CallContext {
  workspace: WorkspaceRef;
  actor: Actor;
  requestId: string | null;
}

export function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

const outsideNode = async (): Promise<never> => {
  throw new Error('outbound calls are made only by a node (src/runtime/index.ts createNode)');
};

/** For use cases run outside a node (master key rotation, benchmarks, store tests): they call nothing outside. */
export const NO_EGRESS: Egress = { policy: outsideNode, dispatcher: outsideNode, socket: outsideNode };
