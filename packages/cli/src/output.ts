// How a command speaks: `--json` prints one JSON document on stdout and nothing else there;
// otherwise human lines, coloured only on a terminal (NO_COLOR and FORCE_COLOR respected), and
// progress on stderr only when stderr is a terminal.
import type { Writable } from 'node:stream';

export interface OutputOptions {
  json: boolean;
  /** undefined: decide from the stream (TTY, NO_COLOR, FORCE_COLOR). */
  color?: boolean;
  stdout?: Writable & { isTTY?: boolean };
  stderr?: Writable & { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
}

const CODES = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], blue: [34, 39], cyan: [36, 39] } as const;
export type Style = keyof typeof CODES;

export function colorWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | null | undefined;
  /** Right-align (numbers). */
  right?: boolean;
}

export class Output {
  readonly json: boolean;
  readonly color: boolean;
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };

  constructor(options: OutputOptions) {
    this.json = options.json;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    this.color = options.color ?? colorWanted(this.stdout, options.env ?? process.env);
  }

  style(style: Style, text: string): string {
    if (!this.color) return text;
    const [open, close] = CODES[style];
    return `\u001b[${open}m${text}\u001b[${close}m`;
  }

  /**
   * The command's result: the value as JSON with `--json`, else the human rendering (lines).
   * Call it once per command.
   */
  result<T>(value: T, human: (value: T) => string | string[] | undefined): void {
    if (this.json) {
      this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      return;
    }
    const text = human(value);
    if (text === undefined) return;
    const lines = Array.isArray(text) ? text : [text];
    if (lines.length > 0) this.stdout.write(`${lines.join('\n')}\n`);
  }

  /** A human-only line on stderr (never mixes with `--json` on stdout). */
  note(message: string): void {
    this.stderr.write(`${message}\n`);
  }

  warn(message: string): void {
    this.stderr.write(`${this.style('yellow', 'warning:')} ${message}\n`);
  }

  /** Rows as aligned columns; a header line, then one line per row. */
  table<T>(rows: readonly T[], columns: readonly Column<T>[]): string[] {
    const cells = rows.map((row) => columns.map((column) => cell(column.value(row))));
    const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((r) => r[i]!.length)));
    const line = (values: string[]) =>
      values
        .map((value, i) => (columns[i]!.right ? value.padStart(widths[i]!) : i === values.length - 1 ? value : value.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd();
    return [this.style('bold', line(columns.map((c) => c.header))), ...cells.map(line)];
  }

  /**
   * A progress counter for long work, drawn on stderr only when it is a terminal (and never with
   * `--json`); `done()` clears it.
   */
  progress(label: string, total: number): Progress {
    const live = !this.json && this.stderr.isTTY === true && total > 1;
    let last = 0;
    const draw = (n: number) => {
      if (!live) return;
      const now = Date.now();
      if (n < total && now - last < 80) return;
      last = now;
      this.stderr.write(`\r\u001b[2K${label} ${n}/${total}`);
    };
    return {
      tick: (n: number) => draw(n),
      done: () => {
        if (live) this.stderr.write('\r\u001b[2K');
      },
    };
  }
}

export interface Progress {
  tick(done: number): void;
  done(): void;
}

function cell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '-';
  return String(value);
}

/** "3 resources", "1 resource". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}
