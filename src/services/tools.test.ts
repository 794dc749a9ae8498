import { describe, expect, it } from 'vitest';
import { renderToolCall, type ResolvedTool } from './tools.js';

const tool = (headers: Record<string, string>): ResolvedTool =>
  ({ key: 'crm', hash: 'h', content: { method: 'GET', url: 'https://crm.example/api', headers: JSON.parse(JSON.stringify(headers)) } }) as ResolvedTool;
const scope = { vars: {}, env: { slug: 'development', name: 'Development' }, secrets: {}, input: {} };

describe('renderToolCall', () => {
  it('sends headers named like Object.prototype members as ordinary headers', () => {
    const content = JSON.parse('{"__proto__":"a","constructor":"b","toString":"c"}') as Record<string, string>;
    const call = renderToolCall(tool(content), scope);
    expect(Object.hasOwn(call.headers, '__proto__')).toBe(true);
    expect(call.headers['__proto__']).toBe('a');
    expect(call.headers['constructor']).toBe('b');
    expect(call.headers['tostring']).toBe('c');
    expect(call.headers['user-agent']).toBe('Stageline');
  });
});
