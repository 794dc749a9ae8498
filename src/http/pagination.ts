import { invalid } from '../domain/errors.js';

/** Cursors of lists ordered by a sequence number (releases, audit entries). */
export function numericCursor(cursor: string | undefined): number | null {
  if (cursor === undefined) return null;
  if (!/^\d{1,10}$/.test(cursor) || Number(cursor) > 2_147_483_647) throw invalid([{ field: 'cursor', message: 'is not a cursor returned by this list', in: 'query' }]);
  return Number(cursor);
}
