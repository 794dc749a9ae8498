// Request paths as the gateway matches them: one normal form for a request-target (so no
// spelling of a path reaches a route other than the one it names) and the longest-prefix index
// routes are found in, whole path segments only, in O(path length).

/** The request-target split into the normalised path and the query (with its `?`, or ''). */
export interface RequestPath {
  path: string;
  query: string;
}

const HEX = /^[0-9A-Fa-f]{2}$/;
/** ALPHA / DIGIT / "-" / "." / "_" / "~": RFC 3986 says their escapes mean the character itself. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * The path of a request-target in origin form, normalised, or null when it must be refused:
 * not origin form (`*`, `http://…`), a fragment, a backslash, or an escaped `/`, `\` or NUL,
 * which upstreams disagree about and which would let `/a%2Fb` reach a route other than `/a`.
 * Escaped unreserved characters are decoded (`/%61dmin` is `/admin`), other escapes upper-cased,
 * and dot segments removed (`/public/../admin` is `/admin`). A path needing none of this is
 * returned as it came, without copying.
 */
export function parseRequestTarget(target: string): RequestPath | null {
  if (target.charCodeAt(0) !== 47 /* / */) return null;
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  if (target.indexOf('#') !== -1 || path.indexOf('\\') !== -1) return null;
  if (path.indexOf('%') === -1 && path.indexOf('/.') === -1 && path.indexOf('//') === -1) return { path, query };
  const normal = normalisePath(path);
  return normal === null ? null : { path: normal, query };
}

/** Decodes unreserved escapes, upper-cases the others and removes dot segments; null for a refused escape. */
export function normalisePath(path: string): string | null {
  let decoded = path;
  if (path.indexOf('%') !== -1) {
    let out = '';
    for (let i = 0; i < path.length; i++) {
      const ch = path[i]!;
      if (ch !== '%') {
        out += ch;
        continue;
      }
      const hex = path.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return null;
      const code = parseInt(hex, 16);
      // `/`, `\` and NUL escaped: no normal form serves every upstream, so they are refused.
      if (code === 0x2f || code === 0x5c || code === 0) return null;
      const char = String.fromCharCode(code);
      out += UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
      i += 2;
    }
    decoded = out;
  }
  // Empty segments are merged (as nginx's merge_slashes does), so `//admin` is `/admin` to every
  // route; a dot segment with path parameters (`..;x`, which servlet containers resolve as `..`)
  // has no one meaning, so it is refused.
  if (decoded.indexOf('//') !== -1) decoded = decoded.replace(/\/{2,}/g, '/');
  if (DOT_WITH_PARAMS.test(decoded)) return null;
  return decoded.indexOf('/.') === -1 ? decoded : removeDotSegments(decoded);
}

const DOT_WITH_PARAMS = /\/\.\.?;/;

/** RFC 3986 §5.2.4 over an absolute path: `.` segments go, `..` removes the one before (never past the root). */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      // A trailing dot segment leaves the path ending in `/`.
      if (last) out.push('');
      continue;
    }
    out.push(segment);
  }
  return '/' + out.join('/');
}

/**
 * A route's `match.pathPrefix` as the index keeps it: normalised like a request path, without a
 * trailing `/` (but the root), so `/api` and `/api/` both match `/api`, `/api/` and `/api/x`, and
 * neither matches `/apix`. Null when the prefix can match no request path.
 */
export function routePrefix(pathPrefix: string): string | null {
  const parsed = pathPrefix.indexOf('?') === -1 ? parseRequestTarget(pathPrefix) : null;
  if (!parsed) return null;
  let prefix = parsed.path;
  while (prefix.length > 1 && prefix.endsWith('/')) prefix = prefix.slice(0, -1);
  return prefix;
}

/**
 * Values by route prefix, found by the longest prefix that ends at a segment boundary of a
 * path. A lookup tries only the cut points whose length some prefix has: at most one map
 * lookup per `/` in the path.
 */
export class PrefixIndex<T> {
  private readonly byPrefix = new Map<string, T>();
  /** lengths[n] is true when some prefix has n characters. */
  private lengths: Uint8Array = new Uint8Array(0);
  private root: T | undefined;

  /** Sets the value of a prefix made by `routePrefix`. */
  set(prefix: string, value: T): void {
    if (prefix === '/') {
      this.root = value;
      return;
    }
    this.byPrefix.set(prefix, value);
    if (prefix.length >= this.lengths.length) {
      const grown = new Uint8Array(prefix.length + 1);
      grown.set(this.lengths);
      this.lengths = grown;
    }
    this.lengths[prefix.length] = 1;
  }

  get(prefix: string): T | undefined {
    return prefix === '/' ? this.root : this.byPrefix.get(prefix);
  }

  /** The value of the longest prefix that `path` (normalised, starting with `/`) lies under. */
  lookup(path: string): T | undefined {
    const lengths = this.lengths;
    const max = lengths.length - 1;
    if (path.length <= max && lengths[path.length] === 1) {
      const exact = this.byPrefix.get(path);
      if (exact !== undefined) return exact;
    }
    for (let i = Math.min(path.length - 1, max); i > 0; i--) {
      if (lengths[i] === 1 && path.charCodeAt(i) === 47 /* / */) {
        const found = this.byPrefix.get(path.slice(0, i));
        if (found !== undefined) return found;
      }
    }
    return this.root;
  }

  values(): IterableIterator<T> {
    const all = [...this.byPrefix.values()];
    if (this.root !== undefined) all.push(this.root);
    return all.values();
  }
}

/** The path sent upstream for a request under `prefix`: the path as is, or what follows the prefix. */
export function forwardedPath(basePath: string, prefix: string, path: string, stripPrefix: boolean): string {
  if (!stripPrefix || prefix === '/') return basePath + path;
  const rest = path.slice(prefix.length);
  // `/payments` stripped of `/payments` is the upstream's base itself.
  return rest === '' ? basePath || '/' : basePath + rest;
}
