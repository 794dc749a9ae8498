// Test harness: a fresh database per test file (a temporary SQLite file, or a new PostgreSQL
// database on the machine's server), an app on it, and the bootstrap owner's token.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/http/app.js';
import { bootstrap } from '../src/services/bootstrap.js';
import type { Deps } from '../src/services/context.js';
import { openStore, type Store } from '../src/store/database.js';
import { parseMasterKeys } from '../src/domain/secrets/envelope.js';
import { eventsConfig } from '../src/config.js';
import { createNode, type Runtime } from '../src/runtime/index.js';
import type { WorkflowWorkerOptions } from '../src/runtime/workflows/worker.js';
import type { LimitsOptions } from '../src/runtime/limits.js';
import type { Resolve } from '../src/runtime/outbound.js';

export const TEST_DB = (process.env.STAGELINE_TEST_DB ?? 'sqlite') as 'sqlite' | 'postgres';
export const PG_ADMIN_URL = process.env.STAGELINE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new empty database of the kind this test project runs against. */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (TEST_DB === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'stageline-test-'));
    return { url: join(dir, 'stageline.db'), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `stageline_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: PG_ADMIN_URL });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

export interface Harness {
  app: FastifyInstance;
  store: Store;
  deps: Deps;
  runtime: Runtime;
  token: string;
  database: TestDatabase;
  /** JSON call as the bootstrap owner (or with the given token). */
  call(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

export const WS = '/api/workspaces/default';

/** A fixed master key for tests (never use a published key outside tests). */
export const TEST_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

export interface HarnessOptions {
  /** Reuse a database (a second node), instead of creating one. */
  database?: TestDatabase;
  masterKey?: string;
  heartbeatMs?: number;
  /** How often the change feed polls; long values leave propagation to LISTEN/NOTIFY alone. */
  pollIntervalMs?: number;
  /** false: on PostgreSQL the node does not LISTEN (with a long poll, it hears of changes late). */
  listen?: boolean;
  /** The node's workflow worker (poll interval, lease, retries; `start: false` for none). */
  workflows?: WorkflowWorkerOptions;
  /** Where limit counters live (memory unless a Redis URL is given). */
  limits?: LimitsOptions;
  trustedProxies?: string[];
  /** Name resolution for the node's outbound calls (names a test makes up resolve to loopback). */
  resolve?: Resolve;
  /**
   * true: the node's periodic jobs (alert evaluation, watches, the gate sweep, event delivery)
   * run on their default timers. Off by default: a test starts the ones it exercises, and two
   * nodes of one test on one SQLite file would otherwise keep waiting on each other's locks.
   */
  jobs?: boolean;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const database = options.database ?? (await createTestDatabase());
  const store = await openStore({ url: database.url, poolSize: 12 });
  const { deps, runtime } = await createNode({
    store,
    masterKeys: parseMasterKeys(options.masterKey ?? TEST_MASTER_KEY),
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
    ...(options.workflows ? { workflows: options.workflows } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.resolve ? { resolve: options.resolve } : {}),
    ...(TEST_DB === 'postgres' && options.listen !== false ? { listenUrl: database.url } : {}),
    ...(options.jobs ? {} : { watchIntervalMs: 0, alerts: { intervalMs: 0 }, gatesIntervalMs: 0, events: { ...eventsConfig({}), intervalMs: 0 } }),
  });
  const boot = await bootstrap(deps, {});
  const app = await buildApp({ deps, runtime, ...(options.trustedProxies ? { trustedProxies: options.trustedProxies } : {}) });
  const token = boot?.token ?? '';
  return {
    app,
    store,
    deps,
    runtime,
    token,
    database,
    async call(method, path, body, as = token) {
      const headers: Record<string, string> = {};
      if (as) headers.authorization = `Bearer ${as}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await app.inject({ method: method as any, url: path, headers, payload: body === undefined ? undefined : JSON.stringify(body) });
      const text = response.body;
      return { status: response.statusCode, body: text ? JSON.parse(text) : null, headers: response.headers };
    },
    async close() {
      await runtime.close();
      await app.close();
      await store.close();
      if (!options.database) await database.drop();
    },
  };
}

/** Writes drafts and commits them in development; returns the commit's release. */
export async function commitDrafts(h: Harness, drafts: Record<string, unknown>, message = 'change'): Promise<any> {
  for (const [id, content] of Object.entries(drafts)) {
    const res = await h.call('PUT', `${WS}/environments/development/resources/${id}`, { content });
    if (res.status !== 200) throw new Error(`draft ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  const res = await h.call('POST', `${WS}/environments/development/commits`, { message });
  if (res.status !== 201) throw new Error(`commit: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function createStaging(h: Harness) {
  const res = await h.call('POST', `${WS}/environments`, { slug: 'staging', name: 'Staging' });
  if (res.status !== 201) throw new Error(`staging: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function promote(h: Harness, env: string, body: Record<string, unknown> = {}) {
  return h.call('POST', `${WS}/environments/${env}/promotions`, body);
}

export const config = (value: unknown) => ({ value });

/** Creates an API key in an environment and returns the key itself. */
export async function createApiKey(h: Harness, env: string, kind: 'secret' | 'publishable' = 'secret', name = `${env} ${kind}`): Promise<string> {
  const res = await h.call('POST', `${WS}/environments/${env}/api-keys`, { name, kind });
  if (res.status !== 201) throw new Error(`api key: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.key;
}

/** A runtime API call with an environment API key. */
export async function runtimeCall(h: Harness, key: string, path: string, headers: Record<string, string> = {}) {
  const response = await h.app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${key}`, ...headers } });
  return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : null, headers: response.headers, text: response.body };
}

export interface StreamEvent {
  id: number | null;
  event: string;
  data: any;
}

export interface OpenStream {
  events: StreamEvent[];
  comments: string[];
  status: number;
  waitFor(predicate: (events: StreamEvent[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Called when the server ends the stream. */
  onEnd(listener: () => void): void;
  close(): void;
}

/** Opens `/v1/stream` on a listening server with a raw HTTP client and parses its events. */
export async function openStream(baseUrl: string, key: string, lastEventId?: number): Promise<OpenStream> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}`, accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
    const req = request(`${baseUrl}/v1/stream`, { headers }, (res) => {
      const stream: OpenStream = {
        events: [],
        comments: [],
        status: res.statusCode ?? 0,
        async waitFor(predicate, timeoutMs = 5000) {
          const started = Date.now();
          while (!predicate(stream.events)) {
            if (Date.now() - started > timeoutMs) throw new Error(`stream condition not met in ${timeoutMs} ms; events: ${JSON.stringify(stream.events)}`);
            await new Promise((r) => setTimeout(r, 10));
          }
        },
        onEnd: (listener) => res.on('end', listener),
        close: () => req.destroy(),
      };
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: StreamEvent = { id: null, event: 'message', data: null };
          let isEvent = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) stream.comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) event.id = Number(line.slice(4));
            else if (line.startsWith('event: ')) (event.event = line.slice(7)), (isEvent = true);
            else if (line.startsWith('data: ')) (event.data = JSON.parse(line.slice(6))), (isEvent = true);
          }
          if (isEvent) stream.events.push(event);
        }
      });
      res.on('error', () => {});
      resolve(stream);
    });
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
    req.end();
  });
}

/** Polls until `check` passes (for effects that cross an asynchronous boundary). */
export async function eventually(check: () => Promise<void> | void, timeoutMs = 5000): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() - started > timeoutMs) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** A user who is a member of workspace `default` with a role (and per-environment roles). */
export async function memberToken(h: Harness, email: string, role: string, environmentRoles: Record<string, string> = {}): Promise<string> {
  const { insertMember, insertUser, findWorkspace } = await import('../src/store/workspaces.js');
  const workspace = (await findWorkspace(h.store.db, 'default'))!;
  const at = new Date().toISOString();
  const userId = `usr_${randomBytes(8).toString('hex')}`;
  await insertUser(h.store.db, { id: userId, email, name: email, createdAt: at });
  await insertMember(h.store.db, { id: `mem_${randomBytes(8).toString('hex')}`, workspaceId: workspace.id, userId, role, environmentRoles, createdAt: at });
  return personalToken(h.store.db, userId, email);
}

/** A new personal token (no expiry) of an existing user, stored as login would store it. */
export async function personalToken(db: Store['db'], userId: string, name: string): Promise<string> {
  const { insertToken } = await import('../src/store/workspaces.js');
  const { generateToken, hashToken } = await import('../src/services/auth.js');
  const token = generateToken();
  await insertToken(db, {
    id: `tok_${randomBytes(8).toString('hex')}`,
    userId,
    workspaceId: null,
    name,
    kind: 'personal',
    role: null,
    environmentRoles: {},
    tokenHash: hashToken(token),
    prefix: token.slice(0, 8),
    createdAt: new Date().toISOString(),
    lastUsedAt: null,
    expiresAt: null,
    revokedAt: null,
  });
  return token;
}

// ---------------------------------------------------------------------------------------------
// Gateway tests: real upstreams on loopback, a gateway on the harness's runtime, raw requests.

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: Buffer;
}

export interface TestUpstream {
  url: string;
  port: number;
  server: import('node:http').Server;
  /** Every request the upstream received, body read in full (unless the handler took it). */
  requests: SeenRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A node:http upstream on loopback. Without a handler it answers 200 with JSON describing the
 * request it saw; a handler gets the request after its body was read (unless `stream` is set).
 */
export async function startUpstream(
  handler?: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, seen: SeenRequest) => void,
  options: { host?: string; stream?: boolean } = {},
): Promise<TestUpstream> {
  const { createServer } = await import('node:http');
  const requests: SeenRequest[] = [];
  let connections = 0;
  const server = createServer((req, res) => {
    const seen: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.alloc(0) };
    requests.push(seen);
    if (options.stream && handler) return handler(req, res, seen);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.body = Buffer.concat(chunks);
      if (handler) return handler(req, res, seen);
      const body = JSON.stringify({ method: seen.method, url: seen.url, headers: seen.headers, rawHeaders: seen.rawHeaders, body: seen.body.toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
  server.on('connection', () => (connections += 1));
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    server,
    requests,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface GatewayResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  text: string;
  /** The body parsed as JSON (null when it is not JSON). */
  json: any;
}

/**
 * One raw HTTP/1.1 request to a gateway: the path is sent exactly as given (no client-side
 * normalisation), headers as a flat list so names may repeat or be any spelling.
 */
export async function gatewayCall(
  base: string,
  options: { method?: string; path?: string; headers?: Record<string, string> | string[]; body?: string | Buffer; localAddress?: string; agent?: import('node:http').Agent | false } = {},
): Promise<GatewayResponse> {
  const { request } = await import('node:http');
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: options.headers ?? {},
        agent: options.agent ?? false,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any = null;
          try {
            json = JSON.parse(text);
          } catch {
            json = null;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A gateway on the harness's runtime, on a free loopback port. */
export async function startTestGateway(h: Harness, options: Partial<import('../src/gateway/server.js').GatewayOptions> = {}) {
  const { startGateway } = await import('../src/gateway/server.js');
  return startGateway({ deps: h.deps, runtime: h.runtime, port: 0, host: '127.0.0.1', ...options });
}

/** Lets an environment call loopback upstreams (production refuses internal addresses by default). */
export async function allowLoopback(h: Harness, env: string, extra: string[] = []) {
  const res = await h.call('PUT', `${WS}/environments/${env}/settings/egress`, { value: { allow: ['127.0.0.1', '::1', ...extra] } });
  if (res.status !== 200) throw new Error(`egress ${env}: ${res.status} ${JSON.stringify(res.body)}`);
}

/**
 * Commits routes in development (`{key: content}`) and, with `promoteTo`, promotes them there
 * (only these routes when `only` is set).
 */
export async function commitRoutes(h: Harness, routes: Record<string, unknown>, promoteTo?: string, only = false) {
  const drafts = Object.fromEntries(Object.entries(routes).map(([key, content]) => [`route/${key}`, content]));
  await commitDrafts(h, drafts, 'routes');
  if (promoteTo) {
    const res = await promote(h, promoteTo, { message: 'routes', ...(only ? { resources: Object.keys(drafts) } : {}) });
    if (res.status !== 201) throw new Error(`promote: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

export interface TestServer {
  server: import('../src/server.js').RunningServer;
  /** A JSON call to its API as the bootstrap owner. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Closes the server and drops its database and data directory. */
  close(): Promise<void>;
}

/**
 * A node as `stageline server` starts it (API and gateway on free loopback ports) on a new test
 * database, or on the one `env.STAGELINE_DATABASE_URL` names (left in place on close).
 */
export async function startTestServer(env: Record<string, string> = {}, token = 'test-server-bootstrap-token-0123456789'): Promise<TestServer> {
  const { loadConfig } = await import('../src/config.js');
  const { startServer } = await import('../src/server.js');
  const database = env.STAGELINE_DATABASE_URL ? { url: env.STAGELINE_DATABASE_URL, drop: async () => {} } : await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'stageline-server-'));
  const server = await startServer(
    loadConfig({
      STAGELINE_PORT: '0',
      STAGELINE_HOST: '127.0.0.1',
      STAGELINE_LOG_LEVEL: 'silent',
      STAGELINE_DATA_DIR: dataDir,
      STAGELINE_DATABASE_URL: database.url,
      STAGELINE_BOOTSTRAP_TOKEN: token,
      STAGELINE_BRANCH_SWEEP_SECONDS: '0',
      STAGELINE_MASTER_KEY: TEST_MASTER_KEY,
      // The gateway in the test's own process (tests that need worker processes ask for them).
      STAGELINE_GATEWAY_WORKERS: '0',
      ...env,
    }),
  );
  return {
    server,
    async api(method, path, body) {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async close() {
      await server.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
