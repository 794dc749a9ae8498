// The reliability battery's contract: every part is a script (reliability/parts/<name>.ts) run by
// reliability/run.ts in a process of its own, once per database it names, with
// STAGELINE_TEST_DB set to `sqlite` or `postgres` (the same variable the test suite reads).
// A part measures and reports figures; the runner prints them as one table and fails when any
// figure misses its goal or a part exits without reporting.
//
// A figure is a measured value beside its goal ("0 leaks" beside "0"), never a bare pass/fail:
// a failing figure is a bug to fix, not a number to document.
import { TEST_DB } from '../test/support.js';

export type Database = 'sqlite' | 'postgres';

export interface Figure {
  /** The part's name (isolation, secrets, …): the first column of the table. */
  part: string;
  /** What was measured, in words ("leaks: 2xx on a foreign object"). */
  measure: string;
  /** The measured value as shown ("0 of 41,212 attempts", "p99 38 ms"). */
  value: string;
  /** The goal in words ("0", "≤ 100 ms"); empty for a figure reported without a goal. */
  goal: string;
  /** Whether the value meets the goal (true for a figure without a goal). */
  ok: boolean;
}

/** Shortened runs (CI): RELIABILITY_QUICK=1. A part scales its counts and durations with `scaled`. */
export const QUICK = process.env.RELIABILITY_QUICK === '1';

/** The full count, or the quick one in a shortened run. */
export function scaled(full: number, quick: number): number {
  return QUICK ? quick : full;
}

/** The database this run of the part is on. */
export const DB: Database = TEST_DB;

const FIGURE_PREFIX = '@@figure ';

/** Reports one figure (a line on stdout the runner reads; anything else on stdout is the part's log). */
export function emit(figure: Omit<Figure, 'ok'> & { ok?: boolean }): void {
  const full: Figure = { ...figure, ok: figure.ok ?? true };
  process.stdout.write(`${FIGURE_PREFIX}${JSON.stringify(full)}\n`);
}

/** A figure whose goal is a count of zero (leaks, lost writes, 5xx answers). */
export function zero(part: string, measure: string, count: number, of?: { total: number; unit: string }): void {
  const value = of ? `${fmt(count)} of ${fmt(of.total)} ${of.unit}` : fmt(count);
  emit({ part, measure, value, goal: '0', ok: count === 0 });
}

/** Reads figure lines out of a part's stdout (for the runner). */
export function parseFigures(stdout: string): { figures: Figure[]; log: string[] } {
  const figures: Figure[] = [];
  const log: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith(FIGURE_PREFIX)) figures.push(JSON.parse(line.slice(FIGURE_PREFIX.length)) as Figure);
    else if (line) log.push(line);
  }
  return { figures, log };
}

/** A whole number with thousands separators. */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Progress and diagnostics: on stderr, so stdout stays figures and log lines. */
export function say(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * Runs a part's body and sets the exit code: 0 when it returned (its figures say how it went),
 * 1 when it threw (the runner shows the error). The body gets nothing: it reads DB and QUICK.
 */
export function runPart(name: string, body: () => Promise<void>): void {
  const started = Date.now();
  say(`== reliability part ${name} on ${DB}${QUICK ? ' (quick)' : ''}`);
  body().then(
    () => {
      say(`== ${name} on ${DB} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      process.exitCode = 0;
      // Parts start servers, pools and timers; a part that forgot one must not hang the battery.
      setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
    },
    (error) => {
      say(`== ${name} on ${DB} failed: ${(error as Error)?.stack ?? String(error)}`);
      process.exitCode = 1;
      setTimeout(() => process.exit(1), 2_000).unref();
    },
  );
}
