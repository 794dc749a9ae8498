import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStaging, memberToken, startHarness, WS, type Harness } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
});
afterAll(async () => h?.close());

describe('variables', () => {
  it('stores a default and per-environment values', async () => {
    const res = await h.call('PUT', `${WS}/variables/app_url`, { value: 'https://dev.example.com', overrides: { production: 'https://example.com' }, description: 'public URL' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'app_url', value: 'https://dev.example.com', overrides: { production: 'https://example.com' }, description: 'public URL' });
    expect((await h.call('GET', `${WS}/variables`)).body.data.map((v: any) => v.name)).toEqual(['app_url']);
  });

  it('a new environment starts with no values of its own', async () => {
    await h.call('POST', `${WS}/environments`, { slug: 'qa' });
    expect((await h.call('GET', `${WS}/variables/app_url`)).body.overrides).toEqual({ production: 'https://example.com' });
  });

  it('PUT replaces the variable, JSON values of any type', async () => {
    const res = await h.call('PUT', `${WS}/variables/limits`, { value: { max: 3, tags: ['a'] }, overrides: { staging: null } });
    expect(res.body.value).toEqual({ max: 3, tags: ['a'] });
    expect(res.body.overrides).toEqual({ staging: null });
    const replaced = await h.call('PUT', `${WS}/variables/limits`, { overrides: { production: 5 } });
    expect(replaced.body).not.toHaveProperty('value');
    expect(replaced.body.overrides).toEqual({ production: 5 });
  });

  it('refuses unknown environments and bad names naming the field', async () => {
    const res = await h.call('PUT', `${WS}/variables/x`, { value: 1, overrides: { nowhere: 1 } });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('overrides.nowhere');
    expect((await h.call('PUT', `${WS}/variables/has-dash`, { value: 1 })).body.error.details[0].field).toBe('name');
  });

  it('is audited and deletable', async () => {
    expect((await h.call('DELETE', `${WS}/variables/limits`)).status).toBe(204);
    expect((await h.call('GET', `${WS}/variables/limits`)).status).toBe(404);
    const actions = (await h.call('GET', `${WS}/audit-log?action=variable.*`)).body.data.map((e: any) => e.action);
    expect(actions).toEqual(['variable.delete', 'variable.update', 'variable.create', 'variable.create']);
  });
});

describe('variables and per-environment roles', () => {
  it('a change needs the permission in every environment whose value it changes', async () => {
    await h.call('PUT', `${WS}/variables/api_base`, { value: 'https://dev.example.com', overrides: { production: 'https://example.com' } });
    const developer = await memberToken(h, 'dev@example.com', 'developer', { production: 'viewer' });
    // Dropping production's own value changes production: refused.
    const dropsProduction = await h.call('PUT', `${WS}/variables/api_base`, { value: 'https://evil.example.com' }, developer);
    expect(dropsProduction.status).toBe(403);
    expect(dropsProduction.body.error.message).toContain('production');
    // Keeping production's value and changing the default is fine.
    const keepsProduction = await h.call('PUT', `${WS}/variables/api_base`, { value: 'https://dev2.example.com', overrides: { production: 'https://example.com' } }, developer);
    expect(keepsProduction.status).toBe(200);
    // A default that production inherits cannot be changed by someone who may not change production.
    await h.call('PUT', `${WS}/variables/inherited`, { value: 1 });
    expect((await h.call('PUT', `${WS}/variables/inherited`, { value: 2 }, developer)).status).toBe(403);
    expect((await h.call('PUT', `${WS}/variables/inherited`, { value: 2, overrides: { production: 1 } }, developer)).status).toBe(200);
    expect((await h.call('DELETE', `${WS}/variables/inherited`, undefined, developer)).status).toBe(403);
  });
});

describe('settings', () => {
  const email = { host: 'smtp.example.com', port: 587, from: 'Acme <no-reply@example.com>', auth: { user: 'apikey', passwordSecret: 'smtp_password' } };

  it('stores a known setting per environment', async () => {
    const res = await h.call('PUT', `${WS}/environments/staging/settings/channel.email`, { value: email });
    expect(res.status).toBe(200);
    expect((await h.call('GET', `${WS}/environments/staging/settings/channel.email`)).body.value).toEqual(email);
    expect((await h.call('GET', `${WS}/environments/production/settings/channel.email`)).status).toBe(404);
  });

  it.each([
    ['channel.email', { ...email, port: 'smtp' }, 'value.port'],
    ['channel.email', { ...email, password: 'inline' }, 'value.password'],
    ['channel.webhook', { url: 'ftp://x', signingSecret: 'hook' }, 'value.url'],
    ['channel.webhook', { url: 'https://hooks.example.com' }, 'value.signingSecret'],
    ['branding', { primaryColor: 'blue' }, 'value.primaryColor'],
    ['custom.thing', [1, 2], 'value'],
    ['Bad Name', {}, 'name'],
  ])('refuses a bad %s naming %s', async (name, value, field) => {
    const res = await h.call('PUT', `${WS}/environments/staging/settings/${encodeURIComponent(name)}`, { value });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
  });

  it('accepts any object under another name, lists and deletes, audited', async () => {
    expect((await h.call('PUT', `${WS}/environments/staging/settings/feature.limits`, { value: { a: 1 } })).status).toBe(200);
    expect((await h.call('GET', `${WS}/environments/staging/settings`)).body.data.map((s: any) => s.name)).toEqual(['channel.email', 'feature.limits']);
    expect((await h.call('DELETE', `${WS}/environments/staging/settings/feature.limits`)).status).toBe(204);
    const actions = (await h.call('GET', `${WS}/audit-log?action=setting.*`)).body.data.map((e: any) => e.action);
    expect(actions).toEqual(['setting.delete', 'setting.update', 'setting.update']);
  });
});
