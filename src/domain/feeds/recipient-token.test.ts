import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { recipientTokenProblem, recipientTokenSecret, signRecipientToken } from './recipient-token.js';

const master = Buffer.alloc(32, 3);
const secret = recipientTokenSecret(master, 'ws_1', 'env_prod', 1);
const now = 1_800_000_000;
const expected = { recipient: 'user-1', environmentId: 'env_prod', nowSeconds: now };
const token = (claims: Record<string, unknown>, key = secret) => signRecipientToken(key, claims as never);

describe('recipient tokens', () => {
  it('a token for the recipient and environment, not expired, is accepted', () => {
    expect(recipientTokenProblem(token({ sub: 'user-1', env: 'env_prod', exp: now + 60 }), [secret], expected)).toBeNull();
  });

  it('a token a backend signed without the env claim is accepted with the environment secret', () => {
    expect(recipientTokenProblem(token({ sub: 'user-1', exp: now + 60 }), [secret], expected)).toBeNull();
  });

  it.each([
    ['expired', { sub: 'user-1', env: 'env_prod', exp: now }, secret, /expired/],
    ['for another recipient', { sub: 'user-2', env: 'env_prod', exp: now + 60 }, secret, /another recipient/],
    ['for another environment (claim)', { sub: 'user-1', env: 'env_dev', exp: now + 60 }, secret, /another environment/],
    ['signed with another environment secret', { sub: 'user-1', exp: now + 60 }, recipientTokenSecret(master, 'ws_1', 'env_dev', 1), /signature/],
    ['signed with a rotated-away secret', { sub: 'user-1', exp: now + 60 }, recipientTokenSecret(master, 'ws_1', 'env_prod', 2), /signature/],
    ['without exp', { sub: 'user-1' }, secret, /"exp"/],
  ])('a token %s is refused', (_name, claims, key, message) => {
    expect(recipientTokenProblem(token(claims, key), [secret], expected)).toMatch(message);
  });

  it('an unsigned ("none") or malformed token is refused', () => {
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'user-1', exp: now + 60 })).toString('base64url')}.`;
    expect(recipientTokenProblem(none, [secret], expected)).toMatch(/HS256/);
    expect(recipientTokenProblem('not-a-token', [secret], expected)).toMatch(/not a signed token/);
    expect(recipientTokenProblem('a.b.c', [secret], expected)).toMatch(/not a signed token/);
  });

  it('is a standard HS256 JWT: any JWT library verifies it with the secret as text', () => {
    const t = token({ sub: 'user-1', exp: now + 60 });
    const [h, p, s] = t.split('.');
    expect(JSON.parse(Buffer.from(h!, 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${h}.${p}`).digest('base64url')).toBe(s);
  });

  it('the secret differs per environment, workspace and version', () => {
    const all = [secret, recipientTokenSecret(master, 'ws_1', 'env_dev', 1), recipientTokenSecret(master, 'ws_2', 'env_prod', 1), recipientTokenSecret(master, 'ws_1', 'env_prod', 2)];
    expect(new Set(all).size).toBe(4);
  });
});
