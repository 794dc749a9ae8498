import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, MAX_WORKFLOW_RULES, optOutOfEmail, PREFERENCE_CHANNELS, preferenceSetSchema, type PreferenceSet } from './preferences.js';
import { readUnsubscribeToken, signUnsubscribeToken, unsubscribeSecret, unsubscribeSignatureValid } from './unsubscribe-token.js';

describe('decide', () => {
  it('with no rule anywhere, a recipient is opted in', () => {
    expect(decide(undefined, undefined, 'welcome', 'email')).toEqual({ allowed: true, rule: null, source: null });
  });

  it("the recipient's own rules first, most specific first; then the defaults the same way", () => {
    const defaults: PreferenceSet = { channels: { email: false }, workflows: { news: { channels: { in_app: false } } } };
    expect(decide({}, defaults, 'welcome', 'email')).toEqual({ allowed: false, rule: 'channels.email', source: 'defaults' });
    expect(decide({ channels: { email: true } }, defaults, 'welcome', 'email')).toEqual({ allowed: true, rule: 'channels.email', source: 'recipient' });
    expect(decide({ workflows: { welcome: true } }, defaults, 'welcome', 'email')).toEqual({ allowed: true, rule: 'workflows.welcome', source: 'recipient' });
    // A recipient's choice beats a default, even a more specific one.
    expect(decide({ channels: { in_app: true } }, defaults, 'news', 'in_app')).toEqual({ allowed: true, rule: 'channels.in_app', source: 'recipient' });
    expect(decide({}, defaults, 'news', 'in_app')).toEqual({ allowed: false, rule: 'workflows.news.channels.in_app', source: 'defaults' });
    // Within the recipient's own set, the most specific rule wins.
    expect(decide({ channels: { email: false }, workflows: { news: { channels: { email: true } } } }, undefined, 'news', 'email').allowed).toBe(true);
    expect(decide({ channels: { email: true }, workflows: { news: false } }, undefined, 'news', 'email')).toEqual({ allowed: false, rule: 'workflows.news', source: 'recipient' });
  });

  it('reads own properties only: prototype member names are workflow keys like others', () => {
    expect(decide({}, undefined, 'constructor', 'email').allowed).toBe(true);
    expect(decide({ workflows: { constructor: false } }, undefined, 'constructor', 'email')).toEqual({ allowed: false, rule: 'workflows.constructor', source: 'recipient' });
    expect(decide({ workflows: { toString: { channels: {} } } }, undefined, 'hasOwnProperty', 'email').allowed).toBe(true);
  });

  it('agrees with a reference of the rule on random sets (fast-check)', () => {
    const flag = fc.option(fc.boolean(), { nil: undefined });
    const channels = fc.record({ email: flag, in_app: flag, webhook: flag }, { requiredKeys: [] });
    const workflows = fc.dictionary(fc.constantFrom('a', 'b', 'constructor'), fc.oneof(fc.boolean(), fc.record({ channels: channels })));
    const set = fc.record({ channels: channels, workflows }, { requiredKeys: [] });
    fc.assert(
      fc.property(set, set, fc.constantFrom('a', 'b', 'constructor', 'c'), fc.constantFrom(...PREFERENCE_CHANNELS), (mine, theirs, workflow, channel) => {
        const rules = (s: any) => {
          const w = Object.prototype.hasOwnProperty.call(s.workflows ?? {}, workflow) ? s.workflows[workflow] : undefined;
          return [typeof w === 'object' ? w.channels?.[channel] : undefined, typeof w === 'boolean' ? w : undefined, s.channels?.[channel]];
        };
        const spoken = [...rules(mine), ...rules(theirs)].find((rule) => rule !== undefined);
        const expected = spoken ?? true;
        expect(decide(mine as PreferenceSet, theirs as PreferenceSet, workflow, channel).allowed).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });
});

describe('optOutOfEmail', () => {
  const out = (set: PreferenceSet, workflow: string, scope: 'workflow' | 'email') => optOutOfEmail(set, workflow, scope).set;

  it("turns off the workflow's email and keeps every other rule", () => {
    expect(out({}, 'news', 'workflow')).toEqual({ workflows: { news: { channels: { email: false } } } });
    expect(out({ workflows: { news: { channels: { in_app: true } }, other: false } }, 'news', 'workflow')).toEqual({
      workflows: { news: { channels: { in_app: true, email: false } }, other: false },
    });
    // A workflow on whole stays on for its other channels; one off whole stays off.
    expect(out({ workflows: { news: true } }, 'news', 'workflow').workflows!.news).toEqual({ channels: { email: false, in_app: true, webhook: true } });
    expect(out({ workflows: { news: false } }, 'news', 'workflow').workflows!.news).toBe(false);
    const opted = out({}, '__proto__', 'workflow');
    expect(Object.keys(opted.workflows!)).toEqual(['__proto__']);
    expect(decide(opted, undefined, '__proto__', 'email').allowed).toBe(false);
  });

  it('every email: no rule of the recipient lets an email through afterwards, whatever the defaults say', () => {
    const before: PreferenceSet = { channels: { in_app: false }, workflows: { news: true, digest: { channels: { email: true, webhook: true } }, other: false } };
    const after = out(before, 'news', 'email');
    expect(after).toEqual({
      channels: { in_app: false, email: false },
      workflows: { news: { channels: { email: false, in_app: true, webhook: true } }, digest: { channels: { email: false, webhook: true } }, other: false },
    });
    const defaults: PreferenceSet = { workflows: { news: { channels: { email: true } }, later: true } };
    for (const workflow of ['news', 'digest', 'other', 'later', 'unknown']) expect(decide(after, defaults, workflow, 'email').allowed, workflow).toBe(false);
    expect(decide(after, defaults, 'news', 'webhook').allowed).toBe(true);
  });

  it('a set at the cap of workflows turns off every email instead of adding one more', () => {
    const workflows = Object.fromEntries(Array.from({ length: MAX_WORKFLOW_RULES }, (_, i) => [`w${i}`, true]));
    const result = optOutOfEmail({ workflows }, 'new-one', 'workflow');
    expect(result.scope).toBe('email');
    expect(Object.keys(result.set.workflows!)).toHaveLength(MAX_WORKFLOW_RULES);
    expect(preferenceSetSchema.safeParse(result.set).success).toBe(true);
    expect(decide(result.set, undefined, 'new-one', 'email').allowed).toBe(false);
    // A workflow it already names is changed in place.
    expect(optOutOfEmail({ workflows }, 'w1', 'workflow').scope).toBe('workflow');
  });
});

describe('preferenceSetSchema', () => {
  it('takes the three levels and refuses anything else', () => {
    expect(preferenceSetSchema.safeParse({ channels: { email: false }, workflows: { a: true, b: { channels: { webhook: false } } } }).success).toBe(true);
    for (const bad of [{ channels: { sms: false } }, { workflows: { a: 'no' } }, { workflows: { '../x': true } }, { extra: 1 }, { workflows: { a: { enabled: true } } }]) {
      expect(preferenceSetSchema.safeParse(bad).success).toBe(false);
    }
  });
});

describe('unsubscribe tokens', () => {
  const master = Buffer.alloc(32, 9);
  const secret = unsubscribeSecret(master, 'ws_1', 'env_dev', 1);
  const claims = { ws: 'ws_1', env: 'env_dev', sub: 'ana', wf: 'news' };

  it('verify with the secret of their environment only', () => {
    const token = signUnsubscribeToken(secret, claims);
    const read = readUnsubscribeToken(token)!;
    expect(read.claims).toEqual(claims);
    expect(unsubscribeSignatureValid(read, [secret])).toBe(true);
    expect(unsubscribeSignatureValid(read, [unsubscribeSecret(master, 'ws_1', 'env_prod', 1)])).toBe(false);
    expect(unsubscribeSignatureValid(read, [unsubscribeSecret(master, 'ws_1', 'env_dev', 2)])).toBe(false);
    expect(unsubscribeSignatureValid(read, [unsubscribeSecret(Buffer.alloc(32, 8), 'ws_1', 'env_dev', 1)])).toBe(false);
  });

  it('any altered byte of the token fails', () => {
    const token = signUnsubscribeToken(secret, claims);
    for (let i = 0; i < token.length; i++) {
      const c = token[i] === 'A' ? 'B' : 'A';
      const altered = token.slice(0, i) + c + token.slice(i + 1);
      const read = readUnsubscribeToken(altered);
      if (read) expect(unsubscribeSignatureValid(read, [secret]), `position ${i}`).toBe(false);
    }
    for (const junk of ['', 'u1', 'u1.a.b', 'u2.' + token.slice(3), 'x'.repeat(5000)]) expect(readUnsubscribeToken(junk)).toBeNull();
  });
});
