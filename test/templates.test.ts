// Templates in resource content: secrets only by literal name, computed variable names as
// unchecked references in plans, and names such as `constructor` as ordinary variables.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, createApiKey, promote, runtimeCall, startHarness, WS, type Harness } from './support.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  await h.call('PUT', `${WS}/environments/development/secrets/token`, { value: 'sk_dev_secret_value_1234' });
});
afterAll(async () => h?.close());

const draft = (id: string, content: unknown) => h.call('PUT', `${WS}/environments/development/resources/${id}`, { content });

describe('secrets in templates', () => {
  it.each([
    ['config/pub', { value: { x: '{{ secrets }}' }, public: true }, 'content.value.x'],
    ['config/loop', { value: { x: '{% for s in secrets %}{{ s }}{% endfor %}' } }, 'content.value.x'],
    ['config/assign', { value: { x: '{% assign z = secrets %}{{ z.token }}' }, public: true }, 'content.value.x'],
    ['config/index', { value: { x: '{{ secrets[vars.n] }}' } }, 'content.value.x'],
    ['config/json', { value: ['{{ secrets | json }}'] }, 'content.value.0'],
    ['tool/t', { method: 'POST', url: 'http://127.0.0.1:9/x', headers: { A: '{% capture c %}{{ secrets }}{% endcapture %}{{ c }}' } }, 'content.headers.A'],
    ['config/root', { value: { x: '{% assign k = "secrets" %}{{ [k].token }}' }, public: true }, 'content.value.x'],
  ])('%s is refused with 400 invalid_request naming the field', async (id, content, field) => {
    const res = await draft(id, content);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual([field]);
    expect(JSON.stringify(res.body)).not.toContain('sk_dev_secret_value_1234');
  });

  it('a literal name is accepted, and a public config still cannot read one', async () => {
    expect((await draft('config/lit', { value: { x: '{{ secrets["token"] | size }}' } })).status).toBe(200);
    const pub = await draft('config/pub2', { value: { x: '{{ secrets.token }}' }, public: true });
    expect(pub.status).toBe(400);
    expect(pub.body.error.details).toEqual([{ field: 'content.public', message: 'a public config cannot reference secrets.token', in: 'body' }]);
  });
});

describe('references in a promotion plan', () => {
  it('lists a computed variable name as unchecked and every literal secret exactly', async () => {
    await commitDrafts(h, { 'config/dyn': { value: { a: '{{ vars[vars.pick] }}', b: '{{ secrets.token }}' } } });
    const plan = await promote(h, 'production', { dryRun: true });
    expect(plan.status).toBe(200);
    expect(plan.body.references).toEqual([
      { reference: 'secrets.token', resources: ['config/dyn', 'config/lit'], missing: true },
      { reference: 'vars.pick', resources: ['config/dyn'], missing: true },
      { reference: 'vars[vars.pick]', resources: ['config/dyn'], unchecked: true },
    ]);
    expect(plan.body.missingReferences.map((m: { reference: string }) => m.reference)).toEqual(['secrets.token', 'vars.pick']);
  });
});

describe('prototype names', () => {
  it('variables and secrets named constructor, __proto__ and toString resolve to their own values', async () => {
    for (const [name, value] of [['constructor', 'c'], ['__proto__', 'p'], ['toString', 't']]) {
      expect((await h.call('PUT', `${WS}/variables/${name}`, { value })).status).toBe(200);
    }
    expect((await h.call('PUT', `${WS}/environments/development/secrets/__proto__`, { value: 'proto-secret-value' })).status).toBe(200);
    await commitDrafts(h, { 'config/proto': { value: { a: '{{ vars.constructor }}', b: '{{ vars.__proto__ }}', c: '{{ vars.toString }}', d: '{{ secrets.__proto__ }}' } } });
    const key = await createApiKey(h, 'development');
    const res = await runtimeCall(h, key, '/v1/resources/config/proto');
    expect(res.status).toBe(200);
    expect(res.body.content.value).toEqual({ a: 'c', b: 'p', c: 't', d: 'proto-secret-value' });
  });

  it('an undefined one is missing, not an Object.prototype member', async () => {
    await commitDrafts(h, { 'config/proto2': { value: { a: '{{ vars.hasOwnProperty }}' } } });
    const key = await createApiKey(h, 'development', 'secret', 'second');
    const res = await runtimeCall(h, key, '/v1/resources/config/proto2');
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain('variable hasOwnProperty has no value in development');
  });

  it('a test run shows a secret named __proto__ masked, and sends its own value', async () => {
    const received: IncomingHttpHeaders[] = [];
    const receiver = createServer((req, res) => {
      received.push(req.headers);
      req.resume();
      req.on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const port = (receiver.address() as { port: number }).port;
      await h.call('PUT', `${WS}/environments/development/secrets/WEBHOOK_SECRET`, { value: 'whsec_test_value_0123456789' });
      const setting = await h.call('PUT', `${WS}/environments/development/settings/channel.webhook`, { value: { url: `http://127.0.0.1:${port}/hook`, signingSecret: 'WEBHOOK_SECRET', timeoutMs: 2000 } });
      expect(setting.status).toBe(200);
      const workflow = { name: 'Proto', steps: [{ type: 'channel', channel: 'webhook', template: { body: { user: '{{ recipient.id }}' }, headers: { 'X-Proto': '{{ secrets.__proto__ }}' } } }] };
      expect((await draft('workflow/proto', workflow)).status).toBe(200);
      const run = await h.call('POST', `${WS}/environments/development/test-runs`, { workflow: 'proto', recipients: [{ id: 'u1' }] });
      expect(run.status, JSON.stringify(run.body)).toBe(200);
      expect(run.body.messages[0].message.headers).toEqual({ 'X-Proto': '[secret __proto__]' });
      expect(received.map((headers) => headers['x-proto'])).toEqual(['proto-secret-value']);
    } finally {
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});
