// The fuzzer's view of the OpenAPI document the server serves: its operations (method, path
// template, parameters, body schema, security), and fast-check generators of valid values from
// the JSON Schemas in it (zod's output: types, enums, patterns, bounds, anyOf, $ref).
import fc from 'fast-check';

export type JsonSchema = Record<string, any>;

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: JsonSchema;
}

export interface Operation {
  /** `GET /api/workspaces/{ws}`: how failures and coverage name it. */
  id: string;
  operationId: string;
  method: string;
  template: string;
  params: Parameter[];
  body: JsonSchema | null;
  bodyRequired: boolean;
  /** Answers server-sent events (a valid call never ends; sent over a real socket and cut). */
  stream: boolean;
  /** The runtime API (API keys) rather than the management API (member and service tokens). */
  runtime: boolean;
}

/** Every operation of the document, in its order. */
export function operationsOf(document: JsonSchema): Operation[] {
  const out: Operation[] = [];
  for (const [template, item] of Object.entries<Record<string, any>>(document.paths ?? {})) {
    for (const [method, op] of Object.entries<any>(item)) {
      if (!['get', 'put', 'post', 'patch', 'delete', 'head', 'options'].includes(method)) continue;
      const params: Parameter[] = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p: any) => ({
        name: p.name,
        in: p.in,
        required: Boolean(p.required),
        schema: p.schema ?? {},
      }));
      const content = op.requestBody?.content ?? {};
      const body = content['application/json']?.schema ?? null;
      const okContent = Object.keys(op.responses?.['200']?.content ?? {});
      const security = (op.security ?? document.security ?? []) as Record<string, unknown>[];
      out.push({
        id: `${method.toUpperCase()} ${template}`,
        operationId: op.operationId ?? `${method} ${template}`,
        method: method.toUpperCase(),
        template,
        params,
        body,
        bodyRequired: Boolean(op.requestBody?.required),
        stream: okContent.includes('text/event-stream'),
        runtime: security.some((s) => 'apiKey' in s) || template.startsWith('/v1/') || template.startsWith('/ofrep/'),
      });
    }
  }
  return out;
}

/** Follows `$ref`s into the document's components (or a kind schema's own definitions). */
export function deref(schema: JsonSchema, root: JsonSchema): JsonSchema {
  let s = schema;
  for (let i = 0; i < 20 && s && typeof s.$ref === 'string'; i += 1) {
    const path = (s.$ref as string).replace(/^#\//, '').split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    let target: any = root;
    for (const part of path) target = target?.[part];
    s = target ?? {};
  }
  return s ?? {};
}

const MAX_DEPTH = 6;

/** Built once per schema object and depth: building (patterns above all) costs more than drawing. */
const BUILT = new WeakMap<JsonSchema, Map<number, fc.Arbitrary<unknown>>>();

/** A generator of values the schema accepts (as far as JSON Schema can say: zod refinements are not in it). */
export function arbitraryOf(schema: JsonSchema, root: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  let byDepth = BUILT.get(schema);
  if (!byDepth) BUILT.set(schema, (byDepth = new Map()));
  let arbitrary = byDepth.get(depth);
  if (!arbitrary) byDepth.set(depth, (arbitrary = build(schema, root, depth)));
  return arbitrary;
}

function build(schema: JsonSchema, root: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  const s = deref(schema, root);
  if (depth > MAX_DEPTH) return fc.constant(null);
  if ('const' in s) return fc.constant(s.const);
  if (Array.isArray(s.enum) && s.enum.length > 0) return fc.constantFrom(...s.enum);
  const options = s.anyOf ?? s.oneOf;
  if (Array.isArray(options) && options.length > 0) return fc.oneof(...options.map((o: JsonSchema) => arbitraryOf(o, root, depth + 1)));
  if (Array.isArray(s.allOf) && s.allOf.length > 0) return arbitraryOf(Object.assign({}, ...s.allOf.map((o: JsonSchema) => deref(o, root))), root, depth);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string':
      return stringOf(s);
    case 'integer': {
      const min = Math.ceil(Math.max(s.minimum ?? -1000, s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : -Infinity, -1e9));
      const max = Math.floor(Math.min(s.maximum ?? 1000, s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : Infinity, 1e9));
      return fc.integer({ min, max: Math.max(min, Math.min(max, min + 10_000)) });
    }
    case 'number': {
      const min = Math.max(s.minimum ?? s.exclusiveMinimum ?? -1000, -1e9);
      const max = Math.min(s.maximum ?? s.exclusiveMaximum ?? 1000, 1e9);
      return fc.double({ min, max: Math.max(min, max), noNaN: true, noDefaultInfinity: true }).filter((n) => (s.exclusiveMinimum === undefined || n > s.exclusiveMinimum) && (s.exclusiveMaximum === undefined || n < s.exclusiveMaximum));
    }
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const item = s.items && !Array.isArray(s.items) ? arbitraryOf(s.items, root, depth + 1) : fc.jsonValue({ maxDepth: 1 });
      const minLength = s.minItems ?? 0;
      return fc.array(item, { minLength, maxLength: Math.max(minLength, Math.min(s.maxItems ?? 3, 3)) });
    }
    case 'object':
      return objectOf(s, root, depth);
    default:
      if (s.properties) return objectOf(s, root, depth);
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function objectOf(s: JsonSchema, root: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  const properties: Record<string, JsonSchema> = s.properties ?? {};
  const required = new Set<string>(s.required ?? []);
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, sub] of Object.entries(properties)) shape[name] = arbitraryOf(sub, root, depth + 1);
  const requiredKeys = Object.keys(shape).filter((k) => required.has(k));
  const base = Object.keys(shape).length > 0 ? fc.record(shape, { requiredKeys }) : fc.constant({});
  const extra = s.additionalProperties;
  if (extra && typeof extra === 'object' && Object.keys(properties).length === 0) {
    const keys = s.propertyNames ? stringOf(deref(s.propertyNames, root)) : fc.string({ minLength: 1, maxLength: 12 });
    return fc.dictionary(keys, arbitraryOf(extra, root, depth + 1), { maxKeys: 3 });
  }
  return base;
}

const FORMATS: Record<string, fc.Arbitrary<string>> = {
  'date-time': fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  email: fc.constantFrom('a@example.com', 'fuzz@example.org', 'x.y+z@example.net'),
  uri: fc.constantFrom('http://127.0.0.1:9/x', 'https://example.com/hook'),
  url: fc.constantFrom('http://127.0.0.1:9/x', 'https://example.com/hook'),
  uuid: fc.uuid(),
};

function stringOf(s: JsonSchema): fc.Arbitrary<string> {
  const minLength = s.minLength ?? 0;
  const maxLength = Math.max(minLength, Math.min(s.maxLength ?? 24, 24));
  if (typeof s.format === 'string' && FORMATS[s.format]) return FORMATS[s.format]!;
  if (typeof s.pattern === 'string') {
    try {
      const re = new RegExp(s.pattern);
      return fc.stringMatching(re).filter((v) => v.length >= minLength && v.length <= (s.maxLength ?? Infinity));
    } catch {
      // A pattern fast-check cannot read: plain strings (the server's answer is still checked).
    }
  }
  return fc.string({ minLength, maxLength });
}
