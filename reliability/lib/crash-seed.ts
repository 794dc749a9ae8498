// The known state the crash part starts every run from: a workspace with development, staging,
// production and a feature branch, many releases, pending drafts, API keys and a workflow whose
// steps call a loopback webhook receiver. Seeded once per database through the API of a real node,
// with a model of every release's content kept beside it (the part's own account of what each
// release holds, checked against the node once at the end of seeding).
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { adminQuery, PG_ADMIN_URL } from '../../bench/support.js';
import { canonicalJson } from '../../src/domain/canonical.js';
import type { Database } from '../contract.js';
import { Cleanup, HttpClient, newDatabase, startNode } from './nodes.js';

export const WS = '/api/workspaces/default';
export const ENVS = ['development', 'staging', 'production', 'feature'] as const;
export type Env = (typeof ENVS)[number];

/** Resource id (`config/c1`) → content. */
export type Content = Record<string, unknown>;

export interface Seed {
  kind: Database;
  /** The seeded database (a SQLite file or a PostgreSQL database used as a template). */
  url: string;
  /** A secret API key per environment. */
  keys: Record<Env, string>;
  /** Every release's content, by environment and number (the model). */
  releases: Record<Env, Map<number, Content>>;
  /** Every release's snapshot id as the node listed it after seeding. */
  snapshots: Record<Env, Map<number, string>>;
  /** Development's drafts at the end of seeding: id → content, or null for a deletion. */
  drafts: Record<string, unknown | null>;
  /** Development's release the feature branch forked at. */
  forkRelease: number;
}

const CONFIGS = 60;

/** The GC as the GC runs configure it: the first collection when the node starts, a short grace, two releases kept. */
export const GC_ENV = { STAGELINE_GC_INTERVAL_MS: '600000', STAGELINE_GC_GRACE_MS: '100', STAGELINE_RETENTION_RELEASES: '2', STAGELINE_RETENTION_DAYS: '0' };

function config(i: number, version: number) {
  return { value: { n: i, version, label: `setting ${i} at ${version}` } };
}

export function workflowHook() {
  const step = (n: number) => ({ type: 'channel', channel: 'webhook', template: { body: { tag: '{{ data.tag }}', step: n, recipient: '{{ recipient.id }}' } } });
  return { name: 'Crash hook', steps: [step(0), step(1)] };
}

export function head(seed: Seed, env: Env): number {
  return Math.max(...seed.releases[env].keys());
}

/** Development's head with its drafts applied: what the pending commit makes. */
export function committed(seed: Seed): Content {
  const next = { ...seed.releases.development.get(head(seed, 'development'))! };
  for (const [id, content] of Object.entries(seed.drafts)) {
    if (content === null) delete next[id];
    else next[id] = content;
  }
  return next;
}

/** The three-way merge of the feature branch into development (the seed has no conflict). */
export function merged(seed: Seed): Content {
  const base = seed.releases.development.get(seed.forkRelease)!;
  const branch = seed.releases.feature.get(head(seed, 'feature'))!;
  const parent = seed.releases.development.get(head(seed, 'development'))!;
  const out: Content = {};
  for (const id of new Set([...Object.keys(base), ...Object.keys(branch), ...Object.keys(parent)])) {
    const [b, x, p] = [base[id], branch[id], parent[id]];
    const same = (u: unknown, v: unknown) => (u === undefined || v === undefined ? u === v : canonicalJson(u) === canonicalJson(v));
    const pick = same(x, b) || same(x, p) ? p : same(p, b) ? x : undefined;
    if (pick === undefined && !same(p, b)) throw new Error(`the seed's merge conflicts on ${id}`);
    if (pick !== undefined) out[id] = pick;
  }
  return out;
}

export async function ok<T = any>(api: HttpClient, method: string, path: string, body?: unknown): Promise<T> {
  return (await api.call<T>(method, path, body, [200, 201, 202, 204])).body;
}

/** The node's view of an environment: its served release and resources (config content only, every id listed). */
export async function served(base: string, key: string): Promise<{ release: number; content: Content; ids: string[] }> {
  const client = new HttpClient(base, key);
  try {
    const answer = await client.call<{ release: number; data: { kind: string; key: string; content: unknown }[] }>('GET', '/v1/resources');
    const content: Content = {};
    for (const r of answer.body.data) if (r.kind === 'config') content[`${r.kind}/${r.key}`] = r.content;
    return { release: answer.body.release, content, ids: answer.body.data.map((r) => `${r.kind}/${r.key}`).sort() };
  } finally {
    client.close();
  }
}

/** Every release of an environment: number → snapshot id. */
export async function releaseSnapshots(api: HttpClient, env: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  let cursor: string | null = null;
  do {
    const page: { data: { number: number; snapshot: string }[]; next: string | null } = await ok(api, 'GET', `${WS}/environments/${env}/releases?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    for (const r of page.data) out.set(r.number, r.snapshot);
    cursor = page.next;
  } while (cursor);
  return out;
}

/** The config part of a content map (what /v1/resources is compared on) and its ids. */
export function configOf(content: Content): Content {
  return Object.fromEntries(Object.entries(content).filter(([id]) => id.startsWith('config/')));
}

export async function seedDatabase(kind: Database, cleanup: Cleanup, hookUrl: string): Promise<Seed> {
  const url = await newDatabase(kind, cleanup, 'crash_seed');
  const node = await startNode(cleanup, { name: 'crash-seed', databaseUrl: url, env: { STAGELINE_GATEWAY: 'off', STAGELINE_GC_INTERVAL_MS: '0' } });
  const api = node.api;
  const releases = Object.fromEntries(ENVS.map((e) => [e, new Map<number, Content>()])) as Seed['releases'];
  const state: Record<string, Content> = { development: {} };
  const draft = async (env: string, id: string, content: unknown) => {
    await ok(api, 'PUT', `${WS}/environments/${env}/resources/${id}`, { content });
    state[`${env}~draft`] = { ...(state[`${env}~draft`] ?? state[env]), [id]: content };
  };
  const commit = async (env: Env, message: string) => {
    const release: { number: number } = await ok(api, 'POST', `${WS}/environments/${env}/commits`, { message });
    state[env] = state[`${env}~draft`]!;
    delete state[`${env}~draft`];
    releases[env].set(release.number, state[env]);
  };
  const promote = async (target: Env, from: Env, release?: number) => {
    const made: { number: number } = await ok(api, 'POST', `${WS}/environments/${target}/promotions`, { from, message: `seed ${from} into ${target}`, ...(release ? { release } : {}) });
    const content = releases[from].get(release ?? head({ releases } as Seed, from))!;
    releases[target].set(made.number, content);
  };

  await ok(api, 'POST', `${WS}/environments`, { slug: 'staging', name: 'Staging' });
  await draft('development', 'workflow/hook', workflowHook());
  for (let i = 0; i < CONFIGS; i++) await draft('development', `config/c${i}`, config(i, 0));
  await commit('development', 'seed #1');
  for (let k = 2; k <= 6; k++) {
    for (let j = 0; j < 4; j++) await draft('development', `config/c${(k * 7 + j * 13) % CONFIGS}`, config((k * 7 + j * 13) % CONFIGS, k));
    await draft('development', `config/x${k}`, config(100 + k, k));
    await commit('development', `seed #${k}`);
    if (k === 3) {
      await promote('staging', 'development', 3);
      await promote('production', 'staging');
    }
    if (k === 5) {
      await promote('staging', 'development', 5);
      await promote('production', 'staging');
    }
  }
  await promote('staging', 'development');
  await promote('production', 'staging');

  // The feature branch forks at development's head, changes what development leaves alone.
  const forkRelease = head({ releases } as Seed, 'development');
  await ok(api, 'POST', `${WS}/environments`, { slug: 'feature', name: 'Feature', kind: 'branch', from: 'development' });
  releases.feature.set(1, state.development!);
  state.feature = state.development!;
  await draft('feature', 'config/c1', config(1, 50));
  await draft('feature', 'config/f1', config(201, 50));
  await commit('feature', 'feature work');
  await draft('development', 'config/c5', config(5, 60));
  await commit('development', 'seed after the fork');

  // Development's pending drafts: one change, one addition, one deletion (what the run's commit commits).
  const drafts: Record<string, unknown | null> = { 'config/c2': config(2, 70), 'config/new1': config(300, 70), 'config/c3': null };
  await ok(api, 'PUT', `${WS}/environments/development/resources/config/c2`, { content: drafts['config/c2'] });
  await ok(api, 'PUT', `${WS}/environments/development/resources/config/new1`, { content: drafts['config/new1'] });
  await ok(api, 'DELETE', `${WS}/environments/development/resources/config/c3`);

  const keys = {} as Record<Env, string>;
  for (const env of ENVS) keys[env] = (await ok<{ key: string }>(api, 'POST', `${WS}/environments/${env}/api-keys`, { name: `crash ${env}`, kind: 'secret' })).key;
  await ok(api, 'PUT', `${WS}/environments/development/secrets/WEBHOOK_SECRET`, { value: 'crash-webhook-secret' });
  await ok(api, 'PUT', `${WS}/environments/development/settings/channel.webhook`, { value: { url: hookUrl, signingSecret: 'WEBHOOK_SECRET', timeoutMs: 5000 } });

  const seed: Seed = { kind, url, keys, releases, snapshots: {} as Seed['snapshots'], drafts, forkRelease };
  // The model must describe what the node serves, or every check after a crash is against a wrong answer.
  for (const env of ENVS) {
    seed.snapshots[env] = await releaseSnapshots(api, env);
    const now = await served(node.url, keys[env]);
    const expected = releases[env].get(now.release);
    if (now.release !== head(seed, env) || canonicalJson(sorted(now.content)) !== canonicalJson(sorted(configOf(expected ?? {})))) {
      const a = sorted(now.content);
      const b = sorted(configOf(expected ?? {}));
      const differ = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((id) => canonicalJson(a[id] ?? null) !== canonicalJson(b[id] ?? null)).slice(0, 3);
      throw new Error(`the crash seed's model of ${env} disagrees with the node (serves #${now.release}, model head #${head(seed, env)}; ${differ.map((id) => `${id}: ${canonicalJson(a[id] ?? null)} vs ${canonicalJson(b[id] ?? null)}`).join('; ')})`);
    }
    if (seed.snapshots[env].size !== releases[env].size) throw new Error(`the crash seed's model of ${env} has ${releases[env].size} releases, the node ${seed.snapshots[env].size}`);
  }
  await node.stop();

  // One collection prunes the releases past retention and touches their snapshots, so a GC run's
  // collection (past the grace period) finds their trees unreachable and sweeps them.
  const pruner = await startNode(cleanup, { name: 'crash-seed-gc', databaseUrl: url, env: { STAGELINE_GATEWAY: 'off', ...GC_ENV } });
  const deadline = Date.now() + 30_000;
  while ((await releaseSnapshots(pruner.api, 'development')).size > 2 + 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  // The collection has pruned development: wait for it to finish before stopping (stop awaits it too).
  await pruner.stop();
  const again = await startNode(cleanup, { name: 'crash-seed-list', databaseUrl: url, env: { STAGELINE_GATEWAY: 'off', STAGELINE_GC_INTERVAL_MS: '0' } });
  for (const env of ENVS) seed.snapshots[env] = await releaseSnapshots(again.api, env);
  await again.stop();
  if (seed.snapshots.development.size >= releases.development.size) throw new Error('the crash seed’s collection pruned no release');
  return seed;
}

export function sorted(content: Content): Content {
  return Object.fromEntries(Object.entries(content).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** A copy of the seeded database for one run (a file copy, or a PostgreSQL database made from it as a template). */
export async function copyOf(seed: Seed, cleanup: Cleanup, label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  if (seed.kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), `stageline-crash-${label}-`));
    const url = join(dir, 'stageline.db');
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(seed.url + suffix)) copyFileSync(seed.url + suffix, url + suffix);
    return { url, drop: cleanup.add(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true })) };
  }
  const template = new URL(seed.url).pathname.slice(1);
  const name = `rel_crash_run_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(3).toString('hex')}`;
  await adminQuery(`create database ${name} template ${template}`);
  const target = new URL(PG_ADMIN_URL);
  target.pathname = `/${name}`;
  return { url: target.toString(), drop: cleanup.add(`drop database ${name}`, () => adminQuery(`drop database if exists ${name} with (force)`)) };
}
