// Errors a caller can act on. Every rule violation in Stageline is one of these: a stable
// machine-readable code, an HTTP-like status class, and a message that names the field or state.

export interface FieldIssue {
  /** Dotted path of the offending field, relative to the request part (`content.upstream.url`). */
  field: string;
  message: string;
  /** Where the field was: body, query or path. */
  in?: 'body' | 'query' | 'path' | 'header';
}

export class StagelineError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown[] = [],
  ) {
    super(message);
    this.name = 'StagelineError';
  }
}

export function invalid(issues: FieldIssue[], message?: string): StagelineError {
  const first = issues[0];
  const summary =
    message ?? (first ? `${first.field || 'request'}: ${first.message}` : 'the request is not valid');
  return new StagelineError(400, 'invalid_request', summary, issues);
}

export function notFound(what: string): StagelineError {
  return new StagelineError(404, 'not_found', `${what} was not found`);
}

export function conflict(code: string, message: string, details: unknown[] = []): StagelineError {
  return new StagelineError(409, code, message, details);
}

export function forbidden(permission: string, where?: string): StagelineError {
  const scope = where ? ` in ${where}` : '';
  return new StagelineError(403, 'forbidden', `this action needs the ${permission} permission${scope}`, [
    { permission, environment: where ?? null },
  ]);
}

/**
 * 401: the API key a runtime call was let in with turned out, further in, to be no longer valid —
 * revoked or expired (`scope: 'key'`) or its environment deleted (`scope: 'environment'`) — before
 * this node's cache heard of it. The /v1 key hook drops what it names from the cache when a request
 * ends with one, so the next call of that key is refused on every route, not only this one.
 */
export class StaleKeyError extends StagelineError {
  constructor(readonly scope: 'key' | 'environment') {
    super(401, 'unauthenticated', 'the API key is not valid');
    this.name = 'StaleKeyError';
  }
}

/** A caller over a limit: 429 `rate_limited`, answered with `Retry-After: retryAfterSeconds`. */
export class RateLimitedError extends StagelineError {
  constructor(
    readonly retryAfterSeconds: number,
    message = `too many attempts; retry in ${retryAfterSeconds} s`,
  ) {
    super(429, 'rate_limited', message, [{ retryAfterSeconds }]);
    this.name = 'RateLimitedError';
  }
}

/**
 * A 403 that no permission would lift (who broke glass, who the member is): the message is the
 * whole sentence, and `rule` names the rule for machines.
 */
export function refused(rule: string, message: string, where?: string): StagelineError {
  return new StagelineError(403, 'forbidden', message, [{ rule, environment: where ?? null }]);
}
