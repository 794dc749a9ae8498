// The application SDK (`stageline/client`) against a real server on a real port: ETag
// revalidation, error codes, last-known-good answers, and change streams that resume where they dropped.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, StagelineError, type ChangeEvent, type StagelineClient, type StagelineClientOptions } from '../packages/client/src/index.js';
import { pruneChangeEvents } from '../src/services/changes.js';
import { commitDrafts, config, createApiKey, promote, startHarness, WS, type Harness } from './support.js';

let h: Harness;
let baseUrl: string;
let key: string;
const clients: StagelineClient[] = [];

/** A request the client made, with what the server (or the simulated outage) answered. */
interface Call {
  path: string;
  ifNoneMatch: string | null;
  lastEventId: string | null;
  status: number | 'failed';
}

type Outage = 'network' | 'server error' | 'timeout';

/**
 * A fetch for the client that records every request and can simulate an outage, hold a request
 * back until the test lets it through, or replace the server's response.
 */
interface Tap {
  calls: Call[];
  outage: Outage | null;
  before: ((call: Call) => Promise<void>) | null;
  after: ((response: Response, call: Call) => Response) | null;
  fetch: typeof fetch;
}

function tap(): Tap {
  const calls: Call[] = [];
  const control: Tap = {
    calls,
    outage: null,
    before: null,
    after: null,
    fetch: (async (input: string | URL | Request, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      const call: Call = {
        path: new URL(String(input)).pathname,
        ifNoneMatch: headers.get('if-none-match'),
        lastEventId: headers.get('last-event-id'),
        status: 'failed',
      };
      calls.push(call);
      if (control.before) await control.before(call);
      if (control.outage === 'network') throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1') });
      if (control.outage === 'server error') {
        call.status = 503;
        return new Response(JSON.stringify({ error: { code: 'internal', message: 'database down', details: [] } }), { status: 503 });
      }
      if (control.outage === 'timeout') {
        return new Promise<Response>((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
      }
      const response = await fetch(input, init);
      call.status = response.status;
      return control.after ? control.after(response, call) : response;
    }) as typeof fetch,
  };
  return control;
}

function client(options: Partial<StagelineClientOptions> = {}): StagelineClient {
  const created = createClient({ baseUrl, apiKey: key, timeoutMs: 2000, reconnect: { initialDelayMs: 50, maxDelayMs: 200 }, ...options });
  clients.push(created);
  return created;
}

async function until<T>(what: string, check: () => T | null | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function rejection(promise: Promise<unknown>): Promise<StagelineError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StagelineError);
  return error as StagelineError;
}

/** Commits `drafts` in development and promotes that release into production. */
async function release(drafts: Record<string, unknown>) {
  await commitDrafts(h, drafts);
  const res = await promote(h, 'production');
  if (res.status !== 201) throw new Error(`promotion: ${res.status} ${JSON.stringify(res.body)}`);
}

const setActive = (id: string, active: boolean) => h.call('PUT', `${WS}/environments/production/resources/${id}/active`, { active });
const setOverride = (id: string, override: Record<string, unknown>) => h.call('PUT', `${WS}/environments/production/resources/${id}/override`, { override });

beforeAll(async () => {
  h = await startHarness();
  baseUrl = await h.app.listen({ port: 0, host: '127.0.0.1' });
  await release({ 'config/checkout': config({ currency: 'EUR', retries: 3 }), 'config/banner': config('hello') });
  key = await createApiKey(h, 'production');
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

afterAll(async () => h?.close());

describe('reading resources', () => {
  it('get and getAll answer the resolved resources of the key environment', async () => {
    const c = client();
    const checkout = await c.get<{ value: { currency: string } }>('config', 'checkout');
    expect(checkout).toMatchObject({ kind: 'config', key: 'checkout', content: { value: { currency: 'EUR', retries: 3 } } });
    expect(checkout.content.value.currency).toBe('EUR');
    expect(checkout.hash).toMatch(/^[0-9a-f]{64}$/);
    const all = await c.getAll();
    expect(all.find((r) => r.key === 'checkout')).toEqual(checkout);
    expect(all.find((r) => r.key === 'banner')?.content).toEqual({ value: 'hello' });
  });

  it('a second get and getAll revalidate with If-None-Match and are answered 304', async () => {
    const t = tap();
    const c = client({ fetch: t.fetch });
    const first = await c.get('config', 'checkout');
    const list = await c.getAll();
    expect(await c.get('config', 'checkout')).toEqual(first);
    expect(await c.getAll()).toEqual(list);
    expect(t.calls.map((call) => [call.path, call.status, call.ifNoneMatch !== null])).toEqual([
      ['/v1/resources/config/checkout', 200, false],
      ['/v1/resources', 200, false],
      ['/v1/resources/config/checkout', 304, true],
      ['/v1/resources', 304, true],
    ]);
  });

  it('a changed resource is answered anew despite the cached ETag', async () => {
    await release({ 'config/rates': config(1) });
    const t = tap();
    const c = client({ fetch: t.fetch });
    expect((await c.get('config', 'rates')).content).toEqual({ value: 1 });
    expect((await setOverride('config/rates', { value: 2 })).status).toBe(200);
    expect((await c.get('config', 'rates')).content).toEqual({ value: 2 });
    expect(t.calls.map((call) => call.status)).toEqual([200, 200]);
    expect(t.calls[1]!.ifNoneMatch).not.toBeNull();
  });

  it('an absent resource is a 404 not_found, and a 404 drops the cached copy', async () => {
    await release({ 'config/doomed': config('soon gone') });
    const t = tap();
    const c = client({ fetch: t.fetch });
    const missing = await rejection(c.get('config', 'nowhere'));
    expect([missing.status, missing.code]).toEqual([404, 'not_found']);

    expect((await c.get('config', 'doomed')).content).toEqual({ value: 'soon gone' });
    expect((await setActive('config/doomed', false)).status).toBe(200);
    const gone = await rejection(c.get('config', 'doomed'));
    expect([gone.status, gone.code]).toEqual([404, 'not_found']);

    t.outage = 'network';
    const afterwards = await rejection(c.get('config', 'doomed'));
    expect(afterwards.code).toBe('unavailable');
  });

  it('a resource whose variable the environment lacks is a 409 unresolved_reference; the list leaves it out', async () => {
    expect((await h.call('PUT', `${WS}/variables/region`, { overrides: { development: 'eu' } })).status).toBe(200);
    await commitDrafts(h, { 'config/regional': config('{{ vars.region }}') });
    expect((await promote(h, 'production', { force: true })).status).toBe(201);
    const c = client();
    const error = await rejection(c.get('config', 'regional'));
    expect([error.status, error.code]).toEqual([409, 'unresolved_reference']);
    expect(error.message).toContain('region');
    const all = await c.getAll();
    expect(all.map((r) => r.key)).not.toContain('regional');
    expect(all.map((r) => r.key)).toContain('checkout');
  });
});

describe('last known good', () => {
  const outages: Outage[] = ['network', 'server error', 'timeout'];

  it.each(outages)('during a %s outage get and getAll answer the last good values', async (outage) => {
    const t = tap();
    const c = client({ fetch: t.fetch, timeoutMs: 200 });
    const checkout = await c.get('config', 'checkout');
    const all = await c.getAll();
    t.outage = outage;
    expect(await c.get('config', 'checkout')).toEqual(checkout);
    expect(await c.getAll()).toEqual(all);
    // getAll also stands in for a resource only ever read through the list.
    expect((await c.get('config', 'banner')).content).toEqual({ value: 'hello' });
  });

  it.each(outages)('during a %s outage a value never fetched is an unavailable error', async (outage) => {
    const t = tap();
    const c = client({ fetch: t.fetch, timeoutMs: 200 });
    t.outage = outage;
    const one = await rejection(c.get('config', 'checkout'));
    expect([one.code, one.status]).toEqual(['unavailable', outage === 'server error' ? 503 : 0]);
    expect((await rejection(c.getAll())).code).toBe('unavailable');
  });

  it('a real server going away is answered from the cache', async () => {
    const other = await startHarness();
    let closed = false;
    try {
      const url = await other.app.listen({ port: 0, host: '127.0.0.1' });
      await commitDrafts(other, { 'config/solo': config('here') });
      await promote(other, 'production');
      const c = client({ baseUrl: url, apiKey: await createApiKey(other, 'production') });
      const solo = await c.get('config', 'solo');
      await other.close();
      closed = true;
      expect(await c.get('config', 'solo')).toEqual(solo);
      expect((await rejection(c.get('config', 'other'))).code).toBe('unavailable');
    } finally {
      if (!closed) await other.close();
    }
  });
});

describe('authentication', () => {
  it('an unknown key is a 401 unauthenticated for get, getAll and subscribe', async () => {
    const t = tap();
    const c = client({ fetch: t.fetch, apiKey: `sk_${'x'.repeat(32)}`, reconnect: { initialDelayMs: 5, maxDelayMs: 10 } });
    for (const error of [await rejection(c.get('config', 'checkout')), await rejection(c.getAll())]) {
      expect([error.status, error.code]).toEqual([401, 'unauthenticated']);
    }
    const errors: Error[] = [];
    c.subscribe(() => {}, { onError: (e) => errors.push(e) });
    const refused = await until('the refusal', () => errors[0]);
    expect(refused).toMatchObject({ status: 401, code: 'unauthenticated' });
    // A refused key is not retried: many reconnect delays later there is still one attempt.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(t.calls.filter((call) => call.path === '/v1/stream')).toHaveLength(1);
    expect(errors).toHaveLength(1);
  });

  it('a revoked key is a 401, never masked by the cached value', async () => {
    const created = await h.call('POST', `${WS}/environments/production/api-keys`, { name: 'to revoke', kind: 'secret' });
    const c = client({ apiKey: created.body.key });
    await c.get('config', 'checkout');
    await c.getAll();
    expect((await h.call('DELETE', `${WS}/environments/production/api-keys/${created.body.id}`)).status).toBe(200);
    for (const error of [await rejection(c.get('config', 'checkout')), await rejection(c.getAll())]) {
      expect([error.status, error.code]).toEqual([401, 'unauthenticated']);
    }
  });
});

describe('subscribe', () => {
  it('delivers a release event after a promotion, with the cache already refreshed', async () => {
    await release({ 'config/live': config('v1') });
    const t = tap();
    const c = client({ fetch: t.fetch });
    expect((await c.getAll()).find((r) => r.key === 'live')?.content).toEqual({ value: 'v1' });
    const seen: { event: ChangeEvent; callIndex: number; all: Promise<unknown[]> }[] = [];
    c.subscribe((event) => seen.push({ event, callIndex: t.calls.length, all: c.getAll() }));
    await until('the stream to open', () => c.lastEventId !== null);

    await release({ 'config/live': config('v2') });
    const [first] = await until('the release event', () => seen.length > 0 && seen);
    expect(first!.event).toMatchObject({ type: 'release', data: { type: 'release' } });
    expect(first!.event.data.seq).toBe(first!.event.id);
    expect(first!.event.id).toBeGreaterThan(0);
    expect(c.lastEventId).toBe(first!.event.id);
    // The listener's own getAll is answered 304: the refresh before it already fetched v2.
    const listed = (await first!.all) as { key: string; content: unknown }[];
    expect(listed.find((r) => r.key === 'live')?.content).toEqual({ value: 'v2' });
    expect(t.calls[first!.callIndex - 1]).toMatchObject({ path: '/v1/resources', status: 200 });
    expect(t.calls[first!.callIndex]).toMatchObject({ path: '/v1/resources', status: 304 });
  });

  it('a dropped stream resumes with Last-Event-ID and delivers exactly the events made meanwhile', async () => {
    await release({ 'config/flow': config(0) });
    const { t, opened, reconnect } = brokenFirstStream();
    const c = client({ fetch: t.fetch });
    const events: ChangeEvent[] = [];
    const errors: Error[] = [];
    c.subscribe((event) => events.push(event), { onError: (e) => errors.push(e) });
    await until('the stream to open', () => c.lastEventId !== null);

    await release({ 'config/flow': config(1) });
    await until('the reconnection attempt', () => events.length === 1 && opened() === 2);
    expect(errors.map((e) => (e as StagelineError).code)).toEqual(['unavailable']);
    expect((await setOverride('config/flow', { value: 'overridden' })).status).toBe(200);
    expect((await setActive('config/flow', false)).status).toBe(200);
    reconnect();
    await until('the missed events', () => events.length >= 3);
    await release({ 'config/flow': config(2) });
    await until('the live event', () => events.length >= 4);

    expect(events.map((e) => e.type)).toEqual(['release', 'override', 'active', 'release']);
    const ids = events.map((e) => e.id);
    expect(ids).toEqual([...new Set(ids)].sort((a, b) => a - b));
    expect(t.calls.filter((call) => call.path === '/v1/stream').map((call) => call.lastEventId)).toEqual([null, String(ids[0])]);
  });

  it('a resume from before the kept events gets reset, and the SDK refetches everything first', async () => {
    await release({ 'config/kept': config('before') });
    const { t, opened, reconnect } = brokenFirstStream();
    const c = client({ fetch: t.fetch });
    expect((await c.get('config', 'kept')).content).toEqual({ value: 'before' });
    expect((await c.get('config', 'banner')).content).toEqual({ value: 'hello' });
    const events: { event: ChangeEvent; callIndex: number }[] = [];
    // Not even `refresh: false` skips the refetch a reset asks for.
    c.subscribe((event) => events.push({ event, callIndex: t.calls.length }), { refresh: false, onError: () => {} });
    await until('the stream to open', () => c.lastEventId !== null);
    await release({ 'config/kept': config('during') });
    await until('the reconnection attempt', () => events.length === 1 && opened() === 2);
    // While disconnected: more changes than the server keeps.
    expect((await setOverride('config/kept', { value: 'missed' })).status).toBe(200);
    expect((await setActive('config/banner', false)).status).toBe(200);
    await pruneChangeEvents(h.deps, 1);
    reconnect();
    const reset = await until('the reset event', () => events.find((e) => e.event.type === 'reset'));
    expect(events.map((e) => e.event.type)).toEqual(['release', 'reset']);
    expect(reset.event.id).toBe(c.lastEventId);
    const refetch = t.calls.slice(t.calls.findLastIndex((call) => call.path === '/v1/stream'), reset.callIndex);
    expect(refetch.map((call) => [call.path, call.status])).toEqual([
      ['/v1/stream', 200],
      ['/v1/resources', 200],
    ]);
    // The cache already holds what changed while the events were lost.
    t.outage = 'network';
    expect((await c.get('config', 'kept')).content).toEqual({ value: 'missed' });
    // Switched off meanwhile: gone from the cache, so not answered from it either.
    await expect(c.get('config', 'banner')).rejects.toMatchObject({ status: 0 });
    t.outage = null;
    // Live events follow the reset.
    await release({ 'config/kept': config('after') });
    await until('the live event', () => events.length === 3);
    expect(events[2]!.event).toMatchObject({ type: 'release' });
    expect(events[2]!.event.id).toBeGreaterThan(reset.event.id);
    expect((await setActive('config/banner', true)).status).toBe(200);
  });

  it('unsubscribe and close stop delivery and end the streams', async () => {
    const [a, b] = [client(), client()];
    const fromA: ChangeEvent[] = [];
    const fromB: ChangeEvent[] = [];
    const stopA = a.subscribe((event) => fromA.push(event));
    b.subscribe((event) => fromB.push(event));
    await until('both streams to open', () => a.lastEventId !== null && b.lastEventId !== null);
    const open = h.runtime.streams.size;

    stopA();
    await until('the server to see the stream end', () => h.runtime.streams.size <= open - 1);
    expect((await setOverride('config/banner', { value: 'hi' })).status).toBe(200);
    await until('the event on the other subscription', () => fromB.length === 1);
    expect(fromB[0]!.type).toBe('override');
    expect(fromA).toEqual([]);

    b.close();
    await until('every stream to end', () => h.runtime.streams.size === 0);
  });
});

/** `response` with a body that fails like a dropped connection once `marker` has been passed on. */
/**
 * A tapped fetch whose first stream breaks like a lost connection right after its first release
 * event, and whose second stream waits until `reconnect()` is called.
 */
function brokenFirstStream(): { t: Tap; opened: () => number; reconnect: () => void } {
  const t = tap();
  let streams = 0;
  let reconnect!: () => void;
  const reconnectAllowed = new Promise<void>((resolve) => (reconnect = resolve));
  t.before = async (call) => {
    if (call.path === '/v1/stream' && ++streams === 2) await reconnectAllowed;
  };
  t.after = (response, call) => (call.path === '/v1/stream' && streams === 1 ? breakAfter(response, /event: release\n[^\n]*\n\n/) : response);
  return { t, opened: () => streams, reconnect };
}

function breakAfter(response: Response, marker: RegExp): Response {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let seen = '';
  let broken = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (broken) {
        await reader.cancel();
        controller.error(new TypeError('terminated'));
        return;
      }
      const chunk = await reader.read();
      if (chunk.done) return controller.close();
      controller.enqueue(chunk.value);
      seen += decoder.decode(chunk.value, { stream: true });
      broken = marker.test(seen);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return new Response(body, { status: response.status, headers: response.headers });
}
