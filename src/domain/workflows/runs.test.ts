import { describe, expect, it } from 'vitest';
import { emailAddressOf, recipientIdsToLoad, recipientIssues, resolveRecipients } from './runs.js';

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
