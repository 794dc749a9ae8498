import { describe, expect, it } from 'vitest';
import { durationMs, timeArgument, wholeNumber } from './arguments.js';

const NOW = new Date('2026-12-02T12:00:00.000Z');

describe('whole numbers on the command line', () => {
  it('parses at least the minimum; anything else exits 2', () => {
    expect(wholeNumber('--approvals', 0)('0')).toBe(0);
    expect(wholeNumber('--limit', 1)('500')).toBe(500);
    for (const text of ['0', '-1', '1.5', 'two', '']) expect(() => wholeNumber('--limit', 1)(text)).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});

describe('times on the command line', () => {
  it.each([
    ['90m', 90 * 60_000],
    ['2h', 7_200_000],
    ['1.5d', 129_600_000],
    ['1w', 604_800_000],
    ['30s', 30_000],
  ])('%s is %d ms', (text, ms) => {
    expect(durationMs(text)).toBe(ms);
  });

  it.each(['2', 'h', '2 hours', '-1h', ''])('"%s" is no duration', (text) => {
    expect(durationMs(text)).toBeUndefined();
  });

  it('a duration moves from now, forward for --until and back for --since', () => {
    expect(timeArgument('--until', '2h', 1, NOW)).toBe('2026-12-02T14:00:00.000Z');
    expect(timeArgument('--since', '1d', -1, NOW)).toBe('2026-12-01T12:00:00.000Z');
  });

  it('a date-time with a zone, or a date alone, is that instant in UTC', () => {
    expect(timeArgument('--until', '2026-12-24T18:00:00+01:00', 1, NOW)).toBe('2026-12-24T17:00:00.000Z');
    expect(timeArgument('--until', '2026-12-24', 1, NOW)).toBe('2026-12-24T00:00:00.000Z');
  });

  it('anything else is a usage error (exit 2) naming the option', () => {
    for (const text of ['tomorrow', '2026-12-24T18:00', '2026-13-45']) {
      expect(() => timeArgument('--until', text, 1, NOW)).toThrow(expect.objectContaining({ exitCode: 2, message: expect.stringContaining('--until') }));
    }
  });
});
