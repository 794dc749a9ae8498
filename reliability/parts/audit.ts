// Part 3 — audit. Random management mutations reconcile 1:1 with audit entries (by request id:
// each 2xx exactly one entry of the right action, each refusal none); an audit write that fails
// fails its mutation and leaves every table as it was; any edited, removed, swapped or re-sealed
// row of the chain is found by verification, and an untouched chain never is; signed checkpoints
// verify, and expose a log cut or re-sealed after them.
import { createHash, randomBytes, verify as verifySignature } from 'node:crypto';
import { sql } from 'kysely';
import { DB, emit, fmt, QUICK, runPart, say, scaled, zero } from '../contract.js';
import { Cleanup } from '../lib/nodes.js';
import { snapshotDatabase, snapshotDiff } from '../lib/secaudit-db.js';
import { entryHash, type AuditEntry, type AuditFields } from '../../src/domain/audit/chain.js';
import { checkpointMessage } from '../../src/domain/audit/keys.js';
import { setFaults } from '../../src/faults.js';
import { readAuditRange } from '../../src/store/audit.js';
import { createTestDatabase, memberToken, startHarness, type Harness } from '../../test/support.js';

const PART = 'audit';
const SEED = Number(process.env.RELIABILITY_SEED ?? 20261203);

/** mulberry32: a small seeded generator, so a run can be repeated from its seed. */
function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof generator>;

interface Answer {
  status: number;
  body: any;
  requestId: string;
}

let requestCounter = 0;

async function send(h: Harness, method: string, url: string, body: unknown, token: string): Promise<Answer> {
  const requestId = `rel-audit-${++requestCounter}`;
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'x-request-id': requestId };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await h.app.inject({ method: method as 'GET', url, headers, payload: body === undefined ? undefined : JSON.stringify(body) });
  let parsed: any = null;
  try {
    parsed = res.body ? JSON.parse(res.body) : null;
  } catch {
    parsed = res.body;
  }
  if (res.headers['x-request-id'] !== requestId) throw new Error(`${method} ${url}: the answer carries request id ${String(res.headers['x-request-id'])}, not ${requestId}`);
  return { status: res.statusCode, body: parsed, requestId };
}

// ---------------------------------------------------------------------------------------------
// The mutations: kinds over a light model of what exists, most valid, some refused on purpose.

interface WorkspaceModel {
  slug: string;
  chain: string[]; // development … production, in order
  branches: string[];
  apiKeys: { env: string; id: string }[];
  tokens: string[];
  members: string[];
  envCounter: number;
}

interface Mutation {
  kind: string;
  method: string;
  url: string;
  body?: unknown;
  /** The actions a 2xx may record; empty: the mutation must be refused. */
  actions: string[];
  /**
   * Entries a 2xx may write besides its own, for other objects it changed in the same
   * transaction: a release written into an environment marks its pending promotion requests
   * stale, one `promotion_request.stale` entry each (docs/decisions.md).
   */
  consequences?: string[];
  /** Updates the model after a 2xx. */
  apply?: (answer: Answer) => void;
  as?: 'owner' | 'developer' | 'viewer';
}

const CONFIG_KEYS = ['a', 'b', 'c', 'd', 'e', 'f'];
const STALE = ['promotion_request.stale'];

function mutationOf(rng: Rng, ws: WorkspaceModel): Mutation {
  const base = `/api/workspaces/${ws.slug}`;
  const editable = ['development', ...ws.branches];
  const anyEnv = () => rng.pick([...ws.chain, ...ws.branches]);
  const key = () => rng.pick(CONFIG_KEYS);
  const n = () => rng.int(1000);
  const kinds: (() => Mutation)[] = [
    () => ({ kind: 'draft', method: 'PUT', url: `${base}/environments/${rng.pick(editable)}/resources/config/${key()}`, body: { content: { value: { n: n() } } }, actions: ['resource.draft'] }),
    () => ({ kind: 'draft', method: 'PUT', url: `${base}/environments/development/resources/config/${key()}`, body: { content: { value: { n: n() } } }, actions: ['resource.draft'], as: 'developer' }),
    () => ({ kind: 'draft_delete', method: 'DELETE', url: `${base}/environments/${rng.pick(editable)}/resources/config/${key()}`, actions: ['resource.draft_delete', 'resource.draft_discard'] }),
    () => ({ kind: 'commit', method: 'POST', url: `${base}/environments/${rng.pick(editable)}/commits`, body: { message: `commit ${n()}` }, actions: ['release.commit'], consequences: STALE }),
    () => {
      const i = 1 + rng.int(ws.chain.length - 1);
      return { kind: 'promote', method: 'POST', url: `${base}/environments/${ws.chain[i]}/promotions`, body: { message: `promote ${n()}` }, actions: ['release.promote', 'promotion_request.create'], consequences: STALE };
    },
    () => ({ kind: 'rollback', method: 'POST', url: `${base}/environments/${anyEnv()}/rollbacks`, body: { release: 1 + rng.int(4), message: 'back' }, actions: ['release.rollback'], consequences: STALE }),
    () => ({ kind: 'override', method: 'PUT', url: `${base}/environments/${anyEnv()}/resources/config/${key()}/override`, body: { override: { value: { o: n() } } }, actions: ['resource.override'] }),
    () => ({ kind: 'override_delete', method: 'DELETE', url: `${base}/environments/${anyEnv()}/resources/config/${key()}/override`, actions: ['resource.override_delete'] }),
    () => ({ kind: 'kill_switch', method: 'PUT', url: `${base}/environments/${anyEnv()}/resources/config/${key()}/active`, body: { active: rng.chance(0.5) }, actions: ['resource.activate', 'resource.deactivate'] }),
    () => ({ kind: 'variable', method: 'PUT', url: `${base}/variables/v_${rng.int(8)}`, body: { value: n(), ...(rng.chance(0.3) ? { overrides: { [rng.pick(ws.chain)]: n() } } : {}) }, actions: ['variable.create', 'variable.update'] }),
    () => ({ kind: 'variable_delete', method: 'DELETE', url: `${base}/variables/v_${rng.int(8)}`, actions: ['variable.delete'] }),
    () => ({ kind: 'secret', method: 'PUT', url: `${base}/environments/${anyEnv()}/secrets/s_${rng.int(8)}`, body: { value: randomBytes(12).toString('base64url') }, actions: ['secret.create', 'secret.update'] }),
    () => ({ kind: 'secret_delete', method: 'DELETE', url: `${base}/environments/${anyEnv()}/secrets/s_${rng.int(8)}`, actions: ['secret.delete'] }),
    () => ({ kind: 'setting', method: 'PUT', url: `${base}/environments/${anyEnv()}/settings/branding`, body: { value: { name: `brand ${n()}` } }, actions: ['setting.update'] }),
    () => ({ kind: 'setting_delete', method: 'DELETE', url: `${base}/environments/${anyEnv()}/settings/branding`, actions: ['setting.delete'] }),
    () => {
      const env = anyEnv();
      return { kind: 'api_key', method: 'POST', url: `${base}/environments/${env}/api-keys`, body: { name: `k${n()}`, kind: rng.pick(['secret', 'publishable']) }, actions: ['api_key.create'], apply: (a) => void ws.apiKeys.push({ env, id: a.body.id }) };
    },
    () => {
      const k = ws.apiKeys.length > 0 && rng.chance(0.9) ? ws.apiKeys[rng.int(ws.apiKeys.length)]! : { env: 'development', id: 'key_missing' };
      return { kind: 'api_key_revoke', method: 'DELETE', url: `${base}/environments/${k.env}/api-keys/${k.id}`, actions: ['api_key.revoke'], apply: () => void ws.apiKeys.splice(ws.apiKeys.indexOf(k), 1) };
    },
    () => {
      const slug = `e${++ws.envCounter}`;
      return { kind: 'environment', method: 'POST', url: `${base}/environments`, body: { slug, name: slug }, actions: ['environment.create'], apply: () => void ws.chain.splice(ws.chain.length - 1, 0, slug) };
    },
    () => {
      const slug = `b${++ws.envCounter}`;
      return { kind: 'branch', method: 'POST', url: `${base}/environments`, body: { slug, name: slug, kind: 'branch', from: 'development' }, actions: ['environment.create'], apply: () => void ws.branches.push(slug) };
    },
    () => ({ kind: 'environment_update', method: 'PATCH', url: `${base}/environments/${anyEnv()}`, body: { color: rng.pick(['#ff0000', '#00ff00', '#0000ff']) }, actions: ['environment.update'] }),
    () => {
      const middle = ws.chain.slice(1, -1);
      const slug = rng.pick([...middle, ...ws.branches, 'production']);
      return {
        kind: 'environment_delete',
        method: 'DELETE',
        url: `${base}/environments/${slug}`,
        actions: ['environment.delete'],
        apply: () => {
          for (const list of [ws.chain, ws.branches]) if (list.includes(slug)) list.splice(list.indexOf(slug), 1);
          ws.apiKeys = ws.apiKeys.filter((k) => k.env !== slug);
        },
      };
    },
    () => ({ kind: 'member', method: 'POST', url: `${base}/members`, body: { email: `m${n()}-${rng.int(1e9)}@example.test`, role: rng.pick(['developer', 'viewer', 'support', 'deployer']) }, actions: ['member.add'], apply: (a) => void ws.members.push(a.body.id) }),
    () => ({ kind: 'member_update', method: 'PATCH', url: `${base}/members/${ws.members.length ? rng.pick(ws.members) : 'mem_missing'}`, body: { role: rng.pick(['developer', 'viewer', 'support']) }, actions: ['member.update'] }),
    () => {
      const id = ws.members.length ? rng.pick(ws.members) : 'mem_missing';
      return { kind: 'member_remove', method: 'DELETE', url: `${base}/members/${id}`, actions: ['member.remove'], apply: () => void ws.members.splice(ws.members.indexOf(id), 1) };
    },
    () => ({ kind: 'token', method: 'POST', url: `${base}/tokens`, body: { name: `t${n()}`, role: rng.pick(['viewer', 'developer', 'deployer']) }, actions: ['token.create'], apply: (a) => void ws.tokens.push(a.body.id) }),
    () => {
      const id = ws.tokens.length ? rng.pick(ws.tokens) : 'tok_missing';
      return { kind: 'token_revoke', method: 'DELETE', url: `${base}/tokens/${id}`, actions: ['token.revoke'], apply: () => void ws.tokens.splice(ws.tokens.indexOf(id), 1) };
    },
    () => ({ kind: 'gate', method: 'PUT', url: `${base}/environments/${rng.pick(ws.chain.slice(1))}/gates`, body: { checks: rng.chance(0.5) ? [] : ['ci'], checklist: [], soakMinutes: 0, autoApply: false }, actions: ['gate.update'] }),
    // Refused on purpose: each must leave no entry.
    () => ({ kind: 'refused: production draft', method: 'PUT', url: `${base}/environments/production/resources/config/${key()}`, body: { content: { value: 1 } }, actions: [] }),
    () => ({ kind: 'refused: empty secret', method: 'PUT', url: `${base}/environments/${anyEnv()}/secrets/s_1`, body: { value: '' }, actions: [] }),
    () => ({ kind: 'refused: bad variable name', method: 'PUT', url: `${base}/variables/1-bad`, body: { value: 1 }, actions: [] }),
    () => ({ kind: 'refused: unknown environment', method: 'PUT', url: `${base}/environments/nowhere/secrets/s_1`, body: { value: 'x' }, actions: [] }),
    () => ({ kind: 'refused: viewer write', method: 'PUT', url: `${base}/variables/v_1`, body: { value: 1 }, actions: [], as: 'viewer' }),
    () => ({ kind: 'refused: developer into production', method: 'PUT', url: `${base}/environments/production/secrets/s_1`, body: { value: 'x' }, actions: [], as: 'developer' }),
  ];
  return rng.pick(kinds)();
}

// ---------------------------------------------------------------------------------------------

interface Sent {
  mutation: Mutation;
  answer: Answer;
}

interface Reconciliation {
  successes: number;
  failures: number;
  /** 2xx with no entry, or more than one. */
  notOne: string[];
  /** A refusal that left an entry. */
  failedWithEntry: string[];
  /** An entry whose action is not the mutation's. */
  wrongAction: string[];
  /** Entries naming no request of the run. */
  orphans: string[];
  perAction: Map<string, { mutations: number; entries: number }>;
  /** Entries for other objects a mutation changed (promotion requests made stale). */
  consequences: number;
}

function reconcile(sent: Sent[], entries: AuditEntry[]): Reconciliation {
  const byRequest = new Map<string, AuditEntry[]>();
  for (const entry of entries) {
    const list = byRequest.get(entry.requestId ?? '') ?? [];
    list.push(entry);
    byRequest.set(entry.requestId ?? '', list);
  }
  const r: Reconciliation = { successes: 0, failures: 0, notOne: [], failedWithEntry: [], wrongAction: [], orphans: [], perAction: new Map(), consequences: 0 };
  const known = new Set<string>();
  const consequential = new Set<string>();
  for (const { mutation, answer } of sent) {
    known.add(answer.requestId);
    const mine = byRequest.get(answer.requestId) ?? [];
    const ok = answer.status >= 200 && answer.status < 300;
    if (ok) {
      r.successes += 1;
      const consequences = mine.filter((e) => mutation.consequences?.includes(e.action));
      const own = mine.filter((e) => !consequences.includes(e));
      if (own.length !== 1) r.notOne.push(`${mutation.kind} ${mutation.method} ${mutation.url} → ${answer.status}: ${own.length} entries (${own.map((e) => e.action).join(', ')})`);
      for (const entry of own) {
        if (!mutation.actions.includes(entry.action)) r.wrongAction.push(`${mutation.kind}: ${entry.action}`);
        const tally = r.perAction.get(entry.action) ?? { mutations: 0, entries: 0 };
        tally.entries += 1;
        r.perAction.set(entry.action, tally);
      }
      // Each consequence names a distinct object, changed once: a request goes stale only once.
      for (const entry of consequences) {
        const target = `${entry.action} ${entry.target}`;
        if (consequential.has(target)) r.wrongAction.push(`${mutation.kind}: ${target} again`);
        consequential.add(target);
        r.consequences += 1;
      }
      const counted = own.length === 1 && mutation.actions.includes(own[0]!.action) ? own[0]!.action : `(${mutation.kind})`;
      const tally = r.perAction.get(counted) ?? { mutations: 0, entries: 0 };
      tally.mutations += 1;
      r.perAction.set(counted, tally);
    } else {
      r.failures += 1;
      if (mine.length > 0) r.failedWithEntry.push(`${mutation.kind} ${mutation.method} ${mutation.url} → ${answer.status}: ${mine.map((e) => e.action).join(', ')}`);
    }
  }
  for (const [requestId, list] of byRequest) if (!known.has(requestId)) r.orphans.push(...list.map((e) => `${e.action} (request ${requestId || 'none'})`));
  return r;
}

function problemsOf(r: Reconciliation): number {
  return r.notOne.length + r.failedWithEntry.length + r.wrongAction.length + r.orphans.length;
}

async function entriesAfter(h: Harness, workspaceId: string, afterSeq: number): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for (let after = afterSeq; ; ) {
    const page = await readAuditRange(h.store.db, workspaceId, after, 1000);
    out.push(...page);
    if (page.length < 1000) return out;
    after = page[page.length - 1]!.seq;
  }
}

runPart(PART, async () => {
  const cleanup = new Cleanup();
  try {
    const database = await createTestDatabase();
    cleanup.add('drop the audit database', () => database.drop());
    const h = await startHarness({ database });
    cleanup.add('close the audit app', () => h.close());
    await body(h);
  } finally {
    setFaults(null);
    await cleanup.runAll();
  }
});

async function body(h: Harness) {
  const rng = generator(SEED);
  say(`  seed ${SEED} (RELIABILITY_SEED repeats a run)`);
  const tokens = {
    owner: h.token,
    developer: await memberToken(h, 'dev@example.test', 'developer', { production: 'viewer' }),
    viewer: await memberToken(h, 'viewer@example.test', 'viewer'),
  };
  const workspaces: WorkspaceModel[] = [];
  for (const slug of ['default', 'acme']) {
    if (slug !== 'default') await send(h, 'POST', '/api/workspaces', { slug, name: slug }, h.token);
    await send(h, 'POST', `/api/workspaces/${slug}/environments`, { slug: 'staging', name: 'Staging' }, h.token);
    workspaces.push({ slug, chain: ['development', 'staging', 'production'], branches: [], apiKeys: [], tokens: [], members: [], envCounter: 0 });
  }
  // The developer and the viewer are members of default only: in acme their writes are refused too.
  const ids = new Map<string, string>();
  for (const ws of workspaces) ids.set(ws.slug, (await send(h, 'GET', `/api/workspaces/${ws.slug}`, undefined, h.token)).body.id);
  const runMutation = async (mutation: Mutation): Promise<Answer> => {
    const answer = await send(h, mutation.method, mutation.url, mutation.body, tokens[mutation.as ?? 'owner']);
    if (answer.status >= 200 && answer.status < 300) mutation.apply?.(answer);
    if (answer.status >= 500) say(`  5xx: ${mutation.kind} ${mutation.method} ${mutation.url} → ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`);
    return answer;
  };
  // A little history first, so rollbacks and promotions have something to work with.
  for (let i = 0; i < 40; i++) await runMutation(mutationOf(rng, workspaces[i % 2]!));

  await injectedFailures(h, rng, workspaces, runMutation);

  // ---- 1:1 reconciliation.
  const count = scaled(10_000, 1_000);
  const startSeq = new Map<string, number>();
  for (const ws of workspaces) startSeq.set(ws.slug, (await h.store.db.selectFrom('workspaces').select('audit_seq').where('id', '=', ids.get(ws.slug)!).executeTakeFirstOrThrow()).audit_seq);
  const sent: Sent[] = [];
  const started = Date.now();
  let fiveXX = 0;
  for (let i = 0; i < count; i++) {
    const mutation = mutationOf(rng, workspaces[rng.chance(0.75) ? 0 : 1]!);
    const answer = await runMutation(mutation);
    if (answer.status >= 500) fiveXX += 1;
    sent.push({ mutation, answer });
  }
  say(`  ${fmt(count)} mutations in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const entries: AuditEntry[] = [];
  for (const ws of workspaces) entries.push(...(await entriesAfter(h, ids.get(ws.slug)!, startSeq.get(ws.slug)!)));
  const r = reconcile(sent, entries);
  for (const line of [...r.notOne, ...r.failedWithEntry, ...r.wrongAction, ...r.orphans].slice(0, 8)) say(`  mismatch: ${line}`);
  const actions = [...r.perAction.entries()].sort((a, b) => b[1].mutations - a[1].mutations);
  say(`  per action (2xx mutations / entries): ${actions.map(([action, t]) => `${action} ${t.mutations}/${t.entries}`).join(', ')}`);
  const perActionMismatch = actions.filter(([, t]) => t.mutations !== t.entries).length;
  zero(PART, `mutations and audit entries that do not reconcile 1:1 (${fmt(r.successes)} 2xx, ${fmt(r.failures)} refused, ${actions.length} actions; +${r.consequences} promotion_request.stale)`, problemsOf(r), { total: count, unit: 'mutations' });
  zero(PART, 'actions whose 2xx count differs from their entry count', perActionMismatch, { total: actions.length, unit: 'actions' });
  zero(PART, '5xx answers to the random mutations', fiveXX, { total: count, unit: 'mutations' });
  // The reconciliation must be able to fail: one entry dropped, one duplicated, one added.
  const firstOk = sent.findIndex((s) => s.answer.status < 300);
  const firstFail = sent.findIndex((s) => s.answer.status >= 400);
  const dropped = entries.filter((e) => e.requestId !== sent[firstOk]!.answer.requestId);
  const fabricated = [...dropped, entries[entries.length - 1]!, { ...entries[0]!, requestId: sent[firstFail]!.answer.requestId }, { ...entries[0]!, requestId: 'rel-audit-never-sent' }];
  const selfCheck = problemsOf(reconcile(sent, fabricated));
  emit({ part: PART, measure: 'self-check: reconciliation of a log with an entry dropped, duplicated, on a refusal, unknown', value: `${selfCheck} problems found`, goal: '≥ 4', ok: selfCheck >= 4 });
  const clean = (await send(h, 'GET', '/api/workspaces/default/audit-log/verify', undefined, h.token)).body;
  emit({ part: PART, measure: 'the chain after the random mutations verifies', value: clean.valid ? `valid (${fmt(clean.entries)} entries)` : JSON.stringify(clean.firstBroken), goal: 'valid', ok: clean.valid === true });

  await checkpoints(h, ids.get('default')!, 'before');
  await tampering(h, rng, ids.get('default')!);
  await checkpoints(h, ids.get('default')!, 'after');
}

// ---------------------------------------------------------------------------------------------
// An audit write that fails: the mutation fails and no table changes.

async function injectedFailures(h: Harness, rng: Rng, workspaces: WorkspaceModel[], runMutation: (m: Mutation) => Promise<Answer>) {
  const kinds = new Set<string>();
  let attempts = 0;
  let changed = 0;
  let notRefused = 0;
  let detectable = 0;
  const target = scaled(40, 16);
  for (let guard = 0; attempts < target && guard < target * 20; guard++) {
    const mutation = mutationOf(rng, workspaces[guard % 2]!);
    if (mutation.actions.length === 0 || mutation.as) continue;
    const before = await snapshotDatabase(h.store.db, DB);
    setFaults('audit.write:throw');
    const answer = await send(h, mutation.method, mutation.url, mutation.body, h.token);
    setFaults(null);
    const after = await snapshotDatabase(h.store.db, DB);
    // Only a mutation that reached its audit write tells anything; a refusal (409, 404) never does.
    if (answer.status < 500) {
      if (answer.status < 300) {
        notRefused += 1;
        say(`  not refused with the audit write failing: ${mutation.kind} → ${answer.status}`);
      }
      continue;
    }
    attempts += 1;
    kinds.add(mutation.kind);
    const diff = snapshotDiff(before, after);
    const shaped = answer.body?.error?.code === 'internal_error' && typeof answer.body?.error?.message === 'string' && !JSON.stringify(answer.body).includes('injected');
    if (diff.length > 0 || !shaped) {
      changed += 1;
      say(`  ${mutation.kind}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 120)}; changed ${diff.map((d) => `${d.table} +${d.added}/-${d.removed}`).join(', ')}`);
    }
    // The same mutation without the fault: it must succeed and change the snapshot, or the comparison above proved nothing.
    const again = await runMutation(mutation);
    if (again.status < 300 && snapshotDiff(after, await snapshotDatabase(h.store.db, DB)).length > 0) detectable += 1;
    else say(`  ${mutation.kind} without the fault: ${again.status} ${JSON.stringify(again.body).slice(0, 160)}`);
  }
  zero(PART, `mutations that changed a table, or answered without the error shape, when their audit write failed (${kinds.size} kinds)`, changed + notRefused, { total: attempts + notRefused, unit: 'mutations' });
  emit({ part: PART, measure: 'self-check: the same mutations without the fault changed the snapshot', value: `${detectable} of ${attempts}`, goal: `${attempts} of ${attempts}`, ok: detectable === attempts && attempts > 0 });
}

// ---------------------------------------------------------------------------------------------
// Tampering with the stored chain as an attacker with database access (triggers dropped first).

type RawRow = Record<string, unknown> & { seq: number };

const EDITABLE = ['id', 'at', 'actor_id', 'actor_kind', 'actor_name', 'action', 'environment', 'target', 'before_digest', 'after_digest', 'request_id', 'details', 'prev_hash', 'hash', 'key_id', 'seq'] as const;

function edited(column: string, value: unknown, rng: Rng): unknown {
  const flipHex = (text: string) => text.slice(0, -1) + (text.endsWith('0') ? '1' : '0');
  switch (column) {
    case 'at':
      return new Date(new Date(value as string).getTime() + 1 + rng.int(1000)).toISOString();
    case 'details': {
      const parsed = JSON.parse(value as string) as Record<string, unknown>;
      return JSON.stringify(rng.chance(0.5) || Object.keys(parsed).length === 0 ? { ...parsed, forged: true } : Object.fromEntries(Object.entries(parsed).slice(1)));
    }
    case 'before_digest':
    case 'after_digest':
    case 'prev_hash':
    case 'hash':
      return value === null ? '0'.repeat(16) : flipHex(value as string);
    case 'key_id':
      return value === null ? '0'.repeat(16) : rng.chance(0.5) ? null : flipHex(value as string);
    case 'seq':
      return (value as number) + 1_000_000;
    case 'environment':
    case 'target':
    case 'request_id':
      return value === null ? 'production' : rng.chance(0.3) ? null : `${value as string}x`;
    default:
      return `${value as string}x`;
  }
}

async function tampering(h: Harness, rng: Rng, workspaceId: string) {
  const db = h.store.db;
  const where = (seq: number) => (q: any) => q.where('workspace_id', '=', workspaceId).where('seq', '=', seq);
  // The append-only triggers first: what the database itself refuses.
  const head = await db.selectFrom('workspaces').select(['audit_seq', 'audit_head', 'audit_key_id']).where('id', '=', workspaceId).executeTakeFirstOrThrow();
  const last = Number(head.audit_seq);
  let refusedByDb = 0;
  for (const attempt of [
    () => db.updateTable('audit_log').set({ action: 'forged' }).where('workspace_id', '=', workspaceId).where('seq', '=', 1).execute(),
    () => db.updateTable('audit_log').set({ details: '{}' }).where('workspace_id', '=', workspaceId).execute(),
    () => db.deleteFrom('audit_log').where('workspace_id', '=', workspaceId).where('seq', '=', last).execute(),
    () => db.deleteFrom('audit_log').where('workspace_id', '=', workspaceId).execute(),
  ]) {
    if (await attempt().then(() => false, (error: Error) => /append-only/.test(error.message))) refusedByDb += 1;
  }
  emit({ part: PART, measure: 'updates and deletes of audit rows the database refuses (append-only triggers)', value: `${refusedByDb} of 4`, goal: '4 of 4', ok: refusedByDb === 4 });
  if (DB === 'sqlite') {
    await sql`drop trigger audit_log_no_update`.execute(db);
    await sql`drop trigger audit_log_no_delete`.execute(db);
  } else {
    await sql`drop trigger audit_log_append_only on audit_log`.execute(db);
  }

  const verify = async () => (await send(h, 'GET', '/api/workspaces/default/audit-log/verify', undefined, h.token)).body as { valid: boolean; firstBroken: { seq: number; reason: string } | null };
  const raw = async (seq: number) => (await where(seq)(db.selectFrom('audit_log').selectAll()).executeTakeFirstOrThrow()) as RawRow;
  const put = (seq: number, values: Record<string, unknown>) => where(seq)(db.updateTable('audit_log').set(values)).execute();
  const tallies = new Map<string, { tried: number; detected: number }>();
  const reasons = new Map<string, number>();
  let cleanChecks = 0;
  let falseAlarms = 0;
  const check = async (label: string, tamper: () => Promise<void>, restore: () => Promise<void>) => {
    await tamper();
    const result = await verify();
    const tally = tallies.get(label) ?? { tried: 0, detected: 0 };
    tally.tried += 1;
    if (!result.valid) {
      tally.detected += 1;
      reasons.set(result.firstBroken?.reason ?? '?', (reasons.get(result.firstBroken?.reason ?? '?') ?? 0) + 1);
    } else say(`  undetected: ${label}`);
    tallies.set(label, tally);
    await restore();
    // Every restored log is a clean check (every one in a quick run; every fourth in a full one).
    if (QUICK || tally.tried % 4 === 1) {
      cleanChecks += 1;
      const again = await verify();
      if (!again.valid) {
        falseAlarms += 1;
        say(`  false alarm after restoring ${label}: ${JSON.stringify(again.firstBroken)}`);
      }
    }
  };
  const cases = scaled(100, 40);
  const anySeq = () => 1 + rng.int(last);
  for (let i = 0; i < cases; i++) {
    // Edit: one column of one row.
    const seq = i === 0 ? last : i === 1 ? 1 : anySeq();
    const column = EDITABLE[i % EDITABLE.length]!;
    const row = await raw(seq);
    const value = edited(column, row[column], rng);
    await check(`edit ${column}`, () => put(seq, { [column]: value }), async () => {
      await where(column === 'seq' ? (value as number) : seq)(db.updateTable('audit_log').set({ [column]: row[column] })).execute();
    });
  }
  for (let i = 0; i < cases; i++) {
    const seq = i === 0 ? last : i === 1 ? 1 : anySeq();
    const row = await raw(seq);
    await check('delete a row', async () => {
      await where(seq)(db.deleteFrom('audit_log')).execute();
    }, async () => {
      await db.insertInto('audit_log').values(row as any).execute();
    });
  }
  for (let i = 0; i < cases; i++) {
    const a = i === 0 ? last - 1 : anySeq();
    const b = i % 2 === 0 ? (a === last ? a - 1 : a + 1) : anySeq();
    if (a === b) continue;
    const [ra, rb] = [await raw(a), await raw(b)];
    const content = (r: RawRow) => {
      const { workspace_id: _w, seq: _s, ...rest } = r;
      return rest;
    };
    await check('swap two rows', async () => {
      // Through a free seq: ids are unique, so the two contents cannot both exist at once otherwise.
      await put(a, { seq: 2_000_000_000, id: 'aud_swapping' });
      await put(b, content(ra));
      await put(2_000_000_000, { ...content(rb), seq: a });
    }, async () => {
      await put(a, { seq: 2_000_000_000, id: 'aud_swapping' });
      await put(b, content(rb));
      await put(2_000_000_000, { ...content(ra), seq: a });
    });
  }
  // Re-sealing from one row to the end, and moving the head: with a key the attacker made up
  // (under the real key id, or its own), or with the unkeyed SHA-256 formula.
  const reseals = scaled(16, 9);
  for (let i = 0; i < reseals; i++) {
    const mode = (['fresh key, real key id', 'fresh key, its own key id', 'no HMAC (unkeyed)'] as const)[i % 3]!;
    // Mostly near the end (each re-seal rewrites every later row), sometimes from anywhere.
    const from = i % 4 === 3 ? anySeq() : Math.max(1, last - rng.int(30));
    const original = await entriesAfter(h, workspaceId, from - 1);
    const rawRows = (await db.selectFrom('audit_log').selectAll().where('workspace_id', '=', workspaceId).where('seq', '>=', from).execute()) as RawRow[];
    const fake = randomBytes(32);
    const fakeId = createHash('sha256').update(fake).digest('hex').slice(0, 16);
    await check(`re-seal without the key (${mode})`, async () => {
      let prev = original[0]!.prevHash;
      let keyId: string | null = null;
      const writes: { seq: number; values: Record<string, unknown> }[] = [];
      for (const [k, entry] of original.entries()) {
        const { prevHash: _p, hash: _h, ...fields } = entry;
        const forged: AuditFields = { ...fields, ...(k === 0 ? { details: { ...fields.details, forged: true } } : {}) };
        keyId = mode === 'no HMAC (unkeyed)' ? null : mode === 'fresh key, its own key id' ? fakeId : fields.keyId;
        const sealedFields = { ...forged, keyId };
        const hash = entryHash(prev, sealedFields, keyId === null ? null : { id: keyId, key: fake });
        writes.push({ seq: entry.seq, values: { details: JSON.stringify(sealedFields.details), key_id: keyId, prev_hash: prev, hash } });
        prev = hash;
      }
      // In one transaction: thousands of rows, each committed on its own, would take minutes.
      await db.transaction().execute(async (trx) => {
        for (const write of writes) await where(write.seq)(trx.updateTable('audit_log').set(write.values)).execute();
        await trx.updateTable('workspaces').set({ audit_head: prev, audit_key_id: keyId }).where('id', '=', workspaceId).execute();
      });
    }, async () => {
      await db.transaction().execute(async (trx) => {
        for (const row of rawRows) await where(row.seq)(trx.updateTable('audit_log').set(row)).execute();
        await trx.updateTable('workspaces').set({ audit_head: head.audit_head, audit_key_id: head.audit_key_id }).where('id', '=', workspaceId).execute();
      });
    });
  }
  let tried = 0;
  let detected = 0;
  for (const [label, t] of tallies) {
    tried += t.tried;
    detected += t.detected;
    if (t.detected !== t.tried) say(`  ${label}: ${t.detected} of ${t.tried} detected`);
  }
  say(`  tampering by kind: ${[...tallies].map(([label, t]) => `${label} ${t.detected}/${t.tried}`).join(', ')}`);
  say(`  first breaks reported: ${[...reasons].map(([reason, n]) => `${reason} ${n}`).join(', ')}`);
  emit({ part: PART, measure: `tampered logs detected by verify (edit of each column, delete, swap, re-seal; log of ${fmt(last)} entries)`, value: `${fmt(detected)} of ${fmt(tried)}`, goal: `${fmt(tried)} of ${fmt(tried)}`, ok: detected === tried && tried > 0 });
  zero(PART, 'false alarms on restored, untampered logs', falseAlarms, { total: cleanChecks, unit: 'clean checks' });
}

// ---------------------------------------------------------------------------------------------
// Signed checkpoints.

let kept: any = null;

async function checkpoints(h: Harness, workspaceId: string, phase: 'before' | 'after') {
  const base = '/api/workspaces/default/audit-log';
  const verifyWith = async (checkpoint: unknown) => (await send(h, 'GET', `${base}/verify?checkpoint=${encodeURIComponent(JSON.stringify(checkpoint))}`, undefined, h.token)).body;
  if (phase === 'before') {
    kept = (await send(h, 'GET', `${base}/checkpoint`, undefined, h.token)).body;
    return;
  }
  // After the tampering (all restored) and more entries since: the old checkpoint still holds.
  await send(h, 'PUT', '/api/workspaces/default/variables/after_checkpoint', { value: 1 }, h.token);
  const now = (await send(h, 'GET', `${base}/checkpoint`, undefined, h.token)).body;
  const publicKey = (await send(h, 'GET', `${base}/public-key`, undefined, h.token)).body.publicKey as string;
  const outside = (c: any) => verifySignature(null, checkpointMessage(workspaceId, c), publicKey, Buffer.from(c.signature, 'base64'));
  let holds = 0;
  for (const c of [kept, now]) if ((await verifyWith(c)).valid === true && outside(c)) holds += 1;
  emit({ part: PART, measure: 'checkpoints verify (API and node:crypto with the public key), an older one after later entries', value: `${holds} of 2`, goal: '2 of 2', ok: holds === 2 });

  // Forged checkpoints and tampered logs: each must fail.
  const db = h.store.db;
  const head = await db.selectFrom('workspaces').select(['audit_seq', 'audit_head', 'audit_key_id']).where('id', '=', workspaceId).executeTakeFirstOrThrow();
  const flip = (s: string) => s.slice(0, -2) + (s.endsWith('A') ? 'B' : 'A') + s.slice(-1);
  const cases: [string, () => Promise<any>][] = [
    ['seq changed', () => verifyWith({ ...now, seq: now.seq - 1 })],
    ['hash changed', () => verifyWith({ ...now, hash: now.hash.replace(/.$/, now.hash.endsWith('0') ? '1' : '0') })],
    ['time changed', () => verifyWith({ ...now, at: new Date(Date.parse(now.at) + 1000).toISOString() })],
    ['signature changed', () => verifyWith({ ...now, signature: flip(now.signature) })],
  ];
  // The log cut back below the checkpoint with the head moved: the chain alone verifies (documented), the checkpoint does not.
  const cut = 1 + Math.floor(Math.random() * 5);
  const removed = await db.selectFrom('audit_log').selectAll().where('workspace_id', '=', workspaceId).where('seq', '>', Number(head.audit_seq) - cut).execute();
  const newLast = await db.selectFrom('audit_log').selectAll().where('workspace_id', '=', workspaceId).where('seq', '=', Number(head.audit_seq) - cut).executeTakeFirstOrThrow();
  let truncatedAlone: any = null;
  cases.push([
    `log cut by ${cut} entries, head moved back`,
    async () => {
      await db.deleteFrom('audit_log').where('workspace_id', '=', workspaceId).where('seq', '>', newLast.seq).execute();
      await db.updateTable('workspaces').set({ audit_seq: newLast.seq, audit_head: newLast.hash, audit_key_id: newLast.key_id }).where('id', '=', workspaceId).execute();
      truncatedAlone = (await send(h, 'GET', `${base}/verify`, undefined, h.token)).body;
      const result = await verifyWith(now);
      for (const row of removed) await db.insertInto('audit_log').values(row).execute();
      await db.updateTable('workspaces').set(head).where('id', '=', workspaceId).execute();
      return result;
    },
  ]);
  // The last entry re-sealed (fresh key) and the head moved: the checkpoint's hash is no longer there.
  const lastRow = await db.selectFrom('audit_log').selectAll().where('workspace_id', '=', workspaceId).where('seq', '=', now.seq).executeTakeFirstOrThrow();
  cases.push([
    'last entry re-sealed with a fresh key',
    async () => {
      const forgedHash = createHash('sha256').update(randomBytes(32)).digest('hex');
      await db.updateTable('audit_log').set({ hash: forgedHash, details: '{"forged":true}' }).where('workspace_id', '=', workspaceId).where('seq', '=', now.seq).execute();
      await db.updateTable('workspaces').set({ audit_head: forgedHash }).where('id', '=', workspaceId).execute();
      const result = await verifyWith(now);
      await db.updateTable('audit_log').set(lastRow).where('workspace_id', '=', workspaceId).where('seq', '=', now.seq).execute();
      await db.updateTable('workspaces').set(head).where('id', '=', workspaceId).execute();
      return result;
    },
  ]);
  let refused = 0;
  for (const [label, run] of cases) {
    const result = await run();
    if (result.valid === false && result.checkpoint?.valid === false) refused += 1;
    else say(`  checkpoint not refused: ${label}: ${JSON.stringify(result).slice(0, 200)}`);
  }
  emit({ part: PART, measure: 'forged checkpoints, and logs cut or re-sealed after a checkpoint, that verify', value: `${cases.length - refused} of ${cases.length}`, goal: '0', ok: refused === cases.length });
  emit({ part: PART, measure: 'the cut log alone verifies (why checkpoints exist), and again with the checkpoint once restored', value: `${truncatedAlone?.valid ? 'alone: valid' : 'alone: invalid'}; restored: ${(await verifyWith(now)).valid ? 'valid' : 'invalid'}`, goal: 'valid; valid', ok: truncatedAlone?.valid === true && (await verifyWith(now)).valid === true });
}
