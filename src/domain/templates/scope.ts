// The records a template scope is built from (vars, secrets): names are data, never the
// members of Object.prototype.

/**
 * A map of names to values for a template scope (vars, secrets): no prototype, each name defined
 * as its own property, so `constructor` or `__proto__` is its own value or missing, never a
 * member of Object.prototype.
 */
export function scopeRecord<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [name, value] of entries) Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  return out;
}
