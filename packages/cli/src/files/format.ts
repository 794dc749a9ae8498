// The file format of configuration as code: one resource per `<kind>/<key>.yaml`, YAML with every
// map's keys sorted (so the same content always gives the same bytes), and the content hash the
// server computes (sha256 of canonical JSON) so the CLI can tell what changed without asking.
import { createHash } from 'node:crypto';
import { parseDocument, stringify } from 'yaml';

export const RESOURCE_KINDS = ['workflow', 'layout', 'route', 'tool', 'config'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];
/** The server's key rule (src/domain/resources/kinds.ts): no `/`, never `.` or `..`, no leading dot. */
export const RESOURCE_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const APP_PATTERN = /^[a-z][a-z0-9-]{0,40}$/;
/** The one top-level field of a file that is not content: the resource's `app` label. */
export const APP_FIELD = '$app';
export const EXTENSION = '.yaml';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function isResourceKind(kind: string): kind is ResourceKind {
  return (RESOURCE_KINDS as readonly string[]).includes(kind);
}

export function resourceId(kind: string, key: string): string {
  return `${kind}/${key}`;
}

// Names Windows cannot hold as a file (whatever the extension) and a trailing dot it drops: such a
// key's first or last character is written as %XX. `%` is not in the key alphabet, so the file
// name decodes back to exactly one key.
const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)/i;

/** The file name (without the folder) of a key; the key must match RESOURCE_KEY_PATTERN. */
export function fileNameOf(key: string): string {
  let name = key;
  if (RESERVED.test(name)) name = `${escapeChar(name[0]!)}${name.slice(1)}`;
  if (name.endsWith('.')) name = `${name.slice(0, -1)}${escapeChar('.')}`;
  return `${name}${EXTENSION}`;
}

/** The key a file name stands for, or null when the name is not one `fileNameOf` writes. */
export function keyOfFileName(name: string): string | null {
  if (!name.endsWith(EXTENSION)) return null;
  const stem = name.slice(0, -EXTENSION.length);
  if (!/^([A-Za-z0-9._-]|%[0-9A-F]{2})+$/.test(stem)) return null;
  const key = stem.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  if (!RESOURCE_KEY_PATTERN.test(key) || fileNameOf(key) !== name) return null;
  return key;
}

function escapeChar(char: string): string {
  return `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
}

/** JSON with object keys sorted and no whitespace: the server's canonical form (RFC 8785 key order). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError('value cannot be represented as JSON');
    return text;
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).filter((k) => object[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(object[k])}`).join(',')}}`;
}

/** The server's content hash of a document. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/** A resource file's text: a header comment, then the content with `$app` first, every map sorted. */
export function renderFile(kind: string, key: string, content: Json, app: string | null): string {
  const document: Record<string, unknown> = Object.create(null);
  // Defined, not assigned: a content key such as `__proto__` stays a plain field.
  if (app !== null) define(document, APP_FIELD, app);
  if (content !== null && typeof content === 'object' && !Array.isArray(content)) {
    for (const name of Object.keys(content)) define(document, name, content[name]);
  }
  const body = stringify(document, { sortMapEntries: (a, b) => compareKeys(String(a.key), String(b.key)), lineWidth: 0, aliasDuplicateObjects: false });
  return `# ${resourceId(kind, key)} (stageline: edit, then stageline push)\n${body}`;
}

function define(target: Record<string, unknown>, name: string, value: unknown) {
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
}

/** `$app` first, then UTF-16 order, as canonical JSON sorts. */
function compareKeys(a: string, b: string): number {
  if (a === APP_FIELD) return b === APP_FIELD ? 0 : -1;
  if (b === APP_FIELD) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface ParsedFile {
  content: Json;
  app: string | null;
  hash: string;
}

export interface FileIssue {
  field: string;
  message: string;
}

/**
 * A resource file's content and app label, or the issues that stop it from being one: YAML that
 * does not parse, duplicate keys, values JSON cannot hold, a document that is not a map.
 */
export function parseFile(text: string): { file: ParsedFile; issues: [] } | { file: null; issues: FileIssue[] } {
  const document = parseDocument(text, { schema: 'core', uniqueKeys: true, merge: false, prettyErrors: true });
  if (document.errors.length > 0) {
    return { file: null, issues: document.errors.map((error) => ({ field: yamlPosition(error.linePos?.[0]), message: firstLine(error.message) })) };
  }
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return { file: null, issues: [{ field: '', message: firstLine((error as Error).message) }] };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { file: null, issues: [{ field: '', message: 'must be a YAML map of the resource content' }] };
  }
  const issues: FileIssue[] = [];
  const content = toJson(value, '', issues);
  if (issues.length > 0) return { file: null, issues };
  const object = content as Record<string, Json>;
  let app: string | null = null;
  if (Object.hasOwn(object, APP_FIELD)) {
    const label = object[APP_FIELD];
    if (label !== null && (typeof label !== 'string' || !APP_PATTERN.test(label))) {
      return { file: null, issues: [{ field: APP_FIELD, message: 'must be a lowercase label of letters, digits and hyphens (or null)' }] };
    }
    app = label;
    delete object[APP_FIELD];
  }
  return { file: { content: object, app, hash: contentHash(object) }, issues: [] };
}

/** YAML's JavaScript value as JSON, naming what JSON cannot hold (dates are strings already in the core schema). */
function toJson(value: unknown, path: string, issues: FileIssue[]): Json {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    issues.push({ field: path, message: 'must be a finite number (JSON has no .inf or .nan)' });
    return null;
  }
  if (typeof value === 'bigint') {
    issues.push({ field: path, message: 'is a number too large for JSON' });
    return null;
  }
  if (Array.isArray(value)) return value.map((item, i) => toJson(item, `${path}/${i}`, issues));
  if (value instanceof Map) {
    issues.push({ field: path, message: 'has a key that is not a string' });
    return null;
  }
  if (typeof value === 'object') {
    const out: Record<string, Json> = Object.create(null);
    for (const name of Object.keys(value)) {
      // The server's JSON parser refuses these (prototype poisoning): say so here, by field.
      if (name === '__proto__' || (name === 'prototype' && path.endsWith('/constructor'))) {
        issues.push({ field: `${path}/${escapePointer(name)}`, message: `"${name}" is not accepted as a field name here` });
        continue;
      }
      define(out, name, toJson((value as Record<string, unknown>)[name], `${path}/${escapePointer(name)}`, issues));
    }
    return out;
  }
  issues.push({ field: path, message: `holds a ${typeof value}, which JSON cannot` });
  return null;
}

export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function yamlPosition(pos: { line: number; col: number } | undefined): string {
  return pos ? `line ${pos.line}:${pos.col}` : '';
}

/** The message without yaml's source excerpt (the position is the issue's field). */
function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').trim();
}
