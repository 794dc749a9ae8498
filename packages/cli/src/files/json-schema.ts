// The part of JSON Schema (draft-07) the bundled kind schemas use, so `validate --offline` checks
// shapes without a server: types, required and unknown fields, lengths, patterns, enums, ranges,
// unions and local $refs. Rules JSON Schema cannot say (URLs, CIDRs, template syntax) stay with
// the server's check; offline is a first pass, never the last word.
import type { Json } from './format.js';

export interface SchemaIssue {
  /** Dotted path as the server names fields (`content.steps.0.layout`). */
  field: string;
  message: string;
}

type Schema = { [keyword: string]: unknown };

export function schemaIssues(schema: unknown, value: Json, prefix = 'content'): SchemaIssue[] {
  const root = schema as Schema;
  const issues: SchemaIssue[] = [];
  check(root, root, value, prefix, issues);
  return issues;
}

function resolve(root: Schema, schema: Schema): Schema {
  let current = schema;
  for (let depth = 0; typeof current.$ref === 'string' && depth < 32; depth++) {
    const path = (current.$ref as string).replace(/^#\//, '').split('/');
    let target: unknown = root;
    for (const part of path) target = (target as Schema | undefined)?.[part];
    if (!target || typeof target !== 'object') return {};
    current = target as Schema;
  }
  return current;
}

function typeOf(value: Json): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function matchesType(type: string, value: Json): boolean {
  if (type === 'integer') return typeof value === 'number' && Number.isInteger(value);
  return typeOf(value) === type;
}

function join(path: string, part: string | number): string {
  return path ? `${path}.${part}` : String(part);
}

function check(root: Schema, raw: Schema, value: Json, path: string, issues: SchemaIssue[]): void {
  const schema = resolve(root, raw);
  const before = issues.length;
  if (schema.anyOf || schema.oneOf) {
    union(root, (schema.anyOf ?? schema.oneOf) as Schema[], value, path, issues);
    if (issues.length > before) return;
  }
  for (const part of (schema.allOf as Schema[] | undefined) ?? []) check(root, part, value, path, issues);

  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((type) => matchesType(type, value))) {
      issues.push({ field: path, message: `must be ${types.map((t) => (t === 'integer' ? 'an integer' : t === 'array' || t === 'object' ? `an ${t}` : `a ${t}`)).join(' or ')}` });
      return;
    }
  }
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) issues.push({ field: path, message: `must be ${JSON.stringify(schema.const)}` });
  if (Array.isArray(schema.enum) && !schema.enum.some((option) => JSON.stringify(option) === JSON.stringify(value))) {
    issues.push({ field: path, message: `must be one of ${schema.enum.map((o) => JSON.stringify(o)).join(', ')}` });
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && [...value].length < schema.minLength) issues.push({ field: path, message: schema.minLength === 1 ? 'must not be empty' : `must be at least ${schema.minLength} characters` });
    if (typeof schema.maxLength === 'number' && [...value].length > schema.maxLength) issues.push({ field: path, message: `must be at most ${schema.maxLength} characters` });
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) issues.push({ field: path, message: `must match ${schema.pattern}` });
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) issues.push({ field: path, message: `must be at least ${schema.minimum}` });
    if (typeof schema.maximum === 'number' && value > schema.maximum) issues.push({ field: path, message: `must be at most ${schema.maximum}` });
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) issues.push({ field: path, message: `must have at least ${schema.minItems} items` });
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) issues.push({ field: path, message: `must have at most ${schema.maxItems} items` });
    if (schema.items && typeof schema.items === 'object' && !Array.isArray(schema.items)) value.forEach((item, i) => check(root, schema.items as Schema, item, join(path, i), issues));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const properties = (schema.properties as Record<string, Schema> | undefined) ?? {};
    for (const name of (schema.required as string[] | undefined) ?? []) {
      if (!Object.hasOwn(value, name)) issues.push({ field: join(path, name), message: 'is required' });
    }
    for (const name of Object.keys(value)) {
      const field = join(path, name);
      if (Object.hasOwn(properties, name)) {
        check(root, properties[name]!, value[name]!, field, issues);
        continue;
      }
      if (schema.propertyNames && typeof schema.propertyNames === 'object') {
        const names = resolve(root, schema.propertyNames as Schema);
        if (typeof names.pattern === 'string' && !new RegExp(names.pattern, 'u').test(name)) issues.push({ field, message: `is not an accepted name (must match ${names.pattern})` });
      }
      if (schema.additionalProperties === false) issues.push({ field, message: 'unknown field' });
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') check(root, schema.additionalProperties as Schema, value[name]!, field, issues);
    }
  }
}

/**
 * A union passes when one branch does. Otherwise the branch the value meant is one of its type
 * whose `const` fields it matches (a step's `type` and `channel`): the closest such branch's
 * issues are reported; with none, the union's own one-line message.
 */
function union(root: Schema, branches: Schema[], value: Json, path: string, issues: SchemaIssue[]): void {
  const results = branches.map((branch) => {
    const found: SchemaIssue[] = [];
    check(root, branch, value, path, found);
    return { branch: resolve(root, branch), found };
  });
  if (results.some((r) => r.found.length === 0)) return;
  const meant = results.filter(({ branch }) => isMeant(root, branch, value));
  const closest = [...meant].sort((a, b) => a.found.length - b.found.length)[0];
  if (closest) issues.push(...closest.found);
  else issues.push({ field: path, message: 'is not one of the accepted shapes' });
}

/** Whether the value matches every `const` field of the branch (or of one of its own branches). */
function isMeant(root: Schema, raw: Schema, value: Json): boolean {
  const branch = resolve(root, raw);
  const nested = (branch.anyOf ?? branch.oneOf) as Schema[] | undefined;
  if (nested) return nested.some((b) => isMeant(root, b, value));
  const types = branch.type === undefined ? null : Array.isArray(branch.type) ? (branch.type as string[]) : [branch.type as string];
  if (types && !types.some((type) => matchesType(type, value))) return false;
  const properties = branch.properties as Record<string, Schema> | undefined;
  if (!properties || value === null || typeof value !== 'object' || Array.isArray(value)) return true;
  return Object.entries(properties).every(([name, s]) => {
    const property = resolve(root, s);
    return property.const === undefined || JSON.stringify(value[name]) === JSON.stringify(property.const);
  });
}
