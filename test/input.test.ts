// Bad input of every kind gets a 4xx with a code and a message naming the field — never a 5xx.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, createApiKey, createStaging, startHarness, WS, type Harness } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  await commitDrafts(h, { 'config/a': config(1) });
});
afterAll(async () => h?.close());

const raw = (method: string, url: string, payload: string | Buffer, contentType = 'application/json') =>
  h.app.inject({ method: method as any, url, payload, headers: { authorization: `Bearer ${h.token}`, 'content-type': contentType } });

describe('malformed requests', () => {
  it('malformed JSON → 400 invalid_json', async () => {
    const res = await raw('PUT', `${WS}/environments/development/resources/config/a`, '{"content": {"value": 1,');
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_json');
  });

  it('a body larger than the limit → 413 payload_too_large', async () => {
    const big = JSON.stringify({ content: { value: 'x'.repeat(2 * 1024 * 1024) } });
    const res = await raw('PUT', `${WS}/environments/development/resources/config/a`, big);
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('payload_too_large');
  });

  it('a body that is not JSON → 415 unsupported_media_type', async () => {
    const res = await raw('POST', `${WS}/environments/development/commits`, 'message=hi', 'application/x-www-form-urlencoded');
    expect(res.statusCode).toBe(415);
    expect(res.json().error.code).toBe('unsupported_media_type');
  });

  it('a missing body → 400 naming the field', async () => {
    const res = await h.app.inject({ method: 'POST', url: `${WS}/environments/development/commits`, headers: { authorization: `Bearer ${h.token}` } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_request');
  });

  it.each([
    ['a resource draft', 'PUT', `${WS}/environments/development/resources/config/deep`, 'member'],
    ['a promotion', 'POST', `${WS}/environments/production/promotions`, 'member'],
    ['a data record', 'PUT', '/v1/data/users/deep', 'key'],
  ])('JSON nested 10,000 deep in %s → 400, never a 5xx', async (_name, method, url, credential) => {
    const token = credential === 'key' ? await createApiKey(h, 'development') : h.token;
    const deep = '{"content":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    const res = await h.app.inject({ method: method as 'PUT' | 'POST', url, payload: deep, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_request');
  });

  it('JSON nested deeper than 64 levels → 400 naming the limit', async () => {
    const deep = '{"content":{"value":' + '{"a":'.repeat(70) + '1' + '}'.repeat(70) + '}}';
    const res = await raw('PUT', `${WS}/environments/development/resources/config/deep`, deep);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details[0].message).toContain('64 levels');
  });

  it('an unknown route → 404 not_found in the error shape', async () => {
    const res = await h.call('GET', '/api/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});

describe('field validation', () => {
  it.each([
    ['unknown top-level field', 'POST', '/environments', { slug: 'qa', colour: 'red' }, ['colour']],
    ['wrong type', 'POST', '/environments', { slug: 'qa', protected: 'yes' }, ['protected']],
    ['bad slug', 'POST', '/environments', { slug: 'QA env' }, ['slug']],
    ['bad color', 'PATCH', '/environments/staging', { color: 'red' }, ['color']],
    ['unknown field in a commit', 'POST', '/environments/development/commits', { message: 'x', force: true }, ['force']],
    ['empty message', 'POST', '/environments/development/commits', { message: '' }, ['message']],
    ['release not a number', 'POST', '/environments/production/rollbacks', { release: 'latest' }, ['release']],
    ['negative expectedRelease', 'POST', '/environments/staging/promotions', { expectedRelease: -1 }, ['expectedRelease']],
    ['bad resource id', 'POST', '/environments/staging/promotions', { resources: ['nokind'] }, ['resources.0']],
    ['active not boolean', 'PUT', '/environments/staging/resources/config/a/active', { active: 'off' }, ['active']],
    ['override not an object', 'PUT', '/environments/staging/resources/config/a/override', { override: [1] }, ['override']],
    ['draft without content', 'PUT', '/environments/development/resources/config/a', { app: 'x' }, ['content']],
    ['draft with a bad app label', 'PUT', '/environments/development/resources/config/a', { content: config(1), app: 'Bad App' }, ['app']],
    ['unknown kind in the path', 'PUT', '/environments/development/resources/widget/a', { content: {} }, ['kind']],
    ['bad key in the path', 'PUT', '/environments/development/resources/config/-a', { content: config(1) }, ['key']],
    ['config without value', 'PUT', '/environments/development/resources/config/b', { content: { public: 'yes' } }, ['content.value', 'content.public']],
    [
      'route with several bad fields',
      'PUT',
      '/environments/development/resources/route/r',
      { content: { match: { pathPrefix: 'payments', methods: ['FETCH'] }, upstream: { url: 'ftp://x', timeoutMs: 0 }, extra: 1 } },
      ['content.match.pathPrefix', 'content.match.methods.0', 'content.upstream.url', 'content.upstream.timeoutMs', 'content.extra'],
    ],
    [
      'workflow step of an unknown type',
      'PUT',
      '/environments/development/resources/workflow/w',
      { content: { name: 'W', steps: [{ type: 'sms', body: 'hi' }] } },
      ['content.steps.0.type'],
    ],
    [
      'config value against its JSON Schema',
      'PUT',
      '/environments/development/resources/config/limits',
      { content: { value: { max: 'ten' }, schema: { type: 'object', properties: { max: { type: 'integer' } }, required: ['max', 'min'] } } },
      ['content.value.max', 'content.value.min'],
    ],
    ['bad query limit', 'GET', '/environments/development/resources?limit=100000', undefined, ['limit']],
    ['bad audit time', 'GET', '/audit-log?since=yesterday', undefined, ['since']],
    ['bad release cursor', 'GET', '/environments/development/releases?cursor=abc', undefined, ['cursor']],
  ])('%s → 400 naming each bad field', async (_name, method, path, body, fields) => {
    const res = await h.call(method, `${WS}${path}`, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details.map((d: any) => d.field).sort()).toEqual([...fields].sort());
    expect(fields.some((field) => res.body.error.message.includes(field))).toBe(true);
  });
});

describe('no input produces a 5xx', () => {
  const bodies: unknown[] = [
    null,
    [],
    0,
    'string',
    true,
    {},
    { content: null },
    { content: { value: { a: [1, { b: null }] } } },
    { content: { steps: 'x' } },
    { slug: null, name: 5 },
    { message: 'm', resources: [] },
    { message: 'm', resources: Array(3).fill('config/a') },
    { release: 1e300 },
    { release: 1.5 },
    { override: { upstream: null } },
    { from: 'development', release: 0 },
    { active: null },
    { ['__proto__']: { polluted: true } },
    { constructor: { prototype: { x: 1 } } },
  ];
  const paths = [
    ['POST', '/environments'],
    ['PATCH', '/environments/staging'],
    ['PUT', '/environments/development/resources/config/z'],
    ['PUT', '/environments/development/resources/route/z'],
    ['PUT', '/environments/development/resources/workflow/z'],
    ['PUT', '/environments/staging/resources/config/a/active'],
    ['PUT', '/environments/staging/resources/config/a/override'],
    ['POST', '/environments/development/commits'],
    ['POST', '/environments/staging/promotions'],
    ['POST', '/environments/staging/rollbacks'],
    ['POST', '/api/workspaces'],
  ];
  it('every body on every mutating route answers below 500', async () => {
    const failures: string[] = [];
    for (const [method, path] of paths) {
      for (const body of bodies) {
        const url = path!.startsWith('/api') ? path! : `${WS}${path}`;
        const res = await raw(method!, url, JSON.stringify(body));
        if (res.statusCode >= 500) failures.push(`${method} ${path} ${JSON.stringify(body)} → ${res.statusCode} ${res.body}`);
        else if (res.statusCode >= 400) expect(res.json().error.code).toMatch(/^[a-z_]+$/);
      }
    }
    expect(failures).toEqual([]);
    expect(({} as any).polluted).toBeUndefined();
  });

  it('every response carries a request id, and a caller-supplied one is echoed', async () => {
    const res = await h.app.inject({ method: 'GET', url: `${WS}/environments`, headers: { authorization: `Bearer ${h.token}`, 'x-request-id': 'trace-123' } });
    expect(res.headers['x-request-id']).toBe('trace-123');
    const bad = await h.app.inject({ method: 'GET', url: '/api/workspaces', headers: { 'x-request-id': 'bad id with spaces' } });
    expect(bad.statusCode).toBe(401);
    expect(bad.headers['x-request-id']).toMatch(/^req_[0-9a-f]{12}[0-9a-z]{6,}$/);
  });
});

describe('limits of the databases are 4xx, not 5xx', () => {
  it.each([
    ['a release number beyond 32 bits', 'POST', '/environments/staging/promotions', { release: 3e9 }, 'release'],
    ['an expectedRelease beyond 32 bits', 'POST', '/environments/staging/promotions', { expectedRelease: 3e9 }, 'expectedRelease'],
    ['a release cursor beyond 32 bits', 'GET', '/environments/development/releases?cursor=99999999999', undefined, 'cursor'],
    ['an audit cursor beyond 32 bits', 'GET', '/audit-log?cursor=99999999999', undefined, 'cursor'],
    ['a NUL in a commit message', 'POST', '/environments/development/commits', { message: 'a\u0000b' }, 'message'],
    ['a NUL in an environment name', 'POST', '/environments', { slug: 'nul-env', name: 'x\u0000' }, 'name'],
    ['a NUL in resource content', 'PUT', '/environments/development/resources/config/nul', { content: { value: { k: 'a\u0000' } } }, 'content.value.k'],
    ['a NUL in a query filter', 'GET', '/audit-log?actor=a%00b', undefined, 'actor'],
  ])('%s → 400 naming the field', async (_name, method, path, body, field) => {
    const res = await h.call(method, `${WS}${path}`, body);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
  });

  it('a NUL in a path parameter → 400', async () => {
    const res = await h.call('GET', '/api/workspaces/de%00fault/environments');
    expect(res.status).toBe(400);
  });

  it('a URL that cannot be decoded gets the documented error shape', async () => {
    const res = await h.call('GET', `${WS}/environments/%E0%A4%A`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
  });

  it('a commit naming thousands of resources is answered, not crashed', async () => {
    const resources = Array.from({ length: 2500 }, (_, i) => `config/none-${i}`);
    const res = await h.call('POST', `${WS}/environments/development/commits`, { message: 'many', resources });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toHaveLength(2500);
  });
});
