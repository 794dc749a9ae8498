// Every role × every management operation × a chain environment and production, through the
// API: a denied call is 403 `forbidden` naming the permission; an allowed one is never 403.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, createStaging, promote, startHarness, WS, type Harness } from './support.js';

let h: Harness;
const tokens: Record<string, string> = {};
const ROLES = ['owner', 'admin', 'developer', 'deployer', 'support', 'viewer'] as const;
type Role = (typeof ROLES)[number];

/** Written out independently of the code's role table. */
const ALLOWED: Record<string, Role[]> = {
  'resource.read': ['owner', 'admin', 'developer', 'deployer', 'support', 'viewer'],
  'draft.write': ['owner', 'admin', 'developer'],
  'release.commit': ['owner', 'admin', 'developer'],
  'release.promote': ['owner', 'admin', 'developer', 'deployer'],
  'release.rollback': ['owner', 'admin', 'deployer'],
  'override.write': ['owner', 'admin', 'developer'],
  'killswitch.write': ['owner', 'admin', 'developer', 'deployer'],
  'secret.write': ['owner', 'admin', 'developer'],
  'setting.write': ['owner', 'admin', 'developer'],
  'apikey.manage': ['owner', 'admin', 'developer'],
  'variable.write': ['owner', 'admin', 'developer'],
  'environment.manage': ['owner', 'admin'],
  'audit.read': ['owner', 'admin', 'developer', 'deployer', 'support'],
  'member.manage': ['owner', 'admin'],
  'branch.manage': ['owner', 'admin', 'developer'],
  'data.read': ['owner', 'admin', 'developer', 'deployer', 'support'],
};

type Operation = { name: string; permission: string; call: (env: string, token: string) => ReturnType<Harness['call']> };
const OPERATIONS: Operation[] = [
  { name: 'list resources', permission: 'resource.read', call: (env, t) => h.call('GET', `${WS}/environments/${env}/resources`, undefined, t) },
  { name: 'read a diff', permission: 'resource.read', call: (env, t) => h.call('GET', `${WS}/diff?from=development&to=${env}`, undefined, t) },
  { name: 'write a draft', permission: 'draft.write', call: (env, t) => h.call('PUT', `${WS}/environments/${env}/resources/config/m`, { content: { value: 1 } }, t) },
  { name: 'commit', permission: 'release.commit', call: (env, t) => h.call('POST', `${WS}/environments/${env}/commits`, { message: 'm' }, t) },
  { name: 'plan a promotion', permission: 'release.promote', call: (env, t) => h.call('POST', `${WS}/environments/${env}/promotions`, { dryRun: true }, t) },
  { name: 'roll back', permission: 'release.rollback', call: (env, t) => h.call('POST', `${WS}/environments/${env}/rollbacks`, { release: 1 }, t) },
  { name: 'set an override', permission: 'override.write', call: (env, t) => h.call('PUT', `${WS}/environments/${env}/resources/config/a/override`, { override: { value: 2 } }, t) },
  { name: 'flip the kill switch', permission: 'killswitch.write', call: (env, t) => h.call('PUT', `${WS}/environments/${env}/resources/config/a/active`, { active: true }, t) },
  { name: 'write a secret', permission: 'secret.write', call: (env, t) => h.call('PUT', `${WS}/environments/${env}/secrets/s`, { value: 'value-0123456789abcdef' }, t) },
  { name: 'write a setting', permission: 'setting.write', call: (env, t) => h.call('PUT', `${WS}/environments/${env}/settings/branding`, { value: { name: 'x' } }, t) },
  { name: 'create an API key', permission: 'apikey.manage', call: (env, t) => h.call('POST', `${WS}/environments/${env}/api-keys`, { name: 'k', kind: 'secret' }, t) },
  { name: 'set a variable value', permission: 'variable.write', call: (env, t) => h.call('PUT', `${WS}/variables/v_${env.replace('-', '_')}`, { overrides: { [env]: 1 } }, t) },
  { name: 'change environment flags', permission: 'environment.manage', call: (env, t) => h.call('PATCH', `${WS}/environments/${env}`, { color: '#123456' }, t) },
  { name: 'read the audit log', permission: 'audit.read', call: (_env, t) => h.call('GET', `${WS}/audit-log?limit=1`, undefined, t) },
  { name: 'approve a promotion request', permission: 'release.promote', call: async (env, t) => h.call('POST', `${WS}/promotion-requests/${await pendingRequest(env)}/approve`, {}, t) },
  { name: 'reject a promotion request', permission: 'release.promote', call: async (env, t) => h.call('POST', `${WS}/promotion-requests/${await pendingRequest(env)}/reject`, { reason: 'no' }, t) },
  { name: 'read data records', permission: 'data.read', call: (env, t) => h.call('GET', `${WS}/environments/${env}/data/users`, undefined, t) },
  { name: 'fork a branch', permission: 'branch.manage', call: (env, t) => h.call('POST', `${WS}/environments`, { slug: `b-${randomUUID().slice(0, 8)}`, kind: 'branch', from: env }, t) },
  { name: 'add a member', permission: 'member.manage', call: (_env, t) => h.call('POST', `${WS}/members`, { email: `m${Math.random()}@example.com`, role: 'viewer' }, t) },
];

/** A new pending promotion request into `env`, made by the owner (so any other role may decide). */
async function pendingRequest(env: string): Promise<string> {
  const res = await promote(h, env);
  if (res.status !== 202) throw new Error(`promotion request: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.request.id;
}

beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  await commitDrafts(h, { 'config/a': { value: 1 } });
  await promote(h, 'staging');
  await promote(h, 'production');
  // Both environments under test are protected, with more approvals needed than there are
  // roles, so the requests the matrix decides on stay pending.
  for (const env of ['staging', 'production']) await h.call('PATCH', `${WS}/environments/${env}`, { protected: true, approvalsRequired: 20 });
  for (const role of ROLES) tokens[role] = (await h.call('POST', `${WS}/tokens`, { name: role, role })).body.token;
});
afterAll(async () => h?.close());

const matrix = ROLES.flatMap((role) => OPERATIONS.flatMap((op) => ['staging', 'production'].map((env) => ({ role, op: op.name, env, permission: op.permission }))));

describe('permission matrix', () => {
  it.each(matrix)('$role: $op in $env', async ({ role, op, env, permission }) => {
    const res = await OPERATIONS.find((o) => o.name === op)!.call(env, tokens[role]!);
    if (ALLOWED[permission]!.includes(role)) {
      expect(res.status, JSON.stringify(res.body)).not.toBe(403);
      expect(res.status).toBeLessThan(500);
    } else {
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
      expect(res.body.error.message).toContain(permission);
    }
  });

  it('a role narrowed in production applies there only', async () => {
    const { body } = await h.call('POST', `${WS}/tokens`, { name: 'narrowed', role: 'developer', environmentRoles: { production: 'viewer' } });
    expect((await h.call('PUT', `${WS}/environments/staging/resources/config/a/override`, { override: { value: 3 } }, body.token)).status).toBe(200);
    expect((await h.call('PUT', `${WS}/environments/production/resources/config/a/override`, { override: { value: 3 } }, body.token)).status).toBe(403);
  });
});
