// Part 6: fuzzing from the schemas. Every operation of the OpenAPI document the server serves
// (read at run time, so new endpoints are covered) gets requests built from its schemas with ids
// that exist in a set-up workspace, then mutated (wrong types, missing and unknown fields, huge
// strings, 10,000-level nesting, invalid UTF-8, prototype names, traversal, odd numbers, empty
// bodies, wrong content types, duplicate query parameters, odd headers). In-process through
// app.inject for volume; on a real node (`stageline server`) for raw bytes and the gateway.
// Goals: no 5xx, no crash or hang, every 4xx in the error shape, validation errors naming the field.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { DB, emit, fmt, runPart, say, scaled, zero } from '../contract.js';
import { Cleanup, newDatabase, NODE_TOKEN, startNode } from '../lib/nodes.js';
import { buildCase, drawsOf, errorShapeProblem, judgeApi, type FuzzCase } from '../lib/fuzz-cases.js';
import { caseBytes, gatewayCase, rawMutation, sendRaw, type RawOutcome } from '../lib/fuzz-raw.js';
import { operationsOf, type Operation } from '../lib/fuzz-schema.js';
import { buildWorld, repairCredentials, WS, type Caller, type World } from '../lib/fuzz-world.js';
import { startHarness, startUpstream } from '../../test/support.js';

const PART = 'fuzz';
const SEED = Number(process.env.STAGELINE_FUZZ_SEED ?? 20261203);
const IN_PROCESS = scaled(40_000, 3_600);
const RAW_API = scaled(6_000, 800);
const GATEWAY = scaled(6_000, 700);
const BATCH = 200;
const CONCURRENCY = 4;
const ANSWER_TIMEOUT_MS = 15_000;

interface Failure {
  count: number;
  /** The smallest request that showed it. */
  example: string;
  size: number;
}

/** Distinct failures by (method, path template, mutation, status, problem), each with its smallest example. */
class Failures {
  readonly byKey = new Map<string, Failure>();
  count = 0;
  add(key: string, example: () => string, size: number) {
    this.count += 1;
    const seen = this.byKey.get(key);
    if (seen) {
      seen.count += 1;
      if (size < seen.size) Object.assign(seen, { example: example(), size });
    } else this.byKey.set(key, { count: 1, example: example(), size });
  }
  print(title: string) {
    for (const [key, f] of this.byKey) say(`  FAIL ${title}: ${key} ×${f.count}\n      ${f.example}`);
  }
}

const short = (text: string | Buffer | undefined, max = 300) => {
  if (text === undefined) return '(no body)';
  const s = Buffer.isBuffer(text) ? text.toString('latin1') : text;
  return s.length > max ? `${JSON.stringify(s.slice(0, max))}… (${fmt(s.length)} bytes)` : JSON.stringify(s);
};
const describeCase = (c: FuzzCase & { at: string }) =>
  `case ${c.at}: ${c.method} ${c.url.length > 300 ? `${c.url.slice(0, 300)}… (${fmt(c.url.length)})` : c.url} [${c.credential}; ${c.detail}] headers ${short(JSON.stringify(Object.fromEntries(Object.entries(c.headers).filter(([k]) => k !== 'authorization'))), 200)} body ${short(c.body)}`;

/** Heap in use after a full collection (v8's gc made callable for this process). */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

async function pooled<T>(items: T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await run(items[next++]!);
  }));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]).finally(() => clearTimeout(timer));
}

/** Coverage: operations that got a request, and those answered past authentication and lookups. */
class Coverage {
  readonly sent = new Set<string>();
  readonly reached = new Set<string>();
  note(op: Operation, status: number, code: string | undefined) {
    this.sent.add(op.id);
    if (status !== 401 && !(status === 404 && code === 'not_found') && status < 500) this.reached.add(op.id);
  }
}

runPart(PART, async () => {
  say(`  fuzz seed ${SEED}: STAGELINE_FUZZ_SEED=${SEED} draws the same cases (case S#i is the i-th case of the batch seeded S)`);
  const cleanup = new Cleanup();
  const api = new Failures();
  const gateway = new Failures();
  const coverage = new Coverage();
  let crashes = 0;
  let hangs = 0;
  let sent = 0;
  const onCrash = (kind: string) => (error: unknown) => {
    crashes += 1;
    say(`  CRASH (${kind}) in the server's process: ${(error as Error)?.stack ?? String(error)}`);
  };
  process.on('uncaughtException', onCrash('uncaught exception'));
  process.on('unhandledRejection', onCrash('unhandled rejection'));
  let total = 0;
  let documentOps = 0;
  try {
    // The upstream every route, tool and subscription calls: answers 200, marked as its own.
    const upstream = await startUpstream((req, res, seen) => {
      const body = JSON.stringify({ upstream: true, method: seen.method, url: seen.url, length: seen.body.length });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-fuzz-upstream': '1' }).end(req.method === 'HEAD' ? undefined : body);
    });
    upstream.server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nx-fuzz-upstream: 1\r\n\r\n'));
    cleanup.add('upstream', () => upstream.close());

    // ---- Phase A: in-process, app.inject --------------------------------------------------
    const h = await startHarness();
    cleanup.add('harness', () => h.close());
    const inject: Caller = async (method, path, body, auth) => {
      const headers: Record<string, string> = {};
      if (auth) headers.authorization = `Bearer ${auth}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const r = await h.app.inject({ method: method as any, url: path, headers, payload: body === undefined ? undefined : JSON.stringify(body) });
      let parsed: any = r.body;
      try {
        parsed = r.body ? JSON.parse(r.body) : null;
      } catch {
        /* not JSON */
      }
      return { status: r.statusCode, body: parsed };
    };
    const world = await buildWorld(inject, h.token, upstream.url);
    const document = JSON.parse((await h.app.inject({ method: 'GET', url: '/api/openapi.json' })).body);
    const ops = operationsOf(document);
    documentOps = ops.length;
    const injectable = ops.filter((o) => !o.stream);
    say(`  ${ops.length} operations in the document (${ops.length - injectable.length} event streams go to the real node)`);
    const heapBefore = heapAfterGc();
    const timeBy = new Map<string, number>();
    const startedA = Date.now();
    for (let batch = 0; sent < IN_PROCESS; batch += 1) {
      const cases = drawsOf(SEED + batch, Math.min(BATCH, IN_PROCESS - sent)).map((g, i) => ({ ...buildCase(g, world, injectable, document), at: `${SEED + batch}#${i}` }));
      await pooled(cases, CONCURRENCY, async (c) => {
        sent += 1;
        const t0 = performance.now();
        let response;
        try {
          response = await withTimeout(h.app.inject({ method: c.method as any, url: c.url, headers: c.headers, ...(c.body !== undefined ? { payload: c.body } : {}) }), ANSWER_TIMEOUT_MS);
        } catch (error) {
          // inject itself refusing the request (a header Node would not send): not the server's answer.
          api.add(`${c.op.id} ${c.mutation}: inject refused (${(error as Error).message.slice(0, 80)})`, () => describeCase(c), c.url.length);
          return;
        }
        if (response === 'timeout') {
          hangs += 1;
          api.add(`${c.op.id} ${c.mutation}: no answer in ${ANSWER_TIMEOUT_MS / 1000} s`, () => describeCase(c), c.url.length + (c.body?.length ?? 0));
          return;
        }
        const problem = judgeApi(response.statusCode, response.headers['content-type'] as string | undefined, response.body, c.method, c.url);
        let code: string | undefined;
        try {
          code = JSON.parse(response.body)?.error?.code;
        } catch {
          code = undefined;
        }
        coverage.note(c.op, response.statusCode, code);
        const spent = (timeBy.get(c.mutation) ?? 0) + performance.now() - t0;
        timeBy.set(c.mutation, spent);
        if (problem) api.add(`${c.op.id} ${c.mutation} → ${response.statusCode}: ${problem}`, () => `${describeCase(c)} → ${short(response.body, 300)}`, c.url.length + (c.body?.length ?? 0));
      });
      await repairCredentials(inject, world);
      if (batch % 20 === 19) say(`  in-process: ${fmt(sent)} requests, ${api.count} failures, ${((Date.now() - startedA) / 1000).toFixed(0)} s`);
    }
    total += sent;
    say(`  in-process time by mutation (ms, summed over concurrent requests): ${[...timeBy].sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')}`);
    // After the run: the app answers a health check and normal reads.
    const health = await inject('GET', '/healthz', undefined, null);
    const read = await inject('GET', `${WS}/environments`, undefined, h.token);
    const delivery = await inject('GET', '/v1/resources', undefined, world.credentials.sk);
    const aliveA = health.status === 200 && read.status === 200 && delivery.status === 200;
    if (!aliveA) say(`  in-process app after the run: healthz ${health.status}, environments ${read.status}, delivery ${delivery.status}`);
    const heapGrowth = heapAfterGc() - heapBefore;
    say(`  in-process: ${fmt(sent)} requests in ${((Date.now() - startedA) / 1000).toFixed(1)} s; ${world.reminted} credential(s) re-minted; heap after GC grew ${fmt(heapGrowth / 2 ** 20, 1)} MiB`);

    // ---- Phase B: a real node: raw bytes, event streams, the gateway ---------------------
    const databaseUrl = await newDatabase(DB, cleanup, 'fuzz');
    const node = await startNode(cleanup, { name: 'fuzz-node', databaseUrl, env: { STAGELINE_GATEWAY_WORKERS: '0' } });
    const http: Caller = async (method, path, body, auth) => {
      const r = await fetch(`${node.url}${path}`, {
        method,
        headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await r.text();
      let parsed: any = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* not JSON */
      }
      return { status: r.status, body: parsed };
    };
    const nodeWorld: World = await buildWorld(http, NODE_TOKEN, upstream.url);
    const nodeDocument = (await http('GET', '/api/openapi.json', undefined, null)).body;
    const nodeOps = operationsOf(nodeDocument);
    const rssBefore = rssOf(node.child.pid);
    let closedWithoutAnswer = 0;
    const startedB = Date.now();

    const judgeRaw = (outcome: RawOutcome, key: string, example: () => string, size: number, method: string, url: string): { status: number; code?: string } | null => {
      if ('timeout' in outcome) {
        hangs += 1;
        api.add(`${key}: no answer in ${ANSWER_TIMEOUT_MS / 1000} s`, example, size);
        return null;
      }
      if ('closed' in outcome) {
        closedWithoutAnswer += 1;
        if (closedWithoutAnswer <= 5) say(`  closed without an answer: ${key}: ${example()}`);
        return null;
      }
      const { status, headers, body } = outcome.answer;
      const problem = judgeApi(status, headers['content-type'], body.toString('utf8'), method, url);
      if (problem) api.add(`${key} → ${status}: ${problem}`, () => `${example()} → ${short(body, 300)}`, size);
      let code: string | undefined;
      try {
        code = JSON.parse(body.toString('utf8'))?.error?.code;
      } catch {
        code = undefined;
      }
      return { status, code };
    };

    // The API over raw bytes: generated cases sent exactly as built (half), or with a raw mutation.
    let rawSent = 0;
    for (let batch = 0; rawSent < RAW_API; batch += 1) {
      const cases = drawsOf(SEED + 100_000 + batch, Math.min(BATCH, RAW_API - rawSent)).map((g, i) => {
        const c = { ...buildCase(g, nodeWorld, nodeOps, nodeDocument), at: `${SEED + 100_000 + batch}#${i}` };
        return g(fc.boolean) ? { c, raw: rawMutation(g, c) } : { c, raw: null };
      });
      await pooled(cases, CONCURRENCY, async ({ c, raw }) => {
        rawSent += 1;
        const bytes = raw ? raw.bytes : caseBytes(c);
        const outcome = await sendRaw(node.port, bytes, ANSWER_TIMEOUT_MS, raw?.halfClose ?? false);
        const key = `${c.op.id} ${raw ? raw.mutation : c.mutation}`;
        const seen = judgeRaw(outcome, key, () => `case ${c.at}: ${short(bytes, 400)} [${c.credential}; ${raw ? raw.detail : c.detail}]`, bytes.length, c.method, c.url);
        if (seen) coverage.note(c.op, seen.status, seen.code);
      });
      await repairCredentials(http, nodeWorld);
      if (!node.child.running) break;
    }
    total += rawSent;

    // The gateway: its own answers in its error shape, the upstream's passed through.
    let gatewaySent = 0;
    let passedThrough = 0;
    for (let batch = 0; gatewaySent < GATEWAY && node.child.running; batch += 1) {
      const cases = drawsOf(SEED + 200_000 + batch, Math.min(BATCH, GATEWAY - gatewaySent)).map((g, i) => ({ ...gatewayCase(g, nodeWorld), at: `${SEED + 200_000 + batch}#${i}` }));
      await pooled(cases, CONCURRENCY, async (c) => {
        gatewaySent += 1;
        const outcome = await sendRaw(node.gatewayPort, c.bytes, ANSWER_TIMEOUT_MS, c.halfClose);
        const key = `gateway ${c.method} ${c.prefix} ${c.mutation}`;
        const example = () => `case ${c.at}: ${short(c.bytes, 400)} [${c.detail}]`;
        if ('timeout' in outcome) {
          hangs += 1;
          gateway.add(`${key}: no answer in ${ANSWER_TIMEOUT_MS / 1000} s`, example, c.bytes.length);
          return;
        }
        if ('closed' in outcome) {
          closedWithoutAnswer += 1;
          if (closedWithoutAnswer <= 5) say(`  closed without an answer: ${key}: ${example()}`);
          return;
        }
        const { status, headers, body } = outcome.answer;
        if (headers['x-fuzz-upstream'] === '1') {
          passedThrough += 1;
          if (status !== 200 && status !== 101) gateway.add(`${key} → ${status}: the upstream's 200 was not passed through`, example, c.bytes.length);
          return;
        }
        let problem: string | null = null;
        if (status >= 500) problem = '5xx';
        else if (status < 400) problem = `a ${status} the upstream did not send`;
        else if (!headers['x-request-id']) problem = 'no x-request-id';
        else if (c.method !== 'HEAD') problem = errorShapeProblem(headers['content-type'], body.toString('utf8'));
        if (problem) gateway.add(`${key} → ${status}: ${problem}`, () => `${example()} → ${short(body, 300)}`, c.bytes.length);
      });
    }
    total += gatewaySent;
    say(`  real node: ${fmt(rawSent)} raw API requests, ${fmt(gatewaySent)} gateway requests (${fmt(passedThrough)} passed through to the upstream), ${closedWithoutAnswer} closed without an answer, ${((Date.now() - startedB) / 1000).toFixed(1)} s`);

    const nodeAlive = node.child.running;
    if (!nodeAlive) {
      crashes += 1;
      say(`  CRASH: the node exited; its last lines:\n${node.child.tail(40)}`);
    }
    let aliveB = false;
    let rssGrowth = 0;
    if (nodeAlive) {
      const health = await http('GET', '/healthz', undefined, null);
      const read = await http('GET', `${WS}/environments`, undefined, NODE_TOKEN);
      const through = await sendRaw(node.gatewayPort, Buffer.from('GET /api/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      const gatewayOk = 'answer' in through && through.answer.status === 200 && through.answer.headers['x-fuzz-upstream'] === '1';
      aliveB = health.status === 200 && read.status === 200 && gatewayOk;
      if (!aliveB) say(`  node after the run: healthz ${health.status}, environments ${read.status}, gateway ${'answer' in through ? through.answer.status : 'no answer'}`);
      rssGrowth = rssOf(node.child.pid) - rssBefore;
    }

    // ---- Figures -------------------------------------------------------------------------
    api.print('api');
    gateway.print('gateway');
    const count = (f: Failures, test: (key: string) => boolean) => [...f.byKey].filter(([k]) => test(k)).reduce((n, [, v]) => n + v.count, 0);
    const is5xx = (k: string) => / → 5\d\d: /.test(k);
    const shape = (k: string) => / → 4\d\d: /.test(k);
    emit({ part: PART, measure: 'requests sent (in-process + raw API + gateway)', value: `${fmt(total)} (${fmt(sent)} + ${fmt(rawSent)} + ${fmt(gatewaySent)}), seed ${SEED}`, goal: `≥ ${fmt(scaled(50_000, 5_000))}`, ok: total >= scaled(50_000, 5_000) });
    emit({ part: PART, measure: 'endpoints covered (≥ 1 request)', value: `${coverage.sent.size} of ${documentOps}`, goal: `${documentOps}`, ok: coverage.sent.size === documentOps });
    emit({ part: PART, measure: 'endpoints reached past auth and lookups (an answer other than 401/404)', value: `${coverage.reached.size} of ${documentOps}`, goal: `${documentOps}`, ok: coverage.reached.size === documentOps });
    const missed = [...new Set(ops.map((o) => o.id))].filter((id) => !coverage.reached.has(id));
    if (missed.length > 0) say(`  not reached: ${missed.join('; ')}`);
    zero(PART, 'API answers ≥ 500', count(api, is5xx), { total: sent + rawSent, unit: 'requests' });
    zero(PART, 'API 4xx outside the error shape (or a validation error naming no field)', count(api, shape), { total: sent + rawSent, unit: 'requests' });
    zero(PART, 'gateway answers ≥ 500', count(gateway, is5xx), { total: gatewaySent, unit: 'requests' });
    zero(PART, "gateway answers of its own outside its error shape, or upstream answers altered", count(gateway, (k) => !is5xx(k) && !k.includes('no answer')), { total: gatewaySent, unit: 'requests' });
    zero(PART, 'crashes (uncaught errors, the node exiting) and requests without an answer', crashes + hangs);
    const other = count(api, (k) => !is5xx(k) && !shape(k) && !k.includes('no answer'));
    if (other > 0) zero(PART, 'requests the in-process client could not send', other);
    emit({ part: PART, measure: 'after the run: health, a normal read, delivery and the gateway answer', value: aliveA && aliveB ? 'yes (in-process and the node)' : `in-process ${aliveA ? 'yes' : 'no'}, node ${aliveB ? 'yes' : 'no'}`, goal: 'yes', ok: aliveA && aliveB });
    const limit = 256 * 2 ** 20;
    emit({ part: PART, measure: 'memory growth over the run (in-process heap after GC; node RSS)', value: `heap ${fmt(heapGrowth / 2 ** 20, 1)} MiB; node RSS ${fmt(rssGrowth / 2 ** 20, 1)} MiB`, goal: '≤ 256 MiB each', ok: heapGrowth <= limit && rssGrowth <= limit });
  } finally {
    await cleanup.runAll();
  }
});
