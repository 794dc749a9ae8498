// One-click unsubscribe tokens (RFC 8058): the opaque part of an email's List-Unsubscribe link.
// A token names the workspace, the environment, the recipient and the workflow, and is signed
// with a secret derived from the master key for that one environment, so any node verifies it,
// nothing is stored, and a token of one environment cannot be made to act on another.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

const VERSION = 'u1';
const MAX_TOKEN_CHARS = 2048;

export interface UnsubscribeClaims {
  /** Workspace id. */
  ws: string;
  /** Environment id. */
  env: string;
  /** Recipient id. */
  sub: string;
  /** The workflow whose email the link came with. */
  wf: string;
}

/** The environment's unsubscribe signing secret (HKDF-SHA256 of a master key; `version` rotates it). */
export function unsubscribeSecret(masterKey: Buffer, workspaceId: string, environmentId: string, version: number): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, `${workspaceId}/${environmentId}`, `stageline unsubscribe v${version}`, 32));
}

const mac = (secret: Buffer, body: string) => createHmac('sha256', secret).update(`${VERSION}.${body}`).digest();

export function signUnsubscribeToken(secret: Buffer, claims: UnsubscribeClaims): string {
  const body = Buffer.from(JSON.stringify([claims.ws, claims.env, claims.sub, claims.wf])).toString('base64url');
  return `${VERSION}.${body}.${mac(secret, body).toString('base64url')}`;
}

/** The claims a token carries, unverified (to find the environment whose secrets verify it), or null when it is not one. */
export function readUnsubscribeToken(token: string): { claims: UnsubscribeClaims; body: string; signature: Buffer } | null {
  if (token.length > MAX_TOKEN_CHARS) return null;
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION) return null;
  const [, body, signature] = parts as [string, string, string];
  let fields: unknown;
  try {
    fields = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(fields) || fields.length !== 4 || !fields.every((f) => typeof f === 'string' && f.length > 0 && f.length <= 256)) return null;
  const [ws, env, sub, wf] = fields as [string, string, string, string];
  const bytes = Buffer.from(signature, 'base64url');
  // One spelling per signature: base64url's unused low bits may not vary.
  if (bytes.toString('base64url') !== signature) return null;
  return { claims: { ws, env, sub, wf }, body, signature: bytes };
}

/** Whether one of `secrets` (the environment's, one per master key) signed the token read. */
export function unsubscribeSignatureValid(read: { body: string; signature: Buffer }, secrets: Buffer[]): boolean {
  return secrets.some((secret) => {
    const wanted = mac(secret, read.body);
    return wanted.length === read.signature.length && timingSafeEqual(wanted, read.signature);
  });
}
