import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, createStaging, promote, startHarness, TEST_DB, WS, type Harness } from './support.js';

let h: Harness;
let workspaceId: string;
beforeAll(async () => {
  h = await startHarness();
  workspaceId = (await h.call('GET', WS)).body.id;
  await createStaging(h);
  await commitDrafts(h, { 'config/a': config(1) });
  await promote(h, 'staging');
});
afterAll(async () => h?.close());

const entries = async (query = '') => (await h.call('GET', `${WS}/audit-log${query}`)).body;

async function injectAuditFailure() {
  if (TEST_DB === 'sqlite') {
    await sql`create trigger fail_audit before insert on audit_log begin select raise(abort, 'injected failure'); end`.execute(h.store.db);
  } else {
    await sql`create function fail_audit() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$`.execute(h.store.db);
    await sql`create trigger fail_audit before insert on audit_log for each row execute function fail_audit()`.execute(h.store.db);
  }
}

async function removeAuditFailure() {
  await sql`drop trigger fail_audit${sql.raw(TEST_DB === 'sqlite' ? '' : ' on audit_log')}`.execute(h.store.db);
  if (TEST_DB === 'postgres') await sql`drop function fail_audit()`.execute(h.store.db);
}

describe('audit log', () => {
  it('records every mutation with actor, action, environment, target, digests and request id', async () => {
    const res = await h.call('PUT', `${WS}/environments/staging/resources/config/a/active`, { active: false });
    const requestId = res.headers['x-request-id'];
    const [latest] = (await entries('?limit=1')).data;
    expect(latest).toMatchObject({ action: 'resource.deactivate', environment: 'staging', target: 'config/a', actorName: 'admin', actorKind: 'user', requestId });
    expect(latest.beforeDigest).toMatch(/^[0-9a-f]{16}$/);
    expect(latest.afterDigest).toMatch(/^[0-9a-f]{16}$/);
    const actions = (await entries('?limit=100')).data.map((e: any) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['workspace.create', 'environment.create', 'resource.draft', 'release.commit', 'release.promote', 'resource.deactivate']),
    );
  });

  it('filters by environment, actor and action, newest first with a cursor', async () => {
    const staging = await entries('?environment=staging');
    expect(staging.data.every((e: any) => e.environment === 'staging')).toBe(true);
    const commits = await entries('?action=release.commit');
    expect(commits.data.map((e: any) => e.action)).toEqual(['release.commit']);
    const releases = await entries('?action=release.*');
    expect(new Set(releases.data.map((e: any) => e.action))).toEqual(new Set(['release.commit', 'release.promote']));
    const actor = commits.data[0].actorId;
    expect((await entries(`?actor=${actor}`)).data.length).toBeGreaterThan(0);
    expect((await entries('?actor=usr_nobody')).data).toEqual([]);
    const page1 = await entries('?limit=2');
    const page2 = await entries(`?limit=2&cursor=${page1.next}`);
    expect(page2.data[0].seq).toBe(page1.data[1].seq - 1);
  });

  it('a refused mutation writes no entry', async () => {
    const before = (await entries('?limit=1')).data[0].seq;
    expect((await h.call('PUT', `${WS}/environments/production/resources/config/a`, { content: config(2) })).status).toBe(409);
    expect((await entries('?limit=1')).data[0].seq).toBe(before);
  });

  it('a failure at the audit step leaves the old release, the drafts and no entry', async () => {
    await h.call('PUT', `${WS}/environments/development/resources/config/a`, { content: config(5) });
    const before = (await h.call('GET', `${WS}/environments/development`)).body.release;
    const seq = (await entries('?limit=1')).data[0].seq;
    await injectAuditFailure();
    try {
      const res = await h.call('POST', `${WS}/environments/development/commits`, { message: 'doomed' });
      expect(res.status).toBe(500);
      expect(res.body.error.code).toBe('internal_error');
      expect(JSON.stringify(res.body)).not.toContain('injected');
    } finally {
      await removeAuditFailure();
    }
    expect((await h.call('GET', `${WS}/environments/development`)).body.release).toBe(before);
    expect((await h.call('GET', `${WS}/environments/development/changes`)).body.data.map((c: any) => c.key)).toEqual(['a']);
    expect((await h.call('GET', `${WS}/environments/development/releases/${before + 1}`)).status).toBe(404);
    expect((await entries('?limit=1')).data[0].seq).toBe(seq);
  });

  it('verify passes on an untouched chain', async () => {
    const res = await h.call('GET', `${WS}/audit-log/verify`);
    expect(res.body).toMatchObject({ valid: true, firstBroken: null });
    expect(res.body.entries).toBeGreaterThan(5);
  });

  it('the database refuses to change or delete an audit entry', async () => {
    await expect(h.store.db.updateTable('audit_log').set({ action: 'x' }).where('workspace_id', '=', workspaceId).where('seq', '=', 1).execute()).rejects.toThrow(/append-only/);
    await expect(h.store.db.deleteFrom('audit_log').where('workspace_id', '=', workspaceId).where('seq', '=', 1).execute()).rejects.toThrow(/append-only/);
  });

  it('exports the entries as NDJSON, oldest first, with the list filters', async () => {
    const res = await h.app.inject({ method: 'GET', url: `${WS}/audit-log/export?action=release.*`, headers: { authorization: `Bearer ${h.token}` } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/x-ndjson');
    const lines = res.body.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines.map((e) => e.action)).toEqual(['release.commit', 'release.promote']);
    expect(lines[0].seq).toBeLessThan(lines[1].seq);
    expect(lines[0].hash).toMatch(/^[0-9a-f]{64}$/);
  });

  // The tests below play an attacker with direct database access, who first drops the
  // append-only triggers: the hash chain still exposes what they change.
  it('with the triggers dropped, verify detects an edited row, and passes again once it is restored', async () => {
    if (TEST_DB === 'sqlite') {
      await sql`drop trigger audit_log_no_update`.execute(h.store.db);
      await sql`drop trigger audit_log_no_delete`.execute(h.store.db);
    } else {
      await sql`drop trigger audit_log_append_only on audit_log`.execute(h.store.db);
    }
    const row = () => h.store.db.selectFrom('audit_log').select('action').where('workspace_id', '=', workspaceId).where('seq', '=', 3);
    const original = (await row().executeTakeFirstOrThrow()).action;
    const setAction = (action: string) =>
      h.store.db.updateTable('audit_log').set({ action }).where('workspace_id', '=', workspaceId).where('seq', '=', 3).execute();
    await setAction('release.forged');
    const res = await h.call('GET', `${WS}/audit-log/verify`);
    expect(res.body.valid).toBe(false);
    expect(res.body.firstBroken).toEqual({ seq: 3, reason: 'hash_mismatch' });
    await setAction(original);
    expect((await h.call('GET', `${WS}/audit-log/verify`)).body.valid).toBe(true);
  });

  it('verify detects a removed last entry', async () => {
    const last = (await entries('?limit=1')).data[0].seq;
    await h.store.db.deleteFrom('audit_log').where('workspace_id', '=', workspaceId).where('seq', '=', last).execute();
    const res = await h.call('GET', `${WS}/audit-log/verify`);
    expect(res.body.valid).toBe(false);
    expect(res.body.firstBroken).toEqual({ seq: last, reason: 'missing_entry' });
  });
});
