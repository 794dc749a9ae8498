// A release that names the resources it changed moves the runtime's caches by those resources
// only: the delivery views, the resolver's state and the gateway's route table serve what a
// rebuild would, without being rebuilt; a change that follows another release, or names
// nothing, rebuilds them.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryCache } from '../src/runtime/delivery-cache.js';
import { Resolver } from '../src/runtime/resolver.js';
import type { ChangeFeed, ChangeListener } from '../src/runtime/change-feed.js';
import { changesAfter, type ChangeEvent } from '../src/store/changes.js';
import { allowLoopback, commitDrafts, config, createApiKey, gatewayCall, openStream, promote, startHarness, startTestGateway, startUpstream, WS, type Harness, type TestUpstream } from './support.js';

const SIZE = 120;
const ids = Array.from({ length: SIZE }, (_, i) => `config/c-${String(i).padStart(4, '0')}`);

let h: Harness;
let key = '';
let base = '';
let workspaceId = '';
let developmentId = '';

async function list(): Promise<any> {
  const res = await h.app.inject({ method: 'GET', url: '/v1/resources', headers: { authorization: `Bearer ${key}` } });
  expect(res.statusCode).toBe(200);
  return { body: res.body, etag: res.headers.etag, json: JSON.parse(res.body) };
}

const valueIn = (answer: any, id: string) => answer.json.data.find((r: any) => `${r.kind}/${r.key}` === id)?.content.value;

/** The list a delivery cache built whole from the same resolver state answers. */
async function rebuilt(): Promise<{ body: string; etag: string }> {
  const fresh = new DeliveryCache(h.runtime.resolver, { subscribe: () => () => {}, track: async () => 0 } as unknown as ChangeFeed);
  const view = (await fresh.view(workspaceId, developmentId, 'secret'))!;
  return { body: view.list.body.toString(), etag: view.list.etag };
}

beforeAll(async () => {
  h = await startHarness();
  await commitDrafts(h, Object.fromEntries(ids.map((id, i) => [id, config({ i, v: 0 })])), 'seed');
  key = await createApiKey(h, 'development');
  const envs = await h.call('GET', `${WS}/environments`);
  developmentId = envs.body.data.find((e: any) => e.slug === 'development').id;
  workspaceId = (await h.call('GET', '/api/workspaces')).body.data.find((w: any) => w.slug === 'default').id;
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await h?.close();
});

describe('delivery after a release that names its resources', () => {
  it('a commit of 1 resource serves its new value and the others unchanged, without a rebuild', async () => {
    const before = await list();
    const stream = await openStream(base, key);
    await stream.waitFor((events) => events.some((e) => e.event === 'ready'));
    const delivery = { ...h.runtime.delivery.counts };
    const resolver = { ...h.runtime.resolver.counts };

    const release = await commitDrafts(h, { [ids[7]!]: config({ i: 7, v: 1 }) }, 'one');
    await stream.waitFor((events) => events.some((e) => e.event === 'release' && e.data.release === release.number));
    const event = stream.events.find((e) => e.event === 'release' && e.data.release === release.number)!;
    expect(event.data.resources).toEqual([ids[7]]);
    stream.close();

    const after = await list();
    expect(after.json.release).toBe(release.number);
    expect(valueIn(after, ids[7]!)).toEqual({ i: 7, v: 1 });
    for (const id of ids.filter((id) => id !== ids[7])) expect(valueIn(after, id)).toEqual(valueIn(before, id));
    const one = await h.app.inject({ method: 'GET', url: `/v1/resources/${ids[7]}`, headers: { authorization: `Bearer ${key}` } });
    expect(JSON.parse(one.body).content.value).toEqual({ i: 7, v: 1 });

    expect(h.runtime.delivery.counts.full).toBe(delivery.full);
    expect(h.runtime.delivery.counts.incremental).toBe(delivery.incremental + 1);
    expect(h.runtime.resolver.counts.full).toBe(resolver.full);
    expect(h.runtime.resolver.counts.incremental).toBe(resolver.incremental + 1);
    expect(await rebuilt()).toEqual({ body: after.body, etag: after.etag });
  });

  it('an added and a removed resource are patched in as a rebuild places them', async () => {
    await list();
    const delivery = { ...h.runtime.delivery.counts };
    const draft = await h.call('DELETE', `${WS}/environments/development/resources/${ids[3]}`);
    expect(draft.status).toBeLessThan(300);
    await commitDrafts(h, { 'config/c-0050a': config({ added: true }) }, 'add and remove');
    const after = await list();
    expect(valueIn(after, ids[3]!)).toBeUndefined();
    expect(valueIn(after, 'config/c-0050a')).toEqual({ added: true });
    const order = after.json.data.map((r: any) => `${r.kind}/${r.key}`);
    expect(order).toEqual([...order].sort());
    expect(h.runtime.delivery.counts).toEqual({ full: delivery.full, incremental: delivery.incremental + 1 });
    expect(await rebuilt()).toEqual({ body: after.body, etag: after.etag });
  });
});

describe('a change a cache cannot step by rebuilds it', () => {
  /** A resolver and delivery cache fed by hand with the events stored for real commits. */
  function handFed() {
    const listeners: ChangeListener[] = [];
    const feed = { subscribe: (l: ChangeListener) => (listeners.push(l), () => {}), track: async () => 0 } as unknown as ChangeFeed;
    const resolver = new Resolver(h.deps, feed);
    const delivery = new DeliveryCache(resolver, feed);
    return { resolver, delivery, send: (event: ChangeEvent) => listeners.forEach((l) => l(event)) };
  }

  async function releaseEvents(after: number): Promise<ChangeEvent[]> {
    return (await changesAfter(h.store.db, workspaceId, after, { environmentId: developmentId })).filter((e) => e.type === 'release');
  }

  async function latest(): Promise<number> {
    const events = await changesAfter(h.store.db, workspaceId, 0, { limit: 100_000 });
    return events[events.length - 1]!.seq;
  }

  it('a release that follows another release than the one held is read whole', async () => {
    const fed = handFed();
    const held = (await fed.delivery.view(workspaceId, developmentId, 'secret'))!;
    const seq = await latest();
    await commitDrafts(h, { [ids[10]!]: config({ v: 'skipped' }) }, 'not delivered');
    await commitDrafts(h, { [ids[11]!]: config({ v: 'seen' }) }, 'delivered');
    const [, second] = await releaseEvents(seq);
    expect(second!.payload.from).toBe(held.release + 1);
    fed.send(second!);
    const view = (await fed.delivery.view(workspaceId, developmentId, 'secret'))!;
    expect(view.release).toBe(second!.payload.release);
    expect(JSON.parse(view.list.body.toString()).data.find((r: any) => r.key === 'c-0010').content.value).toEqual({ v: 'skipped' });
    expect(fed.delivery.counts).toEqual({ full: 2, incremental: 0 });
    expect(fed.resolver.counts).toEqual({ full: 2, incremental: 0 });
  });

  it('a release that names no resources is read whole, one that names them is stepped', async () => {
    const fed = handFed();
    await fed.delivery.view(workspaceId, developmentId, 'secret');
    const seq = await latest();
    await commitDrafts(h, { [ids[12]!]: config({ v: 'unnamed' }) }, 'unnamed');
    const [event] = await releaseEvents(seq);
    const { resources: _named, ...payload } = event!.payload;
    fed.send({ ...event!, payload });
    const view = (await fed.delivery.view(workspaceId, developmentId, 'secret'))!;
    expect(JSON.parse(view.list.body.toString()).data.find((r: any) => r.key === 'c-0012').content.value).toEqual({ v: 'unnamed' });
    expect(fed.delivery.counts).toEqual({ full: 2, incremental: 0 });

    // The same cache, now current, steps on the next release as it is stored.
    const next = await latest();
    await commitDrafts(h, { [ids[13]!]: config({ v: 'named' }) }, 'named');
    const [named] = await releaseEvents(next);
    fed.send(named!);
    const stepped = (await fed.delivery.view(workspaceId, developmentId, 'secret'))!;
    expect(JSON.parse(stepped.list.body.toString()).data.find((r: any) => r.key === 'c-0013').content.value).toEqual({ v: 'named' });
    expect(fed.delivery.counts).toEqual({ full: 2, incremental: 1 });
    expect(fed.resolver.counts).toEqual({ full: 2, incremental: 1 });
  });

  it('a view held by a request is not changed by a step', async () => {
    const state = (await h.runtime.resolver.environment(workspaceId, developmentId))!;
    const hash = state.committed.hashOf('config', 'c-0020');
    await commitDrafts(h, { [ids[20]!]: config({ v: 'later' }) }, 'later');
    expect(state.committed.hashOf('config', 'c-0020')).toBe(hash);
    const now = (await h.runtime.resolver.environment(workspaceId, developmentId))!;
    expect(now).not.toBe(state);
    expect(now.committed.hashOf('config', 'c-0020')).not.toBe(hash);
  });
});

describe('gateway after a release that names its routes', () => {
  const upstreams: TestUpstream[] = [];
  let gateway: Awaited<ReturnType<typeof startTestGateway>>;

  beforeAll(async () => {
    for (let i = 0; i < 4; i++) upstreams.push(await startUpstream((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`upstream ${i}`)));
    await allowLoopback(h, 'production');
    const routes = Object.fromEntries(['a', 'b', 'c'].map((k, i) => [`route/${k}`, { match: { pathPrefix: `/${k}` }, upstream: { url: upstreams[i]!.url } }]));
    await commitDrafts(h, routes, 'routes');
    expect((await promote(h, 'production', { message: 'routes' })).status).toBe(201);
    gateway = await startTestGateway(h);
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  const through = async (path: string) => (await gatewayCall(gateway.url, { path })).text;

  it('routes a changed route to its new upstream and keeps the others, patching the table', async () => {
    expect([await through('/a/x'), await through('/b/x'), await through('/c/x')]).toEqual(['upstream 0', 'upstream 1', 'upstream 2']);
    const counts = { ...gateway.environments.counts };
    await commitDrafts(h, { 'route/b': { match: { pathPrefix: '/b' }, upstream: { url: upstreams[3]!.url } } }, 'move b');
    expect((await promote(h, 'production', { message: 'move b' })).status).toBe(201);
    // The promotion's answer comes once the feed has dispatched it; the patch may still be compiling.
    const started = Date.now();
    while ((await through('/b/x')) !== 'upstream 3' && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 10));
    expect([await through('/a/x'), await through('/b/x'), await through('/c/x')]).toEqual(['upstream 0', 'upstream 3', 'upstream 2']);
    expect(gateway.environments.counts).toEqual({ full: counts.full, incremental: counts.incremental + 1 });
  });
});
