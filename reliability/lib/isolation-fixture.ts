// The isolation part's world: an in-process app whose logger writes to a scanner, three workspaces
// × three environments with a unique canary string in everything that holds a value, the
// credentials of every kind, and a registry of every object id by the scope it belongs to.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/http/app.js';
import { createLogger } from '../../src/logger.js';
import { bootstrap } from '../../src/services/bootstrap.js';
import { openStore } from '../../src/store/database.js';
import { parseMasterKeys } from '../../src/domain/secrets/envelope.js';
import { eventsConfig } from '../../src/config.js';
import { createNode, type Runtime } from '../../src/runtime/index.js';
import type { Deps } from '../../src/services/context.js';
import { findUserByEmail } from '../../src/store/workspaces.js';
import { createTestDatabase, personalToken, startUpstream, TEST_DB, TEST_MASTER_KEY, type TestUpstream } from '../../test/support.js';

export const ENVIRONMENTS = ['development', 'staging', 'production'] as const;
export type Env = (typeof ENVIRONMENTS)[number];
/** The environment created and then deleted in every workspace. */
export const DELETED_ENV = 'gone';
const PASSWORD = 'isolation password 0123';

// ---------------------------------------------------------------------------------------------
// Canaries

/** What a canary was planted in. `secret` canaries may never be logged, nor answered by the management API. */
export type CanaryKind = 'secret' | 'variable' | 'override' | 'data' | 'setting' | 'feed' | 'resource' | 'upstream';

export interface Canary {
  value: string;
  ws: string;
  /** null: a workspace-level value (a variable's default, content every environment runs). */
  env: string | null;
  kind: CanaryKind;
  /** Feed messages: whose feed. */
  recipient?: string;
}

export class Canaries {
  readonly byValue = new Map<string, Canary>();
  make(ws: string, env: string | null, kind: CanaryKind, recipient?: string): string {
    const value = `CANARY-${ws}-${env ?? 'all'}-${kind}${recipient ? `-${recipient}` : ''}-${randomBytes(5).toString('hex')}`;
    this.byValue.set(value, { value, ws, env, kind, ...(recipient ? { recipient } : {}) });
    return value;
  }
  /** Every planted canary found in `text`. */
  find(text: string): Canary[] {
    const found: Canary[] = [];
    for (const match of text.matchAll(/CANARY-[A-Za-z0-9-]+/g)) {
      const canary = this.byValue.get(match[0]);
      if (canary) found.push(canary);
    }
    return found;
  }
  secrets(): Canary[] {
    return [...this.byValue.values()].filter((c) => c.kind === 'secret');
  }
}

// ---------------------------------------------------------------------------------------------
// The app, with every log line scanned

export class LogScanner {
  lines = 0;
  /** Log lines carrying a secret canary (any: secret values are never logged). */
  secretLines: string[] = [];
  constructor(private readonly canaries: Canaries) {}
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        this.lines += 1;
        if (this.canaries.find(line).some((c) => c.kind === 'secret')) this.secretLines.push(line);
      }
      done();
    },
  });
}

export interface IsolationApp {
  app: FastifyInstance;
  deps: Deps;
  runtime: Runtime;
  /** The bootstrap owner's token (owner of every fixture workspace; used for set-up only). */
  token: string;
  logs: LogScanner;
  logger: ReturnType<typeof createLogger>;
  close(): Promise<void>;
}

/** An app as startHarness builds it, but with a trace-level logger writing into the scanner. */
export async function startIsolationApp(canaries: Canaries): Promise<IsolationApp> {
  const database = await createTestDatabase();
  const store = await openStore({ url: database.url, poolSize: 12 });
  const logs = new LogScanner(canaries);
  const logger = createLogger('trace', logs.stream);
  const { deps, runtime } = await createNode({
    store,
    masterKeys: parseMasterKeys(TEST_MASTER_KEY),
    pollIntervalMs: 1000,
    logger,
    workflows: { pollIntervalMs: 100 },
    ...(TEST_DB === 'postgres' ? { listenUrl: database.url } : {}),
    watchIntervalMs: 0,
    alerts: { intervalMs: 0 },
    gatesIntervalMs: 0,
    events: { ...eventsConfig({}), intervalMs: 0 },
  });
  const boot = await bootstrap(deps, {});
  const app = await buildApp({ deps, runtime, logger, dashboard: false });
  return {
    app,
    deps,
    runtime,
    token: boot?.token ?? '',
    logs,
    logger,
    async close() {
      await runtime.close();
      await app.close();
      await store.close();
      await database.drop();
    },
  };
}

export interface Answer {
  status: number;
  text: string;
  body: any;
  headers: Record<string, unknown>;
}

/**
 * One request through app.inject. An event stream's answer never ends: with `streamMs`, one not
 * answered by then is taken as a stream held open (status 299, counted as a 2xx).
 */
export async function inject(app: FastifyInstance, method: string, url: string, headers: Record<string, string>, body?: unknown, streamMs: number | null = null): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const all = { ...headers, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) };
  const request = app.inject({ method: method as never, url, headers: all, ...(payload !== undefined ? { payload } : {}) });
  let timer: NodeJS.Timeout | undefined;
  const cut = streamMs === null ? null : new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), streamMs)));
  const response = cut ? await Promise.race([request, cut]) : await request;
  clearTimeout(timer);
  if (!response) return { status: 299, text: '', body: null, headers: { note: 'stream held open (counted as 2xx)' } };
  let parsed: any = null;
  try {
    parsed = response.body ? JSON.parse(response.body) : null;
  } catch {
    parsed = null;
  }
  return { status: response.statusCode, text: response.body, body: parsed, headers: response.headers as Record<string, unknown> };
}

// ---------------------------------------------------------------------------------------------
// Credentials and the registry of ids

export interface Credential {
  label: string;
  /** owner, admin, …, service:…, sk, pk, pk+token, revoked-sk, none, malformed */
  kind: string;
  ws: string | null;
  env: string | null;
  /** Which API it may use at all. */
  surface: 'management' | 'runtime' | 'none';
  headers: Record<string, string>;
  /** pk keys: the recipient its recipient token names (null: none). */
  recipient: string | null;
}

/** An object id or name, where it lives. */
export interface Entry {
  /** The values of the path parameters it fills (`{id}`, or `{kind, key}`, `{collection, id}`). */
  values: Record<string, string>;
  ws: string;
  /** null: a workspace-level object. */
  env: string | null;
  deleted: boolean;
  /** Deleted by revoking: the object stays (listed, readable, revoked again idempotently), only its use ends. */
  revoked?: boolean;
}

/**
 * Entries by group: the path's literal segment before the parameters they fill
 * (`api-keys`, `resources`, `data`, `secrets`, …), as the OpenAPI paths name them.
 */
export class Registry {
  readonly groups = new Map<string, Entry[]>();
  add(group: string, entry: Entry) {
    const list = this.groups.get(group) ?? [];
    list.push(entry);
    this.groups.set(group, list);
  }
  get(group: string): Entry[] {
    return this.groups.get(group) ?? [];
  }
}

export interface Workspace {
  slug: string;
  tag: string;
}

export interface GatewayTarget {
  ws: string;
  env: Env;
  upstream: TestUpstream;
  /** The upstream's answer carries this canary (kind upstream). */
  canary: string;
  /** The secret the route injects in this environment. */
  secret: string;
}

export interface Fixture {
  workspaces: Workspace[];
  credentials: Credential[];
  registry: Registry;
  canaries: Canaries;
  targets: GatewayTarget[];
  /** Each environment's sk and pk keys, by `ws/env` (the gateway's credentials). */
  keys: Map<string, { sk: string; pk: string }>;
}

/** A personal token for the user with `email`. */
async function userToken(deps: Deps, email: string): Promise<string> {
  const user = await findUserByEmail(deps.store.db, email);
  if (!user) throw new Error(`fixture: no user ${email}`);
  return personalToken(deps.store.db, user.id, email);
}

export async function buildFixture(world: IsolationApp, canaries: Canaries, operationsWithIdChildren: { collectionPath: string; body: (ws: string, env: string | null) => unknown; canDelete: boolean }[]): Promise<Fixture> {
  const { app, token } = world;
  const as = (t: string | null): Record<string, string> => (t ? { authorization: `Bearer ${t}` } : {});
  const call = async (method: string, url: string, body?: unknown, t: string | null = token, extra: Record<string, string> = {}) => inject(app, method, url, { ...as(t), ...extra }, body);
  const must = async (method: string, url: string, body?: unknown, t: string | null = token, extra: Record<string, string> = {}) => {
    const res = await call(method, url, body, t, extra);
    if (res.status >= 300) throw new Error(`fixture: ${method} ${url}: ${res.status} ${res.text.slice(0, 300)}`);
    return res;
  };
  const registry = new Registry();
  const credentials: Credential[] = [];
  const targets: GatewayTarget[] = [];
  const keys = new Map<string, { sk: string; pk: string }>();
  const workspaces: Workspace[] = ['a', 'b', 'c'].map((tag) => ({ slug: `iso-${tag}`, tag }));

  // The workspaces are set up side by side (each has its own audit chain, so they do not queue).
  const perWorkspace = await Promise.all(workspaces.map(async ({ slug: ws, tag }) => {
    const credentials: Credential[] = [];
    const W = `/api/workspaces/${ws}`;
    await must('POST', '/api/workspaces', { slug: ws, name: `Isolation ${tag}` });
    await must('POST', `${W}/environments`, { slug: 'staging', name: 'Staging' });
    registry.add('workspaces', { values: { ws }, ws, env: null, deleted: false });
    for (const env of ENVIRONMENTS) registry.add('environments', { values: { env }, ws, env, deleted: false });
    await must('POST', `${W}/environments`, { slug: DELETED_ENV, name: 'Gone' });
    await must('DELETE', `${W}/environments/${DELETED_ENV}`);
    registry.add('environments', { values: { env: DELETED_ENV }, ws, env: DELETED_ENV, deleted: true });

    // Secrets, variables, settings: a canary in each, plus one of each created and deleted.
    const secretName = `shared_${tag}`;
    const secretOf: Record<string, string> = {};
    for (const env of ENVIRONMENTS) {
      const E = `${W}/environments/${env}`;
      secretOf[env] = canaries.make(ws, env, 'secret');
      await must('PUT', `${E}/secrets/${secretName}`, { value: secretOf[env] });
      await must('PUT', `${E}/secrets/only_${env}_${tag}`, { value: canaries.make(ws, env, 'secret') });
      await must('PUT', `${E}/secrets/gone_${tag}`, { value: canaries.make(ws, env, 'secret') });
      await must('DELETE', `${E}/secrets/gone_${tag}`);
      registry.add('secrets', { values: { name: secretName }, ws, env, deleted: false });
      registry.add('secrets', { values: { name: `only_${env}_${tag}` }, ws, env, deleted: false });
      registry.add('secrets', { values: { name: `gone_${tag}` }, ws, env, deleted: true });
      await must('PUT', `${E}/settings/branding`, { value: { name: canaries.make(ws, env, 'setting') } });
      await must('PUT', `${E}/settings/custom.${tag}`, { value: { note: canaries.make(ws, env, 'setting') } });
      await must('PUT', `${E}/settings/gone.${tag}`, { value: { note: canaries.make(ws, env, 'setting') } });
      await must('DELETE', `${E}/settings/gone.${tag}`);
      if (env !== 'development') await must('PUT', `${E}/settings/egress`, { value: { allow: ['127.0.0.1'] } });
      registry.add('settings', { values: { name: 'branding' }, ws, env, deleted: false });
      registry.add('settings', { values: { name: `custom.${tag}` }, ws, env, deleted: false });
      registry.add('settings', { values: { name: `gone.${tag}` }, ws, env, deleted: true });
    }
    const variable = `v_${tag}`;
    await must('PUT', `${W}/variables/${variable}`, {
      value: canaries.make(ws, null, 'variable'),
      overrides: Object.fromEntries(ENVIRONMENTS.map((env) => [env, canaries.make(ws, env, 'variable')])),
    });
    await must('PUT', `${W}/variables/gone_${tag}`, { value: canaries.make(ws, null, 'variable') });
    await must('DELETE', `${W}/variables/gone_${tag}`);
    registry.add('variables', { values: { name: variable }, ws, env: null, deleted: false });
    registry.add('variables', { values: { name: `gone_${tag}` }, ws, env: null, deleted: true });

    // Upstreams: one per environment, answering with its own canary.
    const upstreamOf: Record<string, GatewayTarget> = {};
    for (const env of ENVIRONMENTS) {
      const canary = canaries.make(ws, env, 'upstream');
      const upstream = await startUpstream((_req, res) => {
        const body = JSON.stringify({ upstream: canary });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      });
      upstreamOf[env] = { ws, env, upstream, canary, secret: secretOf[env]! };
      targets.push(upstreamOf[env]!);
    }

    // Resources: common content (every environment runs it) and one resource that only one
    // environment holds, by committing, promoting and deleting in turn.
    const D = `${W}/environments/development`;
    const draft = (id: string, content: unknown) => must('PUT', `${D}/resources/${id}`, { content });
    const commit = () => must('POST', `${D}/commits`, { message: 'fixture' });
    const promote = (env: string) => must('POST', `${W}/environments/${env}/promotions`, { message: 'fixture' });
    const only = (env: string) => `config/only-${env}-${tag}`;
    const onlyContent = (env: string) => ({ value: { c: canaries.make(ws, env, 'resource') } });
    await draft(`config/common-${tag}`, { value: { c: canaries.make(ws, null, 'resource'), v: `{{ vars.${variable} }}` } });
    await draft(`config/flag-${tag}`, { value: true, public: true });
    await draft(`config/withsecret-${tag}`, { value: { s: `{{ secrets.${secretName} }}` } });
    await draft(`workflow/notify-${tag}`, { name: 'Notify', steps: [{ type: 'channel', channel: 'in_app', template: { body: '{{ data.canary }}' } }] });
    await draft(`route/gw-${tag}`, { match: { pathPrefix: '/gw' }, upstream: { url: upstreamOf.development!.upstream.url }, injectHeaders: { 'x-injected': `{{ secrets.${secretName} }}` } });
    await draft(only('production'), onlyContent('production'));
    await commit();
    await promote('staging');
    await promote('production');
    await must('DELETE', `${D}/resources/${only('production')}`);
    await draft(only('staging'), onlyContent('staging'));
    await commit();
    await promote('staging');
    await must('DELETE', `${D}/resources/${only('staging')}`);
    await draft(only('development'), onlyContent('development'));
    await commit();
    for (const env of ENVIRONMENTS) {
      const E = `${W}/environments/${env}`;
      for (const id of [`config/common-${tag}`, `config/flag-${tag}`, `config/withsecret-${tag}`, `workflow/notify-${tag}`, `route/gw-${tag}`, only(env)]) {
        const [kind, key] = id.split('/') as [string, string];
        registry.add('resources', { values: { kind, key }, ws, env, deleted: false });
        if (kind === 'workflow') registry.add('workflows', { values: { key }, ws, env, deleted: false });
        if (kind === 'config') registry.add('flags', { values: { key }, ws, env, deleted: false });
      }
      for (const other of ENVIRONMENTS.filter((o) => o !== env && (env !== 'production' || o !== 'staging'))) {
        registry.add('resources', { values: { kind: 'config', key: `only-${other}-${tag}` }, ws, env, deleted: true });
      }
      await must('PUT', `${E}/resources/config/common-${tag}/override`, { override: { value: { o: canaries.make(ws, env, 'override') } } });
      await must('PUT', `${E}/resources/route/gw-${tag}/override`, {
        override: { upstream: { url: upstreamOf[env]!.upstream.url }, injectHeaders: { 'x-override': canaries.make(ws, env, 'override') } },
      });
      const releases = (await must('GET', `${E}/releases`)).body.data as { number: number }[];
      for (const r of releases) registry.add('releases', { values: { number: String(r.number) }, ws, env, deleted: false });
    }

    // Members of every role, one narrowed per environment, service tokens.
    const roles = ['owner', 'admin', 'developer', 'deployer', 'support', 'viewer', 'reporter'];
    const members: { email: string; role: string; environmentRoles?: Record<string, string> }[] = [
      ...roles.map((role) => ({ email: `${role}@${ws}.test`, role })),
      { email: `narrowed@${ws}.test`, role: 'developer', environmentRoles: { production: 'viewer', staging: 'support' } },
    ];
    for (const m of members) {
      // The owner logs in with a password; the others get a personal token straight from the
      // store (scrypt for every member would cost the quick form seconds).
      const added = await must('POST', `${W}/members`, { ...m, ...(m.role === 'owner' ? { password: PASSWORD } : {}) });
      registry.add('members', { values: { id: added.body.id }, ws, env: null, deleted: false });
      const token = m.role === 'owner' ? (await must('POST', '/api/auth/login', { email: m.email, password: PASSWORD }, null)).body.token : await userToken(world.deps, m.email);
      const label = m.environmentRoles ? 'member:developer,production=viewer' : `member:${m.role}`;
      credentials.push({ label: `${ws} ${label}`, kind: label, ws, env: null, surface: 'management', headers: as(token), recipient: null });
    }
    const goneMember = await must('POST', `${W}/members`, { email: `gone@${ws}.test`, role: 'viewer' });
    await must('DELETE', `${W}/members/${goneMember.body.id}`);
    registry.add('members', { values: { id: goneMember.body.id }, ws, env: null, deleted: true });
    for (const t of [{ name: 'ci', role: 'developer' }, { name: 'narrow', role: 'viewer', environmentRoles: { production: 'deployer' } }]) {
      const created = await must('POST', `${W}/tokens`, t);
      registry.add('tokens', { values: { id: created.body.id }, ws, env: null, deleted: false });
      const label = `service:${t.role}${t.environmentRoles ? ',production=deployer' : ''}`;
      credentials.push({ label: `${ws} ${label}`, kind: label, ws, env: null, surface: 'management', headers: as(created.body.token), recipient: null });
    }
    const goneToken = await must('POST', `${W}/tokens`, { name: 'gone', role: 'viewer' });
    await must('DELETE', `${W}/tokens/${goneToken.body.id}`);
    registry.add('tokens', { values: { id: goneToken.body.id }, ws, env: null, deleted: true, revoked: true });
    credentials.push({ label: `${ws} revoked service token`, kind: 'revoked-token', ws, env: null, surface: 'none', headers: as(goneToken.body.token), recipient: null });

    // API keys, recipient tokens, data records and feed messages of each environment.
    for (const env of ENVIRONMENTS) {
      const E = `${W}/environments/${env}`;
      const sk = await must('POST', `${E}/api-keys`, { name: 'sk', kind: 'secret' });
      const pk = await must('POST', `${E}/api-keys`, { name: 'pk', kind: 'publishable' });
      const gone = await must('POST', `${E}/api-keys`, { name: 'gone', kind: 'secret' });
      await must('DELETE', `${E}/api-keys/${gone.body.id}`);
      keys.set(`${ws}/${env}`, { sk: sk.body.key, pk: pk.body.key });
      registry.add('api-keys', { values: { id: sk.body.id }, ws, env, deleted: false });
      registry.add('api-keys', { values: { id: pk.body.id }, ws, env, deleted: false });
      registry.add('api-keys', { values: { id: gone.body.id }, ws, env, deleted: true, revoked: true });
      credentials.push({ label: `${ws}/${env} sk`, kind: 'sk', ws, env, surface: 'runtime', headers: as(sk.body.key), recipient: null });
      credentials.push({ label: `${ws}/${env} pk`, kind: 'pk', ws, env, surface: 'runtime', headers: as(pk.body.key), recipient: null });
      credentials.push({ label: `${ws}/${env} revoked sk`, kind: 'revoked-sk', ws, env, surface: 'none', headers: as(gone.body.key), recipient: null });
      const skh = as(sk.body.key);
      const recipientToken = await must('POST', '/v1/recipient-tokens', { recipient: 'r1' }, null, skh);
      credentials.push({
        label: `${ws}/${env} pk+recipient token r1`,
        kind: 'pk+token',
        ws,
        env,
        surface: 'runtime',
        headers: { ...as(pk.body.key), 'x-stageline-recipient-token': recipientToken.body.token },
        recipient: 'r1',
      });
      const collection = `items-${tag}`;
      await must('PUT', `/v1/data/${collection}/rec-${env}`, { c: canaries.make(ws, env, 'data') }, null, skh);
      await must('PUT', `/v1/data/${collection}/gone-${env}`, { c: canaries.make(ws, env, 'data') }, null, skh);
      await must('DELETE', `/v1/data/${collection}/gone-${env}`, undefined, null, skh);
      registry.add('data', { values: { collection, id: `rec-${env}` }, ws, env, deleted: false });
      registry.add('data', { values: { collection, id: `gone-${env}` }, ws, env, deleted: true });
      for (const recipient of ['r1', 'r2']) {
        const run = await must('POST', `/v1/workflows/notify-${tag}/trigger`, { recipients: [{ id: recipient }], data: { canary: canaries.make(ws, env, 'feed', recipient) } }, null, skh);
        registry.add('workflow-runs', { values: { id: run.body.runId }, ws, env, deleted: false });
        registry.add('feeds', { values: { recipient }, ws, env, deleted: false });
      }
    }
    // Generic objects: one (and one deleted) of every collection the document names with an {id} child.
    for (const op of operationsWithIdChildren) {
      const envScoped = op.collectionPath.includes('{env}');
      for (const env of envScoped ? ENVIRONMENTS : [null]) {
        const path = op.collectionPath.replace('{ws}', ws).replace('{env}', env ?? '');
        const group = op.collectionPath.split('/').filter((s) => s && !s.startsWith('{')).pop()!;
        if (['members', 'tokens', 'api-keys'].includes(group)) continue;
        for (const deleted of op.canDelete ? [false, true] : [false]) {
          const res = await call('POST', path, op.body(ws, env));
          if (res.status >= 300 || typeof res.body?.id !== 'string') {
            process.stderr.write(`isolation fixture: no ${group} object (${res.status} ${res.text.slice(0, 200)})\n`);
            break;
          }
          if (deleted) await must('DELETE', `${path}/${res.body.id}`);
          registry.add(group, { values: { id: res.body.id }, ws, env, deleted });
        }
      }
    }
    return credentials;
  }));
  credentials.push(...perWorkspace.flat());

  // Feed messages arrive through the workflow worker: wait for them, then register their ids.
  for (const { slug: ws } of workspaces) {
    for (const env of ENVIRONMENTS) {
      const sk = keys.get(`${ws}/${env}`)!.sk;
      for (const recipient of ['r1', 'r2']) {
        const started = Date.now();
        for (;;) {
          const res = await call('GET', `/v1/feeds/${recipient}`, undefined, sk);
          if (res.status === 200 && res.body.data.length > 0) {
            for (const m of res.body.data) registry.add('messages', { values: { id: m.id }, ws, env, deleted: false });
            break;
          }
          if (Date.now() - started > 20_000) throw new Error(`fixture: no feed message for ${ws}/${env}/${recipient}: ${res.status} ${res.text.slice(0, 200)}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
  }

  credentials.push({ label: 'no credential', kind: 'none', ws: null, env: null, surface: 'none', headers: {}, recipient: null });
  credentials.push({ label: 'malformed bearer', kind: 'malformed', ws: null, env: null, surface: 'none', headers: { authorization: `Bearer sk_${randomBytes(12).toString('hex')}` }, recipient: null });
  credentials.push({ label: 'malformed scheme', kind: 'malformed', ws: null, env: null, surface: 'none', headers: { authorization: `Basic ${Buffer.from('admin:x').toString('base64')}` }, recipient: null });
  credentials.push({ label: 'malformed token', kind: 'malformed', ws: null, env: null, surface: 'none', headers: { authorization: 'Bearer stl_not a token' }, recipient: null });
  return { workspaces, credentials, registry, canaries, targets, keys };
}
