import { describe, expect, it } from 'vitest';
import { contentReferences, missingReferences, resolveContent, templateSyntaxIssues, UnresolvedReferenceError } from './template.js';

const scope = { vars: { app_url: 'https://example.com', retries: 3, list: ['a', 'b'] }, secrets: { stripe_key: 'sk_live_123' }, env: { slug: 'production', name: 'Production' } };

describe('contentReferences', () => {
  it('lists the vars and secrets a document references, sorted and unique', () => {
    const content = { a: '{{ vars.app_url }}/x', b: ['{% if secrets.stripe_key %}y{% endif %}', '{{ vars.app_url }}'], c: '{{ recipient.name }} {{ env.slug }}' };
    expect(contentReferences(content)).toEqual(['secrets.stripe_key', 'vars.app_url']);
  });

  it('ignores plain strings and invalid templates', () => {
    expect(contentReferences({ a: 'no template', b: '{{ vars.x ' })).toEqual([]);
  });
});

describe('templateSyntaxIssues', () => {
  it('names each string that is not valid Liquid', () => {
    expect(templateSyntaxIssues({ ok: '{{ vars.a }}', bad: { deep: '{% if %}' } }, 'content').map((i) => i.field)).toEqual(['content.bad.deep']);
  });

  it.each(['{% render "package.json" %}', '{% include "x" %}', '{% include secrets.k %}', '{% layout "x" %}'])('refuses %s: templates cannot load files', (source) => {
    const [issue] = templateSyntaxIssues({ t: source }, 'content');
    expect(issue!.message).toMatch(/tag is not available/);
  });
});

describe('resolveContent', () => {
  it('renders vars, secrets and env; a whole-variable string keeps its JSON type', () => {
    const resolved = resolveContent({ url: '{{ vars.app_url }}/pay', key: '{{ secrets.stripe_key }}', retries: '{{ vars.retries }}', list: '{{ vars.list }}', env: '{{ env.name }}' }, scope);
    expect(resolved).toEqual({ url: 'https://example.com/pay', key: 'sk_live_123', retries: 3, list: ['a', 'b'], env: 'Production' });
  });

  it('leaves strings that use run-time data for the runtime', () => {
    expect(resolveContent({ body: 'Hi {{ recipient.name }} at {{ vars.app_url }}' }, scope)).toEqual({ body: 'Hi {{ recipient.name }} at {{ vars.app_url }}' });
  });

  it('a missing secret is an error naming it, and no secrets at all (publishable) too', () => {
    expect(() => resolveContent({ k: '{{ secrets.other }}' }, scope)).toThrow('secret other has no value in production');
    expect(() => resolveContent({ k: '{{ secrets.stripe_key }}' }, { vars: {}, env: scope.env })).toThrow(UnresolvedReferenceError);
  });

  it('a missing variable is an error naming it', () => {
    expect(() => resolveContent({ k: 'x {{ vars.nope }}' }, scope)).toThrow('variable nope has no value in production');
  });

  it('cannot reach prototypes or files', () => {
    expect(() => resolveContent({ k: '{{ vars.constructor }}' }, scope)).toThrow(UnresolvedReferenceError);
    expect(() => resolveContent({ k: '{% render "package.json" %}' }, scope)).toThrow(UnresolvedReferenceError);
  });

  it('an error while rendering a template with secrets does not quote the template’s values', () => {
    try {
      resolveContent({ k: '{{ secrets.stripe_key | divided_by: 0 | nonexistent_filter }}' }, scope);
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('sk_live_123');
    }
  });
});

describe('missingReferences', () => {
  it('lists each reference the environment cannot resolve with the resources using it', () => {
    const refs = new Map([
      ['config/a', ['secrets.stripe_key', 'vars.app_url']],
      ['tool/b', ['secrets.crm', 'vars.app_url', 'vars.gone']],
    ]);
    expect(missingReferences(refs, { vars: new Set(['app_url']), secrets: new Set(['stripe_key']) })).toEqual([
      { reference: 'secrets.crm', resources: ['tool/b'] },
      { reference: 'vars.gone', resources: ['tool/b'] },
    ]);
  });
});
