// The Stageline SDK for applications (`stageline/client`): the resolved resources of an API key's
// environment with ETag revalidation and last-known-good answers, and its change events over SSE.
import { errorFromAnswer, isUnavailable, StagelineError, unavailable, unreachable } from './errors.js';
import { EventStreamParser } from './event-stream.js';

export { StagelineError } from './errors.js';
export * from './flags.js';

/** Where Stageline answers, with which key, and how patiently. */
export interface StagelineClientOptions {
  /** The server's address, e.g. `https://stageline.internal:4700`. */
  baseUrl: string;
  /** An environment API key: `sk_…`, or `pk_…` for public config only. */
  apiKey: string;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** Limit per request in milliseconds (default 10000); for a stream, until it opens. */
  timeoutMs?: number;
  /** Delay before reconnecting a stream: doubles per failed attempt up to the max, with jitter. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
}

/** A resource as the delivery API serves it: content with overrides merged and templates resolved. */
export interface Resource<T = unknown> {
  kind: string;
  key: string;
  content: T;
  /** Hash of the resolved content. */
  hash: string;
}

/** One change of the key's environment: a release, override, kill switch, variable, secret, … */
export interface ChangeEvent {
  /** The event's sequence number; streams resume after it. */
  id: number;
  type: string;
  /** The event as sent: at least `seq` and `type`. */
  data: Record<string, unknown>;
}

/** How a subscription reports trouble and whether it refreshes the cache first. */
export interface SubscribeOptions {
  /** Connection losses, failed refreshes and listener exceptions; a 4xx also ends the subscription. */
  onError?: (error: Error) => void;
  /**
   * After each change, refetch what the cache holds (getAll) before calling the listener (default
   * true). A `reset` event (the server no longer keeps the events missed while disconnected)
   * refetches everything whatever this says: reload whatever you derived from earlier events.
   */
  refresh?: boolean;
}

/** A client of one environment's delivery API. */
export interface StagelineClient {
  /** One resource; revalidates a cached copy with its ETag, and falls back to it while Stageline is unavailable. */
  get<T = unknown>(kind: string, key: string): Promise<Resource<T>>;
  /** Every active resource the key may see; cached and revalidated like `get`. */
  getAll(): Promise<Resource[]>;
  /** Follows the environment's changes until the returned function is called; reconnects and resumes on its own. */
  subscribe(listener: (event: ChangeEvent) => void, options?: SubscribeOptions): () => void;
  /** Ends every subscription. */
  close(): void;
  /** The id of the latest event any subscription has seen (set once a stream is open). */
  readonly lastEventId: number | null;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_INITIAL_DELAY_MS = 1_000;
const DEFAULT_MAX_DELAY_MS = 30_000;
/** The server sends a heartbeat every 15 s; a stream silent for three of them is presumed dead. */
const STREAM_IDLE_MS = 45_000;

/** A cached answer; `seq` orders requests so an older answer never replaces a newer one. */
interface Cached<T> {
  etag: string | null;
  value: T;
  seq: number;
}

type Answer = { status: 304 } | { status: 200; body: unknown; etag: string | null };

/** Creates a client for the environment of `options.apiKey`. */
export function createClient(options: StagelineClientOptions): StagelineClient {
  return new DeliveryClient(options);
}

function isResource(value: unknown): value is Resource {
  const r = value as Resource | null;
  return typeof r === 'object' && r !== null && typeof r.kind === 'string' && typeof r.key === 'string' && typeof r.hash === 'string' && 'content' in r;
}

interface ResourceList {
  data: Resource[];
  /** Resources the environment cannot resolve (409 on their own), left out of `data`. */
  errors?: { kind: string; key: string; code: string; message: string }[];
}

function isResourceList(value: unknown): value is ResourceList {
  const list = value as ResourceList | null;
  return typeof list === 'object' && list !== null && Array.isArray(list.data) && list.data.every(isResource) && (list.errors === undefined || Array.isArray(list.errors));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

class DeliveryClient implements StagelineClient {
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;
  private readonly initialDelayMs: number | undefined;
  private readonly maxDelayMs: number;
  private readonly items = new Map<string, Cached<Resource>>();
  private list: Cached<Resource[]> | null = null;
  private requests = 0;
  private readonly subscriptions = new Set<AbortController>();
  private latestEventId: number | null = null;

  constructor(options: StagelineClientOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`baseUrl must be an http(s) URL, not ${options.baseUrl}`);
    if (typeof options.apiKey !== 'string' || options.apiKey.trim() === '') throw new TypeError('apiKey must be an environment API key (sk_… or pk_…)');
    this.baseUrl = url.href.replace(/\/+$/, '');
    this.apiKey = options.apiKey.trim();
    this.fetch = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.initialDelayMs = options.reconnect?.initialDelayMs;
    this.maxDelayMs = options.reconnect?.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  }

  get lastEventId(): number | null {
    return this.latestEventId;
  }

  async get<T = unknown>(kind: string, key: string): Promise<Resource<T>> {
    const id = `${kind}/${key}`;
    const cached = this.items.get(id);
    const seq = ++this.requests;
    let answer: Answer;
    try {
      answer = await this.call(`/v1/resources/${encodeURIComponent(kind)}/${encodeURIComponent(key)}`, cached?.etag ?? null, isResource);
    } catch (error) {
      const fallback = this.items.get(id);
      if (isUnavailable(error) && fallback) return structuredClone(fallback.value) as Resource<T>;
      if (error instanceof StagelineError && error.status === 404 && (this.items.get(id)?.seq ?? 0) < seq) this.items.delete(id);
      throw error;
    }
    if (answer.status === 304) return structuredClone(this.revalidated(cached, id).value) as Resource<T>;
    this.keep(id, { etag: answer.etag, value: answer.body as Resource, seq });
    return structuredClone(answer.body) as Resource<T>;
  }

  async getAll(): Promise<Resource[]> {
    const cached = this.list;
    const seq = ++this.requests;
    let answer: Answer;
    try {
      answer = await this.call('/v1/resources', cached?.etag ?? null, isResourceList);
    } catch (error) {
      if (isUnavailable(error) && this.list) return structuredClone(this.list.value);
      if (error instanceof StagelineError && error.status === 404 && (this.list?.seq ?? 0) < seq) this.list = null;
      throw error;
    }
    if (answer.status === 304) return structuredClone(this.revalidated(cached, 'the resource list').value);
    const body = answer.body as ResourceList;
    const unresolved = (body.errors ?? []).map((e) => `${e.kind}/${e.key}`);
    if ((this.list?.seq ?? 0) < seq) {
      this.list = { etag: answer.etag, value: body.data, seq };
      this.mirror(body.data, new Set(unresolved), seq);
    }
    return structuredClone(body.data);
  }

  subscribe(listener: (event: ChangeEvent) => void, options: SubscribeOptions = {}): () => void {
    const controller = new AbortController();
    this.subscriptions.add(controller);
    void this.follow(listener, options, controller.signal).finally(() => this.subscriptions.delete(controller));
    return () => controller.abort();
  }

  close(): void {
    for (const controller of this.subscriptions) controller.abort();
    this.subscriptions.clear();
  }

  /** The cached answer a 304 confirms; only sent when we asked with its ETag. */
  private revalidated<T>(cached: Cached<T> | undefined | null, what: string): Cached<T> {
    if (!cached) throw unavailable(304, `Stageline answered 304 for ${what} without being asked to revalidate`);
    return cached;
  }

  private keep(id: string, entry: Cached<Resource>) {
    if ((this.items.get(id)?.seq ?? 0) < entry.seq) this.items.set(id, entry);
  }

  /**
   * A fresh list is also the latest value of each resource in it. A resource's ETag survives
   * only while its content is unchanged; one absent from the list (and not merely unresolvable
   * there) is gone from the environment.
   */
  private mirror(resources: Resource[], unresolved: Set<string>, seq: number) {
    const listed = new Set<string>();
    for (const resource of resources) {
      const id = `${resource.kind}/${resource.key}`;
      listed.add(id);
      const current = this.items.get(id);
      this.keep(id, { etag: current?.value.hash === resource.hash ? current.etag : null, value: resource, seq });
    }
    for (const [id, entry] of this.items) if (!listed.has(id) && !unresolved.has(id) && entry.seq < seq) this.items.delete(id);
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    return { authorization: `Bearer ${this.apiKey}`, ...extra };
  }

  /**
   * One GET of the delivery API, its whole body read within the timeout; a StagelineError
   * otherwise, `unavailable` also for a 2xx body that is not what the delivery API sends.
   */
  private async call(path: string, etag: string | null, expected: (body: unknown) => boolean): Promise<Answer> {
    const what = `GET ${path}`;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    let response: Response;
    let text: string;
    try {
      const headers = this.headers({ accept: 'application/json', ...(etag ? { 'if-none-match': etag } : {}) });
      response = await this.fetch(`${this.baseUrl}${path}`, { headers, signal: controller.signal });
      text = await response.text();
    } catch (error) {
      throw unreachable(what, error);
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 304) return { status: 304 };
    if (!response.ok) throw errorFromAnswer(response.status, text, what);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw unavailable(response.status, `${what} answered ${response.status} with a body that is not JSON`, [], error);
    }
    if (!expected(body)) throw unavailable(response.status, `${what} answered ${response.status} with a body that is not a Stageline answer`);
    return { status: 200, body, etag: response.headers.get('etag') };
  }

  /** One subscription: connect, read, and reconnect after a loss until aborted or refused. */
  private async follow(listener: (event: ChangeEvent) => void, options: SubscribeOptions, signal: AbortSignal) {
    const report = (error: unknown) => {
      if (signal.aborted || !options.onError) return;
      try {
        options.onError(error instanceof Error ? error : new Error(String(error)));
      } catch {
        // an onError that throws has nowhere else to go
      }
    };
    // Events that arrive together (a replay after reconnecting) share one refresh. A `reset`
    // (the server no longer has the events this client missed) refetches everything, always.
    const deliver = async (events: ChangeEvent[]) => {
      const reset = events.some((event) => event.type === 'reset');
      if (reset || (options.refresh !== false && (this.list !== null || this.items.size > 0))) {
        try {
          await this.getAll();
        } catch (error) {
          report(error);
        }
      }
      for (const event of events) {
        if (signal.aborted) return;
        try {
          listener(event);
        } catch (error) {
          report(error);
        }
      }
    };
    const stream: StreamState = { lastEventId: null, retryMs: null };
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.stream(stream, signal, deliver, report, () => (failures = 0));
      } catch (error) {
        if (signal.aborted) return;
        report(error);
        // A 4xx (unknown or revoked key, no such environment) will not change by retrying.
        if (error instanceof StagelineError && !isUnavailable(error) && error.status !== 408 && error.status !== 429) return;
        failures++;
      }
      const base = this.initialDelayMs ?? stream.retryMs ?? DEFAULT_INITIAL_DELAY_MS;
      const delay = Math.min(this.maxDelayMs, base * 2 ** Math.max(0, failures - 1));
      await sleep(delay / 2 + (Math.random() * delay) / 2, signal);
    }
  }

  /** One connection of a subscription; resolves when the server ends it, throws when it fails. */
  private async stream(
    state: StreamState,
    signal: AbortSignal,
    deliver: (events: ChangeEvent[]) => Promise<void>,
    report: (error: unknown) => void,
    opened: () => void,
  ): Promise<void> {
    const what = 'GET /v1/stream';
    const connection = new AbortController();
    const abort = () => connection.abort(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    try {
      const headers = this.headers({
        accept: 'text/event-stream',
        'cache-control': 'no-cache',
        ...(state.lastEventId !== null ? { 'last-event-id': String(state.lastEventId) } : {}),
      });
      const timer = setTimeout(() => connection.abort(new Error(`the stream did not open within ${this.timeoutMs} ms`)), this.timeoutMs);
      let response: Response;
      try {
        response = await this.fetch(`${this.baseUrl}/v1/stream`, { headers, signal: connection.signal });
      } catch (error) {
        throw unreachable(what, error);
      } finally {
        clearTimeout(timer);
      }
      if (!response.ok) throw errorFromAnswer(response.status, await response.text().catch(() => ''), what);
      if (!response.body) throw unavailable(response.status, `${what} answered without a body`);
      opened();
      const reader = response.body.getReader();
      const watch = () => {
        clearTimeout(idle);
        idle = setTimeout(() => connection.abort(new Error(`the stream was silent for ${STREAM_IDLE_MS} ms`)), STREAM_IDLE_MS);
      };
      watch();
      const decoder = new TextDecoder();
      const parser = new EventStreamParser();
      try {
        for (;;) {
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (error) {
            throw unavailable(0, `the event stream was interrupted: ${error instanceof Error ? error.message : String(error)}`, [], error);
          }
          if (chunk.done) return;
          watch();
          const events: ChangeEvent[] = [];
          for (const message of parser.push(decoder.decode(chunk.value, { stream: true }))) {
            if (/^\d+$/.test(message.id)) {
              state.lastEventId = Number(message.id);
              this.latestEventId = state.lastEventId;
            }
            const id = state.lastEventId ?? 0;
            if (message.event === 'ready') continue; // where the stream starts, not a change
            let data: unknown;
            try {
              data = JSON.parse(message.data);
            } catch {
              data = undefined;
            }
            if (!isRecord(data)) {
              report(unavailable(200, `the ${message.event} event ${id} does not carry a JSON object`));
              continue;
            }
            events.push({ id, type: message.event, data });
          }
          state.retryMs = parser.retryMs ?? state.retryMs;
          if (events.length > 0) await deliver(events);
        }
      } finally {
        reader.cancel().catch(() => {});
      }
    } finally {
      clearTimeout(idle);
      signal.removeEventListener('abort', abort);
      connection.abort();
    }
  }
}

interface StreamState {
  /** Where the next connection resumes (`Last-Event-ID`). */
  lastEventId: number | null;
  /** The server's `retry:` advice, used when no initial delay was configured. */
  retryMs: number | null;
}
