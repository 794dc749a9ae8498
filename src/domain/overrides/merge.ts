// Overrides: per-environment partial documents merged over committed content. `null` or an
// absent field inherits the base; objects merge key by key; anything else replaces.
import type { FieldIssue } from '../errors.js';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An override as written is an object of the fields to replace. */
export function overrideShapeIssue(override: unknown): FieldIssue | null {
  return isPlainObject(override) ? null : { field: 'override', message: 'must be an object of the fields to replace', in: 'body' };
}

export function mergeOverride<T>(base: T, override: unknown): T {
  if (override === null || override === undefined) return base;
  if (!isPlainObject(override)) return override as T;
  // An object over a non-object replaces it, but its nulls still inherit: from nothing, so they
  // are left out rather than becoming values (`{a: null}` over `3` is `{}`, never `{a: null}`).
  const from: Record<string, unknown> = isPlainObject(base) ? base : {};
  const merged: Record<string, unknown> = { ...from };
  for (const [key, value] of Object.entries(override)) {
    if (value === null || value === undefined) continue;
    const inherited = Object.prototype.hasOwnProperty.call(from, key) ? from[key] : undefined;
    // Defined, not assigned: a key such as `__proto__` stays an ordinary field of the document.
    Object.defineProperty(merged, key, { value: mergeOverride(inherited, value), enumerable: true, writable: true, configurable: true });
  }
  return merged as T;
}
