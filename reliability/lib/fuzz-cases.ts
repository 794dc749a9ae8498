// Fuzz cases: a request derived from an operation of the OpenAPI document (valid path ids from the
// world, query and body drawn from the schemas), then one mutation applied; and the judge that
// says what is wrong with an answer (a 5xx, a 4xx outside the error shape, a validation error
// that names no field).
import fc from 'fast-check';
import { arbitraryOf, deref, type JsonSchema, type Operation } from './fuzz-schema.js';
import type { Credential, World } from './fuzz-world.js';

export const MUTATIONS = [
  'valid',
  'wrong-type',
  'missing-required',
  'unknown-field',
  'huge-string',
  'huge-body',
  'deep-nesting',
  'invalid-utf8',
  'proto-keys',
  'traversal',
  'odd-numbers',
  'empty-body',
  'content-type',
  'duplicate-query',
  'odd-headers',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** Relative weights: valid requests reach deepest; the costly huge bodies are rarer. */
const WEIGHTS: Record<Mutation, number> = {
  valid: 8,
  'wrong-type': 6,
  'missing-required': 4,
  'unknown-field': 4,
  'huge-string': 1,
  'huge-body': 1,
  'deep-nesting': 2,
  'invalid-utf8': 3,
  'proto-keys': 4,
  traversal: 4,
  'odd-numbers': 4,
  'empty-body': 3,
  'content-type': 3,
  'duplicate-query': 3,
  'odd-headers': 3,
};

export interface FuzzCase {
  op: Operation;
  mutation: Mutation;
  credential: Credential;
  method: string;
  /** Path and query as sent (percent-encoded where the case is not about raw bytes). */
  url: string;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
  /** What the mutation touched (a field path, a parameter, a header). */
  detail: string;
}

export const PROTO_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__'];
export const TRAVERSALS = ['..', '../..', '../production', '%2e%2e', '%2e%2e%2f', '..%2f..%2f', '%2f', 'a%2fb', '..%5c', '%5c', '%00', '.', '%2e', '..;', '%252e%252e%252f', '....//', 'x/../../y', '%c0%ae%c0%ae%2f'];
/** Raw JSON number tokens and number-like strings (some are not JSON at all). */
export const ODD_NUMBERS = ['1e309', '-1e309', '-0', '18446744073709551616', '-9223372036854775809', '1e-400', '9007199254740993', '0.1e1', '1E2', '"NaN"', '"Infinity"', '"-0"', '"1e309"', 'NaN', 'Infinity', '0x10', '01', '-', '1.', '.5'];
export const ODD_NUMBER_TEXT = ['1e309', '-1e309', '-0', '18446744073709551616', 'NaN', 'Infinity', '-Infinity', '0x10', '1.5', '-1', '', ' 1', '1e3', '%00', '9'.repeat(400)];
export const INVALID_UTF8 = [[0xff, 0xfe], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xe2, 0x82], [0xc3, 0x28], [0xf8, 0x88, 0x80, 0x80, 0x80]].map((b) => Buffer.from(b));
const CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=utf-16', 'APPLICATION/JSON', 'application/json-patch+json', 'application/vnd.api+json', '', 'application/json, text/plain', 'application/octet-stream', 'application/json; charset=latin1', '*/*', 'application/'];
const EMPTY_BODIES = ['', 'null', '""', '[]', '0', '{}', 'true', ' ', '\n'];
const WRONG_VALUES: unknown[] = [123, -1, 'text', true, false, null, [], {}, [1, 'a'], { a: 1 }, 0.5];
const UNKNOWN_NAMES = ['isAdmin', 'role', 'workspaceId', 'environment', 'id', 'createdAt', 'zzz', 'secret', 'hash', 'release'];

/** A stretch of JSON text (or bytes) put where a value goes, as is. */
class Raw {
  constructor(readonly bytes: string | Buffer) {}
}

/** Draws values from fast-check arbitraries, as `fc.gen()`'s generator does, without its memo of every draw. */
export type Draw = <T, A extends unknown[]>(arbitrary: (...args: A) => fc.Arbitrary<T>, ...args: A) => T;

/** fast-check's own random source for one run, captured so a case draws from it directly. */
class RandomSource extends fc.Arbitrary<fc.Random> {
  generate(random: fc.Random): fc.Value<fc.Random> {
    return new fc.Value(random.clone(), undefined);
  }
  canShrinkWithoutContext(_value: unknown): _value is fc.Random {
    return false;
  }
  shrink(): fc.Stream<fc.Value<fc.Random>> {
    return fc.Stream.nil();
  }
}

/** The draws of `count` cases of a run seeded with `seed` (the same cases every time). */
export function drawsOf(seed: number, count: number): Draw[] {
  return fc.sample(new RandomSource(), { seed, numRuns: count }).map((random) => (arbitrary, ...args) => arbitrary(...args).generate(random, undefined).value);
}
const pick = <T>(g: Draw, list: readonly T[]): T => g(fc.constantFrom, ...list) as T;
const chance = (g: Draw, p: number): boolean => g(fc.double, { min: 0, max: 1, noNaN: true }) < p;

const WEIGHTED = new WeakMap<object, fc.Arbitrary<string>>();
function weighted<T extends string>(g: Draw, weights: Record<T, number>): T {
  let arbitrary = WEIGHTED.get(weights);
  if (!arbitrary) {
    const entries = (Object.entries(weights) as [T, number][]).filter(([, w]) => w > 0);
    WEIGHTED.set(weights, (arbitrary = fc.oneof(...entries.map(([value, weight]) => ({ arbitrary: fc.constant(value) as fc.Arbitrary<string>, weight })))));
  }
  return g(() => arbitrary) as T;
}

const RUNTIME_CREDENTIALS: Record<Credential, number> = { sk: 5, pk: 2, 'sk-dev': 2, 'pk-dev': 1, owner: 1, viewer: 0, none: 1, garbage: 1 };
const MANAGEMENT_CREDENTIALS: Record<Credential, number> = { owner: 8, viewer: 2, sk: 1, pk: 0, 'sk-dev': 0, 'pk-dev': 0, none: 1, garbage: 1 };

/** Query parameters whose values name environments or releases. */
const QUERY_POOLS: Record<string, string[]> = {
  environment: ['production', 'staging', 'development', 'feature-x'],
  envs: ['production', 'production,staging', 'development'],
  environments: ['production,staging', 'development'],
  from: ['development', 'staging#1', 'production', 'development~draft', '2026-01-01T00:00:00.000Z'],
  to: ['production', 'staging', 'feature-x', 'production#1', '2030-01-01T00:00:00.000Z'],
};

/** One case: an operation, a credential, valid values, one mutation. */
export function buildCase(g: Draw, world: World, ops: Operation[], root: JsonSchema, only?: Mutation[]): FuzzCase {
  const op = pick(g, ops);
  const mutation = only ? pick(g, only) : weighted(g, WEIGHTS);
  const credential = weighted(g, op.runtime ? RUNTIME_CREDENTIALS : MANAGEMENT_CREDENTIALS);

  // Path: ids that exist (victims for a call that destroys what it names).
  const path: Record<string, string> = {};
  const pathParams = op.params.filter((p) => p.in === 'path');
  const segments = op.template.split('/');
  const pair = op.template.includes('{kind}/{key}') && world.resources.length > 0 ? pick(g, world.resources) : null;
  const last = pathParams[pathParams.length - 1]?.name;
  const destructive = op.method === 'DELETE' || op.template.endsWith('/rotate');
  for (const p of pathParams) {
    if (pair && (p.name === 'kind' || p.name === 'key')) {
      path[p.name] = p.name === 'kind' ? pair.kind : pair.key;
      continue;
    }
    const before = segments[segments.indexOf(`{${p.name}}`) - 1] ?? '';
    const family = `${before}/{${p.name}}`;
    const list = destructive && p.name === last ? (world.victims[family] ?? world.pools[family] ?? world.pools[`{${p.name}}`]) : (world.pools[family] ?? world.pools[`{${p.name}}`]);
    path[p.name] = list && list.length > 0 && !chance(g, 0.05) ? pick(g, list) : String(g(() => arbitraryOf(p.schema, root)));
  }

  // Query: required parameters always, optional ones often.
  const query: [string, string][] = [];
  for (const p of op.params.filter((x) => x.in === 'query')) {
    if (!p.required && !chance(g, 0.4)) continue;
    const known = QUERY_POOLS[p.name];
    const value = known && chance(g, 0.8) ? pick(g, known) : g(() => arbitraryOf(p.schema, root));
    query.push([p.name, typeof value === 'string' ? value : JSON.stringify(value)]);
  }

  // Body: from the schema, with resource content from the kind's own schema or the world's.
  let body: unknown = undefined;
  if (op.body) {
    body = g(() => arbitraryOf(op.body!, root));
    const schema = deref(op.body, root);
    const kind = path.kind;
    if (body && typeof body === 'object' && !Array.isArray(body) && kind && schema.properties) {
      for (const field of ['content', 'override']) {
        if (!(field in (schema.properties as object))) continue;
        const seeds = world.contents[kind] ?? [];
        const kindSchema = world.kindSchemas[kind];
        (body as Record<string, unknown>)[field] = seeds.length > 0 && chance(g, 0.6) ? structuredClone(pick(g, seeds)) : kindSchema ? g(() => arbitraryOf(kindSchema, kindSchema)) : { value: 1 };
      }
    }
  }

  const headers: Record<string, string> = {};
  const token = world.credentials[credential];
  if (token) headers.authorization = `Bearer ${token}`;
  let contentType: string | null = op.body ? 'application/json' : null;
  let rawBody: string | Buffer | undefined;
  let detail = '';
  const pathOverride: Record<string, string> = {};

  const bodyTargets = () => targets(body);
  const setBody = (at: (string | number)[], value: unknown) => {
    if (at.length === 0) body = value;
    else setAt(body, at, value);
  };

  switch (mutation) {
    case 'valid':
      break;
    case 'wrong-type': {
      const at = bodyTargets();
      if (at.length > 0 && chance(g, 0.8)) {
        const where = pick(g, at);
        const current = getAt(body, where);
        const other = WRONG_VALUES.filter((v) => typeOf(v) !== typeOf(current));
        setBody(where, structuredClone(pick(g, other)));
        detail = `body.${where.join('.')}`;
      } else if (query.length > 0) {
        const i = g(fc.nat, { max: query.length - 1 });
        query[i] = [query[i]![0], pick(g, ['abc', 'true', '[]', '{}', '-1', '1.5', 'null'])];
        detail = `query.${query[i]![0]}`;
      } else if (pathParams.length > 0) {
        const p = pick(g, pathParams);
        pathOverride[p.name] = pick(g, ['123', 'true', 'null', '-1', '1.5', '[]', '{}']);
        detail = `path.${p.name}`;
      } else {
        body = pick(g, WRONG_VALUES);
        contentType = 'application/json';
        detail = 'body';
      }
      break;
    }
    case 'missing-required': {
      const schema = op.body ? deref(op.body, root) : null;
      const required: string[] = schema?.required ?? [];
      if (body && typeof body === 'object' && !Array.isArray(body) && required.length > 0) {
        const name = pick(g, required);
        delete (body as Record<string, unknown>)[name];
        detail = `body.${name}`;
      } else if (op.body && chance(g, 0.5)) {
        body = {};
        detail = 'body (every field)';
      } else if (query.length > 0) {
        const i = g(fc.nat, { max: query.length - 1 });
        detail = `query.${query[i]![0]}`;
        query.splice(i, 1);
      } else if (pathParams.length > 0) {
        const p = pick(g, pathParams);
        pathOverride[p.name] = '';
        detail = `path.${p.name} (empty)`;
      } else {
        body = undefined;
        detail = 'body';
      }
      break;
    }
    case 'unknown-field': {
      const objects = [[] as (string | number)[], ...bodyTargets()].filter((at) => isObject(at.length === 0 ? body : getAt(body, at)));
      const name = chance(g, 0.5) ? pick(g, UNKNOWN_NAMES) : (g(fc.string, { minLength: 1, maxLength: 12 }) as string);
      if (objects.length > 0 && body !== undefined) {
        const at = pick(g, objects);
        const target = (at.length === 0 ? body : getAt(body, at)) as Record<string, unknown>;
        target[name] = g(() => fc.jsonValue({ maxDepth: 1 }));
        detail = `body.${[...at, name].join('.')}`;
      } else {
        query.push([name, 'x']);
        detail = `query.${name}`;
      }
      break;
    }
    case 'huge-string':
    case 'huge-body': {
      // 1,000,000 characters fit the 1 MiB body limit; 1.2 MB and 2 MB do not.
      const size = mutation === 'huge-string' ? 1_000_000 : pick(g, [1_200_000, 2_100_000]);
      const huge = pick(g, ['x', 'é', '\\"', '{{ vars.app_url }}']).repeat(Math.ceil(size / 2));
      const text = huge.slice(0, size);
      const where = chance(g, 0.15) ? pick(g, ['query', 'path', 'header']) : 'body';
      if (where === 'query' && mutation === 'huge-string') {
        query.push([query[0]?.[0] ?? 'q', 'y'.repeat(200_000)]);
        detail = 'query (200 KB)';
      } else if (where === 'path' && pathParams.length > 0 && mutation === 'huge-string') {
        const p = pick(g, pathParams);
        pathOverride[p.name] = 'z'.repeat(100_000);
        detail = `path.${p.name} (100 KB)`;
      } else if (where === 'header' && mutation === 'huge-string') {
        headers['x-request-id'] = 'r'.repeat(64_000);
        detail = 'header x-request-id (64 KB)';
      } else {
        const strings = bodyTargets().filter((at) => typeof getAt(body, at) === 'string');
        const at = strings.length > 0 ? pick(g, strings) : bodyTargets().length > 0 ? pick(g, bodyTargets()) : [];
        setBody(at, text);
        contentType = 'application/json';
        detail = `body.${at.join('.') || '(whole)'} (${text.length.toLocaleString('en-US')} chars)`;
      }
      break;
    }
    case 'deep-nesting': {
      const depth = 10_000;
      const nest = chance(g, 0.5) ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      const at = body !== undefined && chance(g, 0.7) && bodyTargets().length > 0 ? pick(g, bodyTargets()) : [];
      setBody(at, new Raw(nest));
      contentType = 'application/json';
      detail = `body.${at.join('.') || '(whole)'} (${depth} levels)`;
      break;
    }
    case 'invalid-utf8': {
      const bytes = pick(g, INVALID_UTF8);
      const where = pick(g, ['body', 'body', 'path', 'query', 'header']);
      if (where === 'path' && pathParams.length > 0) {
        const p = pick(g, pathParams);
        pathOverride[p.name] = `a${[...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}b`;
        detail = `path.${p.name}`;
      } else if (where === 'query') {
        query.push([query[0]?.[0] ?? 'q', `a${[...bytes].map((b) => `%${b.toString(16)}`).join('')}`]);
        detail = 'query';
      } else if (where === 'header') {
        // Header values travel as latin1: these are the bytes on the wire.
        headers[pick(g, ['authorization', 'x-request-id', 'if-none-match', 'last-event-id', 'idempotency-key'])] = `Bearer ${bytes.toString('latin1')}x`;
        detail = 'header';
      } else {
        const strings = bodyTargets().filter((at) => typeof getAt(body, at) === 'string');
        const at = strings.length > 0 ? pick(g, strings) : bodyTargets().length > 0 ? pick(g, bodyTargets()) : [];
        setBody(at, new Raw(Buffer.concat([Buffer.from('"a'), bytes, Buffer.from('b"')])));
        contentType = 'application/json';
        detail = `body.${at.join('.') || '(whole)'}`;
      }
      break;
    }
    case 'proto-keys': {
      const name = pick(g, PROTO_NAMES);
      const where = pick(g, ['body', 'body', 'path', 'path', 'query']);
      if (where === 'path' && pathParams.length > 0) {
        const p = pick(g, pathParams);
        pathOverride[p.name] = name;
        detail = `path.${p.name}=${name}`;
      } else if (where === 'query' || !op.body) {
        query.push([name, 'x'], [`${name}[polluted]`, '1'], ['constructor[prototype][polluted]', '1']);
        detail = `query ${name}`;
      } else {
        const objects = [[] as (string | number)[], ...bodyTargets()].filter((at) => isObject(at.length === 0 ? body : getAt(body, at)));
        const at = objects.length > 0 ? pick(g, objects) : [];
        const target = at.length === 0 ? body : getAt(body, at);
        const inner = `"${name}":{"polluted":true,"isAdmin":true},"constructor":{"prototype":{"polluted":true}}`;
        const text = JSON.stringify(isObject(target) ? target : {});
        setBody(at, new Raw(text === '{}' ? `{${inner}}` : `{${inner},${text.slice(1)}`));
        contentType = 'application/json';
        detail = `body.${[...at, name].join('.')}`;
      }
      break;
    }
    case 'traversal': {
      const t = pick(g, TRAVERSALS);
      if (pathParams.length > 0 && chance(g, 0.75)) {
        const p = pick(g, pathParams);
        pathOverride[p.name] = t;
        detail = `path.${p.name}=${t}`;
      } else if (chance(g, 0.5)) {
        pathOverride['*suffix'] = `/${t}/healthz`;
        detail = `path suffix ${t}`;
      } else {
        const strings = bodyTargets().filter((at) => typeof getAt(body, at) === 'string');
        if (strings.length > 0) {
          const at = pick(g, strings);
          setBody(at, `../../${t}/etc/passwd`);
          detail = `body.${at.join('.')}`;
        } else {
          query.push([query[0]?.[0] ?? 'environment', `../${t}`]);
          detail = 'query';
        }
      }
      break;
    }
    case 'odd-numbers': {
      const numberPath = pathParams.find((p) => p.name === 'number' || p.name === 'id');
      const numeric = bodyTargets().filter((at) => typeof getAt(body, at) === 'number');
      const any = bodyTargets();
      if (numeric.length > 0 || (any.length > 0 && chance(g, 0.6))) {
        const at = numeric.length > 0 ? pick(g, numeric) : pick(g, any);
        const token = pick(g, ODD_NUMBERS);
        setBody(at, new Raw(token));
        detail = `body.${at.join('.')}=${token}`;
      } else if (query.length > 0 || op.params.some((p) => p.in === 'query')) {
        const name = query[0]?.[0] ?? op.params.find((p) => p.in === 'query')!.name;
        const value = pick(g, ODD_NUMBER_TEXT);
        query.push([name, value]);
        detail = `query.${name}=${value}`;
      } else if (numberPath || pathParams.length > 0) {
        const p = numberPath ?? pick(g, pathParams);
        pathOverride[p.name] = pick(g, ODD_NUMBER_TEXT);
        detail = `path.${p.name}=${pathOverride[p.name]}`;
      } else {
        body = new Raw(pick(g, ODD_NUMBERS));
        contentType = 'application/json';
        detail = 'body';
      }
      break;
    }
    case 'empty-body': {
      const variant = pick(g, [...EMPTY_BODIES, '(none, json type)', '(none, no type)']);
      if (variant === '(none, json type)') {
        body = undefined;
        contentType = 'application/json';
      } else if (variant === '(none, no type)') {
        body = undefined;
        contentType = null;
      } else {
        body = new Raw(variant);
        contentType = 'application/json';
      }
      detail = `body ${JSON.stringify(variant)}`;
      break;
    }
    case 'content-type': {
      contentType = pick(g, CONTENT_TYPES);
      if (body === undefined) body = { a: 1 };
      detail = `content-type ${JSON.stringify(contentType)}`;
      break;
    }
    case 'duplicate-query': {
      const names = query.length > 0 ? query.map(([n]) => n) : op.params.filter((p) => p.in === 'query').map((p) => p.name);
      const chosen = names.length > 0 ? names : ['limit', 'cursor'];
      for (const n of chosen) query.push([n, pick(g, ['1', '2', 'x', '', 'production', '__proto__'])], [`${n}[]`, '1']);
      detail = `query ${chosen.join(',')} twice`;
      break;
    }
    case 'odd-headers': {
      const token = world.credentials[credential] ?? 'x';
      const variant = pick(g, ['auth', 'auth', 'request-id', 'if-none-match', 'last-event-id', 'idempotency', 'forwarded', 'accept']);
      if (variant === 'auth') {
        headers.authorization = pick(g, ['Bearer', 'Bearer ', `Bearer  ${token}`, 'Basic dXNlcjpwYXNz', `Bearer ${token}, Bearer ${token}`, `Bearer ${'a'.repeat(8000)}`, `bearer ${token}`, `Token ${token}`, `Bearer ${token}\t`, `Bearer ${token.slice(0, -1)}`, `Bearer sk_${'0'.repeat(40)}`, `Bearer pk_`, 'Bearer __proto__']);
      } else if (variant === 'request-id') headers['x-request-id'] = pick(g, ['a'.repeat(1000), '../', '__proto__', '', '{"a":1}']);
      else if (variant === 'if-none-match') headers['if-none-match'] = pick(g, ['"x"', '*', `W/"${'a'.repeat(5000)}"`, '"', ',,,', 'null']);
      else if (variant === 'last-event-id') headers['last-event-id'] = pick(g, ODD_NUMBER_TEXT);
      else if (variant === 'idempotency') headers['idempotency-key'] = pick(g, ['k'.repeat(10_000), '', '__proto__', '../x']);
      else if (variant === 'forwarded') headers['x-forwarded-for'] = pick(g, ['garbage', '1.2.3.4, ::1, x', '999.999.999.999', '::ffff:999.1.1.1']);
      else headers.accept = pick(g, ['text/event-stream', 'application/xml', '*/*;q=abc', '']);
      detail = `header ${variant}${variant === 'auth' ? ` ${headers.authorization!.slice(0, 40)}` : ''}`;
      break;
    }
  }

  let url = op.template;
  for (const p of pathParams) {
    const value = p.name in pathOverride ? pathOverride[p.name]! : encodeURIComponent(path[p.name] ?? '');
    url = url.replace(`{${p.name}}`, value);
  }
  if (pathOverride['*suffix']) url += pathOverride['*suffix'];
  if (query.length > 0) url += `?${query.map(([n, v]) => `${encodeQuery(n)}=${encodeQuery(v)}`).join('&')}`;

  if (body !== undefined) rawBody = serialize(body);
  if (contentType !== null && (rawBody !== undefined || mutation === 'empty-body')) headers['content-type'] = contentType;
  return { op, mutation, credential, method: op.method, url, headers, body: rawBody, detail };
}

/** Percent-encodes, keeping `%xx` escapes a mutation wrote on purpose. */
function encodeQuery(text: string): string {
  return text.replace(/%(?![0-9a-fA-F]{2})/g, '%25').replace(/[^A-Za-z0-9%._~\-[\]]/g, (c) => encodeURIComponent(c));
}

function typeOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Raw);
}

/** Paths of every value inside `root` (not the root), at most 200. */
function targets(root: unknown): (string | number)[][] {
  const out: (string | number)[][] = [];
  const stack: { v: unknown; at: (string | number)[] }[] = [{ v: root, at: [] }];
  while (stack.length > 0 && out.length < 200) {
    const { v, at } = stack.pop()!;
    if (at.length > 0) out.push(at);
    if (Array.isArray(v)) v.forEach((item, i) => stack.push({ v: item, at: [...at, i] }));
    else if (isObject(v)) for (const [k, item] of Object.entries(v)) stack.push({ v: item, at: [...at, k] });
  }
  return out;
}
function getAt(root: unknown, at: (string | number)[]): unknown {
  let v: any = root;
  for (const k of at) v = v?.[k];
  return v;
}
function setAt(root: unknown, at: (string | number)[], value: unknown): void {
  let v: any = root;
  for (const k of at.slice(0, -1)) v = v[k];
  v[at[at.length - 1]!] = value;
}

/** JSON text with Raw stretches spliced in (a Buffer when one of them is bytes). */
export function serialize(value: unknown): string | Buffer {
  const raws: Raw[] = [];
  const text = JSON.stringify(value, (_k, v) => {
    if (v instanceof Raw) {
      raws.push(v);
      return `@@raw${raws.length - 1}@@`;
    }
    return v;
  });
  if (raws.length === 0) return text ?? '';
  const parts: (string | Buffer)[] = [];
  let rest = text ?? '';
  raws.forEach((raw, i) => {
    const mark = `"@@raw${i}@@"`;
    const at = rest.indexOf(mark);
    parts.push(rest.slice(0, at), raw.bytes);
    rest = rest.slice(at + mark.length);
  });
  parts.push(rest);
  if (parts.every((p) => typeof p === 'string')) return parts.join('');
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}

/** What is wrong with an API answer: null when nothing is. */
export function judgeApi(status: number, contentType: string | undefined, text: string, method: string, url = ''): string | null {
  if (status >= 500) return '5xx';
  if (status < 400 || method === 'HEAD') return null;
  // OFREP answers its evaluation failures in the protocol's own shape (docs/openfeature.md).
  if (url.startsWith('/ofrep/') && (status === 400 || status === 404) && text.includes('"errorCode"')) return ofrepShapeProblem(contentType, text);
  return errorShapeProblem(contentType, text);
}

/** OFREP's failure shape: `{key?, errorCode: "FLAG_NOT_FOUND"|…, errorDetails?}`. */
function ofrepShapeProblem(contentType: string | undefined, text: string): string | null {
  if (!(contentType ?? '').startsWith('application/json')) return `OFREP error not JSON (content-type ${contentType ?? 'none'})`;
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return 'OFREP error body does not parse';
  }
  if (typeof body?.errorCode !== 'string' || !/^[A-Z][A-Z_]*$/.test(body.errorCode)) return 'OFREP errorCode missing';
  if (body.errorDetails !== undefined && (typeof body.errorDetails !== 'string' || body.errorDetails === '')) return 'OFREP errorDetails not a message';
  return null;
}

/** The error shape of DESIGN.md: `{"error":{code,message,details?}}` and a validation error naming its fields. */
export function errorShapeProblem(contentType: string | undefined, text: string): string | null {
  if (!(contentType ?? '').startsWith('application/json')) return `error not JSON (content-type ${contentType ?? 'none'})`;
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return 'error body does not parse';
  }
  if (typeof body !== 'object' || body === null || Object.keys(body).join() !== 'error') return 'error body is not {error}';
  const error = body.error;
  if (typeof error?.code !== 'string' || !/^[a-z][a-z0-9_]*$/.test(error.code)) return 'error.code missing or not snake_case';
  if (typeof error.message !== 'string' || error.message.trim() === '') return 'error.message missing';
  if (error.details !== undefined && !Array.isArray(error.details)) return 'error.details not a list';
  if (error.code === 'invalid_request' && Array.isArray(error.details) && error.details.length > 0) {
    const fields = error.details.filter((d: any) => d && typeof d === 'object' && 'field' in d);
    if (fields.length > 0) {
      if (fields.some((d: any) => typeof d.field !== 'string' || typeof d.message !== 'string')) return 'validation detail without field and message';
      const first = fields[0].field as string;
      if (first !== '' && !error.message.includes(first.slice(0, 40))) return 'validation message does not name the field';
    }
  }
  return null;
}
