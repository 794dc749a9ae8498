// Data records: the rules a record's address, value and page size must meet, and which API
// keys may use them. Pure: the store and the HTTP layer call these with plain values.
import { z } from 'zod';
import { invalid, StagelineError, type FieldIssue } from '../errors.js';

export const COLLECTION_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;
export const MAX_RECORD_ID_LENGTH = 256;
/** Bytes of a record's value as stored (compact JSON, UTF-8). */
export const MAX_RECORD_BYTES = 256 * 1024;
/**
 * Nesting of objects and arrays in a value. Bounds the recursion of every later walk over it
 * (masking, canonical digests, serialisation), so no stored record can overflow a stack.
 */
export const MAX_RECORD_DEPTH = 64;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

// Control characters and lone surrogates are not printable; `/` would make the id a path.
const UNPRINTABLE_OR_SLASH = /[\p{Cc}\p{Cs}/]/u;

export type RecordValue = Record<string, unknown>;

export function collectionIssue(collection: string): FieldIssue | null {
  return COLLECTION_PATTERN.test(collection)
    ? null
    : { field: 'collection', message: 'must be 1-64 lowercase letters, digits, "_" or "-", starting with a letter', in: 'path' };
}

export function recordIdIssue(id: string): FieldIssue | null {
  const length = [...id].length;
  if (length < 1 || length > MAX_RECORD_ID_LENGTH) {
    return { field: 'id', message: `must be 1 to ${MAX_RECORD_ID_LENGTH} characters (this one has ${length})`, in: 'path' };
  }
  if (UNPRINTABLE_OR_SLASH.test(id)) return { field: 'id', message: 'must be printable characters other than "/"', in: 'path' };
  return null;
}

export function assertCollection(collection: string): void {
  const issue = collectionIssue(collection);
  if (issue) throw invalid([issue]);
}

/** A record's address: a collection name and an id within it. */
export function assertRecordRef(collection: string, id: string): void {
  const issues = [collectionIssue(collection), recordIdIssue(id)].filter((i): i is FieldIssue => i !== null);
  if (issues.length > 0) throw invalid(issues);
}

/** Depth of the deepest object or array in a JSON value (0 for a scalar), walked without recursion. */
function depthOf(value: unknown, stopAbove: number): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    const here = depth + 1;
    if (here > deepest) deepest = here;
    if (deepest > stopAbove) return deepest;
    for (const child of Object.values(item)) pending.push([child, here]);
  }
  return deepest;
}

/**
 * The JSON text to store for a record's value: the value must be a JSON object, nested at
 * most MAX_RECORD_DEPTH deep, and at most MAX_RECORD_BYTES once serialised (413 beyond).
 */
export function recordText(value: unknown): { value: RecordValue; json: string; size: number } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = value === undefined ? 'nothing' : value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw invalid([{ field: 'value', message: `must be a JSON object (the request body is the record itself), got ${got}`, in: 'body' }]);
  }
  if (depthOf(value, MAX_RECORD_DEPTH) > MAX_RECORD_DEPTH) {
    throw invalid([{ field: 'value', message: `must not nest objects and arrays more than ${MAX_RECORD_DEPTH} deep`, in: 'body' }]);
  }
  const json = JSON.stringify(value);
  const size = Buffer.byteLength(json);
  if (size > MAX_RECORD_BYTES) {
    const message = `must be at most ${MAX_RECORD_BYTES} bytes of JSON (256 KiB); this record is ${size} bytes`;
    throw new StagelineError(413, 'payload_too_large', `value: ${message}`, [{ field: 'value', message, in: 'body' }]);
  }
  return { value: value as RecordValue, json, size };
}

export function pageSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw invalid([{ field: 'limit', message: `must be an integer from 1 to ${MAX_PAGE_SIZE}`, in: 'query' }]);
  }
  return limit;
}

/** Lists are ordered by id; a page's cursor holds the last id of the previous page. */
export const RECORD_POSITION = z.strictObject({ id: z.string().refine((id) => recordIdIssue(id) === null) });

/** Where a page of collection names stops: the last name shown. */
export const COLLECTION_POSITION = z.strictObject({ collection: z.string().regex(COLLECTION_PATTERN) });
