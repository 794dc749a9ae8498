// The one error type the client throws: the server's own code, status and details for what the
// caller can fix, or `unavailable` when no usable answer came and no cached value could stand in.

/** An error from Stageline; `code` is the server's machine-readable code, or `unavailable`. */
export class StagelineError extends Error {
  /** HTTP status of the answer; 0 when none arrived (network failure or timeout). */
  readonly status: number;
  /** `unauthenticated`, `not_found`, `unresolved_reference`, … or `unavailable`. */
  readonly code: string;
  /** What the server attached (for example one entry per missing reference). */
  readonly details: unknown[];

  constructor(status: number, code: string, message: string, details: unknown[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StagelineError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** No answer came (network failure, timeout), or it was a 5xx or not a Stageline response. */
export function unavailable(status: number, message: string, details: unknown[] = [], cause?: unknown): StagelineError {
  return new StagelineError(status, 'unavailable', message, details, cause === undefined ? undefined : { cause });
}

export function isUnavailable(error: unknown): boolean {
  return error instanceof StagelineError && error.code === 'unavailable';
}

/** The error an answer with a non-2xx status stands for, from its `{"error":{…}}` body. */
export function errorFromAnswer(status: number, text: string, what: string): StagelineError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  const message = typeof error?.message === 'string' ? error.message : `${what} answered ${status}`;
  const details = Array.isArray(error?.details) ? (error.details as unknown[]) : [];
  if (status >= 500) return unavailable(status, `Stageline is unavailable (${what} answered ${status}): ${message}`, details);
  const code = typeof error?.code === 'string' ? error.code : `http_${status}`;
  return new StagelineError(status, code, message, details);
}

/** A failure of fetch itself, with the socket-level cause when undici gives one. */
export function unreachable(what: string, error: unknown): StagelineError {
  const reason = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return unavailable(0, `Stageline is unreachable (${what}): ${reason}${cause}`, [], error);
}
