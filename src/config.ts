// Node settings from the environment, with the defaults of the documented contract.
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';

export interface Config {
  port: number;
  gatewayPort: number;
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

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = resolve(env.STAGELINE_DATA_DIR || './.stageline');
  const bootstrapToken = env.STAGELINE_BOOTSTRAP_TOKEN || null;
  if (bootstrapToken !== null && bootstrapToken.length < 16) {
    throw new Error('STAGELINE_BOOTSTRAP_TOKEN must be at least 16 characters');
  }
  return {
    port: integer(env, 'STAGELINE_PORT', 4700),
    gatewayPort: integer(env, 'STAGELINE_GATEWAY_PORT', 4701),
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
  };
}
