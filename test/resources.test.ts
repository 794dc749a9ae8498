import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, createStaging, promote, startHarness, WS, type Harness } from './support.js';

let h: Harness;
const env = (slug: string) => `${WS}/environments/${slug}`;
const route = (url: string) => ({ match: { pathPrefix: '/payments', methods: ['GET', 'POST'] }, upstream: { url, timeoutMs: 5000 } });

beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
});
afterAll(async () => h?.close());

describe('drafts', () => {
  it('a draft shows beside the committed content until committed', async () => {
    await commitDrafts(h, { 'route/payments': route('https://api.example.com/v1') });
    await h.call('PUT', `${env('development')}/resources/route/payments`, { content: route('https://api2.example.com/v1'), app: 'billing' });
    const res = await h.call('GET', `${env('development')}/resources/route/payments`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      kind: 'route',
      key: 'payments',
      app: 'billing',
      committed: { content: route('https://api.example.com/v1'), release: 1 },
      draft: { content: route('https://api2.example.com/v1'), deleted: false },
      override: null,
      active: true,
    });
  });

  it('writing back the committed content leaves nothing to commit', async () => {
    await h.call('PUT', `${env('development')}/resources/route/payments`, { content: route('https://api.example.com/v1'), app: null });
    expect((await h.call('GET', `${env('development')}/changes`)).body.data).toEqual([]);
  });

  it('lists committed resources and drafts with their state, paginated', async () => {
    await h.call('PUT', `${env('development')}/resources/config/new-one`, { content: config(true) });
    await h.call('PUT', `${env('development')}/resources/layout/default`, { content: { html: '<p>{{ content }}</p>' } });
    const all = await h.call('GET', `${env('development')}/resources`);
    expect(all.body.data.map((r: any) => [`${r.kind}/${r.key}`, r.draft])).toEqual([
      ['config/new-one', 'created'],
      ['layout/default', 'created'],
      ['route/payments', null],
    ]);
    const page1 = await h.call('GET', `${env('development')}/resources?limit=2`);
    expect(page1.body.data).toHaveLength(2);
    const page2 = await h.call('GET', `${env('development')}/resources?limit=2&cursor=${page1.body.next}`);
    expect(page2.body.data.map((r: any) => r.key)).toEqual(['payments']);
    expect(page2.body.next).toBeNull();
    const routes = await h.call('GET', `${env('development')}/resources?kind=route`);
    expect(routes.body.data.map((r: any) => r.key)).toEqual(['payments']);
  });

  it('deleting a never-committed draft discards it', async () => {
    expect((await h.call('DELETE', `${env('development')}/resources/config/new-one`)).status).toBe(200);
    expect((await h.call('GET', `${env('development')}/resources/config/new-one`)).status).toBe(404);
    expect((await h.call('DELETE', `${env('development')}/resources/config/never`)).status).toBe(404);
  });

  it('changes shows each draft with its field diff', async () => {
    await h.call('PUT', `${env('development')}/resources/route/payments`, { content: route('https://v3.example.com') });
    const res = await h.call('GET', `${env('development')}/changes`);
    const payments = res.body.data.find((c: any) => c.key === 'payments');
    expect(payments.status).toBe('changed');
    expect(payments.fields).toEqual([{ path: '/upstream/url', before: 'https://api.example.com/v1', after: 'https://v3.example.com' }]);
    await h.call('POST', `${env('development')}/commits`, { message: 'v3' });
  });
});

describe('kill switch and override', () => {
  it('kill switch and override are immediate and survive promotion and rollback', async () => {
    await promote(h, 'staging');
    const first = (await promote(h, 'production')).body.number;
    const prod = `${env('production')}/resources/route/payments`;

    const off = await h.call('PUT', `${prod}/active`, { active: false });
    expect(off.status).toBe(200);
    const over = await h.call('PUT', `${prod}/override`, { override: { upstream: { url: 'https://prod.example.com' } } });
    expect(over.status).toBe(200);
    expect((await h.call('GET', prod)).body).toMatchObject({ active: false, override: { upstream: { url: 'https://prod.example.com' } } });

    await commitDrafts(h, { 'route/payments': route('https://v4.example.com') });
    await promote(h, 'staging');
    await promote(h, 'production');
    let read = (await h.call('GET', prod)).body;
    expect(read.committed.content.upstream.url).toBe('https://v4.example.com');
    expect(read.active).toBe(false);
    expect(read.override).toEqual({ upstream: { url: 'https://prod.example.com' } });

    await h.call('POST', `${env('production')}/rollbacks`, { release: first });
    read = (await h.call('GET', prod)).body;
    expect(read.committed.content.upstream.url).toBe('https://v3.example.com');
    expect(read.active).toBe(false);
    expect(read.override).toEqual({ upstream: { url: 'https://prod.example.com' } });
  });

  it('overrides are not promoted', async () => {
    await h.call('PUT', `${env('staging')}/resources/route/payments/override`, { override: { upstream: { timeoutMs: 100 } } });
    await promote(h, 'production');
    expect((await h.call('GET', `${env('production')}/resources/route/payments`)).body.override).toEqual({ upstream: { url: 'https://prod.example.com' } });
  });

  it('an override that would make the resource invalid is refused with the field path', async () => {
    const res = await h.call('PUT', `${env('production')}/resources/route/payments/override`, { override: { upstream: { url: 'not a url' } } });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: any) => d.field)).toEqual(['override.upstream.url']);
  });

  it('deleting an override returns to the committed content', async () => {
    expect((await h.call('DELETE', `${env('production')}/resources/route/payments/override`)).status).toBe(204);
    expect((await h.call('GET', `${env('production')}/resources/route/payments`)).body.override).toBeNull();
    expect((await h.call('DELETE', `${env('production')}/resources/route/payments/override`)).status).toBe(404);
  });

  it('the kill switch and override of an unknown resource are 404', async () => {
    expect((await h.call('PUT', `${env('production')}/resources/route/nope/active`, { active: false })).status).toBe(404);
    expect((await h.call('PUT', `${env('production')}/resources/route/nope/override`, { override: {} })).status).toBe(404);
  });
});

describe('listing with filters', () => {
  it('pages through an app filter without skipping resources', async () => {
    // More than one read batch (200) of other apps' resources sorts before the billing ones.
    for (let i = 0; i < 230; i++) await h.call('PUT', `${env('development')}/resources/config/a-other-${i}`, { content: config(i), app: 'other' });
    for (let i = 0; i < 5; i++) await h.call('PUT', `${env('development')}/resources/config/b-billing-${i}`, { content: config(i), app: 'billing' });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await h.call('GET', `${env('development')}/resources?app=billing&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((r: any) => `${r.kind}/${r.key}`));
      cursor = page.body.next;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 5 }, (_, i) => `config/b-billing-${i}`));
  });

  it('the app of a draft decides which app a resource is listed under', async () => {
    await h.call('PUT', `${env('development')}/resources/route/payments`, { content: route('https://v5.example.com'), app: 'billing' });
    const billing = await h.call('GET', `${env('development')}/resources?app=billing&kind=route`);
    expect(billing.body.data).toEqual([expect.objectContaining({ key: 'payments', app: 'billing', draft: 'modified' })]);
  });
});
