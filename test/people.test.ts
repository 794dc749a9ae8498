import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStaging, startHarness, WS, type Harness } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
});
afterAll(async () => h?.close());

const PASSWORD = 'correct horse battery';

describe('members and login', () => {
  it('adds a member with a password, who logs in and acts with their role', async () => {
    const added = await h.call('POST', `${WS}/members`, { email: 'dev@example.com', password: PASSWORD, role: 'developer', environmentRoles: { production: 'viewer' } });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ email: 'dev@example.com', role: 'developer', environmentRoles: { production: 'viewer' } });
    const session = await h.call('POST', '/api/auth/login', { email: 'dev@example.com', password: PASSWORD }, null);
    expect(session.status).toBe(200);
    expect(session.body.token).toMatch(/^stl_/);
    expect(Date.parse(session.body.expiresAt)).toBeGreaterThan(Date.now());
    const token = session.body.token;
    expect((await h.call('PUT', `${WS}/environments/development/resources/config/a`, { content: { value: 1 } }, token)).status).toBe(200);
    const refused = await h.call('PUT', `${WS}/environments/production/resources/config/a/active`, { active: false }, token);
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('killswitch.write');
    expect((await h.call('POST', `${WS}/members`, { email: 'x@example.com', role: 'viewer' }, token)).status).toBe(403);
  });

  it('a wrong password or unknown email is 401 unauthenticated; failed logins are audited', async () => {
    for (const body of [{ email: 'dev@example.com', password: 'wrong password!!' }, { email: 'nobody@example.com', password: PASSWORD }]) {
      const res = await h.call('POST', '/api/auth/login', body, null);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthenticated');
    }
    const actions = (await h.call('GET', `${WS}/audit-log?action=auth.*`)).body.data.map((e: any) => e.action);
    expect(actions).toEqual(['auth.login_failed', 'auth.login']);
  });

  it('whoami names the caller of a session and of a service token', async () => {
    const { body } = await h.call('POST', '/api/auth/login', { email: 'dev@example.com', password: PASSWORD }, null);
    const me = await h.call('GET', '/api/auth/whoami', undefined, body.token);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ kind: 'user', name: 'dev@example.com', workspaceId: null });
    expect(me.body.userId).toEqual(expect.any(String));
    expect((await h.call('GET', '/api/auth/whoami', undefined, 'stl_not_a_token')).status).toBe(401);
  });

  it('logout ends the session', async () => {
    const { body } = await h.call('POST', '/api/auth/login', { email: 'dev@example.com', password: PASSWORD }, null);
    expect((await h.call('POST', '/api/auth/logout', undefined, body.token)).status).toBe(204);
    expect((await h.call('GET', `${WS}/environments`, undefined, body.token)).status).toBe(401);
  });

  it('stores passwords as scrypt hashes only', async () => {
    const rows = await h.store.db.selectFrom('users').select(['email', 'password_hash']).execute();
    const dev = rows.find((r) => r.email === 'dev@example.com')!;
    expect(dev.password_hash).toMatch(/^scrypt\$/);
    expect(JSON.stringify(rows)).not.toContain(PASSWORD);
  });

  it('a member sets their own password, nobody else’s', async () => {
    const members = (await h.call('GET', `${WS}/members`)).body.data;
    const admin = members.find((m: any) => m.email === 'admin');
    const dev = members.find((m: any) => m.email === 'dev@example.com');
    expect((await h.call('PATCH', `${WS}/members/${admin.id}`, { password: 'the owner password 1' })).status).toBe(200);
    expect((await h.call('POST', '/api/auth/login', { email: 'admin', password: 'the owner password 1' }, null)).status).toBe(200);
    expect((await h.call('PATCH', `${WS}/members/${dev.id}`, { password: 'not yours to set!!' })).status).toBe(403);
    expect((await h.call('PATCH', `${WS}/members/${admin.id}`, { password: 'short' })).body.error.details[0].field).toBe('password');
  });

  it('only owners grant the owner role; the last owner stays', async () => {
    await h.call('POST', `${WS}/members`, { email: 'admin2@example.com', password: PASSWORD, role: 'admin' });
    const adminToken = (await h.call('POST', '/api/auth/login', { email: 'admin2@example.com', password: PASSWORD }, null)).body.token;
    const grant = await h.call('POST', `${WS}/members`, { email: 'boss@example.com', role: 'owner' }, adminToken);
    expect(grant.status).toBe(403);
    expect((await h.call('POST', `${WS}/members`, { email: 'ops@example.com', role: 'deployer' }, adminToken)).status).toBe(201);
    const owner = (await h.call('GET', `${WS}/members`)).body.data.find((m: any) => m.role === 'owner');
    const demote = await h.call('PATCH', `${WS}/members/${owner.id}`, { role: 'admin' });
    expect(demote.status).toBe(409);
    expect(demote.body.error.code).toBe('last_owner');
    expect((await h.call('DELETE', `${WS}/members/${owner.id}`)).body.error.code).toBe('last_owner');
    expect((await h.call('POST', `${WS}/members`, { email: 'ops@example.com', role: 'viewer' })).body.error.code).toBe('member_exists');
    expect((await h.call('POST', `${WS}/members`, { email: 'e@example.com', role: 'viewer', environmentRoles: { nowhere: 'viewer' } })).body.error.details[0].field).toBe('environmentRoles.nowhere');
  });

  it('member changes are audited', async () => {
    const actions = (await h.call('GET', `${WS}/audit-log?action=member.*`)).body.data.map((e: any) => e.action);
    expect(actions).toContain('member.add');
    expect(actions).toContain('member.update');
  });
});

describe('service tokens', () => {
  it('carry a role, are shown once, listed without the token, and revocable', async () => {
    const created = await h.call('POST', `${WS}/tokens`, { name: 'ci', role: 'deployer' });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^stl_/);
    const token = created.body.token;
    expect((await h.call('GET', `${WS}/environments`, undefined, token)).status).toBe(200);
    expect((await h.call('PUT', `${WS}/environments/development/resources/config/ci`, { content: { value: 1 } }, token)).status).toBe(403);
    const list = await h.call('GET', `${WS}/tokens`);
    expect(JSON.stringify(list.body)).not.toContain(token);
    expect(list.body.data[0]).toMatchObject({ name: 'ci', role: 'deployer', status: 'active' });
    expect((await h.call('DELETE', `${WS}/tokens/${created.body.id}`)).body.status).toBe('revoked');
    expect((await h.call('GET', `${WS}/environments`, undefined, token)).status).toBe(401);
  });

  it('a service token sees only its own workspace', async () => {
    await h.call('POST', '/api/workspaces', { slug: 'other', name: 'Other' });
    const { body } = await h.call('POST', `${WS}/tokens`, { name: 'scoped', role: 'viewer' });
    expect((await h.call('GET', '/api/workspaces/other/environments', undefined, body.token)).status).toBe(404);
  });
});
