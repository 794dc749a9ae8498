import { describe, expect, it } from 'vitest';
import {
  appLabelIssue,
  contentIssues,
  isCidr,
  isResourceKind,
  overriddenContentIssues,
  RESOURCE_KEY_PATTERN,
  RESOURCE_KINDS,
  type ResourceKind,
} from './kinds.js';

// The example shapes of DESIGN.md "Resource shapes".
const route = {
  match: { pathPrefix: '/payments', methods: ['GET', 'POST'] },
  upstream: { url: 'https://api.stripe.com/v1', timeoutMs: 30000 },
  stripPrefix: false,
  injectHeaders: { Authorization: 'Bearer {{ secrets.stripe_key }}' },
  injectBody: { tenant_id: '{{ vars.tenant_id }}' },
  rateLimit: { requests: 100, windowSec: 60, burst: 120, dailyQuota: 10000, per: 'client' },
  clients: ['203.0.113.0/24', '2001:db8::/32'],
  split: { canary: { url: 'https://v2.internal', weight: 5 } },
};

const workflow = {
  name: 'Welcome',
  steps: [
    { type: 'channel', channel: 'in_app', template: { body: 'Welcome {{ recipient.name }}: {{ vars.app_url }}' } },
    {
      type: 'channel',
      channel: 'email',
      layout: 'default',
      template: { subject: 'Welcome', html: '<p>Hi {{ recipient.name }}</p>', text: 'Hi {{ recipient.name }}' },
    },
    { type: 'delay', seconds: 60 },
    { type: 'tool', tool: 'crm-sync', input: { id: '{{ recipient.id }}' } },
    { type: 'channel', channel: 'webhook', template: { body: { event: 'welcome', user: '{{ recipient.id }}' } } },
  ],
};

const layout = { html: '<html><body>{{ content }}<footer>{{ vars.company }}</footer></body></html>', text: '{{ content }}' };

const tool = {
  method: 'POST',
  url: 'https://sandbox.crm.example/api/sync',
  headers: { Authorization: 'Bearer {{ secrets.crm_token }}' },
  body: { id: '{{ input.id }}' },
  timeoutMs: 10000,
};

const config = { value: { any: 'JSON' }, schema: { type: 'object' }, public: false };

const EXAMPLES: Record<ResourceKind, unknown> = { route, workflow, layout, tool, config };

/** The field paths of the issues, in order. */
function fields(kind: ResourceKind, content: unknown): string[] {
  return contentIssues(kind, content).map((issue) => issue.field);
}

describe('resource kinds', () => {
  it('has exactly the five built-in kinds', () => {
    expect([...RESOURCE_KINDS].sort()).toEqual(['config', 'layout', 'route', 'tool', 'workflow']);
  });

  it.each([
    ['workflow', true],
    ['config', true],
    ['widget', false],
    ['Route', false],
    ['', false],
  ])('isResourceKind(%j) is %s', (kind, expected) => {
    expect(isResourceKind(kind)).toBe(expected);
  });

  it.each([
    ['payments', true],
    ['welcome.v2_final-1', true],
    ['A', true],
    ['a'.repeat(128), true],
    ['a'.repeat(129), false],
    ['.hidden', false],
    ['has space', false],
    ['a/b', false],
  ])('resource key %j matches: %s', (key, expected) => {
    expect(RESOURCE_KEY_PATTERN.test(key)).toBe(expected);
  });
});

describe('contentIssues', () => {
  describe('accepts the documented shapes', () => {
    it.each(RESOURCE_KINDS)('%s example', (kind) => {
      expect(contentIssues(kind, EXAMPLES[kind])).toEqual([]);
    });

    it('route with a blue-green split', () => {
      const blueGreen = { blueGreen: { blue: 'https://blue.internal', green: 'https://green.internal', active: 'blue' } };
      expect(contentIssues('route', { ...route, split: blueGreen })).toEqual([]);
    });

    it('route with only match and upstream', () => {
      expect(contentIssues('route', { match: { pathPrefix: '/' }, upstream: { url: 'http://localhost:3000' } })).toEqual([]);
    });

    it('config with any JSON value and no schema', () => {
      expect(contentIssues('config', { value: [1, 'two', null, { three: [true] }] })).toEqual([]);
    });

    it('layout with text only', () => {
      expect(contentIssues('layout', { text: '{{ content }}' })).toEqual([]);
    });
  });

  describe('accepts a template where a URL is expected', () => {
    it.each([
      ['route upstream.url', 'route', { ...route, upstream: { url: '{{ vars.api_url }}/v1' } }],
      ['route upstream.url with a tag', 'route', { ...route, upstream: { url: '{% if vars.eu %}https://eu{% endif %}' } }],
      ['route canary url', 'route', { ...route, split: { canary: { url: '{{ vars.canary_url }}', weight: 10 } } }],
      [
        'route blue-green urls',
        'route',
        { ...route, split: { blueGreen: { blue: '{{ vars.blue }}', green: '{{ vars.green }}', active: 'green' } } },
      ],
      ['tool url', 'tool', { ...tool, url: '{{ vars.crm_url }}/sync' }],
    ] as const)('%s', (_name, kind, content) => {
      expect(contentIssues(kind, content)).toEqual([]);
    });
  });

  describe('names the path of every bad field', () => {
    it('reports one issue per bad path with dotted field names', () => {
      const content = {
        ...route,
        match: { pathPrefix: 'payments', methods: ['GET', 'FETCH'] },
        upstream: { url: 'ftp://files.example', timeoutMs: 0 },
        clients: ['203.0.113.0/24', '300.0.0.0/8'],
      };
      expect(fields('route', content)).toEqual([
        'content.match.pathPrefix',
        'content.match.methods.1',
        'content.upstream.url',
        'content.upstream.timeoutMs',
        'content.clients.1',
      ]);
    });

    it('says what is wrong with a bad URL', () => {
      expect(contentIssues('route', { ...route, upstream: { url: 'not a url' } })).toEqual([
        { field: 'content.upstream.url', message: 'must be an http(s) URL or a template', in: 'body' },
      ]);
    });

    it('says why an upstream URL cannot take a path', () => {
      expect(contentIssues('route', { ...route, upstream: { url: 'https://api.example/v1?key=1' } })).toEqual([
        { field: 'content.upstream.url', message: 'must not have a query: the request path and query are appended to it', in: 'body' },
      ]);
      expect(contentIssues('route', { ...route, upstream: { url: 'https://api.example/v1/{{ vars.x }}?k=1' } })).toEqual([]);
    });

    it('accepts prefixes with escapes and prototype names', () => {
      for (const pathPrefix of ['/caf%C3%A9', '/__proto__', '/constructor/toString', '/'])
        expect(contentIssues('route', { ...route, match: { pathPrefix } })).toEqual([]);
    });

    it('says what is wrong with a bad client address', () => {
      expect(contentIssues('route', { ...route, clients: ['example.com'] })).toEqual([
        { field: 'content.clients.0', message: 'must be an IPv4 or IPv6 address or CIDR block', in: 'body' },
      ]);
    });

    it.each([
      ['a burst below requests', { rateLimit: { requests: 100, windowSec: 60, burst: 10 } }, ['content.rateLimit.burst']],
      ['a window above a day', { rateLimit: { requests: 1, windowSec: 86_401 } }, ['content.rateLimit.windowSec']],
      ['an unknown rate-limit key', { rateLimit: { requests: 1, windowSec: 1, per: 'planet' } }, ['content.rateLimit.per']],
      ['a canary weight above 100', { split: { canary: { url: 'https://v2', weight: 500 } } }, ['content.split.canary.weight']],
      ['a bad canary url', { split: { canary: { url: 'v2', weight: 5 } } }, ['content.split.canary.url']],
      [
        'a bad blue-green url',
        { split: { blueGreen: { blue: 'https://b', green: 'green', active: 'blue' } } },
        ['content.split.blueGreen.green'],
      ],
      ['a bad header name', { injectHeaders: { 'bad header': 'x' } }, ['content.injectHeaders.bad header']],
      ['a missing upstream', { upstream: undefined }, ['content.upstream']],
      ['an upstream with a query', { upstream: { url: 'https://api.example/v1?key=1' } }, ['content.upstream.url']],
      ['an upstream with credentials', { upstream: { url: 'https://user:pw@api.example/v1' } }, ['content.upstream.url']],
      ['a canary with a fragment', { split: { canary: { url: 'https://v2#x', weight: 5 } } }, ['content.split.canary.url']],
      ['a prefix with a query', { match: { pathPrefix: '/a?b=1' } }, ['content.match.pathPrefix']],
      ['a prefix with an escaped slash', { match: { pathPrefix: '/a%2Fb' } }, ['content.match.pathPrefix']],
      ['a prefix with a stray %', { match: { pathPrefix: '/100%' } }, ['content.match.pathPrefix']],
      ['a prefix with a backslash', { match: { pathPrefix: '/a\\b' } }, ['content.match.pathPrefix']],
      ['an injected Transfer-Encoding', { injectHeaders: { 'Transfer-Encoding': 'chunked' } }, ['content.injectHeaders']],
      ['an injected Connection', { injectHeaders: { connection: 'close' } }, ['content.injectHeaders']],
    ])('route with %s', (_name, change, expected) => {
      expect(fields('route', { ...route, ...change })).toEqual(expected);
    });

    it('names the bad fields of workflow steps by index', () => {
      const content = {
        name: 'Welcome',
        steps: [
          { type: 'channel', channel: 'email', template: { subject: 'Hi' } },
          { type: 'delay', seconds: 0 },
          { type: 'sms' },
          { type: 'channel', channel: 'pigeon', template: {} },
          { type: 'tool', tool: '.bad key' },
        ],
      };
      expect(fields('workflow', content)).toEqual([
        'content.steps.0.template',
        'content.steps.1.seconds',
        'content.steps.2.type',
        'content.steps.3.channel',
        'content.steps.4.tool',
      ]);
    });

    it('refuses a workflow without steps', () => {
      expect(fields('workflow', { name: 'Empty', steps: [] })).toEqual(['content.steps']);
    });

    it('refuses a layout with neither html nor text at content', () => {
      expect(contentIssues('layout', { name: 'Bare' })).toEqual([{ field: 'content', message: 'needs html or text', in: 'body' }]);
    });

    it('names every bad tool field', () => {
      expect(fields('tool', { method: 'FETCH', url: 'nope', timeoutMs: 300_001 })).toEqual([
        'content.method',
        'content.url',
        'content.timeoutMs',
      ]);
    });

    it.each([
      ['null', null],
      ['an array', []],
      ['a string', 'route'],
    ])('refuses content that is %s at content', (_name, content) => {
      expect(fields('route', content)).toEqual(['content']);
    });

    it('refuses a config without a value', () => {
      expect(fields('config', { public: true })).toEqual(['content.value']);
    });
  });

  describe('reports unknown fields', () => {
    it('as one unknown field issue per key', () => {
      expect(contentIssues('route', { ...route, extra: 1, other: 2 })).toEqual([
        { field: 'content.extra', message: 'unknown field', in: 'body' },
        { field: 'content.other', message: 'unknown field', in: 'body' },
      ]);
    });

    it('at the nested path where they appear', () => {
      const content = { ...route, match: { pathPrefix: '/p', zz: 1 }, upstream: { url: 'https://a', retry: true } };
      expect(fields('route', content)).toEqual(['content.match.zz', 'content.upstream.retry']);
    });

    it('inside a workflow step', () => {
      expect(contentIssues('workflow', { name: 'W', steps: [{ type: 'delay', seconds: 5, until: 'noon' }] })).toEqual([
        { field: 'content.steps.0.until', message: 'unknown field', in: 'body' },
      ]);
    });

    it.each(RESOURCE_KINDS)('in a %s', (kind) => {
      const content = { ...(EXAMPLES[kind] as object), surprise: true };
      expect(contentIssues(kind, content)).toEqual([{ field: 'content.surprise', message: 'unknown field', in: 'body' }]);
    });
  });

  describe('checks a config value against its JSON Schema', () => {
    const schema = {
      type: 'object',
      properties: {
        port: { type: 'integer' },
        name: { type: 'string' },
        tls: { type: 'object', properties: { enabled: { type: 'boolean' } } },
      },
      required: ['host'],
    };

    it('accepts a value that matches', () => {
      expect(contentIssues('config', { value: { host: 'db', port: 5432, tls: { enabled: true } }, schema })).toEqual([]);
    });

    it('names content.value.<field> for each mismatching field', () => {
      expect(contentIssues('config', { value: { host: 'db', port: 'x', name: 1 }, schema })).toEqual([
        { field: 'content.value.port', message: 'must be integer', in: 'body' },
        { field: 'content.value.name', message: 'must be string', in: 'body' },
      ]);
    });

    it('names a missing required property by its path', () => {
      expect(fields('config', { value: { port: 1 }, schema })).toEqual(['content.value.host']);
    });

    it('names nested fields with dots', () => {
      expect(fields('config', { value: { host: 'db', tls: { enabled: 'yes' } }, schema })).toEqual([
        'content.value.tls.enabled',
      ]);
    });

    it('names array items by index', () => {
      expect(fields('config', { value: [1, 'x', 3], schema: { type: 'array', items: { type: 'integer' } } })).toEqual([
        'content.value.1',
      ]);
    });

    it('names content.value when the value itself mismatches', () => {
      expect(contentIssues('config', { value: 1, schema: { type: 'integer', minimum: 5 } })).toEqual([
        { field: 'content.value', message: 'must be >= 5', in: 'body' },
      ]);
    });

    it('checks formats', () => {
      expect(fields('config', { value: 'not-an-email', schema: { type: 'string', format: 'email' } })).toEqual(['content.value']);
    });

    it('reports an invalid JSON Schema at content.schema', () => {
      const issues = contentIssues('config', { value: 1, schema: { type: 'bogus' } });
      expect(issues).toHaveLength(1);
      expect(issues[0]).toMatchObject({ field: 'content.schema', in: 'body' });
      expect(issues[0]!.message).toMatch(/^is not a valid JSON Schema/);
    });

    it('refuses a schema that is not an object at content.schema', () => {
      expect(fields('config', { value: 1, schema: 'integer' })).toEqual(['content.schema']);
    });
  });
});

describe('isCidr', () => {
  it.each([
    '203.0.113.0/24',
    '203.0.113.7',
    '0.0.0.0/0',
    '10.0.0.0/32',
    '2001:db8::/32',
    '::1',
    '::/0',
    'fe80::1/128',
  ])('accepts %s', (value) => {
    expect(isCidr(value)).toBe(true);
  });

  it.each([
    ['an IPv4 prefix above 32', '10.0.0.0/33'],
    ['an IPv6 prefix above 128', '2001:db8::/129'],
    ['an empty prefix', '10.0.0.0/'],
    ['a negative prefix', '10.0.0.0/-1'],
    ['a non-numeric prefix', '10.0.0.0/abc'],
    ['two slashes', '10.0.0.0/8/8'],
    ['no address', '/24'],
    ['an octet above 255', '256.0.0.0/8'],
    ['a host name', 'example.com'],
    ['the empty string', ''],
    ['a malformed IPv6 address', '2001:db8:::1/64'],
  ])('refuses %s', (_name, value) => {
    expect(isCidr(value)).toBe(false);
  });
});

describe('issues inside unions and missing fields', () => {
  const route = { match: { pathPrefix: '/p' }, upstream: { url: 'https://a' } };

  it('a blue-green split with several bad fields names each of them', () => {
    const issues = contentIssues('route', { ...route, split: { blueGreen: { blue: 'https://b', green: 'x', active: 'red' } } });
    expect(issues.map((i) => i.field).sort()).toEqual(['content.split.blueGreen.active', 'content.split.blueGreen.green']);
  });

  it('a missing required field says it is required', () => {
    expect(contentIssues('config', { public: true })).toEqual([{ field: 'content.value', message: 'is required', in: 'body' }]);
  });

  it('refuses a CIDR prefix with a leading zero', () => {
    expect(isCidr('10.0.0.0/08')).toBe(false);
    expect(isCidr('10.0.0.0/0')).toBe(true);
  });
});

describe('app labels', () => {
  it.each([undefined, null, 'billing', 'a', 'web-2', 'constructor'])('%j is accepted', (app) => {
    expect(appLabelIssue(app)).toBeNull();
  });

  it.each(['Billing', '', '2web', 'has space', 'x'.repeat(42), '__proto__'])('%j is refused naming app', (app) => {
    expect(appLabelIssue(app)).toEqual({ field: 'app', message: 'must be a lowercase label of letters, digits and hyphens', in: 'body' });
  });
});

describe('overridden content', () => {
  const config = { value: { a: 1 }, schema: { type: 'object', required: ['a'] } };

  it('is valid when the merged document is', () => {
    expect(overriddenContentIssues('config', config, { value: { b: 2 } })).toEqual([]);
  });

  it('names bad fields under override', () => {
    const issues = overriddenContentIssues('route', route, { upstream: { url: 'not a url' } });
    expect(issues.map((i) => i.field)).toEqual(['override.upstream.url']);
  });
});

describe('a config with flag fields', () => {
  const flagged = {
    value: false,
    flag: {
      variants: { on: true, off: false },
      defaultVariant: 'off',
      rules: [{ if: { attribute: 'email', endsWith: '@example.com' }, variant: 'on' }],
      rollout: { variants: { on: 10, off: 90 }, by: 'targetingKey' },
    },
  };

  it('accepts the documented flag', () => {
    expect(contentIssues('config', flagged)).toEqual([]);
  });

  it('names every bad flag field under content.flag', () => {
    const bad = { value: false, flag: { variants: { on: true }, defaultVariant: 'off', rules: [{ if: { attribute: 'email', matches: 'x' }, variant: 'on' }] } };
    expect(fields('config', bad)).toEqual(['content.flag.defaultVariant', 'content.flag.rules.0.if.matches']);
  });

  it('refuses rollout percentages that do not add up to 100', () => {
    const bad = { ...flagged, flag: { ...flagged.flag, rollout: { variants: { on: 10, off: 10 } } } };
    expect(contentIssues('config', bad)).toEqual([{ field: 'content.flag.rollout.variants', message: 'the percentages must add up to 100 (they add up to 20)', in: 'body' }]);
  });

  it("checks every variant against the config's schema", () => {
    const bad = { value: 1, schema: { type: 'integer' }, flag: { variants: { low: 1, high: 'many' } } };
    expect(fields('config', bad)).toEqual(['content.flag.variants.high']);
  });

  it('an override of flag.defaultVariant is checked against the variants', () => {
    expect(overriddenContentIssues('config', flagged, { flag: { defaultVariant: 'on' } })).toEqual([]);
    expect(overriddenContentIssues('config', flagged, { flag: { defaultVariant: 'maybe' } }).map((i) => i.field)).toEqual(['override.flag.defaultVariant']);
  });
});
