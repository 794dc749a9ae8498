// @stageline/openfeature through the OpenFeature SDKs themselves, and the generic OFREP provider,
// against a real listening node: resolution details, error codes, and the provider events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenFeature, ProviderEvents, ProviderStatus, type Client, type EventDetails } from '@openfeature/server-sdk';
import { OpenFeature as WebOpenFeature, ProviderEvents as WebProviderEvents } from '@openfeature/web-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { StagelineProvider } from '../packages/openfeature/src/server.js';
import { StagelineWebProvider } from '../packages/openfeature/src/web.js';
import { commitDrafts, createApiKey, createTestDatabase, eventually, promote, startHarness, WS, type Harness, type TestDatabase } from './support.js';

let database: TestDatabase;
let h: Harness;
let baseUrl: string;
let port: number;
const keys = { secret: '', publishable: '' };
/** The owner token of the first start (a restarted node bootstraps nothing). */
let owner = '';
async function api(method: string, path: string, body?: unknown) {
  const res = await h.call(method, path, body, owner);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

const beta = {
  value: false,
  flag: {
    variants: { on: true, off: false },
    defaultVariant: 'off',
    rules: [{ if: { attribute: 'email', endsWith: '@example.com' }, variant: 'on' }],
  },
};

/** The node on `port` (the same address for the providers after a restart). */
async function startNode() {
  h = await startHarness({ database });
  await h.app.listen({ port, host: '127.0.0.1' });
  const address = h.app.server.address();
  if (typeof address === 'object' && address) port = address.port;
  baseUrl = `http://127.0.0.1:${port}`;
}

/** Resolves with the next event of `type` the client hears. */
function next(client: Pick<Client, 'addHandler' | 'removeHandler'>, type: ProviderEvents): Promise<EventDetails> {
  return new Promise((resolve) => {
    const handler = (details?: EventDetails) => {
      client.removeHandler(type, handler);
      resolve(details!);
    };
    client.addHandler(type, handler);
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
  port = 0;
  await startNode();
  owner = h.token;
  keys.secret = await createApiKey(h, 'production', 'secret');
  keys.publishable = await createApiKey(h, 'production', 'publishable');
  await commitDrafts(h, {
    'config/beta': beta,
    'config/checkout': { value: { url: 'https://pay.example', retries: 3 } },
    'config/banner': { value: 'Hello', public: true },
    'config/limit': { value: 10, public: true },
  });
  await promote(h, 'production', { message: 'flags' });
});

afterAll(async () => {
  await OpenFeature.close();
  await WebOpenFeature.close();
  await h?.close();
  await database?.drop();
});

describe('StagelineProvider (server SDK)', () => {
  let client: Client;
  let provider: StagelineProvider;

  beforeAll(async () => {
    provider = new StagelineProvider({ baseUrl, apiKey: keys.secret, timeoutMs: 2000, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    await OpenFeature.setProviderAndWait('stageline', provider);
    client = OpenFeature.getClient('stageline');
  });

  it('answers resolution details: value, variant, reason and metadata', async () => {
    const details = await client.getBooleanDetails('beta', false, { targetingKey: 'u1', email: 'ana@example.com' });
    expect(details).toMatchObject({ flagKey: 'beta', value: true, variant: 'on', reason: 'TARGETING_MATCH', flagMetadata: { hash: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(details.errorCode).toBeUndefined();
    expect(await client.getBooleanDetails('beta', true, { targetingKey: 'u2', email: 'bo@example.org' })).toMatchObject({ value: false, variant: 'off', reason: 'DEFAULT' });
  });

  it('reads objects, strings and numbers', async () => {
    expect(await client.getObjectDetails('checkout', {})).toMatchObject({ value: { url: 'https://pay.example', retries: 3 }, variant: 'default', reason: 'STATIC' });
    expect(await client.getStringValue('banner', 'x')).toBe('Hello');
    expect(await client.getNumberValue('limit', 0)).toBe(10);
  });

  it('a missing flag is FLAG_NOT_FOUND with the default', async () => {
    expect(await client.getBooleanDetails('no-such-flag', true)).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
  });

  it('a flag of another type is TYPE_MISMATCH with the default', async () => {
    expect(await client.getNumberDetails('beta', 7)).toMatchObject({ value: 7, reason: 'ERROR', errorCode: 'TYPE_MISMATCH' });
    expect(await client.getBooleanDetails('checkout', true)).toMatchObject({ value: true, errorCode: 'TYPE_MISMATCH' });
  });

  it('a context with a numeric targeting key is INVALID_CONTEXT', async () => {
    expect(await client.getBooleanDetails('beta', true, { targetingKey: 5 as unknown as string })).toMatchObject({ value: true, errorCode: 'INVALID_CONTEXT' });
  });

  it('a commit promoted to its environment emits ConfigurationChanged naming the flag', async () => {
    const changed = next(client, ProviderEvents.ConfigurationChanged);
    await commitDrafts(h, { 'config/beta': { ...beta, flag: { ...beta.flag, defaultVariant: 'on' } } });
    expect((await promote(h, 'production', { message: 'beta for everyone' })).status).toBe(201);
    expect((await changed).flagsChanged).toEqual(['beta']);
    expect(await client.getBooleanDetails('beta', false, { targetingKey: 'u2' })).toMatchObject({ value: true, variant: 'on', reason: 'DEFAULT' });
  });

  it('a kill switch takes the flag away: FLAG_NOT_FOUND until it is on again', async () => {
    const off = next(client, ProviderEvents.ConfigurationChanged);
    await api('PUT', `${WS}/environments/production/resources/config/limit/active`, { active: false });
    expect((await off).flagsChanged).toEqual(['limit']);
    expect(await client.getNumberDetails('limit', 1)).toMatchObject({ value: 1, errorCode: 'FLAG_NOT_FOUND' });
    const on = next(client, ProviderEvents.ConfigurationChanged);
    await api('PUT', `${WS}/environments/production/resources/config/limit/active`, { active: true });
    await on;
    expect(await client.getNumberValue('limit', 1)).toBe(10);
  });

  it('when the node stops: Stale, last-known-good values with reason STALE; Ready when it is back', async () => {
    const stale = next(client, ProviderEvents.Stale);
    await h.close();
    await stale;
    expect(client.providerStatus).toBe(ProviderStatus.STALE);
    expect(await client.getBooleanDetails('beta', false, { targetingKey: 'u2' })).toMatchObject({ value: true, variant: 'on', reason: 'STALE' });
    const ready = next(client, ProviderEvents.Ready);
    await startNode();
    await ready;
    expect(client.providerStatus).toBe(ProviderStatus.READY);
    expect(await client.getBooleanDetails('beta', false, { targetingKey: 'u2' })).toMatchObject({ value: true, reason: 'DEFAULT' });
  });

  it('a change made while the node was away arrives after it is back', async () => {
    const changed = next(client, ProviderEvents.ConfigurationChanged);
    await api('PUT', `${WS}/environments/production/resources/config/banner/override`, { override: { value: 'Welcome back' } });
    expect((await changed).flagsChanged).toEqual(['banner']);
    expect(await client.getStringValue('banner', 'x')).toBe('Welcome back');
    await api('DELETE', `${WS}/environments/production/resources/config/banner/override`);
    await eventually(async () => expect(await client.getStringValue('banner', 'x')).toBe('Hello'));
  });
});

describe('a refused key', () => {
  it('a revoked key ends the stream and the provider emits Error', async () => {
    const created = (await api('POST', `${WS}/environments/production/api-keys`, { name: 'revoked soon', kind: 'secret' })).body;
    await OpenFeature.setProviderAndWait('revoked', new StagelineProvider({ baseUrl, apiKey: created.key, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } }));
    const client = OpenFeature.getClient('revoked');
    expect(await client.getBooleanValue('beta', false, { targetingKey: 'u2' })).toBe(true);
    const failed = next(client, ProviderEvents.Error);
    await api('DELETE', `${WS}/environments/production/api-keys/${created.id}`);
    expect((await failed).message).toMatch(/not valid|unauthenticated|key/i);
    expect(client.providerStatus).toBe(ProviderStatus.ERROR);
  });
});

describe('StagelineWebProvider (web SDK)', () => {
  it('evaluates public flags synchronously for the page context and follows changes', async () => {
    await WebOpenFeature.setContext({ targetingKey: 'visitor-1' });
    await WebOpenFeature.setProviderAndWait(new StagelineWebProvider({ baseUrl, apiKey: keys.publishable, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } }));
    const client = WebOpenFeature.getClient();
    expect(client.getStringDetails('banner', 'x')).toMatchObject({ value: 'Hello', variant: 'default', reason: 'STATIC' });
    // A publishable key never sees private configs.
    expect(client.getBooleanDetails('beta', true)).toMatchObject({ value: true, errorCode: 'FLAG_NOT_FOUND' });
    expect(client.getBooleanDetails('limit', false)).toMatchObject({ value: false, errorCode: 'TYPE_MISMATCH' });
    const changed = new Promise<EventDetails>((resolve) => client.addHandler(WebProviderEvents.ConfigurationChanged, (details) => resolve(details!)));
    await api('PUT', `${WS}/environments/production/resources/config/limit/override`, { override: { value: 20 } });
    expect((await changed).flagsChanged).toEqual(['limit']);
    expect(client.getNumberValue('limit', 0)).toBe(20);
  });
});

describe('the generic OFREP provider', () => {
  it('reads a Stageline flag through the OFREP endpoint with the bearer key', async () => {
    await OpenFeature.setProviderAndWait('ofrep', new OFREPProvider({ baseUrl, headers: { Authorization: `Bearer ${keys.secret}` } }));
    const client = OpenFeature.getClient('ofrep');
    expect(await client.getBooleanDetails('beta', false, { targetingKey: 'u3', email: 'cy@example.com' })).toMatchObject({ value: true, variant: 'on', reason: 'TARGETING_MATCH' });
    expect(await client.getObjectValue('checkout', {})).toEqual({ url: 'https://pay.example', retries: 3 });
    expect(await client.getBooleanDetails('no-such-flag', true)).toMatchObject({ value: true, errorCode: 'FLAG_NOT_FOUND' });
    expect(await client.getNumberDetails('beta', 1)).toMatchObject({ value: 1, errorCode: 'TYPE_MISMATCH' });
  });

  it('the generic OFREP web provider reads the bulk evaluation for its context', async () => {
    await WebOpenFeature.setContext('ofrep-web', { targetingKey: 'visitor-2' });
    await WebOpenFeature.setProviderAndWait('ofrep-web', new OFREPWebProvider({ baseUrl, headers: [['Authorization', `Bearer ${keys.publishable}`]], cacheMode: 'disabled', changeDetection: 'none' }));
    const client = WebOpenFeature.getClient('ofrep-web');
    expect(client.getStringDetails('banner', 'x')).toMatchObject({ value: 'Hello', variant: 'default', reason: 'STATIC' });
    expect(client.getNumberValue('limit', 0)).toBe(20);
    expect(client.getBooleanDetails('beta', true)).toMatchObject({ value: true, errorCode: 'FLAG_NOT_FOUND' });
  });
});
