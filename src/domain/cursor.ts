// The one cursor encoding of every list: the position after which the next page starts, as
// JSON in base64url. Opaque to callers; each list checks the decoded position's shape.
import { z } from 'zod';
import { invalid } from './errors.js';

/** Longer than any position a list hands out (a 256-character record id is under 1.5 kB). */
const MAX_CURSOR_LENGTH = 2000;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const MAX_INT = 2_147_483_647;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** Positions of lists ordered by a sequence number (releases, audit entries). */
export const SEQ_POSITION = z.strictObject({ seq: z.number().int().min(0).max(MAX_INT) });
/** Positions of lists ordered by time, then id (promotion requests, feeds, activity). */
export const TIME_POSITION = z.strictObject({ at: z.string().regex(ISO_TIME), id: z.string().regex(/^[A-Za-z0-9_]{1,100}$/) });

/** Positions of lists ordered by resource id (kind, then key). */
export const RESOURCE_POSITION = z.strictObject({ kind: z.string().min(1).max(40), key: z.string().min(1).max(200) });

export function encodeCursor(position: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

/**
 * The position in `cursor`, checked against `shape`; null when there is no cursor. Anything
 * that is not a cursor of this list is a 400 `invalid_request` naming `cursor`.
 */
export function decodeCursor<T>(cursor: string | undefined | null, shape: z.ZodType<T>): T | null {
  if (cursor === undefined || cursor === null) return null;
  const refuse = () => invalid([{ field: 'cursor', message: 'is not a cursor returned by this list', in: 'query' }]);
  if (cursor.length > MAX_CURSOR_LENGTH || !BASE64URL.test(cursor)) throw refuse();
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  // base64url has several spellings of the same bytes: only the one this module writes is accepted.
  if (Buffer.from(text, 'utf8').toString('base64url') !== cursor) throw refuse();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw refuse();
  }
  const parsed = shape.safeParse(value);
  if (!parsed.success) throw refuse();
  return parsed.data;
}
