// The workspace the fuzzer attacks: environments, resources (routes to a local upstream, tools,
// workflows, flags), keys, tokens, members, data and the rest, so generated requests carry ids
// that exist and reach the code behind the lookups. Built through the API (in-process or HTTP).
import { say } from '../contract.js';

export interface Answer {
  status: number;
  body: any;
}

/** One JSON call with a bearer credential (null: none). */
export type Caller = (method: string, path: string, body: unknown, auth: string | null) => Promise<Answer>;

export const WS = '/api/workspaces/default';

/** The credentials requests are sent with (`none` and `garbage` need no setup). */
export type Credential = 'owner' | 'viewer' | 'sk' | 'pk' | 'sk-dev' | 'pk-dev' | 'none' | 'garbage';

export interface World {
  /** Values of path parameters by `<segment before it>/{name}`, else by `{name}`. */
  pools: Record<string, string[]>;
  /** Ids a destructive call (DELETE of the thing, a rotation) may spend, by the same keys. */
  victims: Record<string, string[]>;
  /** Existing resources (`kind`, `key`), for `{kind}/{key}` templates. */
  resources: { kind: string; key: string }[];
  /** The JSON Schema of each kind's content (from /api/kinds). */
  kindSchemas: Record<string, Record<string, any>>;
  /** Valid content by kind, as the set-up wrote it. */
  contents: Record<string, unknown[]>;
  credentials: Record<Credential, string | null>;
  /** Kept out of the fuzzing: mints replacements when a call revokes a credential. */
  reserve: string;
  /** Credential replacements minted (a fuzzed logout, rotation or revocation spent one). */
  reminted: number;
}

const pool = (world: World, key: string, ...values: (string | null | undefined)[]) => {
  const list = (world.pools[key] ??= []);
  for (const v of values) if (v && !list.includes(v)) list.push(v);
};
const victim = (world: World, key: string, ...values: (string | null | undefined)[]) => {
  const list = (world.victims[key] ??= []);
  for (const v of values) if (v && !list.includes(v)) list.push(v);
};

/** Builds the world; a step that fails is logged and skipped (its pool stays smaller). */
export async function buildWorld(call: Caller, reserve: string, upstream: string): Promise<World> {
  const world: World = {
    pools: {},
    victims: {},
    resources: [],
    kindSchemas: {},
    contents: {},
    credentials: { owner: null, viewer: null, sk: null, pk: null, 'sk-dev': null, 'pk-dev': null, none: null, garbage: 'sk_live_0000000000000000garbage' },
    reserve,
    reminted: 0,
  };
  let failures = 0;
  const step = async (what: string, method: string, path: string, body?: unknown, auth: string | null = reserve): Promise<any> => {
    const res = await call(method, path, body, auth);
    if (res.status >= 300) {
      failures += 1;
      say(`  fuzz set-up: ${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      return null;
    }
    return res.body ?? {};
  };

  const kinds = await step('kind schemas', 'GET', '/api/kinds');
  for (const k of kinds?.data ?? []) world.kindSchemas[k.kind] = k.schema;

  await step('staging', 'POST', `${WS}/environments`, { slug: 'staging', name: 'Staging' });
  for (const env of ['development', 'staging', 'production']) {
    await step(`egress ${env}`, 'PUT', `${WS}/environments/${env}/settings/egress`, { value: { allow: ['127.0.0.1', '::1'] } });
    await step(`secret ${env}`, 'PUT', `${WS}/environments/${env}/secrets/stripe_key`, { value: `sk_test_fuzz_${env}_0123456789` });
  }
  await step('variable', 'PUT', `${WS}/variables/app_url`, { value: 'https://app.example', overrides: { production: 'https://prod.example' } });
  await step('variable', 'PUT', `${WS}/variables/victim_var`, { value: 1 });
  await step('branding', 'PUT', `${WS}/environments/production/settings/branding`, { value: { name: 'Fuzz' } });

  const contents: Record<string, unknown> = {
    'config/flag-on': { value: true },
    'config/flag-str': { value: 'blue' },
    'config/settings': { value: { limit: 5, name: 'x' }, schema: { type: 'object' }, public: true },
    'route/api': { match: { pathPrefix: '/api' }, upstream: { url: upstream, timeoutMs: 5000 } },
    'route/body': {
      match: { pathPrefix: '/body', methods: ['POST', 'PUT', 'PATCH'] },
      upstream: { url: upstream },
      injectBody: { tenant: '{{ vars.app_url }}' },
      injectHeaders: { 'x-injected': '{{ secrets.stripe_key }}' },
    },
    'route/limited': { match: { pathPrefix: '/limited' }, upstream: { url: upstream }, rateLimit: { requests: 100000, windowSec: 60, per: 'client' } },
    'route/split': { match: { pathPrefix: '/split' }, upstream: { url: upstream }, split: { canary: { url: upstream, weight: 50 } }, stripPrefix: true },
    'route/headers': { match: { pathPrefix: '/tenant', headers: { 'x-tenant': 'acme' } }, upstream: { url: upstream }, clients: ['127.0.0.0/8', '::1/128'] },
    'tool/echo': { method: 'POST', url: `${upstream}/tool`, body: { id: '{{ input.id }}' }, timeoutMs: 2000 },
    'layout/default': { html: '<html><body>{{ content }}</body></html>', text: '{{ content }}' },
    'workflow/welcome': { name: 'Welcome', steps: [{ type: 'channel', channel: 'in_app', template: { body: 'Hi {{ recipient.name }} {{ vars.app_url }}' } }] },
  };
  for (const [id, content] of Object.entries(contents)) {
    const [kind, key] = id.split('/') as [string, string];
    if (await step(`draft ${id}`, 'PUT', `${WS}/environments/development/resources/${id}`, { content })) {
      world.resources.push({ kind, key });
      (world.contents[kind] ??= []).push(content);
    }
  }
  world.resources.push({ kind: 'config', key: 'victim' });
  await step('draft victim', 'PUT', `${WS}/environments/development/resources/config/victim`, { content: { value: 0 } });
  await step('commit', 'POST', `${WS}/environments/development/commits`, { message: 'fuzz world' });
  await step('promote staging', 'POST', `${WS}/environments/staging/promotions`, { message: 'fuzz world' });
  await step('promote production', 'POST', `${WS}/environments/production/promotions`, { message: 'fuzz world' });
  await step('check', 'POST', `${WS}/environments/staging/releases/1/checks`, { name: 'ci', status: 'success' });

  await step('branch', 'POST', `${WS}/environments`, { slug: 'feature-x', name: 'Feature X', kind: 'branch', from: 'development' });
  for (const v of ['victim-1', 'victim-2', 'victim-3']) {
    if (await step(`branch ${v}`, 'POST', `${WS}/environments`, { slug: v, name: v, kind: 'branch', from: 'development', ttlHours: 48 })) victim(world, 'environments/{env}', v);
  }
  pool(world, '{env}', 'development', 'staging', 'production', 'feature-x');

  // Credentials: service tokens for the management API, keys for the runtime API.
  const owner = await step('owner token', 'POST', `${WS}/tokens`, { name: 'fuzz owner', role: 'owner' });
  world.credentials.owner = owner?.token ?? null;
  const viewer = await step('viewer token', 'POST', `${WS}/tokens`, { name: 'fuzz viewer', role: 'viewer', environmentRoles: { development: 'developer' } });
  world.credentials.viewer = viewer?.token ?? null;
  for (let i = 0; i < 3; i += 1) victim(world, 'tokens/{id}', (await step('victim token', 'POST', `${WS}/tokens`, { name: `victim ${i}`, role: 'developer' }))?.id);
  for (let i = 0; i < 3; i += 1) {
    victim(world, 'members/{id}', (await step('victim member', 'POST', `${WS}/members`, { email: `victim${i}@example.com`, role: 'developer', password: 'correct horse battery staple 1' }))?.id);
  }
  const key = async (env: string, kind: 'secret' | 'publishable', name: string) => (await step(`key ${env} ${kind}`, 'POST', `${WS}/environments/${env}/api-keys`, { name, kind })) as { id: string; key: string } | null;
  world.credentials.sk = (await key('production', 'secret', 'fuzz sk'))?.key ?? null;
  world.credentials.pk = (await key('production', 'publishable', 'fuzz pk'))?.key ?? null;
  world.credentials['sk-dev'] = (await key('development', 'secret', 'fuzz sk dev'))?.key ?? null;
  world.credentials['pk-dev'] = (await key('development', 'publishable', 'fuzz pk dev'))?.key ?? null;
  for (let i = 0; i < 4; i += 1) victim(world, 'api-keys/{id}', (await key(i % 2 ? 'production' : 'development', 'secret', `victim ${i}`))?.id);

  // Runtime data, a workflow run, a recipient token.
  for (const auth of [world.credentials.sk, world.credentials['sk-dev']]) {
    for (const id of ['u1', 'u2']) await step(`record ${id}`, 'PUT', `/v1/data/users/${id}`, { name: `User ${id}`, email: `${id}@example.com` }, auth);
    await step('record prefs', 'PUT', '/v1/data/prefs/p1', { theme: 'dark' }, auth);
  }
  pool(world, '{collection}', 'users', 'prefs');
  pool(world, 'users/{id}', 'u1', 'u2');
  pool(world, 'prefs/{id}', 'p1');
  pool(world, '{recipient}', 'u1', 'u2');
  const run = await step('trigger', 'POST', '/v1/workflows/welcome/trigger', { recipients: ['u1'], data: { x: 1 } }, world.credentials.sk);
  pool(world, 'workflow-runs/{id}', run?.runId);
  await step('recipient token secret', 'POST', `${WS}/environments/production/recipient-token-secret`);
  await step('recipient token', 'POST', '/v1/recipient-tokens', { recipient: 'u1', ttlSeconds: 3600 }, world.credentials.sk);

  // Rules and subscriptions, freezes (a future one, so promotions still apply), gates.
  const day = 86_400_000;
  const later = (days: number) => new Date(Date.now() + days * day).toISOString();
  pool(world, 'alert-rules/{id}', (await step('alert rule', 'POST', `${WS}/alert-rules`, { environment: 'production', name: 'errors', metric: 'error_rate', comparison: '>', threshold: 0.5, windowMinutes: 5, minRequests: 10, channels: [] }))?.id);
  pool(world, 'alert-silences/{id}', (await step('silence', 'POST', `${WS}/alert-silences`, { environment: 'production', startsAt: later(300), endsAt: later(301), reason: 'fuzz' }))?.id);
  pool(world, 'event-subscriptions/{id}', (await step('subscription', 'POST', `${WS}/event-subscriptions`, { url: `${upstream}/events`, types: ['*'] }))?.id);
  pool(world, 'freezes/{id}', (await step('freeze', 'POST', `${WS}/environments/staging/freezes`, { startsAt: later(300), endsAt: later(301), reason: 'fuzz' }))?.id);
  await step('gates', 'PUT', `${WS}/environments/production/gates`, { checks: [], checklist: ['smoke'], soakMinutes: 0, autoApply: false });

  // A protected production, so a promotion into it waits as a request.
  await step('protect', 'PATCH', `${WS}/environments/production`, { protected: true, approvalsRequired: 1 });
  await step('draft 2', 'PUT', `${WS}/environments/development/resources/config/flag-str`, { content: { value: 'green' } });
  await step('commit 2', 'POST', `${WS}/environments/development/commits`, { message: 'second' });
  await step('promote staging 2', 'POST', `${WS}/environments/staging/promotions`, { message: 'second' });
  const request = await step('request', 'POST', `${WS}/environments/production/promotions`, { message: 'second' });
  pool(world, 'promotion-requests/{id}', request?.id ?? request?.request?.id);
  const requests = await step('requests', 'GET', `${WS}/promotion-requests`);
  pool(world, 'promotion-requests/{id}', ...(requests?.data ?? []).map((r: any) => r.id));
  const review = await step('review items', 'GET', `${WS}/review-items`);
  pool(world, 'review-items/{id}', ...(review?.data ?? []).map((r: any) => r.id));
  const feed = await call('GET', '/v1/feeds/u1', undefined, world.credentials.sk);
  pool(world, 'messages/{id}', ...(feed.body?.data ?? []).map((m: any) => m.id));

  pool(world, '{ws}', 'default');
  pool(world, '{number}', '1', '2', '3');
  pool(world, 'variables/{name}', 'app_url');
  victim(world, 'variables/{name}', 'victim_var');
  pool(world, 'secrets/{name}', 'stripe_key');
  pool(world, 'settings/{name}', 'egress', 'branding', 'channel.webhook', 'channel.email', 'cors', 'feeds');
  pool(world, 'workflows/{key}', 'welcome');
  pool(world, 'tools/{key}', 'echo');
  pool(world, 'flags/{key}', 'flag-on', 'flag-str', 'settings');
  // A kind/key pair is drawn whole; a lone `{id}` of an unknown family gets any id.
  pool(world, '{id}', ...Object.entries(world.pools).filter(([k]) => k.endsWith('/{id}')).flatMap(([, v]) => v));
  const missing = (Object.entries(world.credentials) as [Credential, string | null][]).filter(([k, v]) => !v && k !== 'none').map(([k]) => k);
  say(`  fuzz set-up: ${failures} step(s) failed${missing.length ? `; no credential: ${missing.join(', ')}` : ''}`);
  if (missing.length > 0) throw new Error(`the fuzz world has no ${missing.join(', ')} credential`);
  return world;
}

/**
 * Checks each credential still works and mints a replacement for any that a fuzzed call spent
 * (logout revokes the caller's token, a rotation or DELETE revokes a key).
 */
export async function repairCredentials(call: Caller, world: World): Promise<void> {
  const probes: [Credential, string][] = [
    ['owner', '/api/auth/whoami'],
    ['viewer', '/api/auth/whoami'],
    ['sk', '/v1/resources'],
    ['pk', '/v1/resources'],
    ['sk-dev', '/v1/resources'],
    ['pk-dev', '/v1/resources'],
  ];
  for (const [credential, path] of probes) {
    const res = await call('GET', path, undefined, world.credentials[credential]);
    if (res.status !== 401) continue;
    let made: any = null;
    if (credential === 'owner' || credential === 'viewer') {
      made = await call('POST', `${WS}/tokens`, { name: `fuzz ${credential} ${world.reminted}`, role: credential === 'owner' ? 'owner' : 'viewer' }, world.reserve);
      if (made.status === 201) world.credentials[credential] = made.body.token;
    } else {
      const env = credential.endsWith('-dev') ? 'development' : 'production';
      made = await call('POST', `${WS}/environments/${env}/api-keys`, { name: `fuzz ${credential} ${world.reminted}`, kind: credential.startsWith('sk') ? 'secret' : 'publishable' }, world.reserve);
      if (made.status === 201) world.credentials[credential] = made.body.key;
    }
    if (made.status !== 201) throw new Error(`could not replace the ${credential} credential: ${made.status} ${JSON.stringify(made.body)}`);
    world.reminted += 1;
  }
}
