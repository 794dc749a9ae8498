// Values given on the command line that commander takes as text: whole numbers (`--approvals 2`),
// and times — an ISO 8601 date-time, or a duration from now (`90m`, `2h`, `3d`, `1w`) for the end
// of a freeze or the start of an audit window (`--since 2h` = 2 hours ago). Bad ones exit 2.
import { usageError } from './errors.js';

/** An option parser for a whole number of at least `min`. */
export function wholeNumber(option: string, min: number) {
  return (text: string): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isInteger(n) || n < min) throw usageError(`${option} must be a whole number${min > 0 ? ` of at least ${min}` : ''}, not "${text}"`);
    return n;
  };
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** Milliseconds of a duration like `90m`, `2h`, `3d`, or undefined when it is not one. */
export function durationMs(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/**
 * An absolute time as ISO 8601 (UTC): the date-time itself, or `now` moved by the duration
 * (`direction` +1 for "until 2h" in the future, -1 for "since 2h" in the past).
 */
export function timeArgument(option: string, text: string, direction: 1 | -1, now: Date = new Date()): string {
  const ms = durationMs(text);
  if (ms !== undefined) return new Date(now.getTime() + direction * ms).toISOString();
  // A date-time needs a time and a zone to mean one instant; a date alone is midnight UTC.
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(text.trim())) {
    const at = new Date(text.trim().replace(' ', 'T'));
    if (!Number.isNaN(at.getTime())) return at.toISOString();
  }
  throw usageError(`${option}: "${text}" is neither a duration (90m, 2h, 3d, 1w) nor an ISO date-time (2026-12-24T18:00:00Z)`);
}
