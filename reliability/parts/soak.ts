// Part 9 — load and soak: one real `stageline server` node (the gateway in its worker process, as
// by default) under mixed traffic for 10 minutes (2 in the quick form): delivery reads with an
// sk_ key, 50 change streams connected throughout, gateway requests to a local upstream, workflow
// triggers delivering to a local webhook receiver, and a commit (every other one promoted) every
// few seconds. The node's resident memory and open file descriptors are sampled from /proc; a
// leak shows as growth after the warm-up, a lost change as a stream that missed an event, a lost
// job as a trigger never delivered.
import { performance } from 'node:perf_hooks';
import { connectMany, type SseClient } from '../../bench/delivery-support.js';
import { DB, emit, fmt, QUICK, runPart, say, scaled, zero } from '../contract.js';
import { Book, childPids, paced, reportUnexpectedExit, sampleProc, sleep, startCountingUpstream, startReceiver, type ProcSample } from '../lib/load.js';
import { Cleanup, HttpClient, newDatabase, startNode } from '../lib/nodes.js';

const PART = 'soak';
const WS = '/api/workspaces/default';

/** Growth allowed from the start of the measured span (after warm-up) to its end. */
const RSS_GROWTH = 1.2;
/** Descriptors: the same ratio, plus a few for sockets that happen to be open at the end. */
const FD_GROWTH = 1.2;
const FD_SLACK = 10;

function median3(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

runPart(PART, async () => {
  const cleanup = new Cleanup();
  let ending = false;
  try {
    const durationMs = scaled(10 * 60_000, 2 * 60_000);
    const warmupMs = scaled(60_000, 20_000);
    const sampleEveryMs = scaled(5_000, 2_000);
    const streamsWanted = 50;

    const databaseUrl = await newDatabase(DB, cleanup, 'soak');
    const upstream = await startCountingUpstream();
    cleanup.add('close the upstream', () => upstream.close());
    const receiver = await startReceiver();
    cleanup.add('close the webhook receiver', () => receiver.close());
    const node = await startNode(cleanup, { name: 'soak-node', databaseUrl, env: { STAGELINE_GATEWAY_DEFAULT_ENV: 'development' } });
    reportUnexpectedExit(node, () => ending);

    const ok = async (method: string, path: string, body?: unknown) => (await node.api.call<any>(method, `${WS}${path}`, body)).body;
    await ok('PUT', '/environments/development/secrets/WEBHOOK_SECRET', { value: 'whsec-reliability-soak' });
    await ok('PUT', '/environments/development/settings/channel.webhook', { value: { url: `${receiver.url}/hooks`, signingSecret: 'WEBHOOK_SECRET', timeoutMs: 10_000 } });
    const drafts: Record<string, unknown> = {
      'config/flag': { value: 0 },
      'config/catalog': { value: { items: Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item ${i}`, price: i * 3 })) } },
      'route/api': { match: { pathPrefix: '/api' }, upstream: { url: upstream.url } },
      'workflow/hook': { name: 'Hook', steps: [{ type: 'channel', channel: 'webhook', template: { body: { n: '{{ data.n }}' } } }] },
    };
    for (const [id, content] of Object.entries(drafts)) await ok('PUT', `/environments/development/resources/${id}`, { content });
    await ok('POST', '/environments/development/commits', { message: 'soak set-up' });
    await ok('POST', '/environments/production/promotions', { message: 'soak set-up' });
    const devKey = (await ok('POST', '/environments/development/api-keys', { name: 'soak dev', kind: 'secret' })).key as string;

    const streams: SseClient[] = await connectMany(`${node.url}/v1/stream`, devKey, streamsWanted, 25);
    cleanup.add('close the streams', async () => streams.forEach((s) => s.close()));
    const gatewayReady = new HttpClient(node.gatewayUrl, 'none');
    // The gateway worker starts after the API answers: wait until it serves the route.
    for (let tries = 0; ; tries++) {
      const status = await gatewayReady.call('GET', '/api/warm', undefined, [200, 404]).then((r) => r.status, () => 0);
      if (status === 200) break;
      if (tries > 150) throw new Error('the gateway never served /api');
      await sleep(100);
    }
    gatewayReady.close();

    const book = new Book();
    const reader = new HttpClient(node.url, devKey);
    const gateway = new HttpClient(node.gatewayUrl, 'none');
    const triggers = new HttpClient(node.url, devKey);
    let stop = false;
    const startedAt = performance.now();
    const until = startedAt + durationMs;
    const done = () => stop || performance.now() > until;

    // Samples of the node's main process and of its gateway worker(s).
    const samples: { t: number; main: ProcSample | null; workers: ProcSample[] }[] = [];
    const sampleNow = () => {
      const main = sampleProc(node.child.pid);
      const workers = childPids(node.child.pid).map(sampleProc).filter((s): s is ProcSample => s !== null);
      samples.push({ t: performance.now() - startedAt, main, workers });
    };
    sampleNow();
    const sampler = setInterval(sampleNow, sampleEveryMs);

    const triggered = new Set<number>();
    let releases = 0;
    const loops = [
      paced(40, 16, done, async (i) => {
        await book.time('delivery read', async () => {
          const res = await reader.call<any>('GET', i % 4 === 0 ? '/v1/resources' : i % 2 ? '/v1/resources/config/flag' : '/v1/resources/config/catalog');
          if (res.status !== 200) throw new Error(`status ${res.status}`);
        });
      }),
      paced(40, 16, done, async (i) => {
        await book.time('gateway request', async () => {
          const res = await gateway.call('GET', `/api/items/${i % 100}`);
          if (res.text !== 'ok') throw new Error(`unexpected body ${res.text.slice(0, 80)}`);
        });
      }),
      paced(5, 8, done, async (n) => {
        await book.time('workflow trigger', async () => {
          await triggers.call('POST', '/v1/workflows/hook/trigger', { recipients: [{ id: `r${n}` }], data: { n } }, [202]);
          triggered.add(n);
        });
      }),
      (async () => {
        // A commit every 3 s, every other one promoted to production.
        for (let i = 1; !done(); i++) {
          await book.time('commit', async () => {
            await node.api.call('PUT', `${WS}/environments/development/resources/config/flag`, { content: { value: i } });
            await node.api.call('POST', `${WS}/environments/development/commits`, { message: `soak ${i}` });
          });
          releases++;
          if (i % 2 === 0) await book.time('promotion', () => node.api.call('POST', `${WS}/environments/production/promotions`, { message: `soak ${i}` }));
          await sleep(3_000);
        }
      })(),
    ];
    let lastReport = 0;
    while (!done()) {
      await sleep(1_000);
      const t = performance.now() - startedAt;
      if (t - lastReport > 30_000) {
        lastReport = t;
        const s = samples[samples.length - 1];
        say(`  ${Math.round(t / 1000)} s: ${fmt(book.total())} requests, ${book.errors()} errors, main rss ${s?.main?.rssMiB.toFixed(0)} MiB fds ${s?.main?.fds}, worker rss ${s?.workers.map((w) => w.rssMiB.toFixed(0)).join('/')} MiB`);
      }
    }
    stop = true;
    await Promise.all(loops);
    sampleNow();
    clearInterval(sampler);

    // Every stream stayed connected and saw every development release (its commits).
    const closed = streams.filter((s) => s.closed).length;
    const missedEvents = streams.filter((s) => s.events.filter((e) => e.event === 'release').length < releases).length;
    // Every trigger delivered (within 20 s of the end).
    const deliveredJobs = () => new Set(receiver.deliveries.map((d) => Number((JSON.parse(d.body) as { n: unknown }).n)));
    for (const end = performance.now() + 20_000; performance.now() < end; await sleep(250)) {
      const got = deliveredJobs();
      if ([...triggered].every((n) => got.has(n))) break;
    }
    const got = deliveredJobs();
    const undelivered = [...triggered].filter((n) => !got.has(n)).length;
    for (const c of [reader, gateway, triggers]) c.close();

    // Growth: median of the first three samples after the warm-up against the median of the last three.
    const measured = samples.filter((s) => s.t >= warmupMs);
    const series = (pick: (s: (typeof samples)[number]) => number) => measured.map(pick).filter((v) => Number.isFinite(v));
    const judge = (label: string, values: number[], unit: string, bound: (start: number) => number, goal: string) => {
      if (values.length < 6) {
        emit({ part: PART, measure: `${label}: start / end / max after warm-up`, value: `only ${values.length} samples`, goal, ok: false });
        return;
      }
      const start = median3(values.slice(0, 3));
      const end = median3(values.slice(-3));
      const max = Math.max(...values);
      emit({
        part: PART,
        measure: `${label}: start / end / max after ${warmupMs / 1000} s warm-up (${values.length} samples, every ${sampleEveryMs / 1000} s)`,
        value: `${start.toFixed(unit === 'MiB' ? 1 : 0)} / ${end.toFixed(unit === 'MiB' ? 1 : 0)} / ${max.toFixed(unit === 'MiB' ? 1 : 0)} ${unit} (end ${(end / start).toFixed(2)}× start)`,
        goal,
        ok: end <= bound(start),
      });
    };
    const rssGoal = `flat: end ≤ ${RSS_GROWTH}× start`;
    const fdGoal = `flat: end ≤ ${FD_GROWTH}× start + ${FD_SLACK}`;
    judge('node RSS (main process)', series((s) => s.main?.rssMiB ?? Number.NaN), 'MiB', (x) => RSS_GROWTH * x, rssGoal);
    judge('node open fds (main process)', series((s) => s.main?.fds ?? Number.NaN), 'fds', (x) => FD_GROWTH * x + FD_SLACK, fdGoal);
    judge('gateway worker RSS', series((s) => s.workers.reduce((sum, w) => sum + w.rssMiB, 0) || Number.NaN), 'MiB', (x) => RSS_GROWTH * x, rssGoal);
    judge('gateway worker open fds', series((s) => s.workers.reduce((sum, w) => sum + w.fds, 0) || Number.NaN), 'fds', (x) => FD_GROWTH * x + FD_SLACK, fdGoal);

    zero(PART, `errors over ${durationMs / 60_000} min of mixed load`, book.errors(), { total: book.total(), unit: 'operations' });
    if (book.errors()) say(`  errors: ${book.examples.join(' | ')}`);
    zero(PART, `change streams closed or missing a release (${streamsWanted} connected, ${releases} commits)`, closed + missedEvents, { total: streamsWanted, unit: 'streams' });
    zero(PART, 'workflow triggers never delivered', undelivered, { total: triggered.size, unit: 'triggers' });
    for (const op of book.ops()) {
      emit({ part: PART, measure: `${op} latency`, value: book.describe(op), goal: '' });
    }
    say(`  ${fmt(upstream.hits)} requests reached the upstream, ${fmt(receiver.deliveries.length)} webhook deliveries`);
    if (QUICK) say('  (quick form)');
  } finally {
    ending = true;
    await cleanup.runAll();
  }
});
