import { describe, expect, it } from 'vitest';
import { htmlUse, IN_APP_TEMPLATES, renderValue, SafeHtml, TOOL_TEMPLATES, withRoots, WORKFLOW_TEMPLATES, DELIVERY_TEMPLATES, UnresolvedReferenceError } from './render.js';
import { StagelineError } from '../errors.js';

const scope = {
  vars: { app_url: 'https://example.com', limits: { max: 3 } },
  secrets: { token: 'sk_live_123' },
  env: { slug: 'production', name: 'Production' },
  recipient: { id: 'u1', name: 'Ada', tags: ['a', 'b'] },
  data: { plan: 'pro', seats: 5 },
};

function failure(render: () => unknown): StagelineError {
  try {
    render();
  } catch (error) {
    if (error instanceof StagelineError) return error;
    throw error;
  }
  throw new Error('rendered');
}

describe('template uses', () => {
  it('a workflow template reads vars, secrets, env, recipient and data; one whole value keeps its type', () => {
    expect(renderValue({ a: 'Hi {{ recipient.name }} at {{ vars.app_url }} ({{ env.slug }})', seats: '{{ data.seats }}', tags: '{{ recipient.tags }}', max: '{{ vars.limits.max }}', t: '{{ secrets.token }}' }, scope, WORKFLOW_TEMPLATES)).toEqual({
      a: 'Hi Ada at https://example.com (production)',
      seats: 5,
      tags: ['a', 'b'],
      max: 3,
      t: 'sk_live_123',
    });
  });

  it('in-app templates refuse secrets, naming what they may read', () => {
    const error = failure(() => renderValue('{{ secrets.token }}', scope, IN_APP_TEMPLATES, 'workflow/w step 0'));
    expect(error).toBeInstanceOf(UnresolvedReferenceError);
    expect(error.message).toBe('workflow/w step 0: secrets is not available in in-app templates (vars, env, recipient, data)');
  });

  it('a field of a given root that is absent is a 400 naming it; `default` accepts its absence', () => {
    const error = failure(() => renderValue('Plan {{ data.tier }}', scope, WORKFLOW_TEMPLATES, 'workflow/w step 1'));
    expect(error.status).toBe(400);
    expect(error.details).toEqual([{ field: 'data.tier', message: 'is used by workflow/w step 1 and was not given', in: 'body' }]);
    expect(renderValue("{{ data.tier | default: 'free' }}", scope, WORKFLOW_TEMPLATES)).toBe('free');
  });

  it('delivery leaves run-time templates for the runtime; tools refuse them', () => {
    expect(renderValue('Hi {{ recipient.name }}', scope, DELIVERY_TEMPLATES)).toBe('Hi {{ recipient.name }}');
    expect(failure(() => renderValue('Hi {{ recipient.name }}', scope, TOOL_TEMPLATES, 'tool/t')).message).toContain('recipient is not available in tool templates');
  });

  it('a layout reads the rendered content besides its use’s roots', () => {
    const layout = withRoots(WORKFLOW_TEMPLATES, 'layout templates', 'content');
    expect(renderValue('<main>{{ content }}</main><footer>{{ vars.app_url }}</footer>', { ...scope, content: '<p>Hi</p>' }, layout)).toBe('<main><p>Hi</p></main><footer>https://example.com</footer>');
  });

  it('a failing template that reads secrets never quotes the values', () => {
    const error = failure(() => renderValue('{{ secrets.token | nonexistent_filter }}', scope, WORKFLOW_TEMPLATES));
    expect(error.message).not.toContain('sk_live_123');
  });

  describe('HTML templates', () => {
    const hostile = { ...scope, recipient: { id: 'u1', name: '<b>Ada</b> & "Co"' }, data: { note: "<script>alert('x')</script>", seats: 5 } };
    const html = htmlUse(WORKFLOW_TEMPLATES);

    it('escape every value by default; `| raw` opts out', () => {
      expect(renderValue('<p>Hi {{ recipient.name }}</p>{{ data.note }}', hostile, html)).toBe(
        '<p>Hi &lt;b&gt;Ada&lt;/b&gt; &amp; &#34;Co&#34;</p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;',
      );
      expect(renderValue('<p>{{ recipient.name | raw }}</p>', hostile, html)).toBe('<p><b>Ada</b> & "Co"</p>');
      expect(renderValue('{{ recipient.name | upcase }}', hostile, html)).toBe('&lt;B&gt;ADA&lt;/B&gt; &amp; &#34;CO&#34;');
    });

    it('a string that is exactly one value is escaped text, not the raw value', () => {
      expect(renderValue('{{ recipient.name }}', hostile, html)).toBe('&lt;b&gt;Ada&lt;/b&gt; &amp; &#34;Co&#34;');
      expect(renderValue('{{ data.seats }}', hostile, html)).toBe('5');
    });

    it('other uses are not escaped', () => {
      expect(renderValue('Hi {{ recipient.name }}', hostile, WORKFLOW_TEMPLATES)).toBe('Hi <b>Ada</b> & "Co"');
      expect(renderValue('{{ recipient.name }}', hostile, IN_APP_TEMPLATES)).toBe('<b>Ada</b> & "Co"');
    });

    it('a layout inserts SafeHtml content as it is and escapes the rest; a filtered content is escaped', () => {
      const layout = htmlUse(withRoots(WORKFLOW_TEMPLATES, 'layout templates', 'content'));
      const content = new SafeHtml('<p>Hi &amp; bye</p>');
      expect(renderValue('<main>{{ content }}</main><i>{{ recipient.name }}</i>', { ...hostile, content }, layout)).toBe(
        '<main><p>Hi &amp; bye</p></main><i>&lt;b&gt;Ada&lt;/b&gt; &amp; &#34;Co&#34;</i>',
      );
      expect(renderValue('{{ content }}', { ...hostile, content }, layout)).toBe('<p>Hi &amp; bye</p>');
      expect(renderValue('{{ content | raw }}', { ...hostile, content }, layout)).toBe('<p>Hi &amp; bye</p>');
      expect(renderValue('{% if content %}{{ content | strip }}{% endif %}', { ...hostile, content }, layout)).toBe('&lt;p&gt;Hi &amp;amp; bye&lt;/p&gt;');
    });
  });
});
