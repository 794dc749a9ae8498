// Recipient tokens: HS256 JSON Web Tokens that bind a browser's publishable-key feed calls to one
// recipient of one environment. A backend gets them from POST /v1/recipient-tokens or signs them
// itself with the environment's signing secret.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export const DEFAULT_TOKEN_TTL_SECONDS = 3600;
export const MAX_TOKEN_TTL_SECONDS = 7 * 24 * 3600;
const MAX_TOKEN_CHARS = 4096;

export interface RecipientClaims {
  /** The recipient id. */
  sub: string;
  /** The environment id the token was issued for (optional in tokens a backend signs). */
  env?: string;
  iat?: number;
  /** Expiry, in seconds since the epoch. */
  exp: number;
}

const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url');
const HEADER = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

/**
 * The signing secret of an environment: derived from a master key (HKDF-SHA256) with the
 * workspace, the environment and the secret's version, so that nothing is stored and bumping
 * the version (setting `feeds.signingKeyVersion`) rotates it. Used as the UTF-8 bytes of the
 * returned string, as JWT libraries take an HS256 secret.
 */
export function recipientTokenSecret(masterKey: Buffer, workspaceId: string, environmentId: string, version: number): string {
  const bytes = hkdfSync('sha256', masterKey, `${workspaceId}/${environmentId}`, `stageline recipient-token v${version}`, 32);
  return `rts_${Buffer.from(bytes).toString('base64url')}`;
}

export function signRecipientToken(secret: string, claims: RecipientClaims): string {
  const body = `${HEADER}.${b64(JSON.stringify(claims))}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/**
 * Why a token does not let its bearer read `recipient`'s feed in `environmentId` at `nowSeconds`,
 * or null when it does. `secrets` are the environment's signing secrets that may have signed it.
 */
export function recipientTokenProblem(token: string, secrets: string[], expected: { recipient: string; environmentId: string; nowSeconds: number }): string | null {
  if (token.length > MAX_TOKEN_CHARS) return 'the recipient token is too long';
  const parts = token.split('.');
  if (parts.length !== 3) return 'the recipient token is not a signed token';
  const [header, payload, signature] = parts as [string, string, string];
  let head: unknown;
  let claims: unknown;
  try {
    head = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return 'the recipient token is not a signed token';
  }
  // Only HS256: a token must never choose a weaker algorithm (or "none") for itself.
  if (typeof head !== 'object' || head === null || (head as { alg?: unknown }).alg !== 'HS256') return 'the recipient token must be signed with HS256';
  const given = Buffer.from(signature, 'base64url');
  const signed = secrets.some((secret) => {
    const wanted = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
    return wanted.length === given.length && timingSafeEqual(wanted, given);
  });
  if (!signed) return "the recipient token's signature is not valid for this environment";
  const c = claims as Partial<Record<keyof RecipientClaims, unknown>>;
  if (typeof claims !== 'object' || claims === null || typeof c.sub !== 'string' || typeof c.exp !== 'number') return 'the recipient token needs "sub" and "exp" claims';
  if (c.env !== undefined && c.env !== expected.environmentId) return 'the recipient token belongs to another environment';
  if (c.exp <= expected.nowSeconds) return 'the recipient token has expired';
  if (c.sub !== expected.recipient) return 'the recipient token is for another recipient';
  return null;
}
