import { describe, expect, it } from 'vitest';
import type { Actor, Role } from '../auth/permissions.js';
import { caught } from '../errors.test-support.js';
import { activityCutoff, activityVisibility, seesEnvironment } from './entries.js';

const actor = (role: Role, environmentRoles: Record<string, Role> = {}): Actor => ({ kind: 'user', id: 'u', name: 'u', tokenId: null, role, environmentRoles });

describe('activity retention', () => {
  it('cuts off entries older than the retention period', () => {
    expect(activityCutoff(new Date('2026-12-31T12:00:00.000Z'), 30)).toBe('2026-12-01T12:00:00.000Z');
    expect(activityCutoff(new Date('2026-12-31T12:00:00.000Z'), 0)).toBe('2026-12-31T12:00:00.000Z');
  });
});

describe('activity visibility', () => {
  // Written from the role table of test/permissions.test.ts: audit.read is owner, admin, developer, deployer, support.
  it.each([
    ['support everywhere', actor('support'), { production: true, development: true }],
    ['developer, viewer in production', actor('developer', { production: 'viewer' }), { production: false, development: true }],
    ['viewer, support in staging', actor('viewer', { staging: 'support' }), { staging: true, production: false, development: false }],
    ['owner narrowed to support in production', actor('owner', { production: 'support' }), { production: true, development: true }],
  ] as const)('%s', (_name, who, expected) => {
    const visibility = activityVisibility(who);
    for (const [env, sees] of Object.entries(expected)) expect(seesEnvironment(visibility, env), env).toBe(sees);
  });

  it('refuses a member who may read the audit log nowhere', () => {
    expect(caught(() => activityVisibility(actor('viewer'))).status).toBe(403);
    expect(caught(() => activityVisibility(actor('viewer', { production: 'viewer' }))).status).toBe(403);
  });
});
