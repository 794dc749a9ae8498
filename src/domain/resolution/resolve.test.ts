import { describe, expect, it } from 'vitest';
import { renderValue, TOOL_TEMPLATES } from '../templates/render.js';
import { deliveredEntry, failureError, nameRecord, resolveResource, templateScope, type ResourceState } from './resolve.js';

const place = { environment: 'staging', version: 'staging#4' };
const tool = { method: 'POST', url: 'https://crm.example/{{ vars.path }}', headers: { 'X-Token': '{{ secrets.token }}' } };
const state = (over: Partial<ResourceState> = {}): ResourceState => ({ hash: 'h1', content: tool, override: null, active: true, ...over });

describe('resolveResource', () => {
  it('merges the override over the content and keeps the hash of the content', () => {
    const resolution = resolveResource('tool', 'crm', state({ override: { url: 'http://localhost:3000' } }), place);
    expect(resolution).toEqual({ ok: true, resource: { kind: 'tool', key: 'crm', hash: 'h1', content: { ...tool, url: 'http://localhost:3000' } } });
  });

  it('is missing when the version lacks the resource, naming the version', () => {
    const resolution = resolveResource('tool', 'crm', state({ hash: undefined, content: undefined }), place);
    expect(resolution).toEqual({ ok: false, failure: { reason: 'missing', id: 'tool/crm', version: 'staging#4' } });
    if (resolution.ok) return;
    expect(failureError(resolution.failure)).toMatchObject({ status: 404, code: 'not_found', message: 'tool/crm in staging#4 was not found' });
  });

  it('is inactive when switched off, whatever the override', () => {
    const resolution = resolveResource('workflow', 'welcome', state({ active: false, override: { name: 'x' } }), place);
    expect(resolution.ok).toBe(false);
    if (resolution.ok) return;
    expect(resolution.failure.reason).toBe('inactive');
    expect(failureError(resolution.failure)).toMatchObject({ status: 409, code: 'workflow_inactive', message: 'workflow/welcome is switched off in staging' });
  });

  it('checks a merge against the schema again: an override the base no longer fits is invalid, naming the field', () => {
    const resolution = resolveResource('tool', 'crm', state({ override: { method: 'FETCH' } }), place);
    expect(resolution.ok).toBe(false);
    if (resolution.ok) return;
    expect(resolution.failure).toMatchObject({ reason: 'invalid', id: 'tool/crm', issues: [{ field: 'content.method' }] });
    expect(failureError(resolution.failure)).toMatchObject({ status: 409, code: 'tool_invalid', details: [{ resource: 'tool/crm', field: 'content.method' }] });
  });

  it('checks a config merge against its own JSON Schema', () => {
    const config = { value: { max: 'five' }, schema: { type: 'object', properties: { max: { type: 'string' } } } };
    const resolution = resolveResource('config', 'limits', state({ content: config, override: { value: { max: 10 } } }), place);
    expect(resolution.ok ? 'valid' : resolution.failure.reason).toBe('invalid');
  });

  it('keeps an override key named __proto__ an ordinary field', () => {
    const override = JSON.parse('{"value": {"__proto__": {"polluted": true}}}');
    const resolution = resolveResource('config', 'c', state({ content: { value: {} }, override }), place);
    expect(resolution.ok).toBe(true);
    if (!resolution.ok) return;
    expect(Object.getPrototypeOf(resolution.resource.content.value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('templateScope', () => {
  it('builds records without a prototype, so constructor and __proto__ are only names', () => {
    const scope = templateScope({ vars: { app: 'a' }, secrets: { token: 't' }, env: { slug: 'dev', name: 'Dev' } });
    for (const record of [scope.vars, scope.secrets, scope.env]) expect(Object.getPrototypeOf(record)).toBeNull();
    expect(() => renderValue('{{ vars.constructor }}', scope, TOOL_TEMPLATES)).toThrow(/variable constructor has no value in dev/);
    expect(() => renderValue('{{ secrets.__proto__ }}', scope, TOOL_TEMPLATES)).toThrow(/secret __proto__ has no value in dev/);
    expect(renderValue('{{ vars.app }} {{ secrets.token }} {{ env.slug }}', scope, TOOL_TEMPLATES)).toBe('a t dev');
  });

  it('holds a variable named __proto__ or constructor as its own value', () => {
    const scope = templateScope({ vars: nameRecord([['__proto__', 'p'], ['constructor', 'c']]), env: { slug: 'dev', name: 'Dev' } });
    expect(renderValue('{{ vars.__proto__ }}-{{ vars.constructor }}', scope, TOOL_TEMPLATES)).toBe('p-c');
  });

  it('has no secrets unless given them', () => {
    expect(templateScope({ vars: {}, env: { slug: 'dev', name: 'Dev' } }).secrets).toBeUndefined();
  });
});

describe('deliveredEntry', () => {
  const env = { slug: 'dev', name: 'Dev' };
  const withSecrets = templateScope({ vars: { path: 'p' }, secrets: { token: 't' }, env });
  const withoutSecrets = templateScope({ vars: { path: 'p' }, env });

  it('renders what the environment can resolve and keeps what needs run-time data', () => {
    const content = { ...tool, body: { id: '{{ input.id }}' } };
    const entry = deliveredEntry(resolveResource('tool', 'crm', state({ content }), place), 'secret', withSecrets);
    expect(entry).toMatchObject({ ok: true, resource: { kind: 'tool', key: 'crm', content: { url: 'https://crm.example/p', headers: { 'X-Token': 't' }, body: { id: '{{ input.id }}' } } } });
  });

  it('leaves out what is switched off or absent, and what a publishable key may not see', () => {
    expect(deliveredEntry(resolveResource('tool', 'crm', state({ active: false }), place), 'secret', withSecrets)).toBeNull();
    expect(deliveredEntry(resolveResource('tool', 'crm', state({ hash: undefined }), place), 'secret', withSecrets)).toBeNull();
    expect(deliveredEntry(resolveResource('tool', 'crm', state(), place), 'publishable', withoutSecrets)).toBeNull();
    const invalid = resolveResource('config', 'c', state({ content: { value: 1, public: true }, override: { public: 'yes' } }), place);
    expect(deliveredEntry(invalid, 'publishable', withoutSecrets)).toBeNull();
    expect(deliveredEntry(invalid, 'secret', withSecrets)).toMatchObject({ ok: false, error: { code: 'config_invalid' } });
  });

  it('answers an unresolved reference as an error of the resource', () => {
    const entry = deliveredEntry(resolveResource('tool', 'crm', state(), place), 'secret', templateScope({ vars: {}, secrets: {}, env }));
    expect(entry).toMatchObject({ ok: false, error: { status: 409, code: 'unresolved_reference', message: expect.stringMatching(/^tool\/crm: /) } });
  });
});
