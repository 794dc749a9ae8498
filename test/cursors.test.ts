// Every paginated list speaks the one cursor encoding: its `next` pages on, and anything else —
// garbage, a hand-made position, another list's cursor — is a 400 naming `cursor`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, createApiKey, startHarness, WS, type Harness } from './support.js';

let h: Harness;
let key: string;

beforeAll(async () => {
  h = await startHarness();
  await commitDrafts(h, { 'config/a': config(1) });
  await commitDrafts(h, { 'config/b': config(2) });
  key = await createApiKey(h, 'development');
  for (const id of ['r1', 'r2']) await keyCall('PUT', `/v1/data/things/${id}`, { n: id });
});
afterAll(async () => h?.close());

async function keyCall(method: string, url: string, body?: unknown) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await h.app.inject({ method: method as any, url, headers, payload: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

type Get = (query: string) => Promise<{ status: number; body: any }>;
const member = (path: string): Get => (query) => h.call('GET', `${path}${path.includes('?') ? '&' : '?'}${query}`);
const runtime = (path: string): Get => (query) => keyCall('GET', `${path}?${query}`);

/** Lists with at least two entries here, so a page of one has a `next`. */
const paged: [string, Get][] = [
  ['audit log', member(`${WS}/audit-log`)],
  ['releases', member(`${WS}/environments/development/releases`)],
  ['resources', member(`${WS}/environments/development/resources`)],
  ['data records (members)', member(`${WS}/environments/development/data/things`)],
  ['data records (runtime)', runtime('/v1/data/things')],
  ['activity', member(`${WS}/activity`)],
];
/** Lists empty here: their cursors are still checked. */
const empty: [string, Get][] = [
  ['promotion requests', member(`${WS}/promotion-requests`)],
  ['feed', runtime('/v1/feeds/someone')],
];

const base64 = (text: string) => Buffer.from(text).toString('base64url');
const garbage = ['nope', '12', '!!!', base64('not json'), base64('{"seq":"1"}'), base64('[1]'), base64('null')];

describe('one cursor encoding', () => {
  it.each(paged)('%s: next pages on to entries of its own', async (_name, get) => {
    const first = await get('limit=1');
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(1);
    expect(first.body.next).toMatch(/^[A-Za-z0-9_-]+$/);
    const second = await get(`limit=1&cursor=${first.body.next}`);
    expect(second.status).toBe(200);
    expect(second.body.data).toHaveLength(1);
    expect(second.body.data[0]).not.toEqual(first.body.data[0]);
  });

  it.each([...paged, ...empty])('%s: garbage is a 400 invalid_request naming cursor', async (_name, get) => {
    for (const cursor of garbage) {
      const res = await get(`cursor=${encodeURIComponent(cursor)}`);
      expect(res.status, cursor).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.details[0]).toMatchObject({ field: 'cursor' });
    }
  });

  it.each(paged)('%s: refuses the cursor of another list', async (name, get) => {
    const others = paged.filter(([other]) => other !== name && !(other.startsWith('data') && name.startsWith('data')));
    const foreign = await Promise.all(others.map(async ([, other]) => (await other('limit=1')).body.next as string));
    // Lists ordered the same way share a position shape; the rest must refuse each other's.
    const shape = (cursor: string) => Object.keys(JSON.parse(Buffer.from(cursor, 'base64url').toString())).sort().join();
    const own = shape((await get('limit=1')).body.next);
    const refused = foreign.filter((cursor) => shape(cursor) !== own);
    expect(refused.length).toBeGreaterThan(0);
    for (const cursor of refused) expect((await get(`cursor=${cursor}`)).status).toBe(400);
  });
});
