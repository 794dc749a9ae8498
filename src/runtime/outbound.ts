// The outbound client behind the egress policy: every connection Stageline opens for an
// environment (tools, webhook and email channels, alert receivers, gateway upstreams) resolves
// the host itself and checks the address it is about to connect to, at connect time.
import { lookup } from 'node:dns/promises';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { canonicalJson, sha256 } from '../domain/canonical.js';
import { isEditable, type Environment } from '../domain/environments/chain.js';
import { checkAddress, checkHost, compileEgress, EgressDenied, type EgressPolicy, type Listener } from '../domain/egress/policy.js';
import { KNOWN_SETTINGS } from '../domain/settings/settings.js';
import type { Egress, EgressFor } from '../services/context.js';
import type { Store } from '../store/database.js';
import { listEnvironments } from '../store/environments.js';
import { findSetting } from '../store/settings.js';

/** Every address a host name resolves to. */
export type Resolve = (host: string) => Promise<string[]>;

export interface OutboundOptions {
  /** This node's listeners known at start; `addListener` adds the ones bound later. */
  listeners?: Listener[];
  /** Name resolution (the system resolver by default). */
  resolve?: Resolve;
}

const systemResolve: Resolve = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export class Outbound implements Egress {
  private readonly listeners: Listener[];
  private readonly resolve: Resolve;
  private readonly agents = new Map<string, { key: string; agent: Agent }>();

  constructor(
    private readonly store: Store,
    options: OutboundOptions = {},
  ) {
    this.listeners = [...(options.listeners ?? [])];
    this.resolve = options.resolve ?? systemResolve;
  }

  /** A socket this node listens on; connections to it are refused in every environment. */
  addListener(listener: Listener): void {
    if (!this.listeners.some((l) => l.address === listener.address && l.port === listener.port)) this.listeners.push(listener);
  }

  async policy(env: Environment): Promise<EgressFor> {
    const db = this.store.db;
    const [row, all] = await Promise.all([findSetting(db, { workspaceId: env.workspaceId, environmentId: env.id }, 'egress'), listEnvironments(db, env.workspaceId)]);
    const parsed = KNOWN_SETTINGS.egress.safeParse(row?.value ?? {});
    // Settings are checked when written; a stored value that no longer parses must not open or
    // close anything by accident, so the environment calls nothing until it is fixed.
    const invalid = !parsed.success;
    const rules = compileEgress(parsed.success ? parsed.data : undefined);
    const editable = isEditable(env, all);
    const listeners = this.listeners;
    const policy: EgressPolicy = {
      environment: env.slug,
      editable,
      rules,
      listeners,
      get localAddresses() {
        return interfaceAddresses();
      },
    };
    return { policy, key: sha256(canonicalJson({ env: env.id, editable, invalid, setting: row?.value ?? null })), invalid };
  }

  /**
   * The address to connect to for `host:port`: the host itself when it is an address, else each
   * address it resolves to; every one must be allowed (a name that also resolves somewhere
   * denied is refused). Throws EgressDenied before any socket exists.
   */
  async admit(egress: EgressFor, host: string, port: number): Promise<string> {
    const { policy } = egress;
    const name = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    if (egress.invalid) throw new EgressDenied(name, policy.environment, `the egress setting of ${policy.environment} is not valid`);
    const byName = checkHost(policy, name);
    if (!byName.allowed) throw new EgressDenied(name, policy.environment, byName.reason);
    const addresses = isIP(name) ? [name] : await this.resolve(name);
    if (addresses.length === 0) throw Object.assign(new Error(`${name} has no address`), { code: 'ENOTFOUND' });
    for (const address of addresses) {
      const decision = checkAddress(policy, name, address, port);
      if (!decision.allowed) throw new EgressDenied(name === address ? name : `${name} (${address})`, policy.environment, decision.reason);
    }
    return addresses[0]!;
  }

  /**
   * An undici dispatcher for `env`'s calls. Its connections are checked when they are opened;
   * one agent per environment, replaced (and the old one's connections closed) when the
   * environment's policy changes, so a connection opened under the old policy is not reused.
   */
  async dispatcher(env: Environment): Promise<Dispatcher> {
    const egress = await this.policy(env);
    const current = this.agents.get(env.id);
    if (current?.key === egress.key) return current.agent;
    if (current) void current.agent.close().catch(() => {});
    const base = buildConnector({ timeout: DEFAULT_CONNECT_TIMEOUT_MS });
    const connect: buildConnector.connector = (options, callback) => {
      const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80);
      this.admit(egress, options.hostname, port).then(
        // The checked address is connected to; TLS still verifies the name asked for (`host`).
        (address) => base({ ...options, hostname: address }, callback),
        (error: Error) => callback(error, null),
      );
    };
    const agent = new Agent({ keepAliveTimeout: 10_000, connections: 16, connect });
    this.agents.set(env.id, { key: egress.key, agent });
    return agent;
  }

  /** A TCP connection to `host:port` through the policy (SMTP); TLS, if any, is the caller's. */
  async socket(egress: EgressFor, host: string, port: number, timeoutMs: number): Promise<Socket> {
    const address = await this.admit(egress, host, port);
    return new Promise<Socket>((resolve, reject) => {
      const socket = netConnect({ host: address, port });
      const onTimeout = () => socket.destroy(Object.assign(new Error(`connection to ${host}:${port} timed out`), { code: 'ETIMEDOUT' }));
      socket.setTimeout(timeoutMs);
      socket.once('timeout', onTimeout);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.setTimeout(0);
        socket.removeListener('timeout', onTimeout);
        socket.removeListener('error', reject);
        resolve(socket);
      });
    });
  }

  async close(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map(({ agent }) => agent.close().catch(() => {})));
  }
}
