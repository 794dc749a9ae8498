// Node settings from the environment, with the defaults of the documented contract.
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { SLUG_PATTERN } from './domain/environments/chain.js';

export interface Config {
  port: number;
  /** The URL people and mailbox providers reach this installation at: the base of links in messages (one-click unsubscribe). */
  publicUrl: string;
  /** `STAGELINE_GATEWAY=off` runs no gateway on this node. */
  gateway: boolean;
  gatewayPort: number;
  /** The workspace whose environments the gateway serves. */
  gatewayWorkspace: string;
  /** The environment of gateway requests that name none; null: the workspace's production. */
  gatewayDefaultEnv: string | null;
  /** Gateway processes (node:cluster) sharing the port; 0 serves the gateway in this process. */
  gatewayWorkers: number;
  /** STAGELINE_GATEWAY_OPEN_EDITABLE: `x-stageline-env` alone selects development and branches (off: they need one of their keys). */
  gatewayOpenEditable: boolean;
  /** Largest JSON request body the gateway reads to add a route's `injectBody`. */
  gatewayBodyLimit: number;
  /** The gateway serves only environments of this region (or of none); null serves every region. */
  region: string | null;
  host: string;
  dataDir: string;
  databaseUrl: string;
  redisUrl: string | null;
  masterKey: string | null;
  bootstrapToken: string | null;
  logLevel: string;
  bodyLimit: number;
  /** How often expired branches are deleted; 0 turns the sweep off on this node. */
  branchSweepSeconds: number;
  /** Addresses and CIDRs of proxies whose `x-forwarded-for` is believed; empty believes none. */
  trustedProxies: string[];
  /** Browser origins the management API answers CORS requests of; none by default (same origin). */
  corsOrigins: string[];
  /** Days an activity log entry is kept. */
  activityRetentionDays: number;
  /** Change events kept per workspace; a stream resuming from before them gets `reset`. */
  changeRetentionEvents: number;
  /** How often expired activity entries and change events are deleted; 0 turns it off on this node. */
  retentionSweepSeconds: number;
  /** Releases kept per environment: every one of the last `days` days and the last `releases` (heads and pinned ones always). */
  retention: { days: number; releases: number };
  /** STAGELINE_GC_INTERVAL_MS: how often releases past retention and unreachable snapshot data are deleted (one node, the `gc` lease); 0 turns it off on this node. */
  gcIntervalMs: number;
  /** STAGELINE_GC_GRACE_MS: a node, snapshot or content written or re-used within this long is never collected. */
  gcGraceMs: number;
  /** How often running watches after promotions are checked (on the node holding their lease). */
  watchIntervalMs: number;
  /** STAGELINE_ALERT_INTERVAL_MS: how often the node holding the `alerts` lease evaluates rules; 0 evaluates none here. */
  alertIntervalMs: number;
  /** How often pending promotion requests are re-evaluated for soak time (one node, the `gates` lease); 0 turns it off on this node. */
  gatesIntervalMs: number;
  /** Metrics: recording, rollup flushes and retention, and who may scrape /metrics. */
  metrics: MetricsConfig;
  /** Outbound event delivery (src/runtime/event-dispatcher.ts). */
  events: EventsConfig;
}

export interface EventsConfig {
  /** STAGELINE_EVENTS_INTERVAL_MS: how often due deliveries are sent; 0 turns delivery off on this node. */
  intervalMs: number;
  /** STAGELINE_EVENTS_RETRY_BASE_MS: the first retry's wait; later ones follow the schedule in docs/events.md. */
  retryBaseMs: number;
  /** STAGELINE_EVENTS_MAX_ATTEMPTS: attempts of one delivery, the first included, before it fails. */
  maxAttempts: number;
  /** STAGELINE_EVENTS_TIMEOUT_MS: how long a receiver has to answer. */
  timeoutMs: number;
}

/** The `STAGELINE_EVENTS_*` settings, with their defaults. */
export function eventsConfig(env: NodeJS.ProcessEnv = process.env): EventsConfig {
  return {
    intervalMs: integer(env, 'STAGELINE_EVENTS_INTERVAL_MS', 1000),
    retryBaseMs: positive(env, 'STAGELINE_EVENTS_RETRY_BASE_MS', 5000),
    maxAttempts: positive(env, 'STAGELINE_EVENTS_MAX_ATTEMPTS', 8),
    timeoutMs: positive(env, 'STAGELINE_EVENTS_TIMEOUT_MS', 10_000),
  };
}

export interface MetricsConfig {
  /** STAGELINE_METRICS=off records nothing on this node (the gateway gets no observer). */
  enabled: boolean;
  /** STAGELINE_METRICS_FLUSH_MS: how often this node writes its rollups. */
  flushMs: number;
  minuteRetentionDays: number;
  hourRetentionDays: number;
  /** STAGELINE_METRICS_TOKEN: the Bearer token that may scrape every workspace's series. */
  token: string | null;
  /** STAGELINE_METRICS_OPEN=on: /metrics answers without a token. */
  open: boolean;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

/** `STAGELINE_TRUSTED_PROXIES`: comma-separated addresses or CIDRs (`10.0.0.0/8, ::1`). */
export function parseTrustedProxies(raw: string | undefined): string[] {
  const entries = (raw ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  for (const entry of entries) {
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    const bits = family === 6 ? 128 : 32;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new Error(`STAGELINE_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR`);
    }
  }
  return entries;
}

/** A comma-separated list of `*` or scheme://host[:port] origins. */
function origins(env: NodeJS.ProcessEnv, name: string): string[] {
  const list = (env[name] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const origin of list) {
    if (!/^\*$|^https?:\/\/[^/\s,]+$/.test(origin)) throw new Error(`${name} must list origins such as https://admin.example, got "${origin}"`);
  }
  return list;
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = integer(env, name, fallback);
  if (value === 0) throw new Error(`${name} must be at least 1`);
  return value;
}

const REGION = /^[a-z0-9][a-z0-9-]{0,40}$/;

/** A region label as environments carry it (`eu-west`); null when unset. */
export function parseRegion(raw: string | undefined, name = 'STAGELINE_REGION'): string | null {
  if (raw === undefined || raw === '') return null;
  if (!REGION.test(raw)) throw new Error(`${name} (or --region) must be a lowercase region label such as eu-west, got "${raw}"`);
  return raw;
}

function onOff(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'on') return true;
  if (raw === 'off') return false;
  throw new Error(`${name} must be "on" or "off", got "${raw}"`);
}

function slug(env: NodeJS.ProcessEnv, name: string): string | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  if (!SLUG_PATTERN.test(raw)) throw new Error(`${name} must be a slug such as production, got "${raw}"`);
  return raw;
}

function metricsToken(raw: string | undefined): string | null {
  if (raw === undefined || raw === '') return null;
  if (raw.length < 16) throw new Error('STAGELINE_METRICS_TOKEN must be at least 16 characters');
  return raw;
}

function publicUrl(raw: string | undefined, port: number): string {
  if (raw === undefined || raw === '') return `http://localhost:${port}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`STAGELINE_PUBLIC_URL must be a URL such as https://stageline.example.com, got "${raw}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`STAGELINE_PUBLIC_URL must be an http(s) URL, got "${raw}"`);
  if (url.search || url.hash) throw new Error('STAGELINE_PUBLIC_URL must not have a query or fragment');
  return url.toString().replace(/\/+$/, '');
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = resolve(env.STAGELINE_DATA_DIR || './.stageline');
  const bootstrapToken = env.STAGELINE_BOOTSTRAP_TOKEN || null;
  if (bootstrapToken !== null && bootstrapToken.length < 16) {
    throw new Error('STAGELINE_BOOTSTRAP_TOKEN must be at least 16 characters');
  }
  const port = integer(env, 'STAGELINE_PORT', 4700);
  return {
    port,
    publicUrl: publicUrl(env.STAGELINE_PUBLIC_URL, port),
    gateway: onOff(env, 'STAGELINE_GATEWAY', true),
    // A node asked for any free API port (tests, side-by-side nodes) takes any free gateway port too.
    gatewayPort: integer(env, 'STAGELINE_GATEWAY_PORT', port === 0 ? 0 : 4701),
    gatewayWorkspace: slug(env, 'STAGELINE_GATEWAY_WORKSPACE') ?? 'default',
    gatewayDefaultEnv: slug(env, 'STAGELINE_GATEWAY_DEFAULT_ENV'),
    // The gateway serves from a process of its own by default, away from the API's heap and jobs
    // (docs/decisions.md); 0 serves it in the main process.
    gatewayWorkers: integer(env, 'STAGELINE_GATEWAY_WORKERS', 1),
    gatewayOpenEditable: onOff(env, 'STAGELINE_GATEWAY_OPEN_EDITABLE', false),
    gatewayBodyLimit: positive(env, 'STAGELINE_GATEWAY_BODY_LIMIT', 1024 * 1024),
    region: parseRegion(env.STAGELINE_REGION),
    host: env.STAGELINE_HOST || '0.0.0.0',
    dataDir,
    databaseUrl: env.STAGELINE_DATABASE_URL || join(dataDir, 'stageline.db'),
    redisUrl: env.STAGELINE_REDIS_URL || null,
    masterKey: env.STAGELINE_MASTER_KEY || null,
    bootstrapToken,
    logLevel: env.STAGELINE_LOG_LEVEL || 'info',
    bodyLimit: integer(env, 'STAGELINE_BODY_LIMIT', 1024 * 1024),
    branchSweepSeconds: integer(env, 'STAGELINE_BRANCH_SWEEP_SECONDS', 60),
    trustedProxies: parseTrustedProxies(env.STAGELINE_TRUSTED_PROXIES),
    corsOrigins: origins(env, 'STAGELINE_CORS_ORIGINS'),
    activityRetentionDays: integer(env, 'STAGELINE_ACTIVITY_RETENTION_DAYS', 30),
    changeRetentionEvents: positive(env, 'STAGELINE_CHANGE_RETENTION_EVENTS', 10_000),
    retentionSweepSeconds: integer(env, 'STAGELINE_RETENTION_SWEEP_SECONDS', 600),
    retention: { days: integer(env, 'STAGELINE_RETENTION_DAYS', 30), releases: integer(env, 'STAGELINE_RETENTION_RELEASES', 100) },
    gcIntervalMs: integer(env, 'STAGELINE_GC_INTERVAL_MS', 3_600_000),
    gcGraceMs: integer(env, 'STAGELINE_GC_GRACE_MS', 3_600_000),
    watchIntervalMs: positive(env, 'STAGELINE_WATCH_INTERVAL_MS', 15_000),
    alertIntervalMs: integer(env, 'STAGELINE_ALERT_INTERVAL_MS', 30_000),
    events: eventsConfig(env),
    gatesIntervalMs: integer(env, 'STAGELINE_GATES_INTERVAL_MS', 15_000),
    metrics: {
      enabled: onOff(env, 'STAGELINE_METRICS', true),
      flushMs: positive(env, 'STAGELINE_METRICS_FLUSH_MS', 60_000),
      minuteRetentionDays: positive(env, 'STAGELINE_METRICS_MINUTE_RETENTION_DAYS', 7),
      hourRetentionDays: positive(env, 'STAGELINE_METRICS_HOUR_RETENTION_DAYS', 90),
      token: metricsToken(env.STAGELINE_METRICS_TOKEN),
      open: onOff(env, 'STAGELINE_METRICS_OPEN', false),
    },
  };
}
