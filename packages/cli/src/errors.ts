// What a command's failure is to the shell: a one-line message and an exit code. Every error a
// command throws ends as one of these in main.ts; nothing else decides exit codes.

/** 0 ok, 1 failure, 2 usage, 3 conflict or waiting for approval (the contract in DESIGN.md). */
export const EXIT = { ok: 0, failure: 1, usage: 2, conflict: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface FieldDetail {
  field: string;
  message: string;
}

export class CliError extends Error {
  readonly exitCode: ExitCode;
  /** The API's error code (or the CLI's own: `unreachable`, `unauthenticated`, `usage`, …). */
  readonly code: string;
  readonly status: number | undefined;
  readonly details: FieldDetail[];

  constructor(message: string, options: { exitCode?: ExitCode; code?: string; status?: number; details?: FieldDetail[] } = {}) {
    super(message);
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? EXIT.failure;
    this.code = options.code ?? 'failed';
    this.status = options.status;
    this.details = options.details ?? [];
  }
}

/** A mistake in how the command was called (exit 2). */
export function usageError(message: string): CliError {
  return new CliError(message, { exitCode: EXIT.usage, code: 'usage' });
}
