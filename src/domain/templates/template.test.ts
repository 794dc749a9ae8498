import { describe, expect, it } from 'vitest';
import { contentReferences, isUncheckedReference, missingReferences, resolveContent, templateIssues, UnresolvedReferenceError } from './template.js';
import { scopeRecord } from './scope.js';

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

describe('templateIssues', () => {
  it('names each string that is not valid Liquid', () => {
    expect(templateIssues({ ok: '{{ vars.a }}', bad: { deep: '{% if %}' } }, 'content').map((i) => i.field)).toEqual(['content.bad.deep']);
  });

  it.each(['{% render "package.json" %}', '{% include "x" %}', '{% include secrets.k %}', '{% layout "x" %}'])('refuses %s: templates cannot load files', (source) => {
    const [issue] = templateIssues({ t: source }, 'content');
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

describe('reading secrets only by literal name', () => {
  // Each form reaches the secrets without naming one, so no check before rendering could see it.
  it.each([
    ['bare output', '{{ secrets }}'],
    ['a loop source', '{% for s in secrets %}{{ s }}{% endfor %}'],
    ['a tablerow source', '{% tablerow s in secrets %}{{ s }}{% endtablerow %}'],
    ['an assign', '{% assign z = secrets %}{{ z.name }}'],
    ['a dynamic index', '{{ secrets[vars.n] }}'],
    ['a numeric index', '{{ secrets[0] }}'],
    ['a filter input', '{{ secrets | json }}'],
    ['a filter argument', '{{ "x" | append: secrets }}'],
    ['a keyword filter argument', '{{ x | default: y, allow_false: secrets }}'],
    ['a capture', '{% capture c %}{{ secrets }}{% endcapture %}{{ c }}'],
    ['a condition', '{% if x == secrets %}y{% endif %}'],
    ['an elsif', '{% if x %}{% elsif secrets %}y{% endif %}'],
    ['a case', '{% case secrets %}{% when 1 %}y{% endcase %}'],
    ['a when', '{% case x %}{% when secrets %}y{% endcase %}'],
    ['a loop modifier', '{% for a in (1..2) limit: secrets %}{% endfor %}'],
    ['a cycle', '{% cycle secrets, 1 %}'],
    ['an echo in a liquid tag', '{% liquid\n echo secrets\n %}'],
  ])('refuses secrets as %s, naming the field', (_form, source) => {
    const issues = templateIssues({ value: { x: source } }, 'content');
    expect(issues).toHaveLength(1);
    expect(issues[0]!.field).toBe('content.value.x');
    expect(issues[0]!.message).toMatch(/secrets\.NAME or secrets\["NAME"\]$/);
  });

  it.each([
    ['a root named by a local', '{% assign k = "secrets" %}{{ [k].a }}', '[k].a computes the name of the variable it reads: name it literally'],
    ['a root named by a variable', '{{ [vars.n] }}', '[vars.n] computes the name of the variable it reads: name it literally'],
    ['secrets rebound in one branch', '{% if false %}{% assign secrets = 1 %}{% endif %}{{ secrets }}', "secrets is the environment's secrets: it cannot be assigned, captured, counted or used as a loop variable"],
    ['a counter named secrets', '{% increment secrets %}', "secrets is the environment's secrets: it cannot be assigned, captured, counted or used as a loop variable"],
    ['an expression in a string', '{{ vars.list | where_exp: "i", "secrets[i]" }}', 'the where_exp filter evaluates an expression written in a string, which no check can read: use where with a property name'],
    ['an expression in a string, in a tag', '{% assign f = vars.list | find_exp: "i", "i == secrets" %}', 'the find_exp filter evaluates an expression written in a string, which no check can read: use find with a property name'],
    ['vars as a loop variable', '{% for vars in (1..2) %}{{ vars }}{% endfor %}', "vars is the environment's vars: it cannot be assigned, captured, counted or used as a loop variable"],
  ])('refuses %s', (_form, source, message) => {
    expect(templateIssues({ x: source }, 'content')).toEqual([{ field: 'content.x', message, in: 'body' }]);
  });

  it('the messages say what was read', () => {
    expect(templateIssues({ x: '{{ secrets | json }}' }, 'content')[0]!.message).toBe('uses secrets as a whole: read one secret by its literal name, secrets.NAME or secrets["NAME"]');
    expect(templateIssues({ x: '{{ secrets[vars.n] }}' }, 'content')[0]!.message).toBe(
      'reads secrets[vars.n], a secret whose name is not literal: read one secret by its literal name, secrets.NAME or secrets["NAME"]',
    );
  });

  it('accepts secrets by literal name in any tag or filter, and vars read any way', () => {
    const sources = ['{{ secrets.a }}', '{{ secrets["a"] | upcase }}', '{% if secrets.a %}{{ secrets.a.size }}{% endif %}', '{{ secrets.a[vars.i] }}', '{% for c in secrets.a %}{% endfor %}', '{{ vars[vars.n] }}', '{{ vars | json }}', '{% assign s = secrets.a %}{{ s }}'];
    expect(sources.flatMap((source) => templateIssues({ x: source }, 'content'))).toEqual([]);
  });

  it('references are exact for secrets; a computed variable name is listed as unchecked', () => {
    expect(contentReferences({ a: '{{ secrets["a"] }} {{ vars[vars.n] }}', b: '{{ vars | json }}', c: '{{ secrets.a[vars.i] }}' })).toEqual(['secrets.a', 'vars', 'vars.i', 'vars.n', 'vars[vars.n]']);
    expect(isUncheckedReference('vars[vars.n]')).toBe(true);
    expect(isUncheckedReference('vars')).toBe(true);
    expect(isUncheckedReference('vars.n')).toBe(false);
    expect(missingReferences(new Map([['config/a', ['vars', 'vars[vars.n]', 'vars.n']]]), { vars: new Set(), secrets: new Set() })).toEqual([{ reference: 'vars.n', resources: ['config/a'] }]);
  });

  it('content stored before the rule is refused when it renders, and no secret is output', () => {
    expect(() => resolveContent({ k: '{% for s in secrets %}{{ s }}{% endfor %}' }, scope)).toThrow(UnresolvedReferenceError);
    expect(() => resolveContent({ k: '{% assign k = "secrets" %}{{ [k].stripe_key }}' }, scope)).toThrow('[k].stripe_key computes the name');
  });
});

describe('prototype names in template scopes', () => {
  const own = { vars: scopeRecord<unknown>([['constructor', 'c'], ['__proto__', 'p'], ['toString', 't']]), secrets: scopeRecord([['constructor', 'sc'], ['__proto__', 'sp']]), env: scope.env };

  it('a variable or secret named like an Object.prototype member resolves to its own value', () => {
    expect(resolveContent({ a: '{{ vars.constructor }}', b: 'x{{ vars.__proto__ }}', c: '{{ vars.toString }}', d: '{{ secrets.constructor }}', e: '{{ secrets["__proto__"] }}' }, own)).toEqual({ a: 'c', b: 'xp', c: 't', d: 'sc', e: 'sp' });
  });

  it('one that is not defined is missing, never a prototype member', () => {
    const empty = { vars: scopeRecord<unknown>([]), secrets: scopeRecord<string>([]), env: scope.env };
    for (const source of ['{{ vars.constructor }}', '{{ vars.__proto__ }}', '{{ vars.hasOwnProperty }}', '{{ secrets.toString }}', '{{ secrets.__proto__ }}']) {
      expect(() => resolveContent({ k: source }, empty)).toThrow(UnresolvedReferenceError);
    }
    expect(() => resolveContent({ k: '{{ vars[vars.n] }}' }, { ...empty, vars: scopeRecord<unknown>([['n', 'constructor']]) })).toThrow(UnresolvedReferenceError);
  });

  it('a scope record keeps __proto__ as an ordinary entry', () => {
    const record = scopeRecord([['__proto__', 'p']]);
    expect(Object.getPrototypeOf(record)).toBeNull();
    expect(Object.keys(record)).toEqual(['__proto__']);
  });
});
