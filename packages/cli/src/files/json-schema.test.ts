// The offline check against the server's own: for each document, every field the offline check
// names is one the server names too (the server may name more: URLs, CIDRs, templates).
import { describe, expect, it } from 'vitest';
import { contentIssues, type ResourceKind } from '../../../../src/domain/resources/kinds.js';
import { KIND_JSON_SCHEMAS } from '../api/kinds.js';
import type { Json } from './format.js';
import { schemaIssues } from './json-schema.js';

const cases: [ResourceKind, Json, string[]][] = [
  ['config', { value: 1 }, []],
  ['config', { value: { any: ['json', null] }, public: true, description: 'x' }, []],
  ['config', {}, ['content.value']],
  ['config', { value: 1, extra: true }, ['content.extra']],
  ['config', { value: 1, public: 'yes' }, ['content.public']],
  ['layout', { html: '<b>{{ content }}</b>' }, []],
  ['layout', { html: 5 }, ['content.html']],
  ['tool', { method: 'POST', url: 'https://x.example' }, []],
  ['tool', { method: 'FETCH', url: 'https://x.example', timeoutMs: 0 }, ['content.method', 'content.timeoutMs']],
  ['route', { match: { pathPrefix: '/a' }, upstream: { url: 'https://u.example' } }, []],
  ['route', { match: { pathPrefix: '/a', methods: [] }, upstream: {} }, ['content.match.methods', 'content.upstream.url']],
  ['workflow', { name: 'W', steps: [{ type: 'delay', seconds: 5 }] }, []],
  ['workflow', { name: 'W', steps: [] }, ['content.steps']],
  ['workflow', { name: 'W', steps: [{ type: 'delay', seconds: 0 }] }, ['content.steps.0.seconds']],
  ['workflow', { name: 'W', steps: [{ type: 'channel', channel: 'email', template: { html: '<p/>' } }] }, ['content.steps.0.template.subject']],
  ['workflow', { name: 'W', steps: [{ type: 'channel', channel: 'in_app', template: { body: 'x' }, extra: 1 }] }, ['content.steps.0.extra']],
  ['workflow', { name: 'W', steps: [{ type: 'tool', tool: 'bad key!' }] }, ['content.steps.0.tool']],
];

describe('offline kind schemas', () => {
  it.each(cases)('%s %j names %j', (kind, content, fields) => {
    const offline = schemaIssues(KIND_JSON_SCHEMAS[kind], content).map((i) => i.field);
    expect([...new Set(offline)].sort()).toEqual(fields.sort());
    const server = contentIssues(kind, content).map((i) => i.field);
    for (const field of offline) expect(server).toContain(field);
    if (fields.length === 0) expect(server).toEqual([]);
  });
});
