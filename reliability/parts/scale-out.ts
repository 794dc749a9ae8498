// Part 7 — scale-out: three real `stageline server` nodes on one PostgreSQL database and one
// Redis (a database number of this part's own). What is attacked: a change made on one node must
// reach the others' runtime API fast; a rate limit must hold across three gateways; a node killed
// with SIGKILL under load must lose no acknowledged write and disturb no client of the others;
// workflow jobs triggered on every node must each be delivered once; the periodic jobs held by a
// lease (alert evaluation, watches) must run on one node and move when it dies.
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import pg from 'pg';
import { SseClient } from '../../bench/delivery-support.js';
import { DB, emit, fmt, QUICK, runPart, say, scaled, zero } from '../contract.js';
import { Book, paced, reportUnexpectedExit, sleep, startCountingUpstream, startReceiver } from '../lib/load.js';
import { Cleanup, HttpClient, newDatabase, startNode, type StagelineNode } from '../lib/nodes.js';

const PART = 'scale-out';
const WS = '/api/workspaces/default';
/** This part's own Redis database: only it is ever flushed. */
const REDIS_URL = process.env.RELIABILITY_SCALEOUT_REDIS_URL ?? 'redis://127.0.0.1:6379/13';
/** Periodic jobs every second, so their leases are short enough to watch move. */
const ALERT_INTERVAL_MS = 1_000;
const WATCH_INTERVAL_MS = 1_000;
/** The lease times as src/metrics/alerts.ts and src/metrics/watches.ts derive them from the intervals. */
const LEASE_TTL_MS: Record<string, number> = { alerts: Math.max(3 * ALERT_INTERVAL_MS, 30_000), watches: Math.max(5 * WATCH_INTERVAL_MS, 10_000) };
const WATCHED_LEASES = Object.keys(LEASE_TTL_MS);

const NODE_ENV: Record<string, string> = {
  // The gateway in the node's own process: one pid per node, so kill -9 takes all of it.
  STAGELINE_GATEWAY_WORKERS: '0',
  STAGELINE_GATEWAY_DEFAULT_ENV: 'development',
  STAGELINE_ALERT_INTERVAL_MS: String(ALERT_INTERVAL_MS),
  STAGELINE_WATCH_INTERVAL_MS: String(WATCH_INTERVAL_MS),
};

function ms(n: number): string {
  return `${n.toFixed(1)} ms`;
}

function pct(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface LeaseRow {
  name: string;
  holder: string;
  expiresAt: number;
}

/** Samples the leases table every `everyMs`, recording holder changes and renewals. */
class LeaseWatch {
  /** Per lease: every distinct (holder, expiresAt) seen, with when it was first seen. */
  readonly seen = new Map<string, { holder: string; expiresAt: number; at: number }[]>();
  /** Holder changes while the previous holder's lease had not yet expired (by the database's times). */
  readonly steals: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly pool: pg.Pool) {}

  async read(): Promise<LeaseRow[]> {
    const res = await this.pool.query<{ name: string; holder: string; expires_at: string }>('SELECT name, holder, expires_at FROM leases');
    return res.rows.map((r) => ({ name: r.name, holder: r.holder, expiresAt: Date.parse(r.expires_at) }));
  }

  async sample() {
    const wall = Date.now();
    for (const row of await this.read()) {
      let list = this.seen.get(row.name);
      if (!list) this.seen.set(row.name, (list = []));
      const last = list[list.length - 1];
      if (last && last.holder === row.holder && last.expiresAt === row.expiresAt) continue;
      // A new holder is legitimate only once the previous one's lease has run out. The row's new
      // expiry is `taken + ttl`, so the take-over instant is `expiresAt - ttl` on the taker's clock.
      const ttl = LEASE_TTL_MS[row.name];
      if (last && last.holder !== row.holder && ttl !== undefined) {
        const takenAt = row.expiresAt - ttl;
        if (takenAt < last.expiresAt) this.steals.push(`${row.name}: ${row.holder} took it at ${new Date(takenAt).toISOString()} while ${last.holder} held it until ${new Date(last.expiresAt).toISOString()}`);
      }
      list.push({ holder: row.holder, expiresAt: row.expiresAt, at: wall });
    }
  }

  start(everyMs: number) {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.sample()
        .catch((error: unknown) => say(`  lease sample failed: ${(error as Error).message}`))
        .finally(() => (this.busy = false));
    }, everyMs);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
  }

  holderNow(name: string): string | null {
    const list = this.seen.get(name);
    return list?.[list.length - 1]?.holder ?? null;
  }
}

async function ok(node: StagelineNode, method: string, path: string, body?: unknown): Promise<any> {
  return (await node.api.call<any>(method, `${WS}${path}`, body)).body;
}

runPart(PART, async () => {
  if (DB !== 'postgres') throw new Error('scale-out runs on PostgreSQL only (several nodes share one database)');
  const cleanup = new Cleanup();
  let ending = false;
  let cKilled = false;
  let leases: LeaseWatch | null = null;
  try {
    const databaseUrl = await newDatabase('postgres', cleanup, 'scaleout');
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    await redis.flushdb();
    cleanup.add('flush and close this part’s redis db', async () => {
      await redis.flushdb().catch(() => undefined);
      redis.disconnect();
    });
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    cleanup.add('close the lease pool', () => pool.end());
    const upstream = await startCountingUpstream();
    cleanup.add('close the upstream', () => upstream.close());
    const receiver = await startReceiver();
    cleanup.add('close the webhook receiver', () => receiver.close());

    // Node C first, alone: the leases it takes are then certainly its own, so the later kill -9 of
    // C is a kill of the leases' holder.
    // A node's start (migrations, the first change-feed read) takes seconds here and far longer on a busy machine.
    const nodeOpts = (name: string) => ({ name, databaseUrl, redisUrl: REDIS_URL, env: NODE_ENV, readyTimeoutMs: 120_000 });
    let c = await startNode(cleanup, nodeOpts('node-c'));
    reportUnexpectedExit(c, () => ending || cKilled);
    const watch = new LeaseWatch(pool);
    leases = watch;
    const cHolders = new Map<string, string>();
    for (const deadline = performance.now() + 15_000; cHolders.size < WATCHED_LEASES.length; ) {
      if (performance.now() > deadline) throw new Error(`node C took no ${WATCHED_LEASES.filter((n) => !cHolders.has(n)).join(', ')} lease in 15 s`);
      for (const row of await watch.read()) if (WATCHED_LEASES.includes(row.name)) cHolders.set(row.name, row.holder);
      await sleep(100);
    }
    say(`  node C holds ${[...cHolders].map(([n, h]) => `${n} (${h})`).join(', ')}`);
    watch.start(200);
    const [a, b] = await Promise.all([startNode(cleanup, nodeOpts('node-a')), startNode(cleanup, nodeOpts('node-b'))]);
    for (const n of [a, b]) reportUnexpectedExit(n, () => ending);

    // Set-up through A: a config value, a limited route to the local upstream, a workflow whose
    // one step calls the local webhook receiver; committed in development, promoted to production.
    const L = 100;
    const windowSec = 2;
    await ok(a, 'PUT', '/environments/development/secrets/WEBHOOK_SECRET', { value: 'whsec-reliability-scale-out' });
    await ok(a, 'PUT', '/environments/development/settings/channel.webhook', { value: { url: `${receiver.url}/hooks`, signingSecret: 'WEBHOOK_SECRET', timeoutMs: 10_000 } });
    const drafts: Record<string, unknown> = {
      'config/flag': { value: 0 },
      'route/limited': { match: { pathPrefix: '/limited' }, upstream: { url: upstream.url }, rateLimit: { requests: L, windowSec, per: 'route' } },
      'workflow/hook': { name: 'Hook', steps: [{ type: 'channel', channel: 'webhook', template: { body: { n: '{{ data.n }}' } } }] },
    };
    for (const [id, content] of Object.entries(drafts)) await ok(a, 'PUT', `/environments/development/resources/${id}`, { content });
    await ok(a, 'POST', '/environments/development/commits', { message: 'scale-out set-up' });
    await ok(a, 'POST', '/environments/production/promotions', { message: 'scale-out set-up' });
    const devKey = (await ok(a, 'POST', '/environments/development/api-keys', { name: 'scale-out dev', kind: 'secret' })).key as string;
    const prodKey = (await ok(a, 'POST', '/environments/production/api-keys', { name: 'scale-out prod', kind: 'secret' })).key as string;

    // ---------------------------------------------------------------------------------------
    // 1. Propagation: a change through A, first served by B and C.
    {
      const changes = scaled(200, 50);
      const nodes = [b, c];
      const streams = await Promise.all(
        nodes.flatMap((n) => [SseClient.connect(`${n.url}/v1/stream`, devKey), SseClient.connect(`${n.url}/v1/stream`, prodKey)]),
      );
      const readers = nodes.flatMap((n) => [new HttpClient(n.url, devKey), new HttpClient(n.url, prodKey)]);
      const lags: number[] = [];
      const fromRequest: number[] = [];
      let stale = 0;
      let missed = 0;
      for (let i = 0; i < changes; i++) {
        const value = i + 1;
        const override = i % 2 === 0;
        // Streams 0, 2 are development's (B, C), 1, 3 production's.
        const which = override ? [0, 2] : [1, 3];
        const type = override ? 'override' : 'release';
        if (!override) {
          await ok(a, 'PUT', '/environments/development/resources/config/flag', { content: { value } });
          await ok(a, 'POST', '/environments/development/commits', { message: `flag ${value}` });
        }
        const marks = which.map((s) => streams[s]!.events.length);
        const answer = override
          ? await a.api.call('PUT', `${WS}/environments/development/resources/config/flag/override`, { override: { value } })
          : await a.api.call('POST', `${WS}/environments/production/promotions`, { message: `flag ${value}` });
        const { sentAt, doneAt: ackAt } = answer;
        await Promise.all(
          which.map(async (s, k) => {
            const stream = streams[s]!;
            const mark = marks[k]!;
            try {
              const event = await stream.waitFor((e) => e.event === type && stream.events.indexOf(e) >= mark, 5_000);
              // From A's answer (the change is committed then); B and C often hear of it before
              // the answer has reached A's client (counted as 0). And from the request to A, with
              // A's own commit in it.
              lags.push(Math.max(0, event.at - ackAt));
              fromRequest.push(event.at - sentAt);
              // The event promises the new value: the node's runtime API must serve it now.
              const read = await readers[s]!.call<any>('GET', '/v1/resources/config/flag');
              if (read.body?.content?.value !== value) {
                stale++;
                if (stale <= 3) say(`  stale read on ${s < 2 ? 'B' : 'C'} after its ${type} event: ${JSON.stringify(read.body?.content)} (want ${value})`);
              }
            } catch (error) {
              missed++;
              say(`  change ${value} not seen on stream ${s}: ${(error as Error).message}`);
            }
          }),
        );
      }
      for (const s of streams) s.close();
      for (const r of readers) r.close();
      const p99 = pct(lags, 99);
      emit({
        part: PART,
        measure: `change answered by A → first event on B and C (${fmt(changes)} overrides and promotions, ${fmt(lags.length)} arrivals)`,
        value: `p50 ${ms(pct(lags, 50))}, p99 ${ms(p99)}, max ${ms(Math.max(...lags))} (from the request to A: p50 ${ms(pct(fromRequest, 50))}, p99 ${ms(pct(fromRequest, 99))})`,
        goal: 'p99 ≤ 100 ms',
        ok: lags.length === changes * 2 && p99 <= 100,
      });
      zero(PART, 'changes never seen on B or C within 5 s', missed, { total: changes * 2, unit: 'arrivals' });
      zero(PART, 'runtime reads on B/C behind the event just received', stale, { total: lags.length, unit: 'reads' });
    }

    // ---------------------------------------------------------------------------------------
    // 2. One limit across three gateways.
    {
      // Two keep-alive clients (8 sockets each) per gateway, so requests do not queue in the client.
      const gateways = [a, b, c, a, b, c].map((n) => new HttpClient(n.gatewayUrl, 'none'));
      // Every gateway serves the route before counting starts; the warm-up's window then runs out.
      for (const g of gateways) {
        for (let tries = 0; ; tries++) {
          const res = await g.call('GET', '/limited/warm', undefined, [200, 404, 429]);
          if (res.status === 200 || res.status === 429) break;
          if (tries > 50) throw new Error(`${g.base} never served /limited: ${res.text}`);
          await sleep(100);
        }
      }
      await sleep(windowSec * 1000 + 200);
      const offered = 4 * L / windowSec;
      const seconds = scaled(30, 9);
      let admittedCount = 0;
      /** X-RateLimit-Remaining of each admitted answer, in the order the answers came back. */
      const remaining: number[] = [];
      let refused = 0;
      const otherStatuses = new Map<string, number>();
      const hitsBefore = upstream.hits;
      const until = performance.now() + seconds * 1000;
      const run = await paced(offered, 96, () => performance.now() > until, async (i) => {
        const g = gateways[i % gateways.length]!;
        try {
          const res = await g.call('GET', `/limited/x${i}`, undefined, [200, 429]);
          if (res.status === 200) {
            admittedCount++;
            remaining.push(Number(res.headers['x-ratelimit-remaining']));
          } else refused++;
        } catch (error) {
          const key = (error as Error).message.slice(0, 80);
          otherStatuses.set(key, (otherStatuses.get(key) ?? 0) + 1);
        }
      });
      for (const g of gateways) g.close();
      // Windows, from Redis's own count: within one window the admitted answers carry
      // X-RateLimit-Remaining L-1, L-2, …, 0, each once. Answers come back out of order under
      // load, so an answer joins the oldest window that has not had its value yet, or opens the
      // next one. Each window opens with one L-1 (its first admission), so no value may occur
      // more often than L-1 does: any more is an admission beyond the limit (two admissions
      // counted as one, or a node counting on its own after losing Redis).
      const windowSets: Set<number>[] = [];
      const windows: number[] = [];
      const occurrences = new Map<number, number>();
      let odd = 0;
      for (const r of remaining) {
        if (!Number.isInteger(r) || r < 0 || r >= L) odd++;
        occurrences.set(r, (occurrences.get(r) ?? 0) + 1);
        let k = windowSets.findIndex((set) => !set.has(r));
        if (k < 0) {
          windowSets.push(new Set());
          windows.push(0);
          k = windowSets.length - 1;
        }
        windowSets[k]!.add(r);
        windows[k]!++;
      }
      const opened = occurrences.get(L - 1) ?? 0;
      let beyond = 0;
      for (const count of occurrences.values()) beyond += Math.max(0, count - opened);
      // The last window may have been cut short by the end of the traffic: count only full ones.
      const full = windows.slice(0, -1);
      const upper = Math.floor(1.05 * L);
      const inRange = full.filter((n) => n >= L && n <= upper).length;
      const errors = [...otherStatuses.values()].reduce((x, y) => x + y, 0);
      emit({
        part: PART,
        measure: `admitted per full ${windowSec} s window, limit L = ${L}, 3 gateways offered ${fmt(offered)}/s (${fmt(run.started)} sent, ${fmt(refused)} × 429)`,
        value: full.length ? `${Math.min(...full)}–${Math.max(...full)} in ${full.length} windows (${inRange} in range)` : 'no full window',
        goal: `each in [${L}, ${upper}]`,
        ok: full.length >= 3 && inRange === full.length,
      });
      zero(PART, 'gateway answers other than 200/429 on the limited route (or admitted without a valid X-RateLimit-Remaining)', errors + odd, { total: run.started, unit: 'requests' });
      zero(PART, 'admissions beyond the limit (a remaining count repeated more often than windows opened)', beyond, { total: admittedCount, unit: 'admitted' });
      zero(PART, 'admitted requests that never reached the upstream', Math.max(0, admittedCount - (upstream.hits - hitsBefore)), { total: admittedCount, unit: 'admitted' });
      // A node that lost Redis counts on its own (onStoreDown: local) and the sum may overshoot: say so.
      for (const n of [a, b, c]) {
        const fallbacks = n.child.tail(200).split('\n').filter((line) => line.includes('limits fall back')).length;
        if (fallbacks) say(`  ${n.name} logged ${fallbacks} fall-back(s) to local limits`);
      }
      if (errors) say(`  other answers: ${JSON.stringify([...otherStatuses])}`);
      say(`  windows: ${windows.join(' ')}`);
    }

    // ---------------------------------------------------------------------------------------
    // 3. kill -9 of node C under load (C also holds the alert and watch leases).
    const killedAt = { wall: 0 };
    {
      const nodes = [a, b, c];
      const writersPerNode = 2;
      const before = scaled(5_000, 2_000);
      const after = scaled(10_000, 3_000);
      const acked = new Map<string, number>();
      const book = new Book();
      const cFailures = { inFlight: 0, refused: 0 };
      let killed = false;
      let stopAll = false;
      const clients = nodes.map((n) => Array.from({ length: writersPerNode + 1 }, () => new HttpClient(n.url, devKey)));
      const loops: Promise<void>[] = [];
      nodes.forEach((node, ni) => {
        const isC = node === c;
        const label = ['A', 'B', 'C'][ni]!;
        const stopped = () => stopAll || (isC && killed);
        const failure = (op: string, error: Error) => {
          if (isC && killed) cFailures.inFlight++;
          else book.fail(`${label} ${op}`, error.message);
        };
        for (let w = 0; w < writersPerNode; w++) {
          const client = clients[ni]![w]!;
          loops.push(
            (async () => {
              for (let i = 0; !stopped(); i++) {
                const id = `${label}-${w}-${i}`;
                const started = performance.now();
                try {
                  await client.call('PUT', `/v1/data/items/${id}`, { n: i, by: label }, [201]);
                  acked.set(id, i);
                  book.ok(`${label} write`, performance.now() - started);
                } catch (error) {
                  failure('write', error as Error);
                }
              }
            })(),
          );
        }
        const reader = clients[ni]![writersPerNode]!;
        loops.push(
          (async () => {
            for (let i = 0; !stopped(); i++) {
              const started = performance.now();
              try {
                const res = await reader.call<any>('GET', i % 2 ? '/v1/resources/config/flag' : '/v1/data/items?limit=20');
                if (res.status !== 200) throw new Error(`status ${res.status}`);
                book.ok(`${label} read`, performance.now() - started);
              } catch (error) {
                failure('read', error as Error);
              }
            }
          })(),
        );
      });
      await sleep(before);
      const writtenBeforeKill = acked.size;
      killed = true;
      cKilled = true;
      killedAt.wall = Date.now();
      await c.kill('SIGKILL');
      // From its exit on: C can renew nothing any more.
      killedAt.wall = Date.now();
      say(`  killed node C (pid ${c.child.pid}) after ${fmt(writtenBeforeKill)} acknowledged writes`);
      // A client of C after the kill: refused, as expected (not an error of A or B).
      try {
        await new HttpClient(c.url, devKey).call('GET', '/healthz');
      } catch {
        cFailures.refused++;
      }
      await sleep(after);
      stopAll = true;
      await Promise.all(loops);
      for (const list of clients) for (const client of list) client.close();

      // Every acknowledged write, read back through A.
      const check = new HttpClient(a.url, devKey);
      let lost = 0;
      const ids = [...acked.entries()];
      for (let i = 0; i < ids.length; i += 16) {
        await Promise.all(
          ids.slice(i, i + 16).map(async ([id, n]) => {
            const res = await check.call<any>('GET', `/v1/data/items/${id}`, undefined, [200, 404]);
            if (res.status !== 200 || res.body?.value?.n !== n) {
              lost++;
              if (lost <= 3) say(`  acknowledged write ${id} = ${n} reads back as ${res.status} ${res.text.slice(0, 120)}`);
            }
          }),
        );
      }
      check.close();
      zero(PART, 'acknowledged writes missing after kill -9 of node C', lost, { total: acked.size, unit: 'acknowledged writes' });
      const abOps = book.ops();
      const abRequests = abOps.reduce((s, op) => s + book.count(op) + book.errors(op), 0);
      zero(PART, 'errors seen by clients of A and B across the kill', book.errors(), { total: abRequests, unit: 'requests' });
      if (book.errors()) say(`  errors: ${book.examples.join(' | ')}`);
      emit({
        part: PART,
        measure: 'requests in flight to node C when killed (expected to fail; reported, no goal)',
        value: `${fmt(cFailures.inFlight)} failed in flight, new connections refused: ${cFailures.refused ? 'yes' : 'no'}`,
        goal: '',
      });
      say(`  A/B during the kill: ${['A write', 'B write', 'A read', 'B read'].map((op) => `${op} ${book.describe(op)}`).join('; ')}`);
    }

    // C comes back in its place (same ports, a new process): the workflows run on three nodes again.
    c = await startNode(cleanup, { ...nodeOpts('node-c2'), port: c.port, gatewayPort: c.gatewayPort });
    reportUnexpectedExit(c, () => ending);

    // ---------------------------------------------------------------------------------------
    // 4. Workflow jobs across the nodes, each delivered once.
    {
      const jobs = scaled(10_000, 1_000);
      const nodes = [a, b, c];
      const triggerClients = nodes.map((n) => new HttpClient(n.url, devKey));
      const triggered = new Set<number>();
      let triggerErrors = 0;
      const triggerTimes = new Book();
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: 12 }, async (_, w) => {
          for (let n = next++; n < jobs; n = next++) {
            const client = triggerClients[(n + w) % nodes.length]!;
            try {
              const res = await client.call('POST', '/v1/workflows/hook/trigger', { recipients: [{ id: `r${n}` }], data: { n } }, [202]);
              triggerTimes.ok('trigger', res.doneAt - res.sentAt);
              triggered.add(n);
            } catch (error) {
              triggerErrors++;
              if (triggerErrors <= 3) say(`  trigger ${n}: ${(error as Error).message}`);
            }
          }
        }),
      );
      for (const cl of triggerClients) cl.close();
      const triggerSeconds = (performance.now() - started) / 1000;
      // Wait for the deliveries: until every job is in, or nothing new arrives for 15 s.
      const jobOf = (body: string): number => Number((JSON.parse(body) as { n: unknown }).n);
      let lastCount = -1;
      let lastChange = performance.now();
      for (;;) {
        const distinct = new Set(receiver.deliveries.map((d) => jobOf(d.body))).size;
        if (distinct >= triggered.size) break;
        if (receiver.deliveries.length !== lastCount) {
          lastCount = receiver.deliveries.length;
          lastChange = performance.now();
        } else if (performance.now() - lastChange > 15_000) break;
        await sleep(250);
      }
      const drainSeconds = (performance.now() - started) / 1000;
      // Late duplicates would land now.
      await sleep(2_000);
      const perJob = new Map<number, Set<string>>();
      const perJobCount = new Map<number, number>();
      for (const d of receiver.deliveries) {
        const n = jobOf(d.body);
        perJobCount.set(n, (perJobCount.get(n) ?? 0) + 1);
        let ids = perJob.get(n);
        if (!ids) perJob.set(n, (ids = new Set()));
        ids.add(d.id);
      }
      let missing = 0;
      for (const n of triggered) if (!perJobCount.has(n)) missing++;
      let duplicates = 0;
      let sameIdDuplicates = 0;
      let unexpected = 0;
      for (const [n, count] of perJobCount) {
        if (!triggered.has(n)) unexpected++;
        duplicates += count - 1;
        sameIdDuplicates += count - perJob.get(n)!.size;
      }
      zero(PART, 'workflow trigger errors (202 expected from every node)', triggerErrors, { total: jobs, unit: 'triggers' });
      zero(PART, 'workflow jobs acknowledged but never delivered', missing, { total: triggered.size, unit: 'jobs' });
      emit({
        part: PART,
        measure: `workflow deliveries beyond one per job (at-least-once with a delivery id; of them with the same id)`,
        value: `${fmt(duplicates)} of ${fmt(receiver.deliveries.length)} deliveries (${fmt(sameIdDuplicates)} same id)`,
        goal: '0',
        ok: duplicates === 0 && unexpected === 0,
      });
      say(`  ${fmt(triggered.size)} triggers in ${triggerSeconds.toFixed(1)} s (${triggerTimes.describe('trigger')}), delivered by ${drainSeconds.toFixed(1)} s`);
    }

    // ---------------------------------------------------------------------------------------
    // 5. The leases C held: a new holder within the lease's take-over time, renewing.
    {
      const deadline = killedAt.wall + Math.max(...Object.values(LEASE_TTL_MS)) + 5_000;
      const moved = () => WATCHED_LEASES.every((name) => (watch.seen.get(name) ?? []).some((s) => s.holder !== cHolders.get(name) && s.at > killedAt.wall));
      while (!moved() && Date.now() < deadline) await sleep(200);
      // Then a few more seconds, to see the new holders renew (their rounds continue).
      await sleep(3_500);
      watch.stop();
      for (const name of WATCHED_LEASES) {
        const ttl = LEASE_TTL_MS[name]!;
        const interval = name === 'alerts' ? ALERT_INTERVAL_MS : WATCH_INTERVAL_MS;
        const list = watch.seen.get(name) ?? [];
        const heldByCAtKill = [...list].reverse().find((s) => s.at <= killedAt.wall)?.holder === cHolders.get(name);
        const takeover = list.find((s) => s.at > killedAt.wall && s.holder !== cHolders.get(name));
        const renewals = takeover ? list.filter((s) => s.holder === takeover.holder && s.at > takeover.at).length : 0;
        // C's holder may show once more after the kill (a renewal just before it died, sampled after).
        const holders = new Set(list.filter((s) => s.at > killedAt.wall && s.holder !== cHolders.get(name)).map((s) => s.holder));
        const seconds = takeover ? (takeover.at - killedAt.wall) / 1000 : Number.NaN;
        const limit = (ttl + interval + 400) / 1000;
        emit({
          part: PART,
          measure: `${name} lease (${ttl / 1000} s, renewed every ${interval / 1000} s): new holder after kill -9 of its holder C; its renewals in the next 3.5 s`,
          value: takeover ? `${seconds.toFixed(1)} s, ${renewals} renewals, ${holders.size} new holder(s) since the kill${heldByCAtKill ? '' : ' (C was not the holder at the kill)'}` : 'no new holder',
          goal: `≤ ${limit.toFixed(1)} s, ≥ 2 renewals, 1 new holder`,
          ok: heldByCAtKill && takeover !== undefined && seconds <= limit && renewals >= 2 && holders.size === 1,
        });
      }
      zero(PART, 'lease taken over before its holder’s expiry (two holders at once)', watch.steals.length, {
        total: [...watch.seen.values()].reduce((s, l) => s + l.length, 0),
        unit: 'lease states sampled',
      });
      for (const steal of watch.steals.slice(0, 3)) say(`  ${steal}`);
    }
    if (QUICK) say('  (quick form)');
  } finally {
    ending = true;
    leases?.stop();
    await cleanup.runAll();
  }
});
