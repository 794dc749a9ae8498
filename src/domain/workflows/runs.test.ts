import { describe, expect, it } from 'vitest';
import { dataSizeIssue, emailAddressOf, idempotencyKeyIssue, isRecipientId, MAX_DATA_BYTES, recipientIdsToLoad, recipientIssues, resolveRecipients } from './runs.js';

describe('recipients', () => {
  it('names a recipient given twice, as an id or inline, and an id that is not one', () => {
    expect(recipientIssues(['a', { id: 'b' }, { id: 'a' }, 'x\u0001']).map((i) => [i.field, i.message])).toEqual([
      ['recipients.2.id', 'names the same recipient as recipients.0'],
      ['recipients.3', 'must be a recipient id: 1-256 characters without control characters'],
    ]);
    expect(recipientIssues([])[0]!.field).toBe('recipients');
  });

  it('loads ids only; an id without a users record is an issue naming its position and environment', () => {
    const inputs = ['u1', { id: 'inline', email: 'i@example.com' }, 'u2'];
    expect(recipientIdsToLoad(inputs)).toEqual(['u1', 'u2']);
    const records = new Map([['u1', { name: 'Ada', id: 'ignored' }]]);
    const { recipients, issues } = resolveRecipients(inputs, records, 'production');
    expect(recipients).toEqual([{ name: 'Ada', id: 'u1' }, { id: 'inline', email: 'i@example.com' }]);
    expect(issues).toEqual([{ field: 'recipients.2', message: 'there is no users record "u2" in production', in: 'body' }]);
  });

  it('addresses an email with the recipient’s plain name, or the address alone', () => {
    expect(emailAddressOf({ id: 'a', email: 'ada@example.com', name: 'Ada Lovelace' })).toBe('Ada Lovelace <ada@example.com>');
    expect(emailAddressOf({ id: 'a', email: 'ada@example.com', name: 'Evil <x@y>' })).toBe('ada@example.com');
    expect(emailAddressOf({ id: 'a', email: 'not an address' })).toBeNull();
    expect(emailAddressOf({ id: 'a' })).toBeNull();
  });
});

describe('recipient ids', () => {
  it.each(['u1', 'user 1', 'ada@example.com', 'constructor', '__proto__', 'x'.repeat(256), 'ünï'])('%j is a recipient id', (id) => {
    expect(isRecipientId(id)).toBe(true);
  });

  it.each(['', 'x'.repeat(257), 'a\u0000b', 'line\nbreak', 'del\u007f', 7, null])('%j is not a recipient id', (id) => {
    expect(isRecipientId(id)).toBe(false);
  });
});

describe('idempotency keys', () => {
  it.each([undefined, 'k', 'order-42:retry', '~'.repeat(255)])('%j is accepted', (key) => {
    expect(idempotencyKeyIssue(key)).toBeNull();
  });

  it.each(['', 'has space', 'é', 'x'.repeat(256), 'tab\t'])('%j is refused naming idempotencyKey', (key) => {
    expect(idempotencyKeyIssue(key)).toEqual({ field: 'idempotencyKey', message: 'must be 1-255 printable ASCII characters without spaces', in: 'body' });
  });
});

describe('trigger data size', () => {
  it('accepts data up to MAX_DATA_BYTES of JSON and names the size past it', () => {
    const fits = { s: 'x'.repeat(MAX_DATA_BYTES - '{"s":""}'.length) };
    expect(dataSizeIssue(fits)).toBeNull();
    const over = { s: `${fits.s}x` };
    expect(dataSizeIssue(over)).toEqual({ field: 'data', message: `must be at most ${MAX_DATA_BYTES} bytes of JSON; this is ${MAX_DATA_BYTES + 1} bytes`, in: 'body' });
  });

  it('counts bytes, not characters', () => {
    const chars = Math.floor((MAX_DATA_BYTES - 10) / 2);
    expect(dataSizeIssue({ s: 'é'.repeat(chars) })).toBeNull();
    expect(dataSizeIssue({ s: 'é'.repeat(chars + 10) })?.field).toBe('data');
  });
});
