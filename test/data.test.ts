// Data records: environment-scoped runtime reads and writes, their limits and activity entries,
// and the members' read path with obfuscation and audited reveals.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_RECORD_BYTES } from '../src/domain/data/records.js';
import { findEnvironment } from '../src/store/environments.js';
import { createApiKey, createStaging, memberToken, startHarness, TEST_DB, WS, type Harness } from './support.js';

let h: Harness;
let workspaceId: string;
const keys: Record<string, string> = {};

beforeAll(async () => {
  h = await startHarness();
  workspaceId = (await h.call('GET', WS)).body.id;
  await createStaging(h);
  for (const env of ['development', 'staging', 'production']) keys[env] = await createApiKey(h, env, 'secret');
});
afterAll(async () => h?.close());

/** A runtime call with an API key; `raw` sends a body as is. */
async function runtime(key: string, method: string, path: string, body?: unknown, raw?: string) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
  const response = await h.app.inject({ method: method as any, url: path, headers, payload: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : null, headers: response.headers };
}

const dev = (method: string, path: string, body?: unknown) => runtime(keys.development!, method, path, body);
const auditOf = async (action: string) => (await h.call('GET', `${WS}/audit-log?action=${action}&limit=200`)).body.data as any[];
const activityOf = async (action: string) => (await h.call('GET', `${WS}/activity?action=${action}&limit=200`)).body.data as any[];

describe('runtime records', () => {
  it('a put creates (201), a second put replaces the whole value (200) keeping createdAt', async () => {
    const created = await dev('PUT', '/v1/data/users/u1', { name: 'Jane', plan: 'pro' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ collection: 'users', id: 'u1', value: { name: 'Jane', plan: 'pro' } });
    expect(created.body.createdAt).toBe(created.body.updatedAt);
    await new Promise((r) => setTimeout(r, 5));
    const replaced = await dev('PUT', '/v1/data/users/u1', { name: 'Jane D.' });
    expect(replaced.status).toBe(200);
    expect(replaced.body.createdAt).toBe(created.body.createdAt);
    expect(replaced.body.updatedAt > created.body.updatedAt).toBe(true);
    const read = await dev('GET', '/v1/data/users/u1');
    expect(read.status).toBe(200);
    expect(read.body).toEqual({ collection: 'users', id: 'u1', value: { name: 'Jane D.' }, createdAt: created.body.createdAt, updatedAt: replaced.body.updatedAt });
  });

  it('a delete answers 204, then the record is gone and a second delete is 404', async () => {
    await dev('PUT', '/v1/data/users/gone', { a: 1 });
    expect((await dev('DELETE', '/v1/data/users/gone')).status).toBe(204);
    expect((await dev('GET', '/v1/data/users/gone')).status).toBe(404);
    const again = await dev('DELETE', '/v1/data/users/gone');
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('not_found');
  });

  it('a value holding NUL characters is stored and read back as it was', async () => {
    const value = { 'k\u0000ey': 'a\u0000b' };
    expect((await dev('PUT', '/v1/data/users/nul', value)).status).toBe(201);
    expect((await dev('GET', '/v1/data/users/nul')).body.value).toEqual(value);
  });

  it('collections are separate: the same id in two collections is two records', async () => {
    await dev('PUT', '/v1/data/prefs/u1', { theme: 'dark' });
    expect((await dev('GET', '/v1/data/prefs/u1')).body.value).toEqual({ theme: 'dark' });
    expect((await dev('GET', '/v1/data/users/u1')).body.value).toEqual({ name: 'Jane D.' });
  });

  it('lists page through a collection in id byte order', async () => {
    for (const id of ['b', 'a', 'B', 'é', 'a-1']) expect((await dev('PUT', `/v1/data/order/${encodeURIComponent(id)}`, { id })).status).toBe(201);
    const seen: string[][] = [];
    let cursor: string | null = null;
    do {
      const res: any = await dev('GET', `/v1/data/order?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(res.body.data.map((r: any) => r.id));
      for (const r of res.body.data) expect(r.value).toEqual({ id: r.id });
      cursor = res.body.next;
    } while (cursor);
    expect(seen).toEqual([['B', 'a'], ['a-1', 'b'], ['é']]);
  });

  it('a page has 50 records by default and at most 200', async () => {
    const env = (await findEnvironment(h.store.db, workspaceId, 'development'))!;
    const at = new Date().toISOString();
    const rows = Array.from({ length: 201 }, (_, i) => ({
      workspace_id: workspaceId,
      environment_id: env.id,
      collection: 'bulk',
      id: `r${String(i).padStart(3, '0')}`,
      value: '{}',
      size: 2,
      created_at: at,
      updated_at: at,
    }));
    await h.store.db.insertInto('data_records').values(rows).execute();
    const first = await dev('GET', '/v1/data/bulk');
    expect(first.body.data).toHaveLength(50);
    expect(first.body.next).not.toBeNull();
    const big = await dev('GET', '/v1/data/bulk?limit=200');
    expect(big.body.data).toHaveLength(200);
    const rest = await dev('GET', `/v1/data/bulk?limit=200&cursor=${big.body.next}`);
    expect(rest.body).toMatchObject({ data: [{ id: 'r200' }], next: null });
    const tooMany = await dev('GET', '/v1/data/bulk?limit=201');
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details[0]).toMatchObject({ field: 'limit', in: 'query' });
  });

  it('an id of 256 characters works; 257 is refused naming the id', async () => {
    const longest = 'x'.repeat(256);
    expect((await dev('PUT', `/v1/data/users/${longest}`, { ok: true })).status).toBe(201);
    expect((await dev('GET', `/v1/data/users/${longest}`)).body.id).toBe(longest);
    expect((await dev('DELETE', `/v1/data/users/${longest}`)).status).toBe(204);
    const tooLong = await dev('PUT', `/v1/data/users/${'x'.repeat(257)}`, { ok: true });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error).toMatchObject({ code: 'invalid_request', details: [{ field: 'id', in: 'path' }] });
    expect(tooLong.body.error.message).toContain('256');
  });

  it.each([
    ['an id holding an encoded "/"', '/v1/data/users/a%2Fb', 'id'],
    ['an id holding a "/"', '/v1/data/users/a/b', 'id'],
    ['an id holding a control character', '/v1/data/users/a%09b', 'id'],
    ['an upper-case collection', '/v1/data/Users/u1', 'collection'],
    ['a collection starting with a digit', '/v1/data/1users/u1', 'collection'],
  ])('%s is 400 (%s) naming the %s', async (_name, path, field) => {
    const res = await dev('PUT', path, { ok: true });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field, in: 'path' })]);
    expect((await dev('GET', path)).status).toBe(400);
  });

  it.each([
    ['an array', '[1,2]'],
    ['a string', '"text"'],
    ['a number', '42'],
    ['null', 'null'],
    ['nesting deeper than 64', '{"a":'.repeat(65) + '{}' + '}'.repeat(65)],
    ['nesting 20000 deep', '{"a":' + '['.repeat(20000) + ']'.repeat(20000) + '}'],
  ])('a body that is %s is 400 naming the value', async (_name, raw) => {
    const res = await runtime(keys.development!, 'PUT', '/v1/data/users/bad', undefined, raw);
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'value', in: 'body' })]);
    expect((await dev('GET', '/v1/data/users/bad')).status).toBe(404);
  });

  it('a record over 256 KiB is 413 naming the limit; one at the limit is stored', async () => {
    const overhead = JSON.stringify({ blob: '' }).length;
    const atLimit = await dev('PUT', '/v1/data/files/f1', { blob: 'x'.repeat(MAX_RECORD_BYTES - overhead) });
    expect(atLimit.status).toBe(201);
    const res = await dev('PUT', '/v1/data/files/f2', { blob: 'x'.repeat(MAX_RECORD_BYTES - overhead + 1) });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: 'payload_too_large', details: [{ field: 'value' }] });
    expect(res.body.error.message).toContain(String(MAX_RECORD_BYTES));
    expect((await dev('GET', '/v1/data/files/f2')).status).toBe(404);
    // Beyond the server's body limit the framework answers, in the same shape.
    expect((await dev('PUT', '/v1/data/files/f3', { blob: 'x'.repeat(2 * 1024 * 1024) })).body.error.code).toBe('payload_too_large');
  });

  it('a cursor the list did not make is 400 naming the cursor', async () => {
    const res = await dev('GET', '/v1/data/order?cursor=not-a-cursor!');
    expect(res.status).toBe(400);
    expect(res.body.error.details[0]).toMatchObject({ field: 'cursor' });
  });

  it('a call without a key is 401', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v1/data/users/u1' });
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body).error.code).toBe('unauthenticated');
  });

  it('a publishable key is refused with 403 and writes nothing', async () => {
    const pk = await createApiKey(h, 'development', 'publishable');
    for (const [method, path] of [
      ['GET', '/v1/data/users/u1'],
      ['GET', '/v1/data/users'],
      ['PUT', '/v1/data/users/from-pk'],
      ['DELETE', '/v1/data/users/u1'],
    ] as const) {
      const res = await runtime(pk, method, path, method === 'PUT' ? { a: 1 } : undefined);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
      expect(res.body.error.message).toContain('publishable');
    }
    expect((await dev('GET', '/v1/data/users/from-pk')).status).toBe(404);
    expect((await dev('GET', '/v1/data/users/u1')).status).toBe(200);
  });
});

describe('environment isolation', () => {
  const envs = ['development', 'staging', 'production'] as const;

  beforeAll(async () => {
    for (const env of envs) {
      expect((await runtime(keys[env]!, 'PUT', '/v1/data/shared/same-id', { env })).status).toBe(201);
      expect((await runtime(keys[env]!, 'PUT', `/v1/data/shared/only-${env}`, { env })).status).toBe(201);
    }
  });

  it.each(envs)('a %s key reads only its own environment’s records', async (env) => {
    const one = await runtime(keys[env]!, 'GET', '/v1/data/shared/same-id');
    expect(one.body.value).toEqual({ env });
    const list = await runtime(keys[env]!, 'GET', '/v1/data/shared');
    expect(list.body.data.map((r: any) => r.id)).toEqual([`only-${env}`, 'same-id']);
    expect(list.body.data.every((r: any) => r.value.env === env)).toBe(true);
    for (const other of envs.filter((e) => e !== env)) {
      expect((await runtime(keys[env]!, 'GET', `/v1/data/shared/only-${other}`)).status).toBe(404);
    }
  });

  it.each(envs)('a %s key cannot delete or overwrite another environment’s records', async (env) => {
    for (const other of envs.filter((e) => e !== env)) {
      expect((await runtime(keys[env]!, 'DELETE', `/v1/data/shared/only-${other}`)).status).toBe(404);
      expect((await runtime(keys[other]!, 'GET', `/v1/data/shared/only-${other}`)).body.value).toEqual({ env: other });
    }
    // Writing the shared id changes this environment's record only.
    await runtime(keys[env]!, 'PUT', '/v1/data/shared/same-id', { env, touched: true });
    for (const other of envs.filter((e) => e !== env)) {
      expect((await runtime(keys[other]!, 'GET', '/v1/data/shared/same-id')).body.value.env).toBe(other);
    }
  });

  it('deleting an environment deletes its records', async () => {
    expect((await h.call('POST', `${WS}/environments`, { slug: 'qa', name: 'QA' })).status).toBe(201);
    const qa = (await findEnvironment(h.store.db, workspaceId, 'qa'))!;
    expect((await runtime(await createApiKey(h, 'qa'), 'PUT', '/v1/data/shared/q', { env: 'qa' })).status).toBe(201);
    expect((await h.call('DELETE', `${WS}/environments/qa`)).status).toBe(204);
    expect(await h.store.db.selectFrom('data_records').selectAll().where('environment_id', '=', qa.id).execute()).toEqual([]);
  });
});

describe('activity of runtime writes', () => {
  it('put and delete write data.put and data.delete activity entries by the key, without values, and no audit entry', async () => {
    const created = await h.call('POST', `${WS}/environments/staging/api-keys`, { name: 'billing worker', kind: 'secret' });
    const key = created.body.key;
    const value = { email: 'AUDIT-VALUE@example.com' };
    const auditBefore = (await h.call('GET', `${WS}/audit-log/verify`)).body.entries;
    await runtime(key, 'PUT', '/v1/data/accounts/acc_1', value);
    await runtime(key, 'PUT', '/v1/data/accounts/acc_1', { ...value, plan: 'pro' });
    await runtime(key, 'DELETE', '/v1/data/accounts/acc_1');
    const puts = (await activityOf('data.put')).filter((e) => e.target === 'data/accounts/acc_1');
    const deletes = (await activityOf('data.delete')).filter((e) => e.target === 'data/accounts/acc_1');
    expect(puts).toHaveLength(2);
    expect(deletes).toHaveLength(1);
    // Two writes in one millisecond list in id order: tell them apart by what they did.
    const create = puts.find((e) => e.details.created === true)!;
    const replace = puts.find((e) => e.details.created === false)!;
    for (const entry of [replace, create, deletes[0]]) {
      expect(entry).toMatchObject({ actor: { kind: 'api_key', id: created.body.id, name: 'billing worker' }, environment: 'staging' });
    }
    expect(create.details).toMatchObject({ collection: 'accounts', id: 'acc_1', created: true });
    expect(replace.details.created).toBe(false);
    expect(deletes[0].details).toMatchObject({ collection: 'accounts', id: 'acc_1' });
    expect(JSON.stringify([...puts, ...deletes])).not.toContain('AUDIT-VALUE');
    const audit = (await h.call('GET', `${WS}/audit-log/verify`)).body;
    expect(audit).toMatchObject({ valid: true, entries: auditBefore });
  });

  it('a put whose activity entry cannot be written stores nothing', async () => {
    if (TEST_DB === 'sqlite') {
      await sql`create trigger fail_data_activity before insert on activity_log when new.action = 'data.put' begin select raise(abort, 'injected failure'); end`.execute(h.store.db);
    } else {
      await sql`create function fail_data_activity() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$`.execute(h.store.db);
      await sql`create trigger fail_data_activity before insert on activity_log for each row when (new.action = 'data.put') execute function fail_data_activity()`.execute(h.store.db);
    }
    try {
      const res = await dev('PUT', '/v1/data/users/unaudited', { a: 1 });
      expect(res.status).toBe(500);
    } finally {
      await sql`drop trigger fail_data_activity${sql.raw(TEST_DB === 'sqlite' ? '' : ' on activity_log')}`.execute(h.store.db);
      if (TEST_DB === 'postgres') await sql`drop function fail_data_activity()`.execute(h.store.db);
    }
    expect((await dev('GET', '/v1/data/users/unaudited')).status).toBe(404);
  });
});

describe('members read path', () => {
  const person = { email: 'jane.doe@example.com', phone: '+1 (555) 010-4412', name: 'Jane', age: 42, vip: true, note: null };
  const masked = { email: 'j***@e***.com', phone: '+*********12', name: 'J***', age: '***', vip: true, note: null };
  const data = (env: string, rest = '') => `${WS}/environments/${env}/data/people${rest}`;
  let support: string;
  let viewer: string;
  let narrowed: string;

  beforeAll(async () => {
    for (const env of ['development', 'production']) {
      expect((await runtime(keys[env]!, 'PUT', '/v1/data/people/p1', person)).status).toBe(201);
      expect((await runtime(keys[env]!, 'PUT', '/v1/data/people/p2', { ...person, name: 'Joe' })).status).toBe(201);
    }
    support = await memberToken(h, 'support@example.com', 'support');
    viewer = await memberToken(h, 'viewer@example.com', 'viewer');
    narrowed = await memberToken(h, 'narrowed@example.com', 'developer', { production: 'viewer' });
  });

  it('without obfuscation members with data.read see plain values', async () => {
    for (const token of [h.token, support, narrowed]) {
      const one = await h.call('GET', data('development', '/p1'), undefined, token);
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ collection: 'people', id: 'p1', value: person, masked: false });
      const list = await h.call('GET', data('development'), undefined, token);
      expect(list.body).toMatchObject({ data: [{ id: 'p1', value: person }, { id: 'p2' }], next: null, masked: false });
    }
  });

  it('a viewer, or a member narrowed to viewer in that environment, is 403 naming data.read', async () => {
    for (const [token, env] of [[viewer, 'development'], [narrowed, 'production']] as const) {
      const res = await h.call('GET', data(env, '/p1'), undefined, token);
      expect(res.status).toBe(403);
      expect(res.body.error.details[0]).toMatchObject({ permission: 'data.read', environment: env });
    }
  });

  it('a member reads a record whose id is longer than 100 characters', async () => {
    const id = 'long-'.repeat(40);
    await runtime(keys.development!, 'PUT', `/v1/data/people/${id}`, { a: 1 });
    expect((await h.call('GET', data('development', `/${id}`))).body).toMatchObject({ id, value: { a: 1 } });
    expect((await h.call('GET', data('development', `/${id}x`))).status).toBe(404);
    await runtime(keys.development!, 'DELETE', `/v1/data/people/${id}`);
  });

  it('reads are scoped to the environment in the path; an absent record is 404', async () => {
    await runtime(keys.development!, 'PUT', '/v1/data/people/dev-only', { a: 1 });
    expect((await h.call('GET', data('development', '/dev-only'))).status).toBe(200);
    expect((await h.call('GET', data('production', '/dev-only'))).status).toBe(404);
    expect((await h.call('GET', data('production'))).body.data.map((r: any) => r.id)).toEqual(['p1', 'p2']);
    await runtime(keys.development!, 'DELETE', '/v1/data/people/dev-only');
  });

  describe('with obfuscateData on in production', () => {
    beforeAll(async () => {
      const res = await h.call('PATCH', `${WS}/environments/production`, { obfuscateData: true });
      expect(res.body.obfuscateData).toBe(true);
    });

    it('a support member sees masked values and masked: true', async () => {
      const one = await h.call('GET', data('production', '/p1'), undefined, support);
      expect(one.body).toMatchObject({ id: 'p1', value: masked, masked: true });
      const list = await h.call('GET', data('production'), undefined, support);
      expect(list.body.masked).toBe(true);
      expect(list.body.data.map((r: any) => r.value.name)).toEqual(['J***', 'J***']);
      expect(JSON.stringify(list.body)).not.toContain('jane.doe');
      // Development does not obfuscate: the same member sees it plainly there.
      expect((await h.call('GET', data('development', '/p1'), undefined, support)).body.value).toEqual(person);
    });

    it('an owner sees masked values unless asking to reveal', async () => {
      const one = await h.call('GET', data('production', '/p1'));
      expect(one.body).toMatchObject({ value: masked, masked: true });
      expect((await h.call('GET', data('production', '/p1?reveal=false'))).body.masked).toBe(true);
    });

    it('a reveal by a support member is 403 naming data.reveal and writes no entry', async () => {
      const before = (await auditOf('data.reveal')).length;
      for (const path of [data('production', '/p1?reveal=true'), data('production', '?reveal=true')]) {
        const res = await h.call('GET', path, undefined, support);
        expect(res.status).toBe(403);
        expect(res.body.error.message).toContain('data.reveal');
        expect(res.body.error.details[0]).toMatchObject({ permission: 'data.reveal', environment: 'production' });
      }
      expect(await auditOf('data.reveal')).toHaveLength(before);
    });

    it('a reveal by an owner returns real values and writes exactly one data.reveal entry without them', async () => {
      const before = (await auditOf('data.reveal')).length;
      const res = await h.call('GET', data('production', '/p1?reveal=true'));
      expect(res.body).toMatchObject({ id: 'p1', value: person, masked: false });
      const entries = await auditOf('data.reveal');
      expect(entries).toHaveLength(before + 1);
      expect(entries[0]).toMatchObject({ actorKind: 'user', environment: 'production', target: 'data/people/p1', details: { collection: 'people', ids: ['p1'] } });
      expect(JSON.stringify(entries[0])).not.toContain('jane.doe');
      expect(JSON.stringify(entries[0])).not.toContain('4412');
    });

    it('a revealed list is audited with the ids it showed', async () => {
      const before = (await auditOf('data.reveal')).length;
      const res = await h.call('GET', data('production', '?reveal=true&limit=1'));
      expect(res.body).toMatchObject({ data: [{ id: 'p1', value: person }], masked: false });
      expect(res.body.next).not.toBeNull();
      const entries = await auditOf('data.reveal');
      expect(entries).toHaveLength(before + 1);
      expect(entries[0]).toMatchObject({ target: 'data/people', details: { collection: 'people', ids: ['p1'] } });
    });

    it('revealing an absent record is 404 and writes no entry', async () => {
      const before = (await auditOf('data.reveal')).length;
      expect((await h.call('GET', data('production', '/nobody?reveal=true'))).status).toBe(404);
      expect(await auditOf('data.reveal')).toHaveLength(before);
    });

    it('the runtime API is not obfuscated: the production key reads its real values', async () => {
      expect((await runtime(keys.production!, 'GET', '/v1/data/people/p1')).body.value).toEqual(person);
    });
  });
});

describe('OpenAPI', () => {
  it('documents the data routes under the data tag, without the fallback routes', async () => {
    const doc = (await h.call('GET', '/api/openapi.json', undefined, null)).body;
    for (const path of ['/v1/data/{collection}', '/v1/data/{collection}/{id}', '/api/workspaces/{ws}/environments/{env}/data/{collection}/{id}']) {
      expect(doc.paths[path], path).toBeDefined();
      for (const operation of Object.values(doc.paths[path]) as any[]) expect(operation.tags).toEqual(['data']);
    }
    expect(doc.paths['/v1/data/{collection}/{id}'].put.requestBody.content['application/json'].schema.type).toBe('object');
    expect(Object.keys(doc.paths).filter((p) => p.includes('*'))).toEqual([]);
  });
});
