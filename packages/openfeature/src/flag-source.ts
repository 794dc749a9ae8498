// What both providers share: the environment's configs read through @stageline/client, kept
// current by its change stream, evaluated locally with the SDK's flag model, and whether the
// values are last-known-good (Stageline unreachable) rather than current.
import { createClient, evaluateFlag, StagelineError, type Resource, type StagelineClient, type StagelineClientOptions } from '@stageline/client';

/** How a provider reaches Stageline: the SDK's options (base URL, API key, fetch, timeouts, reconnect). */
export type StagelineProviderOptions = StagelineClientOptions;

/** The OpenFeature flag types, as the SDKs name them. */
export type FlagType = 'boolean' | 'string' | 'number' | 'object';

/** ResolutionDetails without the SDK's types, so this module loads under either SDK. */
export interface Details<T> {
  value: T;
  variant?: string;
  reason: string;
  flagMetadata?: Record<string, string>;
  errorCode?: 'FLAG_NOT_FOUND' | 'TYPE_MISMATCH' | 'PARSE_ERROR' | 'INVALID_CONTEXT' | 'GENERAL';
  errorMessage?: string;
}

/** What the source tells its provider: flags changed, values went stale, are current again, or will never be (a refused key). */
export interface SourceEvents {
  changed(flagsChanged: string[]): void;
  stale(message: string): void;
  ready(): void;
  error(message: string): void;
}

function typeOf(value: unknown): FlagType | 'null' | 'other' {
  if (value === null) return 'null';
  const type = typeof value;
  if (type === 'boolean' || type === 'string' || type === 'number' || type === 'object') return type;
  return 'other';
}

/** OpenFeature contexts may hold dates; the flag model reads JSON, so they become ISO strings. */
function jsonContext(context: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(context)) out[name] = value instanceof Date ? value.toISOString() : value;
  return out;
}

export class FlagSource {
  private readonly client: StagelineClient;
  private configs = new Map<string, Resource>();
  private stale = false;
  private started = false;
  private closed = false;
  private unsubscribe: (() => void) | null = null;
  private loading: Promise<void> = Promise.resolve();
  private reloadQueued = false;

  constructor(
    options: StagelineProviderOptions,
    private readonly events: SourceEvents,
  ) {
    const inner = options.fetch ?? globalThis.fetch.bind(globalThis);
    // Every request says whether Stageline answers: no answer or a 5xx means the client is
    // serving last-known-good values (it falls back silently); any other answer means it is not.
    const observed: typeof fetch = async (input, init) => {
      let response: Response;
      try {
        response = await inner(input, init);
      } catch (error) {
        if (!this.closed) this.markStale(`Stageline is unreachable: ${error instanceof Error ? error.message : String(error)}`);
        throw error;
      }
      if (response.status >= 500) this.markStale(`Stageline answered ${response.status}`);
      else this.markCurrent();
      return response;
    };
    this.client = createClient({ ...options, fetch: observed });
  }

  /** Reads every config once and follows the stream; rejects when Stageline cannot answer at all. */
  async start(): Promise<void> {
    this.unsubscribe = this.client.subscribe(() => this.reload(), {
      refresh: false,
      onError: (error) => {
        // Losses are seen by the fetch above. A refused key (revoked, expired, its environment
        // deleted) ends the subscription: the values stop following Stageline for good.
        if (error instanceof StagelineError && (error.status === 401 || error.status === 403) && !this.closed) this.events.error(error.message);
      },
    });
    try {
      this.configs = configsOf(await this.client.getAll());
    } catch (error) {
      this.close();
      throw error;
    }
    this.started = true;
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.client.close();
  }

  /** Evaluates `key` as a flag of `type`; errors answer the caller's default with an error code. */
  resolve<T>(key: string, type: FlagType, defaultValue: T, context: Record<string, unknown>): Details<T> {
    const resource = this.configs.get(key);
    if (!resource) return { value: defaultValue, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND', errorMessage: `no flag ${key} in this environment` };
    const result = evaluateFlag(key, resource.content, jsonContext(context));
    if (!result.ok) return { value: defaultValue, reason: 'ERROR', errorCode: result.errorCode, errorMessage: result.message };
    const actual = typeOf(result.value);
    if (actual !== type) {
      return { value: defaultValue, reason: 'ERROR', errorCode: 'TYPE_MISMATCH', errorMessage: `flag ${key} is ${actual === 'object' && Array.isArray(result.value) ? 'a list' : actual}, not ${type}` };
    }
    return {
      value: result.value as T,
      variant: result.variant,
      reason: this.stale ? 'STALE' : result.reason,
      flagMetadata: { hash: resource.hash },
    };
  }

  /** Re-reads the configs; events arriving together (a replay after reconnecting) share one read. */
  private reload(): void {
    if (this.reloadQueued) return;
    this.reloadQueued = true;
    this.loading = this.loading.then(async () => {
      this.reloadQueued = false;
      let resources: Resource[];
      try {
        resources = await this.client.getAll();
      } catch {
        return; // kept as they are: the fetch above has reported why
      }
      const next = configsOf(resources);
      const changed = new Set<string>();
      for (const [key, resource] of next) if (this.configs.get(key)?.hash !== resource.hash) changed.add(key);
      for (const key of this.configs.keys()) if (!next.has(key)) changed.add(key);
      this.configs = next;
      if (changed.size > 0) this.events.changed([...changed].sort());
    });
  }

  private markStale(message: string) {
    if (!this.started || this.stale) return;
    this.stale = true;
    this.events.stale(message);
  }

  private markCurrent() {
    if (!this.stale) return;
    this.stale = false;
    this.events.ready();
    // What changed while away arrives on the resumed stream; a read now covers anything else.
    this.reload();
  }
}

function configsOf(resources: Resource[]): Map<string, Resource> {
  return new Map(resources.filter((resource) => resource.kind === 'config').map((resource) => [resource.key, resource]));
}
