// Part 1 of the reliability battery: the isolation matrix. Every operation of the OpenAPI document
// the app serves × every kind of credential × path ids of other workspaces and environments,
// deleted and random, then randomised attempts (fast-check), then the gateway; each answer is
// checked for a 2xx on a foreign object and for canaries outside the credential's reach, and
// every log line for a secret's canary. A self-check proves the detector catches a planted leak.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { DB, fmt, QUICK, runPart, say, scaled, zero, emit } from '../contract.js';
import { gatewayCall } from '../../test/support.js';
import { startGateway } from '../../src/gateway/server.js';
import { buildFixture, Canaries, DELETED_ENV, ENVIRONMENTS, inject, startIsolationApp, type Answer, type Credential, type Entry, type Fixture, type IsolationApp } from '../lib/isolation-fixture.js';
import { generate, readOperations, type Operation } from '../lib/isolation-operations.js';
import { foreignReason, judge, judgeGateway, namesOutsideReach, type Attempt, type Forwarded, type GatewayAttempt, type Source, type Verdict } from '../lib/isolation-detect.js';

const PART = 'isolation';
const SEED = Number(process.env.ISOLATION_SEED ?? 15);
const CONCURRENCY = 6;

interface Tally {
  attempts: number;
  foreign2xx: number;
  bodyLeaks: number;
  headerLeaks: number;
  serverErrors: number;
  examples: string[];
  /** Canaries in reach that answers showed, by credential kind (the fixture is visible). */
  ownSeen: Map<string, number>;
  /** Answers by variant and status, to show where attempts were stopped. */
  statuses: Map<string, Map<number, number>>;
  /** Time spent per operation (the slowest are shown). */
  ms: Map<string, number>;
}

const tally = (): Tally => ({ attempts: 0, foreign2xx: 0, bodyLeaks: 0, headerLeaks: 0, serverErrors: 0, examples: [], ownSeen: new Map(), statuses: new Map(), ms: new Map() });

runPart(PART, async () => {
  const canaries = new Canaries();
  const world = await startIsolationApp(canaries);
  const gateways: { close(): Promise<void> }[] = [];
  let fixture: Fixture | null = null;
  try {
    const { operations, document } = await readOperations(world.app);
    say(`isolation: ${operations.length} operations in the OpenAPI document`);

    // Collections with an {id} child: the fixture makes one object (and one deleted) of each.
    const idCollections = operations
      .filter((o) => o.method === 'POST' && !o.path.endsWith('}') && operations.some((c) => c.path.startsWith(`${o.path}/{id}`)))
      .map((o) => ({
        collectionPath: o.path,
        canDelete: operations.some((c) => c.method === 'DELETE' && c.path === `${o.path}/{id}`),
        body: (_ws: string, env: string | null) => (o.body ? generate(o.body, { env: env ?? 'staging', document }) : undefined),
      }));
    const started = Date.now();
    fixture = await buildFixture(world, canaries, idCollections);
    const { credentials, registry } = fixture;
    say(`isolation: fixture in ${((Date.now() - started) / 1000).toFixed(1)} s: ${credentials.length} credentials, ${canaries.byValue.size} canaries, ${[...registry.groups].map(([g, l]) => `${g} ${l.length}`).join(', ')}`);
    const logLinesBefore = world.logs.lines;

    selfCheck(world, fixture, operations);
    await liveSelfCheck(world, fixture, operations);

    // ---- the matrix
    phaseStarted = Date.now();
    const rng = seeded(SEED);
    const matrix: Attempt[] = [];
    for (const op of operations) for (const cred of credentials) matrix.push(...variants(op, cred, fixture, document, rng));
    const sample = QUICK ? stratified(matrix, 1_500, rng) : matrix;
    const m = tally();
    await runAll(world, canaries, sample, m);
    report('matrix', m, matrix.length);

    // ---- randomised (fast-check): operation, credential, ids, query and body mixed
    const r = tally();
    const randomised = randomAttempts(operations, fixture, document, scaled(10_000, 1_000));
    await runAll(world, canaries, randomised, r);
    report('randomised', r, randomised.length);

    // ---- gateway
    const g = await gatewayAttempts(world, fixture, gateways);

    // ---- last, writes inside each credential's own reach (they may change the fixture, so
    // nothing runs after them): answers and logs must still show nothing foreign and no secret.
    const w = tally();
    const writes = ownWrites(operations, fixture, document, rng);
    await runAll(world, canaries, lastWritesLast(pickSome(writes, scaled(writes.length, 200), rng)), w);
    report('own writes', w, writes.length);

    const total = { attempts: m.attempts + r.attempts + w.attempts };
    for (const t of [w]) {
      m.foreign2xx += t.foreign2xx;
      m.bodyLeaks += t.bodyLeaks;
      m.headerLeaks += t.headerLeaks;
      m.serverErrors += t.serverErrors;
    }
    zero(PART, 'attempts answered 2xx on a foreign or deleted object', m.foreign2xx + r.foreign2xx, { total: total.attempts, unit: 'attempts' });
    zero(PART, 'foreign canaries in response bodies', m.bodyLeaks + r.bodyLeaks, { total: total.attempts, unit: 'attempts' });
    zero(PART, 'foreign canaries in response headers', m.headerLeaks + r.headerLeaks, { total: total.attempts, unit: 'attempts' });
    zero(PART, 'log lines with a secret canary', world.logs.secretLines.length, { total: world.logs.lines - logLinesBefore, unit: 'lines' });
    zero(PART, 'gateway answers or forwards leaking another environment', g.leaks, { total: g.attempts, unit: 'requests' });
    zero(PART, '5xx answers', m.serverErrors + r.serverErrors, { total: total.attempts, unit: 'attempts' });
    emit({ part: PART, measure: 'attempts (matrix + randomised + own writes + gateway)', value: `${fmt(m.attempts)} + ${fmt(r.attempts)} + ${fmt(w.attempts)} + ${fmt(g.attempts)} over ${operations.length} operations, ${credentials.length} credentials`, goal: '' });
    for (const line of world.logs.secretLines.slice(0, 5)) say(`  secret in log: ${line.slice(0, 300)}`);
  } finally {
    for (const gw of gateways) await gw.close().catch(() => {});
    for (const t of fixture?.targets ?? []) await t.upstream.close().catch(() => {});
    await world.close();
  }
});

let phaseStarted = Date.now();
function report(name: string, t: Tally, of: number) {
  const seconds = ((Date.now() - phaseStarted) / 1000).toFixed(1);
  phaseStarted = Date.now();
  say(`isolation ${name} on ${DB} (${seconds} s): ${fmt(t.attempts)} attempts (of ${fmt(of)}), 2xx foreign ${t.foreign2xx}, body ${t.bodyLeaks}, headers ${t.headerLeaks}, 5xx ${t.serverErrors}; own canaries seen ${[...t.ownSeen].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  for (const [variant, counts] of t.statuses) say(`  ${variant}: ${[...counts].sort(([a], [b]) => a - b).map(([status, n]) => `${status}×${n}`).join(' ')}`);
  say(`  slowest: ${[...t.ms].sort(([, a], [, b]) => b - a).slice(0, 6).map(([op, ms]) => `${op} ${(ms / 1000).toFixed(1)} s`).join(', ')}`);
  for (const e of t.examples.slice(0, 12)) say(`  ${e}`);
}

// ---------------------------------------------------------------------------------------------
// Attempts

function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function pickSome<T>(list: T[], n: number, rng: () => number): T[] {
  if (list.length <= n) return list;
  const copy = list.slice();
  for (let i = 0; i < n; i += 1) {
    const j = i + Math.floor(rng() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
}

/**
 * About `n` attempts with every operation in them equally, half of each operation's share from
 * credentials of its own API (the rest are mostly refused at the door).
 */
function stratified(matrix: Attempt[], n: number, rng: () => number): Attempt[] {
  const byOp = new Map<Operation, Attempt[]>();
  for (const a of matrix) byOp.set(a.op, [...(byOp.get(a.op) ?? []), a]);
  const share = Math.max(2, Math.round(n / byOp.size));
  const out: Attempt[] = [];
  for (const attempts of byOp.values()) {
    const same = pickSome(attempts.filter((a) => a.cred.surface === a.op.surface), attempts.length, rng);
    const other = pickSome(attempts.filter((a) => a.cred.surface !== a.op.surface), attempts.length, rng);
    const fromSame = Math.min(same.length, Math.max(Math.ceil(share / 2), share - other.length));
    out.push(...same.slice(0, fromSame), ...other.slice(0, share - fromSame));
  }
  return out;
}

/** The literal path segment before each parameter: the registry group its value comes from. */
function groupsOf(op: Operation): Record<string, string> {
  const groups: Record<string, string> = {};
  let literal = '';
  for (const segment of op.path.split('/')) {
    const m = /^\{(.+)\}$/.exec(segment);
    if (m) groups[m[1]!] = m[1] === 'ws' ? 'workspaces' : m[1] === 'env' ? 'environments' : literal;
    else if (segment) literal = segment;
  }
  return groups;
}

const randomValue = (param: string) => (param === 'number' ? String(1000 + Math.floor(Math.random() * 9000)) : `r${randomBytes(5).toString('hex')}`);

interface Scope {
  ws: string;
  env: string;
}

/**
 * Fills the operation's path parameters: `ws`/`env` from `path`, the rest from entries of `ids`
 * (`deleted` ones or live ones), random where the registry has none.
 */
function fill(op: Operation, fixture: Fixture, path: Scope, ids: Scope, deleted: boolean, rng: () => number): { values: Record<string, string>; sources: Record<string, Source> } {
  const groups = groupsOf(op);
  const values: Record<string, string> = {};
  const sources: Record<string, Source> = {};
  const chosen = new Map<string, Entry>();
  for (const param of op.pathParams) {
    const group = groups[param]!;
    if (param === 'ws' || param === 'env') {
      const candidates = fixture.registry.get(group).filter((e) => e.ws === path.ws && (param === 'ws' || (deleted ? e.deleted : e.env === path.env)));
      const entry = candidates[Math.floor(rng() * candidates.length)];
      if (entry) {
        values[param] = entry.values[param]!;
        sources[param] = { entry, group };
      } else {
        values[param] = randomValue(param);
        sources[param] = { random: true };
      }
      continue;
    }
    let entry = chosen.get(group);
    if (!entry) {
      const candidates = fixture.registry.get(group).filter((e) => e.ws === ids.ws && (e.env === null || e.env === ids.env) && e.deleted === deleted && param in e.values);
      entry = candidates[Math.floor(rng() * candidates.length)];
      if (entry) chosen.set(group, entry);
    }
    if (entry && param in entry.values) {
      values[param] = entry.values[param]!;
      sources[param] = { entry, group };
    } else {
      values[param] = randomValue(param);
      sources[param] = { random: true };
    }
  }
  return { values, sources };
}

function requiredQuery(op: Operation, env: string): Record<string, string> {
  const query: Record<string, string> = {};
  for (const q of op.query) if (q.required) query[q.name] = /env|from|to/.test(q.name) ? env : 'a';
  return query;
}

/**
 * A body from the operation's schema. A secret's value is a fresh secret canary of the scope the
 * path names, so an answer or a log line that repeats it is caught.
 */
function bodyOf(op: Operation, document: Record<string, any>, env: string, fixture: Fixture, values: Record<string, string>, cred: Credential): unknown {
  const body = op.body ? generate(op.body, { env, document }) : op.method === 'POST' || op.method === 'PUT' || op.method === 'PATCH' ? {} : undefined;
  if (op.path.includes('/secrets/') && body && typeof body === 'object' && 'value' in body) {
    (body as { value: unknown }).value = fixture.canaries.make(values.ws ?? cred.ws ?? 'none', values.env ?? env, 'secret');
  }
  return body;
}

const otherWs = (fixture: Fixture, ws: string | null, rng: () => number) => {
  const others = fixture.workspaces.map((w) => w.slug).filter((w) => w !== ws);
  return others[Math.floor(rng() * others.length)]!;
};
const anyEnv = (rng: () => number, not?: string | null) => {
  const envs = ENVIRONMENTS.filter((e) => e !== not);
  return envs[Math.floor(rng() * envs.length)]!;
};

/** The matrix's attempts for one operation and credential. */
function variants(op: Operation, cred: Credential, fixture: Fixture, document: Record<string, any>, rng: () => number): Attempt[] {
  const out: Attempt[] = [];
  // An operation that takes no credential (login, health) answers the same to every one: a few kinds suffice.
  if (op.open && !['none', 'member:owner'].includes(cred.kind)) return out;
  const ownWs = cred.ws ?? fixture.workspaces[0]!.slug;
  const ownEnv = cred.env ?? anyEnv(rng);
  const make = (variant: string, filled: ReturnType<typeof fill>, env: string) => {
    const a: Attempt = { op, cred, variant, ...filled, query: requiredQuery(op, env), body: bodyOf(op, document, env, fixture, filled.values, cred) };
    // In-reach calls only read: a write in reach would change the fixture (or end the session).
    if (!namesOutsideReach(a) && (op.method !== 'GET' || op.stream)) return;
    out.push(a);
  };
  if (op.pathParams.length === 0) {
    make('plain', { values: {}, sources: {} }, ownEnv);
    return out;
  }
  const foreign = { ws: otherWs(fixture, cred.ws, rng), env: anyEnv(rng) };
  make('foreign workspace', fill(op, fixture, foreign, foreign, false, rng), foreign.env);
  const hasIds = op.pathParams.some((p) => p !== 'ws' && p !== 'env');
  if (hasIds) {
    const own = { ws: ownWs, env: ownEnv };
    make('ids of another workspace', fill(op, fixture, own, { ws: otherWs(fixture, cred.ws, rng), env: ownEnv }, false, rng), ownEnv);
    make('ids of another environment', fill(op, fixture, own, { ws: ownWs, env: anyEnv(rng, ownEnv) }, false, rng), ownEnv);
    make('deleted ids', fill(op, fixture, own, own, true, rng), ownEnv);
  }
  if (op.pathParams.includes('env')) make('deleted environment', fill(op, fixture, { ws: ownWs, env: DELETED_ENV }, { ws: ownWs, env: ownEnv }, true, rng), ownEnv);
  const values = Object.fromEntries(op.pathParams.map((p) => [p, randomValue(p)]));
  make('random ids', { values, sources: Object.fromEntries(op.pathParams.map((p) => [p, { random: true } as Source])) }, ownEnv);
  if (op.method === 'GET' && !op.stream) make('own objects', fill(op, fixture, { ws: ownWs, env: ownEnv }, { ws: ownWs, env: ownEnv }, false, rng), ownEnv);
  return out;
}

/** Every write operation with each credential that may use its API, on its own scope's objects; deletions and sign-outs last. */
function ownWrites(operations: Operation[], fixture: Fixture, document: Record<string, any>, rng: () => number): Attempt[] {
  const out: Attempt[] = [];
  for (const op of operations) {
    if (op.method === 'GET') continue;
    for (const cred of fixture.credentials) {
      if (cred.surface !== op.surface || !cred.ws) continue;
      const own = { ws: cred.ws, env: cred.env ?? anyEnv(rng) };
      const filled = fill(op, fixture, own, own, false, rng);
      out.push({ op, cred, variant: 'own write', ...filled, query: requiredQuery(op, own.env), body: bodyOf(op, document, own.env, fixture, filled.values, cred), chainMoved: true });
    }
  }
  return out;
}

function lastWritesLast(attempts: Attempt[]): Attempt[] {
  const last = (a: Attempt) => (a.op.method === 'DELETE' || a.op.path.startsWith('/api/auth/') ? 1 : 0);
  return attempts.slice().sort((a, b) => last(a) - last(b));
}

/** Randomised attempts drawn with fast-check: each path parameter, query parameter and body from any scope or none. */
function randomAttempts(operations: Operation[], fixture: Fixture, document: Record<string, any>, count: number): Attempt[] {
  const allValues = [...fixture.registry.groups.values()].flat().flatMap((e) => Object.values(e.values));
  const pool = [...new Set(allValues)];
  const source = fc.constantFrom('own', 'foreign-ws', 'other-env', 'deleted', 'random', 'string');
  const arbitrary = fc.record({
    op: fc.nat({ max: operations.length - 1 }),
    cred: fc.nat({ max: fixture.credentials.length - 1 }),
    pathFrom: source,
    idsFrom: source,
    text: fc.string({ maxLength: 40 }),
    query: fc.array(fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...pool), fc.string({ maxLength: 20 }), fc.constantFrom(...ENVIRONMENTS, DELETED_ENV, '-1', '0', 'true'))), { maxLength: 4 }),
    body: fc.oneof(
      { weight: 4, arbitrary: fc.constant('generated' as const) },
      { weight: 2, arbitrary: fc.constant('generated-with-ids' as const) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    ),
    seed: fc.integer(),
  });
  const attempts: Attempt[] = [];
  const draws = fc.sample(arbitrary, { numRuns: count * 3, seed: SEED });
  for (const d of draws) {
    if (attempts.length >= count) break;
    const op = operations[d.op]!;
    const cred = fixture.credentials[d.cred]!;
    const rng = seeded(d.seed);
    const ownWs = cred.ws ?? fixture.workspaces[0]!.slug;
    const ownEnv = cred.env ?? anyEnv(rng);
    const scopeFor = (from: string): { scope: Scope; deleted: boolean } => {
      switch (from) {
        case 'foreign-ws':
          return { scope: { ws: otherWs(fixture, cred.ws, rng), env: anyEnv(rng) }, deleted: false };
        case 'other-env':
          return { scope: { ws: ownWs, env: anyEnv(rng, ownEnv) }, deleted: false };
        case 'deleted':
          return { scope: { ws: ownWs, env: DELETED_ENV }, deleted: true };
        default:
          return { scope: { ws: ownWs, env: ownEnv }, deleted: false };
      }
    };
    const path = scopeFor(d.pathFrom);
    const ids = scopeFor(d.idsFrom);
    let filled = fill(op, fixture, path.scope, d.idsFrom === 'deleted' ? { ws: ownWs, env: ownEnv } : ids.scope, ids.deleted, rng);
    if (d.pathFrom === 'random' || d.idsFrom === 'random' || d.idsFrom === 'string') {
      const values = { ...filled.values };
      const sources = { ...filled.sources };
      for (const p of op.pathParams) {
        if ((d.pathFrom === 'random' && (p === 'ws' || p === 'env')) || (d.idsFrom !== 'own' && p !== 'ws' && p !== 'env' && rng() < 0.7)) {
          values[p] = d.idsFrom === 'string' && d.text ? d.text : randomValue(p);
          sources[p] = { random: true };
        }
      }
      filled = { values, sources };
    }
    const query: Record<string, string> = requiredQuery(op, path.scope.env);
    for (const [i, value] of d.query) if (op.query.length > 0) query[op.query[i % op.query.length]!.name] = value;
    const body =
      d.body === 'generated'
        ? bodyOf(op, document, path.scope.env, fixture, filled.values, cred)
        : d.body === 'generated-with-ids'
          ? op.body
            ? generate(op.body, { env: path.scope.env, document, pick: () => (rng() < 0.6 ? pool[Math.floor(rng() * pool.length)] : undefined) })
            : undefined
          : op.method === 'GET' || op.method === 'DELETE'
            ? undefined
            : d.body;
    const a: Attempt = { op, cred, variant: `randomised ${d.pathFrom}/${d.idsFrom}`, ...filled, query, body };
    if (!namesOutsideReach(a) && (op.method !== 'GET' || op.stream)) continue;
    attempts.push(a);
  }
  return attempts;
}

function urlOf(a: Attempt): string {
  let path = a.op.path;
  for (const [param, value] of Object.entries(a.values)) path = path.replace(`{${param}}`, encodeURIComponent(value));
  const query = new URLSearchParams(a.query).toString();
  return query ? `${path}?${query}` : path;
}

async function runAll(world: IsolationApp, canaries: Canaries, attempts: Attempt[], t: Tally): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < attempts.length) {
      const a = attempts[next++]!;
      const sent = performance.now();
      const answer = await inject(world.app, a.op.method, urlOf(a), a.cred.headers, a.body, a.op.stream ? 1500 : null);
      t.ms.set(a.op.operationId, (t.ms.get(a.op.operationId) ?? 0) + performance.now() - sent);
      t.attempts += 1;
      record(t, a, answer, judge(canaries, a, answer));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

function record(t: Tally, a: Attempt, answer: Answer, v: Verdict): void {
  const where = `${a.op.method} ${urlOf(a)} as ${a.cred.label} (${a.variant}) → ${answer.status}`;
  if (v.foreign2xx) {
    t.foreign2xx += 1;
    t.examples.push(`2xx on foreign: ${where}: ${v.foreign2xx}`);
  }
  if (v.bodyLeaks.length > 0) {
    t.bodyLeaks += 1;
    t.examples.push(`body leak: ${where}: ${v.bodyLeaks.map((c) => `${c.kind} of ${c.ws}/${c.env ?? 'all'}`).join(', ')}`);
  }
  if (v.headerLeaks.length > 0) {
    t.headerLeaks += 1;
    t.examples.push(`header leak: ${where}: ${v.headerLeaks.map((c) => `${c.kind} of ${c.ws}/${c.env ?? 'all'}`).join(', ')}`);
  }
  if (answer.status >= 500) {
    t.serverErrors += 1;
    t.examples.push(`5xx: ${where}: ${answer.text.slice(0, 200)}`);
  }
  const byStatus = t.statuses.get(a.variant.split(' ')[0]!) ?? new Map<number, number>();
  byStatus.set(answer.status, (byStatus.get(answer.status) ?? 0) + 1);
  t.statuses.set(a.variant.split(' ')[0]!, byStatus);
  if (v.own.length > 0) t.ownSeen.set(a.cred.kind, (t.ownSeen.get(a.cred.kind) ?? 0) + v.own.length);
}

// ---------------------------------------------------------------------------------------------
// Gateway: one node per workspace, every key and environment header against each.

async function gatewayAttempts(world: IsolationApp, fixture: Fixture, gateways: { close(): Promise<void> }[]): Promise<{ attempts: number; leaks: number }> {
  const { canaries } = fixture;
  const seen = new Map<string, Forwarded[]>();
  for (const t of fixture.targets) {
    t.upstream.server.prependListener('request', (req) => {
      const id = String(req.headers['x-request-id'] ?? '');
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const list = seen.get(id) ?? [];
        list.push({ ws: t.ws, env: t.env, text: `${JSON.stringify(req.headers)}\n${Buffer.concat(chunks).toString('utf8')}` });
        seen.set(id, list);
      });
    });
  }
  const attempts: (GatewayAttempt & { base: string })[] = [];
  const keyed: { label: string; headers: Record<string, string>; of: { ws: string; env: string } | null }[] = [];
  for (const [scope, k] of fixture.keys) {
    const [ws, env] = scope.split('/') as [string, string];
    keyed.push({ label: `${scope} sk`, headers: { 'x-stageline-key': k.sk }, of: { ws, env } });
    keyed.push({ label: `${scope} pk`, headers: { 'x-stageline-key': k.pk }, of: { ws, env } });
  }
  const revoked = fixture.credentials.filter((c) => c.kind === 'revoked-sk').map((c) => ({ label: c.label, headers: { 'x-stageline-key': c.headers.authorization!.slice(7) }, of: null }));
  for (const { slug: ws } of fixture.workspaces) {
    const gw = await startGateway({ deps: world.deps, runtime: world.runtime, port: 0, host: '127.0.0.1', workspace: ws, logger: world.logger });
    gateways.push(gw);
    const requests: { label: string; headers: Record<string, string>; expected: string | null }[] = [];
    for (const k of keyed) {
      const mine = k.of!.ws === ws;
      requests.push({ label: k.label, headers: k.headers, expected: mine ? k.of!.env : null });
      for (const env of ENVIRONMENTS) {
        if (env !== k.of!.env) requests.push({ label: `${k.label} + env ${env}`, headers: { ...k.headers, 'x-stageline-env': env }, expected: null });
      }
    }
    for (const r of revoked) requests.push({ ...r, expected: null });
    for (const env of ENVIRONMENTS) requests.push({ label: `env ${env}`, headers: { 'x-stageline-env': env }, expected: env === 'development' ? null : env });
    requests.push({ label: `env ${DELETED_ENV} (deleted)`, headers: { 'x-stageline-env': DELETED_ENV }, expected: null });
    requests.push({ label: 'env random', headers: { 'x-stageline-env': `r${randomBytes(4).toString('hex')}` }, expected: null });
    requests.push({ label: 'no credential', headers: {}, expected: 'production' });
    requests.push({ label: 'malformed key', headers: { 'x-stageline-key': `sk_${randomBytes(16).toString('hex')}` }, expected: null });
    for (const r of requests) {
      for (const [method, path] of [['GET', '/gw'], ['POST', '/gw/x?y=1'], ['GET', '/gw/../gw/a']] as const) {
        attempts.push({ label: r.label, ws, headers: r.headers, method, path, expected: r.expected, requestId: `iso-${randomBytes(8).toString('hex')}`, base: gw.url });
      }
    }
  }
  let leaks = 0;
  const examples: string[] = [];
  let next = 0;
  const list = attempts;
  const worker = async () => {
    while (next < list.length) {
      const a = list[next++]!;
      const answer = await gatewayCall(a.base, { method: a.method, path: a.path, headers: { ...a.headers, 'x-request-id': a.requestId, ...(a.method === 'POST' ? { 'content-type': 'application/json' } : {}) }, ...(a.method === 'POST' ? { body: '{"q":1}' } : {}) });
      await new Promise((r) => setImmediate(r));
      const problems = judgeGateway(canaries, a, answer, seen.get(a.requestId) ?? []);
      if (problems.length > 0) {
        leaks += 1;
        examples.push(`${a.method} ${a.path} on gateway ${a.ws} as ${a.label} → ${answer.status}: ${problems.join('; ')}`);
      }
      if (a.expected !== null && answer.status !== 200) examples.push(`(not served) ${a.method} ${a.path} on gateway ${a.ws} as ${a.label} → ${answer.status} ${answer.text.slice(0, 120)}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const served = list.filter((a) => a.expected !== null && (seen.get(a.requestId)?.length ?? 0) > 0).length;
  say(`isolation gateway on ${DB}: ${list.length} requests, ${served} forwarded where expected, ${leaks} leaking`);
  for (const e of examples.slice(0, 12)) say(`  ${e}`);
  if (served === 0) throw new Error('the gateway forwarded nothing: its leak check would pass for the wrong reason');
  return { attempts: list.length, leaks };
}

// ---------------------------------------------------------------------------------------------
// Self-checks: the detector must catch a leak it is shown.

function selfCheck(world: IsolationApp, fixture: Fixture, operations: Operation[]) {
  const { canaries, credentials } = fixture;
  const sk = credentials.find((c) => c.kind === 'sk' && c.ws === 'iso-a' && c.env === 'staging')!;
  const member = credentials.find((c) => c.kind === 'member:viewer' && c.ws === 'iso-a')!;
  const foreignSecret = canaries.secrets().find((c) => c.ws === 'iso-a' && c.env === 'production')!;
  const foreignData = [...canaries.byValue.values()].find((c) => c.kind === 'data' && c.ws === 'iso-b')!;
  const ownSecret = canaries.secrets().find((c) => c.ws === 'iso-a' && c.env === 'staging')!;
  const getSecret = operations.find((o) => o.operationId === 'getSecret')!;
  const bEntry = fixture.registry.get('workspaces').find((e) => e.ws === 'iso-b')!;
  const fake = (values: Record<string, string>, sources: Record<string, Source>, cred: Credential, op: Operation): Attempt => ({ op, cred, variant: 'self-check', values, sources, query: {}, body: undefined });
  const ok = (text: string, headers: Record<string, unknown> = {}): Answer => ({ status: 200, text, body: null, headers });
  const checks: [string, boolean][] = [
    ['a 2xx on another workspace is a leak', foreignReason(fake({ ws: 'iso-b', env: 'staging', name: 'x' }, { ws: { entry: bEntry, group: 'workspaces' }, env: { random: true }, name: { random: true } }, member, getSecret)) !== null],
    ['a foreign secret in a body is caught', judge(canaries, fake({}, {}, sk, getSecret), ok(`{"x":"${foreignSecret.value}"}`)).bodyLeaks.length === 1],
    ['a foreign record in a header is caught', judge(canaries, fake({}, {}, sk, getSecret), ok('{}', { 'x-a': foreignData.value })).headerLeaks.length === 1],
    ['an own secret answered by the management API is caught', judge(canaries, fake({}, {}, member, getSecret), ok(ownSecret.value)).bodyLeaks.length === 1],
    ['an own secret for its own sk key is not a leak', judge(canaries, fake({}, {}, sk, getSecret), ok(ownSecret.value)).bodyLeaks.length === 0],
    [
      'a gateway answer with another environment’s upstream canary is caught',
      judgeGateway(canaries, { label: 'x', ws: 'iso-a', headers: {}, method: 'GET', path: '/gw', expected: 'staging', requestId: 'x' }, ok(`{"upstream":"${fixture.targets.find((t) => t.ws === 'iso-a' && t.env === 'production')!.canary}"}`), []).length > 0,
    ],
    [
      'a forward to another environment’s upstream is caught',
      judgeGateway(canaries, { label: 'x', ws: 'iso-a', headers: {}, method: 'GET', path: '/gw', expected: 'staging', requestId: 'x' }, ok('{}'), [{ ws: 'iso-a', env: 'production', text: '' }]).length > 0,
    ],
  ];
  const before = world.logs.secretLines.length;
  world.logger.info({ planted: foreignSecret.value }, 'isolation self-check');
  checks.push(['a secret in a log line is caught', world.logs.secretLines.length === before + 1]);
  world.logs.secretLines.splice(before);
  const failed = checks.filter(([, passed]) => !passed).map(([name]) => name);
  if (failed.length > 0) throw new Error(`the leak detector misses planted leaks: ${failed.join('; ')}`);
  say(`isolation self-check: ${checks.length} fabricated leaks caught`);
}

/** A leak planted through the app: a record holding another workspace's canary, read back. */
async function liveSelfCheck(world: IsolationApp, fixture: Fixture, operations: Operation[]) {
  const sk = fixture.credentials.find((c) => c.kind === 'sk' && c.ws === 'iso-a' && c.env === 'staging')!;
  const foreign = [...fixture.canaries.byValue.values()].find((c) => c.kind === 'secret' && c.ws === 'iso-b')!;
  const getRecord = operations.find((o) => o.method === 'GET' && o.path === '/v1/data/{collection}/{id}');
  if (!getRecord) throw new Error('no GET /v1/data/{collection}/{id} in the document: the live self-check needs it');
  const url = '/v1/data/planted/leak';
  const put = await inject(world.app, 'PUT', url, sk.headers, { planted: foreign.value });
  if (put.status >= 300) throw new Error(`self-check plant: ${put.status} ${put.text}`);
  const attempt: Attempt = { op: getRecord, cred: sk, variant: 'self-check', values: { collection: 'planted', id: 'leak' }, sources: {}, query: {}, body: undefined };
  const verdict = judge(fixture.canaries, attempt, await inject(world.app, 'GET', url, sk.headers));
  await inject(world.app, 'DELETE', url, sk.headers);
  if (verdict.bodyLeaks.length !== 1) throw new Error('the leak detector missed a canary planted in a live answer');
  say('isolation self-check: a canary planted in a live answer is caught');
}
