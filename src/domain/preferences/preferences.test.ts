import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, optOutOfEmail, PREFERENCE_CHANNELS, preferenceSetSchema, type PreferenceSet } from './preferences.js';
import { readUnsubscribeToken, signUnsubscribeToken, unsubscribeSecret, unsubscribeSignatureValid } from './unsubscribe-token.js';

describe('decide', () => {
  it('with no rule anywhere, a recipient is opted in', () => {
    expect(decide(undefined, undefined, 'welcome', 'email')).toEqual({ allowed: true, rule: null, source: null });
  });

  it('the most specific level decides; at one level the recipient before the defaults', () => {
    const defaults: PreferenceSet = { channelTypes: { email: false }, workflows: { news: { channelTypes: { in_app: false } } } };
    expect(decide({}, defaults, 'welcome', 'email')).toEqual({ allowed: false, rule: 'channelTypes.email', source: 'defaults' });
    expect(decide({ channelTypes: { email: true } }, defaults, 'welcome', 'email')).toEqual({ allowed: true, rule: 'channelTypes.email', source: 'recipient' });
    expect(decide({ workflows: { welcome: true } }, defaults, 'welcome', 'email')).toEqual({ allowed: true, rule: 'workflows.welcome', source: 'recipient' });
    // The default's workflow × channel rule is more specific than the recipient's channel rule.
    expect(decide({ channelTypes: { in_app: true } }, defaults, 'news', 'in_app')).toEqual({ allowed: false, rule: 'workflows.news.channelTypes.in_app', source: 'defaults' });
    expect(decide({ workflows: { news: { channelTypes: { in_app: true } } } }, defaults, 'news', 'in_app').allowed).toBe(true);
  });

  it('reads own properties only: prototype member names are workflow keys like others', () => {
    expect(decide({}, undefined, 'constructor', 'email').allowed).toBe(true);
    expect(decide({ workflows: { constructor: false } }, undefined, 'constructor', 'email')).toEqual({ allowed: false, rule: 'workflows.constructor', source: 'recipient' });
    expect(decide({ workflows: { toString: { channelTypes: {} } } }, undefined, 'hasOwnProperty', 'email').allowed).toBe(true);
  });

  it('agrees with a reference of the rule on random sets (fast-check)', () => {
    const flag = fc.option(fc.boolean(), { nil: undefined });
    const channels = fc.record({ email: flag, in_app: flag, webhook: flag }, { requiredKeys: [] });
    const workflows = fc.dictionary(fc.constantFrom('a', 'b', 'constructor'), fc.oneof(fc.boolean(), fc.record({ channelTypes: channels })));
    const set = fc.record({ channelTypes: channels, workflows }, { requiredKeys: [] });
    fc.assert(
      fc.property(set, set, fc.constantFrom('a', 'b', 'constructor', 'c'), fc.constantFrom(...PREFERENCE_CHANNELS), (mine, theirs, workflow, channel) => {
        const rules = (s: any) => {
          const w = Object.prototype.hasOwnProperty.call(s.workflows ?? {}, workflow) ? s.workflows[workflow] : undefined;
          return [typeof w === 'object' ? w.channelTypes?.[channel] : undefined, typeof w === 'boolean' ? w : undefined, s.channelTypes?.[channel]];
        };
        const a = rules(mine);
        const b = rules(theirs);
        let expected = true;
        for (let i = 2; i >= 0; i--) {
          const at = a[i] ?? b[i];
          if (at !== undefined) expected = at;
        }
        expect(decide(mine as PreferenceSet, theirs as PreferenceSet, workflow, channel).allowed).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });
});

describe('optOutOfEmail', () => {
  it("turns off the workflow's email and keeps every other rule", () => {
    expect(optOutOfEmail({}, 'news', 'workflow')).toEqual({ workflows: { news: { channelTypes: { email: false } } } });
    expect(optOutOfEmail({ workflows: { news: { channelTypes: { in_app: true } }, other: false } }, 'news', 'workflow')).toEqual({
      workflows: { news: { channelTypes: { in_app: true, email: false } }, other: false },
    });
    // A workflow on whole stays on for its other channels; one off whole stays off.
    expect(optOutOfEmail({ workflows: { news: true } }, 'news', 'workflow').workflows!.news).toEqual({ channelTypes: { email: false, in_app: true, webhook: true } });
    expect(optOutOfEmail({ workflows: { news: false } }, 'news', 'workflow').workflows!.news).toBe(false);
    expect(optOutOfEmail({ channelTypes: { in_app: false } }, 'news', 'email')).toEqual({ channelTypes: { in_app: false, email: false } });
    const opted = optOutOfEmail({}, '__proto__', 'workflow');
    expect(Object.keys(opted.workflows!)).toEqual(['__proto__']);
    expect(decide(opted, undefined, '__proto__', 'email').allowed).toBe(false);
  });
});

describe('preferenceSetSchema', () => {
  it('takes the three levels and refuses anything else', () => {
    expect(preferenceSetSchema.safeParse({ channelTypes: { email: false }, workflows: { a: true, b: { channelTypes: { webhook: false } } } }).success).toBe(true);
    for (const bad of [{ channelTypes: { sms: false } }, { workflows: { a: 'no' } }, { workflows: { '../x': true } }, { extra: 1 }, { workflows: { a: { enabled: true } } }]) {
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
