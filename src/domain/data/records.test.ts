import { describe, expect, it } from 'vitest';
import { caught } from '../errors.test-support.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import {
  assertRecordRef,
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  MAX_RECORD_BYTES,
  MAX_RECORD_ID_LENGTH,
  MAX_RECORD_DEPTH,
  pageSize,
  RECORD_POSITION,
  recordText,
} from './records.js';

describe('record addresses', () => {
  it.each([
    ['users', 'u_1'],
    ['a', 'x'],
    ['chat-threads_2', 'jane.doe@example.com'],
    ['users', 'id with spaces and ünïcode 😀'],
    ['c'.repeat(64), 'i'.repeat(256)],
  ])('accepts %s/%s', (collection, id) => {
    expect(() => assertRecordRef(collection, id)).not.toThrow();
  });

  it.each([
    ['Users', 'x', 'collection'],
    ['1users', 'x', 'collection'],
    ['', 'x', 'collection'],
    ['c'.repeat(65), 'x', 'collection'],
    ['users.v2', 'x', 'collection'],
    ['users', '', 'id'],
    ['users', 'i'.repeat(257), 'id'],
    ['users', 'a/b', 'id'],
    ['users', 'tab\there', 'id'],
    ['users', 'nul\u0000', 'id'],
    ['users', 'lone\uD800', 'id'],
  ])('refuses %s/%s naming %s', (collection, id, field) => {
    const error = caught(() => assertRecordRef(collection, id));
    expect(error.status).toBe(400);
    expect(error.code).toBe('invalid_request');
    expect(error.details).toEqual([expect.objectContaining({ field, in: 'path' })]);
  });

  it('counts an id in characters, not UTF-16 units', () => {
    expect(() => assertRecordRef('users', '😀'.repeat(256))).not.toThrow();
  });
});

describe('record values', () => {
  it.each([
    ['null', null, 'null'],
    ['an array', [1], 'an array'],
    ['a string', 'text', 'a string'],
    ['a number', 3, 'a number'],
    ['nothing', undefined, 'nothing'],
  ])('refuses %s naming value', (_name, value, got) => {
    const error = caught(() => recordText(value));
    expect(error.status).toBe(400);
    expect(error.details).toEqual([expect.objectContaining({ field: 'value', in: 'body' })]);
    expect(error.message).toContain(got);
  });

  it('stores compact JSON and its size in UTF-8 bytes', () => {
    expect(recordText({ name: 'Zoë', n: 1 })).toEqual({ value: { name: 'Zoë', n: 1 }, json: '{"name":"Zoë","n":1}', size: 21 });
  });

  it('accepts a record of exactly the limit and refuses one byte more with 413', () => {
    const overhead = JSON.stringify({ s: '' }).length;
    expect(recordText({ s: 'x'.repeat(MAX_RECORD_BYTES - overhead) }).size).toBe(MAX_RECORD_BYTES);
    const error = caught(() => recordText({ s: 'x'.repeat(MAX_RECORD_BYTES - overhead + 1) }));
    expect(error.status).toBe(413);
    expect(error.code).toBe('payload_too_large');
    expect(error.message).toContain(String(MAX_RECORD_BYTES));
    expect(error.details).toEqual([expect.objectContaining({ field: 'value' })]);
  });

  it('measures size in UTF-8 bytes', () => {
    const overhead = JSON.stringify({ s: '' }).length;
    const error = caught(() => recordText({ s: 'é'.repeat((MAX_RECORD_BYTES - overhead) / 2 + 1) }));
    expect(error.status).toBe(413);
  });

  it('refuses nesting deeper than the limit', () => {
    const nest = (depth: number) => {
      let value: unknown = {};
      for (let i = 1; i < depth; i++) value = { a: value };
      return value;
    };
    expect(() => recordText(nest(MAX_RECORD_DEPTH))).not.toThrow();
    expect(caught(() => recordText(nest(MAX_RECORD_DEPTH + 1))).details).toEqual([expect.objectContaining({ field: 'value' })]);
  });
});

describe('pages', () => {
  it('defaults and bounds the page size', () => {
    expect(pageSize(undefined)).toBe(DEFAULT_PAGE_SIZE);
    expect(pageSize(MAX_PAGE_SIZE)).toBe(MAX_PAGE_SIZE);
    for (const bad of [0, MAX_PAGE_SIZE + 1, 1.5]) expect(caught(() => pageSize(bad)).details).toEqual([expect.objectContaining({ field: 'limit' })]);
  });

  it('round-trips a cursor and refuses one it did not make', () => {
    for (const id of ['u_1', 'jane.doe@example.com', 'ünï 😀', 'x'.repeat(MAX_RECORD_ID_LENGTH)]) expect(decodeCursor(encodeCursor({ id }), RECORD_POSITION)).toEqual({ id });
    expect(decodeCursor(undefined, RECORD_POSITION)).toBeNull();
    for (const bad of ['', 'not a cursor', encodeCursor({ id: 'a/b' }), encodeCursor({ id: '' }), '!!!']) {
      expect(caught(() => decodeCursor(bad, RECORD_POSITION)).details).toEqual([expect.objectContaining({ field: 'cursor', in: 'query' })]);
    }
  });
});
