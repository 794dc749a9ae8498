// The last configuration `run` and `export` resolved with one key, kept on disk so that a restart
// while the server is unreachable still starts: AES-256-GCM under a key derived (HKDF-SHA256)
// from the API key itself, so the file is useless without the key; the file's name is a hash of
// server and key, never the key.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ConfigValue } from './variables.js';

export interface LastGood {
  /** When the server answered with these values (ISO time). */
  savedAt: string;
  /** The environment's release they came from, when the server said. */
  release: number | null;
  configs: ConfigValue[];
}

const VERSION = 1;
const INFO = 'stageline run last-good values v1';

/** `STAGELINE_CACHE_DIR`, else `$XDG_CACHE_HOME/stageline`, else `~/.cache/stageline`. */
export function cacheDir(env: NodeJS.ProcessEnv): string {
  if (env.STAGELINE_CACHE_DIR) return env.STAGELINE_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'stageline');
}

/** The cache file of one server and key: a hash of both (domain-separated from the server's key hash). */
export function lastGoodPath(env: NodeJS.ProcessEnv, url: string, apiKey: string): string {
  const digest = createHash('sha256').update(`stageline-run-cache\u0000${url}\u0000${apiKey}`).digest('hex').slice(0, 40);
  return join(cacheDir(env), `run-${digest}.enc`);
}

function keyOf(apiKey: string, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', apiKey, salt, INFO, 32));
}

/** The server's URL is bound to the ciphertext: a file copied to another server's name does not open. */
function aad(url: string): Buffer {
  return Buffer.from(`stageline-run-cache v${VERSION}\n${url}`);
}

/** Encrypts and writes atomically (0600 file in a 0700 directory). */
export function saveLastGood(env: NodeJS.ProcessEnv, url: string, apiKey: string, value: LastGood): void {
  const path = lastGoodPath(env, url, apiKey);
  const dir = cacheDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(apiKey, salt), iv);
  cipher.setAAD(aad(url));
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  const file = { v: VERSION, alg: 'A256GCM', kdf: 'HKDF-SHA256', salt: salt.toString('base64'), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(file)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

/** The values kept for this server and key, or undefined (none, unreadable, or not ours). */
export function loadLastGood(env: NodeJS.ProcessEnv, url: string, apiKey: string): LastGood | undefined {
  const path = lastGoodPath(env, url, apiKey);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const file = JSON.parse(text) as { v: number; salt: string; iv: string; tag: string; data: string };
    if (file.v !== VERSION) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', keyOf(apiKey, Buffer.from(file.salt, 'base64')), Buffer.from(file.iv, 'base64'));
    decipher.setAAD(aad(url));
    decipher.setAuthTag(Buffer.from(file.tag, 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(file.data, 'base64')), decipher.final()]).toString('utf8');
    const value = JSON.parse(plain) as LastGood;
    if (typeof value.savedAt !== 'string' || !Array.isArray(value.configs)) return undefined;
    return value;
  } catch {
    // Tampered, truncated or written with another key: as good as absent.
    return undefined;
  }
}

/** Forgets the values of a key the server refused (a revoked key must not keep running on them). */
export function dropLastGood(env: NodeJS.ProcessEnv, url: string, apiKey: string): void {
  rmSync(lastGoodPath(env, url, apiKey), { force: true });
}

/** "5 minutes old" */
export function age(savedAt: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(savedAt)) / 1000));
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'} old`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} minutes old`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} hours old`;
  return `${Math.round(hours / 24)} days old`;
}

