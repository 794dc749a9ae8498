// The operations the isolation part attacks, read from the OpenAPI document the app serves, and
// request bodies made from each operation's schema (valid enough to get past validation, so the
// attempt reaches the scope and authorisation checks behind it).
import type { FastifyInstance } from 'fastify';

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Schema;
}

export interface Operation {
  method: string;
  path: string;
  operationId: string;
  surface: 'management' | 'runtime';
  /** Path parameters in order. */
  pathParams: string[];
  query: Parameter[];
  body: Schema | null;
  /** No credential needed (`security: []`). */
  open: boolean;
  /** Answers a server-sent event stream. */
  stream: boolean;
}

type Schema = Record<string, any>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

export async function readOperations(app: FastifyInstance): Promise<{ operations: Operation[]; document: Schema }> {
  const res = await app.inject({ method: 'GET', url: '/api/openapi.json' });
  if (res.statusCode !== 200) throw new Error(`GET /api/openapi.json: ${res.statusCode}`);
  const document = JSON.parse(res.body) as Schema;
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(document.paths as Record<string, Schema>)) {
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.includes(method)) continue;
      const parameters = (op.parameters ?? []) as Parameter[];
      const body = op.requestBody?.content?.['application/json']?.schema ?? null;
      operations.push({
        method: method.toUpperCase(),
        path,
        operationId: op.operationId ?? `${method} ${path}`,
        surface: path.startsWith('/v1/') || path.startsWith('/ofrep/') ? 'runtime' : 'management',
        pathParams: [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!),
        query: parameters.filter((p) => p.in === 'query'),
        body: body ? resolve(document, body) : null,
        open: Array.isArray(op.security) && op.security.length === 0,
        stream: Object.values((op.responses ?? {}) as Record<string, Schema>).some((r) => r.content?.['text/event-stream']),
      });
    }
  }
  return { operations, document };
}

function resolve(document: Schema, schema: Schema): Schema {
  let current = schema;
  for (let i = 0; current?.$ref && i < 20; i += 1) current = document.components.schemas[String(current.$ref).replace('#/components/schemas/', '')];
  return current ?? {};
}

/** What a generated body may name: the environment of the attempt's scope. */
export interface BodyContext {
  env: string;
  /** Strings to put where a free string goes (random tokens, other scopes' names). */
  pick?: () => string | undefined;
  document: Schema;
}

const STRING_CANDIDATES = ['a', 'abc', 'a1', 'x-1', 'development', 'A_1', '1', '#aabbcc', 'a@example.com'];

/** A value for `schema`: required properties and those whose name says what they hold. */
export function generate(schema: Schema, ctx: BodyContext, name = '', depth = 0): unknown {
  schema = resolve(ctx.document, schema);
  if (depth > 8) return null;
  if ('const' in schema) return schema.const;
  if (schema.enum) return name === 'role' && schema.enum.includes('viewer') ? 'viewer' : schema.enum[0];
  for (const key of ['oneOf', 'anyOf', 'allOf'] as const) {
    if (Array.isArray(schema[key])) {
      const options = (schema[key] as Schema[]).map((s) => resolve(ctx.document, s));
      const chosen = options.find((s) => s.type !== 'null') ?? options[0]!;
      if (key === 'allOf') return Object.assign({}, ...options.map((s) => generate(s, ctx, name, depth + 1)));
      return generate(chosen, ctx, name, depth + 1);
    }
  }
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      for (const key of (schema.required ?? []) as string[]) out[key] = generate(properties[key] ?? {}, ctx, key, depth + 1);
      for (const key of ['message', 'name', 'value', 'content']) {
        if (key in properties && !(key in out)) out[key] = generate(properties[key]!, ctx, key, depth + 1);
      }
      return out;
    }
    case 'array': {
      const n = Math.max(schema.minItems ?? 0, name === 'environments' || name === 'types' ? 1 : 0);
      return Array.from({ length: n }, () => generate(schema.items ?? {}, ctx, name.replace(/s$/, ''), depth + 1));
    }
    case 'integer':
    case 'number':
      return Math.min(Math.max(schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 0), /count|minutes|limit|seconds|hours|days/i.test(name) ? 5 : 0), schema.maximum ?? Infinity);
    case 'boolean':
      return false;
    case 'string':
      return stringFor(schema, ctx, name);
    default:
      return name === 'value' || name === 'content' ? { value: 1 } : 'a';
  }
}

function stringFor(schema: Schema, ctx: BodyContext, name: string): string {
  if (schema.format === 'date-time') return new Date(Date.now() + (/end|until|to$/i.test(name) ? 2 : 1) * 86_400_000).toISOString();
  if (/^env(ironment)?$|^from$|^to$/.test(name)) return ctx.env;
  if (/url/i.test(name) || schema.format === 'uri') return 'http://127.0.0.1:9/isolation';
  if (/email|^to$/.test(name)) return `someone-${Math.random().toString(36).slice(2, 8)}@example.com`;
  if (/password/.test(name)) return 'isolation password 0123';
  const picked = ctx.pick?.();
  const unique = name === 'name' ? [`n${Math.random().toString(36).slice(2, 8)}`] : [];
  const candidates = [...(picked ? [picked] : []), ...(name === 'type' ? ['*'] : []), ...unique, ...STRING_CANDIDATES];
  const min = schema.minLength ?? 0;
  const max = schema.maxLength ?? 1000;
  const pattern = schema.pattern ? safeRegExp(schema.pattern) : null;
  for (const c of candidates) {
    const padded = c.length < min ? c + 'a'.repeat(min - c.length) : c;
    if (padded.length <= max && (!pattern || pattern.test(padded))) return padded;
  }
  return 'a'.repeat(Math.max(1, min));
}

function safeRegExp(pattern: string): RegExp | null {
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return null;
  }
}
