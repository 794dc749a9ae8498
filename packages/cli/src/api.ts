// The CLI's one way to call the management API: openapi-fetch over the types generated from the
// server's OpenAPI document (api/schema.d.ts, `npm run gen:api`), the bearer token on every call,
// and every failure turned into a CliError with the exit code the contract gives it.
import createClient, { type Client } from 'openapi-fetch';
import type { paths } from './api/schema.js';
import { requireToken, type Context } from './context.js';
import { CliError, EXIT, type FieldDetail } from './errors.js';

export type { paths, components } from './api/schema.js';
export type Api = Client<paths>;

const DEFAULT_TIMEOUT_MS = 60_000;

export interface Connection {
  api: Api;
  url: string;
  workspace: string;
  /** The data of an API call, or a CliError (unreachable, refused token, 409 → exit 3, …). */
  call<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T>;
  /** A workspace-relative path parameter object: `{ ws }` merged with the rest. */
  ws<P extends object>(params?: P): { ws: string } & P;
}

export function timeoutMs(env: NodeJS.ProcessEnv): number {
  const value = Number(env.STAGELINE_TIMEOUT_MS);
  return Number.isFinite(value) && value > 0 ? value : DEFAULT_TIMEOUT_MS;
}

/** A client of the context's server with its token; `anonymous` for the calls that need none (login). */
export function connect(ctx: Context, options: { anonymous?: boolean } = {}): Connection {
  const token = options.anonymous ? undefined : requireToken(ctx);
  const limit = timeoutMs(ctx.env);
  const api = createClient<paths>({
    baseUrl: ctx.url,
    headers: { 'user-agent': 'stageline-cli', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    fetch: (request: Request) => fetch(request, { signal: AbortSignal.timeout(limit) }),
  });
  return {
    api,
    url: ctx.url,
    workspace: ctx.workspace,
    call: (request) => settle(ctx, request),
    ws: <P extends object>(params?: P) => ({ ws: ctx.workspace, ...(params ?? ({} as P)) }),
  };
}

/** The data of a call made outside a Connection (a one-off client), with the same failures as `call`. */
export function send<T>(ctx: Pick<Context, 'url'>, request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  return settle(ctx, request);
}

async function settle<T>(ctx: Pick<Context, 'url'>, request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch (cause) {
    throw unreachable(ctx.url, cause);
  }
  const { response } = result;
  if (response.ok) return result.data as T;
  throw apiError(ctx, response.status, result.error);
}

/** "cannot reach Stageline at …" with the network's own reason (ECONNREFUSED, ENOTFOUND, timeout). */
export function unreachable(url: string, cause: unknown): CliError {
  const error = cause as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const reason =
    error?.name === 'TimeoutError' ? 'no answer in time' : (error?.cause?.code ?? error?.cause?.message ?? error?.message ?? String(cause));
  return new CliError(`cannot reach Stageline at ${url} (${reason})`, { code: 'unreachable' });
}

export function apiError(ctx: Pick<Context, 'url'>, status: number, body: unknown): CliError {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null | undefined)?.error;
  if (!error || typeof error !== 'object') {
    return new CliError(`the server at ${ctx.url} did not answer as Stageline does (HTTP ${status})`, { status, code: 'unexpected_answer' });
  }
  const code = typeof error.code === 'string' ? error.code : 'http_error';
  const message = typeof error.message === 'string' ? error.message : `HTTP ${status}`;
  const details: FieldDetail[] = Array.isArray(error.details) ? error.details.map(detailOf) : [];
  if (status === 401) {
    return new CliError(`the server at ${ctx.url} refused the token (${message}): run stageline login, or set STAGELINE_TOKEN`, { status, code, details });
  }
  const detail = details.length > 0 ? `: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}` : '';
  return new CliError(`${message}${detail}`, { status, code, details, exitCode: status === 409 ? EXIT.conflict : EXIT.failure });
}

/**
 * One line's worth of an error detail: a field error as it is; a gate (`{type, name, state}`), a
 * missing reference (`{resource, reference}`) or another conflict detail named by what it is about.
 */
function detailOf(value: unknown): FieldDetail {
  const d = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  if (typeof d.field === 'string' && typeof d.message === 'string') return { field: d.field, message: d.message };
  if (typeof d.type === 'string' && typeof d.name === 'string' && typeof d.state === 'string') {
    return { field: `gate ${d.type} ${d.name}`, message: `${d.state}${typeof d.detail === 'string' ? `: ${d.detail}` : ''}` };
  }
  const field = [d.resource, d.reference, d.request, d.field].filter((v) => typeof v === 'string').join(' ') || 'detail';
  const rest = Object.fromEntries(Object.entries(d).filter(([k]) => !['resource', 'reference', 'request', 'field'].includes(k)));
  if (typeof d.message === 'string') return { field, message: d.message };
  if (Array.isArray(rest.resources)) return { field, message: `used by ${rest.resources.join(', ')}` };
  return { field, message: Object.keys(rest).length > 0 ? JSON.stringify(rest) : '' };
}
