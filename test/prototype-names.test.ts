// Names equal to members of Object.prototype (`constructor`, `__proto__`, `toString`, …) are
// ordinary names: every name the patterns allow works like any other, and every name they refuse
// gets a clean 400, through every operation that takes one, on both databases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, eventually, memberToken, startHarness, WS, type Harness } from './support.js';

const NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'] as const;
/** The environment slug pattern (lowercase letters, digits, hyphens) allows only this one. */
const ENV = 'constructor';

let h: Harness;
let envKey: string;
let devKey: string;
beforeAll(async () => {
  h = await startHarness();
  expect((await h.call('POST', `${WS}/environments`, { slug: ENV, name: 'Constructor' })).status).toBe(201);
  envKey = await createApiKey(h, ENV);
  devKey = await createApiKey(h, 'development');
});
afterAll(async () => h?.close());

const enc = encodeURIComponent;

/** A runtime call with an API key. */
async function runtime(key: string, method: string, path: string, body?: unknown) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await h.app.inject({ method: method as any, url: path, headers, payload: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : null };
}

function expectBadRequest(res: { status: number; body: any }, field: string) {
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe('invalid_request');
  expect(JSON.stringify(res.body.error.details)).toContain(field);
}

describe('an environment named after a prototype member', () => {
  it.each(NAMES.filter((n) => n !== ENV))('%s is refused by the slug pattern with a 400', async (name) => {
    expectBadRequest(await h.call('POST', `${WS}/environments`, { slug: name }), 'slug');
  });

  it.each(NAMES.filter((n) => n !== ENV))('calls on an environment %s that does not exist answer 404', async (name) => {
    for (const path of ['', '/resources', '/changes', '/releases', '/releases/1', '/secrets', '/secrets/x', '/settings/branding', '/api-keys', '/freezes', '/data/users', '/data/users/u1']) {
      const res = await h.call('GET', `${WS}/environments/${enc(name)}${path}`);
      expect([res.status, path]).toEqual([404, path]);
      expect(res.body.error.code).toBe('not_found');
    }
    const put = await h.call('PUT', `${WS}/environments/${enc(name)}/secrets/x`, { value: 'v' });
    expect(put.status).toBe(404);
    const draft = await h.call('PUT', `${WS}/environments/${enc(name)}/resources/config/a`, { content: { value: 1 } });
    expect(draft.status).toBe(404);
    expect((await h.call('POST', `${WS}/environments/${enc(name)}/promotions`, {})).status).toBe(404);
  });

  it('is listed, read and patched like any other', async () => {
    const list = await h.call('GET', `${WS}/environments`);
    expect(list.body.data.map((e: any) => e.slug)).toEqual(['development', ENV, 'production']);
    const one = await h.call('GET', `${WS}/environments/${ENV}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ slug: ENV, name: 'Constructor', editable: false });
    expect((await h.call('PATCH', `${WS}/environments/${ENV}`, { color: '#112233' })).body.color).toBe('#112233');
    for (const path of ['/resources', '/changes', '/releases', '/secrets', '/api-keys', '/freezes', '/data/users']) {
      const res = await h.call('GET', `${WS}/environments/${ENV}${path}`);
      expect([res.status, path]).toEqual([200, path]);
    }
  });

  it('takes promotions and serves /v1 reads with its own key', async () => {
    const draft = await h.call('PUT', `${WS}/environments/development/resources/config/greeting`, { content: { value: 'hi' } });
    expect(draft.status).toBe(200);
    expect((await h.call('POST', `${WS}/environments/development/commits`, { message: 'greeting' })).status).toBe(201);
    const promoted = await h.call('POST', `${WS}/environments/${ENV}/promotions`, { message: 'up' });
    expect(promoted.status).toBe(201);
    expect(promoted.body).toMatchObject({ environment: ENV, number: 1, cause: 'promotion' });
    expect((await h.call('GET', `${WS}/environments/${ENV}/releases/1`)).status).toBe(200);
    const read = await runtime(envKey, 'GET', '/v1/resources/config/greeting');
    expect(read.status).toBe(200);
    expect(read.body.content).toEqual({ value: 'hi' });
    expect((await h.call('GET', `${WS}/diff?from=development&to=${ENV}`)).status).toBe(200);
  });

  it('holds secrets, settings and a variable override of its own', async () => {
    const put = await h.call('PUT', `${WS}/environments/${ENV}/secrets/x`, { value: 'shh' });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ name: 'x', environment: ENV });
    expect((await h.call('GET', `${WS}/environments/${ENV}/secrets/x`)).body.name).toBe('x');
    expect((await h.call('DELETE', `${WS}/environments/${ENV}/secrets/x`)).status).toBe(204);
    const setting = await h.call('PUT', `${WS}/environments/${ENV}/settings/branding`, { value: { primaryColor: '#000000' } });
    expect(setting.status).toBe(200);
    const variable = await h.call('PUT', `${WS}/variables/app_url`, { value: 'dev', overrides: { [ENV]: 'ctor' } });
    expect(variable.status).toBe(200);
    expect(variable.body.overrides).toEqual({ [ENV]: 'ctor' });
    expect((await h.call('GET', `${WS}/variables/app_url`)).body.overrides).toEqual({ [ENV]: 'ctor' });
  });

  it('a member with a role narrowed there (or not) is authorised by that role', async () => {
    const narrowed = await h.call('POST', `${WS}/members`, { email: 'ctor@example.com', password: 'correct horse battery', role: 'developer', environmentRoles: { [ENV]: 'viewer' } });
    expect(narrowed.status).toBe(201);
    expect(narrowed.body.environmentRoles).toEqual({ [ENV]: 'viewer' });
    const viewerThere = await memberToken(h, 'viewer-there@example.com', 'developer', { [ENV]: 'viewer' });
    expect((await h.call('GET', `${WS}/environments/${ENV}/resources`, undefined, viewerThere)).status).toBe(200);
    expect((await h.call('PUT', `${WS}/environments/${ENV}/secrets/y`, { value: 'v' }, viewerThere)).status).toBe(403);
    expect((await h.call('PUT', `${WS}/environments/development/secrets/y`, { value: 'v' }, viewerThere)).status).toBe(200);
    const developer = await memberToken(h, 'dev-everywhere@example.com', 'developer');
    expect((await h.call('GET', `${WS}/environments/${ENV}/resources`, undefined, developer)).status).toBe(200);
    expect((await h.call('PUT', `${WS}/environments/${ENV}/secrets/y`, { value: 'v' }, developer)).status).toBe(200);
    const token = await h.call('POST', `${WS}/tokens`, { name: 'ci', role: 'viewer', environmentRoles: { [ENV]: 'developer' } });
    expect(token.status).toBe(201);
    expect((await h.call('PUT', `${WS}/environments/${ENV}/secrets/z`, { value: 'v' }, token.body.token)).status).toBe(200);
    expect((await h.call('PUT', `${WS}/environments/development/secrets/z`, { value: 'v' }, token.body.token)).status).toBe(403);
  });

  it('members and tokens get a 400 for role names keyed by slugs that are no environment', async () => {
    for (const name of NAMES.filter((n) => n !== ENV && n !== '__proto__')) {
      expectBadRequest(await h.call('POST', `${WS}/members`, { email: `${name}@example.com`, role: 'viewer', environmentRoles: { [name]: 'viewer' } }), `environmentRoles.${name}`);
      expectBadRequest(await h.call('POST', `${WS}/tokens`, { name, role: 'viewer', environmentRoles: { [name]: 'viewer' } }), `environmentRoles.${name}`);
    }
    const proto = await h.call('POST', `${WS}/tokens`, JSON.parse('{"name":"p","role":"viewer","environmentRoles":{"__proto__":"owner"}}'));
    expect(proto.status).toBe(400);
  });
});

describe.each(NAMES)('the name %s', (name) => {
  const keyAllowed = name !== '__proto__';

  it('as a resource key: draft, read, list, commit, promote, override, kill switch, /v1 read, delete', async () => {
    const path = `${WS}/environments/development/resources/config/${enc(name)}`;
    const draft = await h.call('PUT', path, { content: { value: name } });
    if (!keyAllowed) {
      expectBadRequest(draft, 'key');
      expectBadRequest(await h.call('GET', path), 'key');
      expectBadRequest(await runtime(devKey, 'GET', `/v1/resources/config/${enc(name)}`), 'key');
      return;
    }
    expect(draft.status).toBe(200);
    expect((await h.call('GET', path)).body.draft.content).toEqual({ value: name });
    expect((await h.call('GET', `${WS}/environments/development/changes`)).body.data.map((c: any) => c.key)).toContain(name);
    expect((await h.call('POST', `${WS}/environments/development/commits`, { message: name, resources: [`config/${name}`] })).status).toBe(201);
    expect((await h.call('POST', `${WS}/environments/${ENV}/promotions`, { message: name, resources: [`config/${name}`] })).status).toBe(201);
    const listed = await h.call('GET', `${WS}/environments/${ENV}/resources`);
    expect(listed.body.data.map((r: any) => r.key)).toContain(name);
    const override = await h.call('PUT', `${WS}/environments/${ENV}/resources/config/${enc(name)}/override`, { override: { value: `${name}!` } });
    expect(override.status).toBe(200);
    expect((await runtime(envKey, 'GET', `/v1/resources/config/${enc(name)}`)).body.content).toEqual({ value: `${name}!` });
    expect((await runtime(envKey, 'GET', '/v1/resources')).body.data.map((r: any) => r.key)).toContain(name);
    expect((await h.call('DELETE', `${WS}/environments/${ENV}/resources/config/${enc(name)}/override`)).status).toBe(204);
    expect((await h.call('PUT', `${WS}/environments/${ENV}/resources/config/${enc(name)}/active`, { active: false })).status).toBe(200);
    expect((await runtime(envKey, 'GET', `/v1/resources/config/${enc(name)}`)).status).toBe(404);
    expect((await h.call('PUT', `${WS}/environments/${ENV}/resources/config/${enc(name)}/active`, { active: true })).status).toBe(200);
    expect((await runtime(envKey, 'GET', `/v1/resources/config/${enc(name)}`)).body.content).toEqual({ value: name });
    expect((await h.call('DELETE', path)).status).toBe(200);
    expect((await h.call('GET', path)).body.draft.deleted).toBe(true);
  });

  it('as a resource kind: refused with a 400 naming the kind', async () => {
    const path = `${WS}/environments/development/resources/${enc(name)}/k`;
    expectBadRequest(await h.call('PUT', path, { content: { value: 1 } }), 'kind');
    expectBadRequest(await h.call('GET', path), 'kind');
    const filtered = await h.call('GET', `${WS}/environments/development/resources?kind=${enc(name)}`);
    expect([filtered.status, filtered.body.data]).toEqual([200, []]);
    expectBadRequest(await runtime(devKey, 'GET', `/v1/resources/${enc(name)}/k`), 'kind');
  });

  it('as an override field: merged like any other', async () => {
    const key = `ov-${name.replace(/_/g, 'u')}`;
    await h.call('PUT', `${WS}/environments/development/resources/config/${key}`, { content: { value: { a: 1 } } });
    expect((await h.call('POST', `${WS}/environments/development/commits`, { message: key, resources: [`config/${key}`] })).status).toBe(201);
    const body = `{"override":{"value":{"${name}":2}}}`;
    const res = await h.app.inject({ method: 'PUT', url: `${WS}/environments/development/resources/config/${key}/override`, headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' }, payload: body });
    if (name === '__proto__') {
      expect(res.statusCode).toBe(400);
      return;
    }
    expect(res.statusCode).toBe(200);
    expect((await runtime(devKey, 'GET', `/v1/resources/config/${key}`)).body.content).toEqual({ value: { a: 1, [name]: 2 } });
  });

  it('as a variable: write with an override, read, list, delete; as an override key of no environment: 400', async () => {
    const path = `${WS}/variables/${enc(name)}`;
    const put = await h.call('PUT', path, { value: `default-${name}`, overrides: { [ENV]: `ctor-${name}` } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ name, value: `default-${name}`, overrides: { [ENV]: `ctor-${name}` } });
    expect((await h.call('GET', path)).body.overrides).toEqual({ [ENV]: `ctor-${name}` });
    expect((await h.call('GET', `${WS}/variables`)).body.data.map((v: any) => v.name)).toContain(name);
    if (name !== ENV && name !== '__proto__') {
      expectBadRequest(await h.call('PUT', `${WS}/variables/x`, { value: 1, overrides: { [name]: 1 } }), `overrides.${name}`);
    }
    expect((await h.call('DELETE', path)).status).toBe(204);
    expect((await h.call('GET', path)).status).toBe(404);
  });

  it('as a variable and a secret referenced from content: missing until set, then resolved per environment', async () => {
    const key = `ref-${name.replace(/_/g, 'u')}`;
    const content = { value: { v: `{{ vars.${name} }}`, s: `{{ secrets.${name} }}` } };
    await h.call('PUT', `${WS}/environments/development/resources/config/${key}`, { content });
    expect((await h.call('POST', `${WS}/environments/development/commits`, { message: key, resources: [`config/${key}`] })).status).toBe(201);
    const refused = await h.call('POST', `${WS}/environments/${ENV}/promotions`, { message: key, resources: [`config/${key}`] });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('missing_references');
    expect(refused.body.error.details.map((m: any) => m.reference).sort()).toEqual([`secrets.${name}`, `vars.${name}`]);
    expect((await h.call('PUT', `${WS}/variables/${enc(name)}`, { value: 'default', overrides: { [ENV]: `v-${name}` } })).status).toBe(200);
    expect((await h.call('PUT', `${WS}/environments/${ENV}/secrets/${enc(name)}`, { value: `s-${name}` })).status).toBe(200);
    const plan = await h.call('POST', `${WS}/environments/${ENV}/promotions`, { message: key, resources: [`config/${key}`], dryRun: true });
    expect(plan.status).toBe(200);
    expect(plan.body.missingReferences).toEqual([]);
    expect(plan.body.references.find((r: any) => r.reference === `vars.${name}`)).toMatchObject({ value: `v-${name}` });
    expect((await h.call('POST', `${WS}/environments/${ENV}/promotions`, { message: key, resources: [`config/${key}`] })).status).toBe(201);
    const read = await runtime(envKey, 'GET', `/v1/resources/config/${key}`);
    expect(read.status).toBe(200);
    expect(read.body.content).toEqual({ value: { v: `v-${name}`, s: `s-${name}` } });
    await h.call('DELETE', `${WS}/variables/${enc(name)}`);
    await h.call('DELETE', `${WS}/environments/${ENV}/secrets/${enc(name)}`);
  });

  it('as a secret: write, read, list, delete, in development and in the environment of that name', async () => {
    for (const env of ['development', ENV]) {
      const path = `${WS}/environments/${env}/secrets/${enc(name)}`;
      const put = await h.call('PUT', path, { value: `s-${name}` });
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({ name, environment: env });
      expect((await h.call('GET', path)).body.name).toBe(name);
      expect((await h.call('GET', `${WS}/environments/${env}/secrets`)).body.data.map((s: any) => s.name)).toContain(name);
      expect((await h.call('DELETE', path)).status).toBe(204);
      expect((await h.call('GET', path)).status).toBe(404);
    }
  });

  it('as a setting: a free-form setting where the name pattern allows it, else a 400', async () => {
    for (const env of ['development', ENV]) {
      const path = `${WS}/environments/${env}/settings/${enc(name)}`;
      if (name !== ENV) {
        expectBadRequest(await h.call('PUT', path, { value: {} }), 'name');
        expectBadRequest(await h.call('GET', path), 'name');
        expectBadRequest(await h.call('DELETE', path), 'name');
        continue;
      }
      expect((await h.call('GET', path)).status).toBe(404);
      expect((await h.call('PUT', path, { value: { a: 1 } })).status).toBe(200);
      expect((await h.call('GET', path)).body).toMatchObject({ name, value: { a: 1 }, environment: env });
      expect((await h.call('GET', `${WS}/environments/${env}/settings`)).body.data.map((s: any) => s.name)).toContain(name);
      expect((await h.call('DELETE', path)).status).toBe(204);
      expect((await h.call('GET', path)).status).toBe(404);
    }
  });

  it('as a data collection and a record id: write, read, list, delete, and the members view', async () => {
    const collectionAllowed = name === ENV;
    const collection = collectionAllowed ? name : 'things';
    if (!collectionAllowed) {
      expectBadRequest(await runtime(envKey, 'PUT', `/v1/data/${enc(name)}/r1`, { a: 1 }), 'collection');
      expectBadRequest(await runtime(envKey, 'GET', `/v1/data/${enc(name)}`), 'collection');
      expectBadRequest(await h.call('GET', `${WS}/environments/${ENV}/data/${enc(name)}`), 'collection');
    }
    const path = `/v1/data/${collection}/${enc(name)}`;
    // A body with a `__proto__` key is refused by the JSON parser, cleanly; any other name is a field.
    const field = name === '__proto__' ? 'proto' : name;
    if (name === '__proto__') expect((await runtime(envKey, 'PUT', path, JSON.parse('{"__proto__":1}'))).status).toBe(400);
    const value = { [field]: 1, nested: { [field]: name } };
    const put = await runtime(envKey, 'PUT', path, value);
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({ id: name, collection, value });
    expect((await runtime(envKey, 'GET', path)).body.value).toEqual(value);
    expect((await runtime(envKey, 'GET', `/v1/data/${collection}`)).body.data.map((r: any) => r.id)).toContain(name);
    expect((await h.call('GET', `${WS}/environments/${ENV}/data/${collection}/${enc(name)}`)).body.value).toEqual(value);
    expect((await runtime(devKey, 'GET', path)).status).toBe(404);
    expect((await runtime(envKey, 'DELETE', path)).status).toBe(204);
    expect((await runtime(envKey, 'GET', path)).status).toBe(404);
  });

  it('as a recipient: a trigger delivers to its in-app feed, by record id and inline', async () => {
    const workflow = 'notify';
    const existing = await h.call('GET', `${WS}/environments/development/resources/workflow/${workflow}`);
    if (existing.status === 404 || existing.body.committed === null) {
      const content = { name: 'Notify', steps: [{ type: 'channel', channel: 'in_app', template: { body: 'hello {{ recipient.id }}' } }] };
      await h.call('PUT', `${WS}/environments/development/resources/workflow/${workflow}`, { content });
      expect((await h.call('POST', `${WS}/environments/development/commits`, { message: workflow, resources: [`workflow/${workflow}`] })).status).toBe(201);
    }
    expect((await runtime(devKey, 'PUT', `/v1/data/users/${enc(name)}`, { name })).status).toBe(201);
    const field = name === '__proto__' ? 'proto' : name;
    const byRecord = await runtime(devKey, 'POST', `/v1/workflows/${workflow}/trigger`, { recipients: [name], data: { [field]: 1 } });
    expect(byRecord.status).toBe(202);
    const inline = `${name}-inline`;
    const byObject = await runtime(devKey, 'POST', `/v1/workflows/${workflow}/trigger`, { recipients: [{ id: inline, [field]: 1 }], data: {} });
    expect(byObject.status).toBe(202);
    const duplicate = await runtime(devKey, 'POST', `/v1/workflows/${workflow}/trigger`, { recipients: [name, { id: name }], data: {} });
    expect(duplicate.status).toBe(400);
    for (const [recipient, run] of [[name, byRecord.body.runId], [inline, byObject.body.runId]] as const) {
      await eventually(async () => expect((await runtime(devKey, 'GET', `/v1/workflow-runs/${run}`)).body.status).toBe('completed'), 10_000);
      const feed = await runtime(devKey, 'GET', `/v1/feeds/${enc(recipient)}`);
      expect(feed.status).toBe(200);
      expect(feed.body.data.map((m: any) => m.content.body)).toEqual([`hello ${recipient}`]);
      expect(feed.body.unread).toBe(1);
      expect((await runtime(devKey, 'POST', `/v1/feeds/${enc(recipient)}/read-all`)).body).toEqual({ updated: 1, unread: 0 });
    }
  });
});
