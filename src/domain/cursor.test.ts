import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeCursor, encodeCursor, SEQ_POSITION, TIME_POSITION } from './cursor.js';
import { caught } from './errors.test-support.js';

describe('cursors', () => {
  it('round-trips a position through an opaque base64url string', () => {
    const cursor = encodeCursor({ at: '2026-12-01T10:00:00.000Z', id: 'act_1' });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, TIME_POSITION)).toEqual({ at: '2026-12-01T10:00:00.000Z', id: 'act_1' });
    expect(decodeCursor(encodeCursor({ seq: 42 }), SEQ_POSITION)).toEqual({ seq: 42 });
    const unicode = z.strictObject({ id: z.string() });
    expect(decodeCursor(encodeCursor({ id: 'ünï 😀/x' }), unicode)).toEqual({ id: 'ünï 😀/x' });
  });

  it('answers null without a cursor', () => {
    expect(decodeCursor(undefined, SEQ_POSITION)).toBeNull();
  });

  it('refuses garbage, other lists’ positions and out-of-range numbers with a 400 naming cursor', () => {
    const bad = [
      '',
      'abc',
      '123',
      'not a cursor!',
      Buffer.from('not json').toString('base64url'),
      encodeCursor({ at: '2026-12-01T10:00:00.000Z', id: 'act_1' }),
      encodeCursor({ seq: 2_147_483_648 }),
      encodeCursor({ seq: -1 }),
      encodeCursor({ seq: 1, extra: true }),
      'e' + 'A'.repeat(3000),
    ];
    for (const cursor of bad) {
      const error = caught(() => decodeCursor(cursor, SEQ_POSITION));
      expect(error.status).toBe(400);
      expect(error.code).toBe('invalid_request');
      expect(error.details).toEqual([expect.objectContaining({ field: 'cursor', in: 'query' })]);
    }
  });

  it('accepts only the spelling it writes', () => {
    // {"seq":70} is 10 bytes: the last of its 14 characters carries 4 bits that decoding ignores.
    const cursor = encodeCursor({ seq: 70 });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = cursor.slice(0, -1) + alphabet[alphabet.indexOf(cursor.at(-1)!) + 1];
    expect(Buffer.from(twin, 'base64url').equals(Buffer.from(cursor, 'base64url'))).toBe(true);
    expect(caught(() => decodeCursor(twin, SEQ_POSITION)).details).toEqual([expect.objectContaining({ field: 'cursor' })]);
    expect(decodeCursor(cursor, SEQ_POSITION)).toEqual({ seq: 70 });
  });
});
