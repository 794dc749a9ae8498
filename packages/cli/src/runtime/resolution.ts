// Where `run` and `export` get their values: the runtime API with the environment's secret key
// (through @stageline/client), the last good values on disk when the server cannot be reached,
// and never those when the server refuses the key.
import { createClient, StagelineError, type StagelineClient } from '@stageline/client';
import { CliError, usageError } from '../errors.js';
import type { Output } from '../output.js';
import { age, dropLastGood, loadLastGood, saveLastGood } from './last-good.js';
import type { ConfigValue } from './variables.js';

export interface Resolution {
  configs: ConfigValue[];
  /** Config resources the environment cannot resolve now (a missing secret or variable). */
  unresolved: { key: string; code: string; message: string }[];
  release: number | null;
  from: 'server' | 'last-good';
  savedAt: string;
}

/** What the list answer said beyond `data` (the SDK keeps only `data`). */
interface ListExtras {
  release: number | null;
  errors: { kind: string; key: string; code: string; message: string }[];
}

/** The key: `--key`, else `STAGELINE_KEY`; a secret one, since only those receive secrets. */
export function secretKeyOf(flag: string | undefined, env: NodeJS.ProcessEnv, environment: string | undefined): string {
  const key = (flag ?? env.STAGELINE_KEY ?? '').trim();
  const create = `stageline keys create --env ${environment ?? 'production'} --name app`;
  if (key === '') throw usageError(`this needs the environment's secret key: pass --key sk_… or set STAGELINE_KEY (create one with: ${create})`);
  if (key.startsWith('pk_')) throw usageError(`a publishable key (pk_…) never receives secrets: use a secret key (sk_…) of the environment (create one with: ${create})`);
  if (!key.startsWith('sk_')) throw usageError(`"${key.slice(0, 3)}…" is not an environment API key: pass a secret key (sk_…) (create one with: ${create})`);
  return key;
}

export class ConfigSource {
  readonly client: StagelineClient;
  private extras: ListExtras = { release: null, errors: [] };

  constructor(
    readonly url: string,
    readonly apiKey: string,
    readonly env: NodeJS.ProcessEnv,
    timeoutMs: number,
  ) {
    // Watches the list answers go by to keep what the SDK leaves out (release, unresolvable ones).
    const observe: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (response.status === 200 && new URL(String(input instanceof Request ? input.url : input)).pathname.endsWith('/v1/resources')) {
        try {
          const body = (await response.clone().json()) as { release?: unknown; errors?: unknown };
          this.extras = {
            release: typeof body.release === 'number' ? body.release : null,
            errors: Array.isArray(body.errors) ? (body.errors as ListExtras['errors']) : [],
          };
        } catch {
          // the SDK reports a body that is not JSON itself
        }
      }
      return response;
    };
    this.client = createClient({ baseUrl: url, apiKey, fetch: observe, timeoutMs });
  }

  /** The environment's config values now, from the server only (a StagelineError otherwise). */
  async fetch(): Promise<Resolution> {
    const resources = await this.client.getAll();
    const configs = resources
      .filter((r) => r.kind === 'config')
      .map((r) => ({ key: r.key, value: (r.content as { value?: unknown } | null)?.value ?? null }));
    const unresolved = this.extras.errors.filter((e) => e.kind === 'config').map(({ key, code, message }) => ({ key, code, message }));
    const resolution: Resolution = { configs, unresolved, release: this.extras.release, from: 'server', savedAt: new Date().toISOString() };
    return resolution;
  }

  /** Keeps the values for the next start while the server is unreachable. */
  remember(resolution: Resolution): void {
    try {
      saveLastGood(this.env, this.url, this.apiKey, { savedAt: resolution.savedAt, release: resolution.release, configs: resolution.configs });
    } catch {
      // a read-only or full disk costs the fallback, not the run
    }
  }

  /**
   * The values to start with: the server's, else (unreachable or failing) the last good ones
   * with a note on stderr; a refused key drops those and fails.
   */
  async resolve(out: Output, what: string): Promise<Resolution> {
    try {
      return await this.fetch();
    } catch (error) {
      const outcome = this.fallback(error, out, what);
      if (outcome instanceof CliError) throw outcome;
      return outcome;
    }
  }

  private fallback(error: unknown, out: Output, what: string): CliError | Resolution {
    if (!(error instanceof StagelineError)) return new CliError(error instanceof Error ? error.message : String(error));
    if (error.code !== 'unavailable') {
      if (error.status === 401 || error.status === 403) dropLastGood(this.env, this.url, this.apiKey);
      return keyRefused(this.url, error);
    }
    const kept = loadLastGood(this.env, this.url, this.apiKey);
    const reason = reasonOf(error);
    if (!kept) return new CliError(`cannot reach Stageline at ${this.url} (${reason}) and no last good values are kept for this key`, { code: 'unreachable' });
    out.warn(`cannot reach Stageline at ${this.url} (${reason}): ${what} with the last good values from ${kept.savedAt} (${age(kept.savedAt)}${kept.release !== null ? `, release ${kept.release}` : ''})`);
    return { configs: kept.configs, unresolved: [], release: kept.release, from: 'last-good', savedAt: kept.savedAt };
  }

  close(): void {
    this.client.close();
  }
}

/** The one-line failure for a key the server does not accept. */
export function keyRefused(url: string, error: StagelineError): CliError {
  if (error.status === 401) return new CliError(`the server at ${url} refused the key (${error.message}): check --key or STAGELINE_KEY`, { code: error.code, status: 401 });
  return new CliError(error.message, { code: error.code, status: error.status });
}

/** ECONNREFUSED, a timeout, HTTP 503 …: the network's own word for it. */
function reasonOf(error: StagelineError): string {
  if (error.status >= 500) return `HTTP ${error.status}`;
  let cause: unknown = error.cause;
  let innermost = error.message;
  while (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    if (cause.name === 'TimeoutError' || cause.name === 'AbortError') return 'no answer in time';
    innermost = cause.message;
    cause = cause.cause;
  }
  return innermost;
}
