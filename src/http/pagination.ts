import { invalid } from '../domain/errors.js';

/** Cursors of lists ordered by a sequence number (releases, audit entries). */
export function numericCursor(cursor: string | undefined): number | null {
  if (cursor === undefined) return null;
  if (!/^\d{1,10}$/.test(cursor) || Number(cursor) > 2_147_483_647) throw invalid([{ field: 'cursor', message: 'is not a cursor returned by this list', in: 'query' }]);
  return Number(cursor);
}

/** Cursors of lists ordered by creation time, newest first: `<ISO time>|<id>`. */
export function timeCursor(cursor: string | undefined): { createdAt: string; id: string } | null {
  if (cursor === undefined) return null;
  const match = /^(\d{4}-\d{2}-\d{2}T[\d:.]+Z)\|([A-Za-z0-9_]{1,100})$/.exec(cursor);
  if (!match) throw invalid([{ field: 'cursor', message: 'is not a cursor returned by this list', in: 'query' }]);
  return { createdAt: match[1]!, id: match[2]! };
}
