// Canonical JSON and content hashes: the identity of every stored document. Two documents with
// the same meaning (key order aside) have the same hash, so content is stored once per hash.
import { createHash } from 'node:crypto';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * JSON with object keys sorted (by UTF-16 code units, as RFC 8785) and no insignificant
 * whitespace. Values are JSON already (parsed request bodies), so only key order matters.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError('value cannot be represented as JSON');
    return text;
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function contentHash(value: unknown): string {
  return sha256(canonicalJson(value));
}

/** A short digest used in audit entries to show that state changed without storing the state. */
export function digest(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return contentHash(value).slice(0, 16);
}
