// Tools: outbound HTTP call profiles. Takes an environment's tool from the resolver (override
// merged, kill switch honoured, merge checked), renders it for one call and performs the call,
// answering the upstream's response as data. Used by `POST /v1/tools/:key/invoke` and by workflow `tool` steps.
import { performance } from 'node:perf_hooks';
import { request, type Dispatcher } from 'undici';
import { EgressDenied } from '../domain/egress/policy.js';
import { conflict, notFound, StaleKeyError, StagelineError } from '../domain/errors.js';
import type { ToolContent } from '../domain/resources/kinds.js';
import { resourceId } from '../domain/releases/snapshot.js';
import { resolvedOrThrow, type Resolution } from '../domain/resolution/resolve.js';
import { asText, renderValue, TOOL_TEMPLATES, type RenderScope } from '../domain/templates/render.js';
import type { ResolutionView, Resolver } from '../runtime/resolver.js';
import type { Egress } from './context.js';
import type { Recorder } from '../metrics/recorder.js';

export const DEFAULT_TOOL_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/** A tool as one environment runs it: committed content with the override merged, not rendered. */
export interface ResolvedTool {
  key: string;
  content: ToolContent;
  /** Hash of the committed content (before the override). */
  hash: string;
}

export interface ToolResponse {
  /** The upstream's status: a 4xx or 5xx of the upstream is data, not an error of the call. */
  status: number;
  /** Lower-cased; hop-by-hop headers and cookies are not passed on. */
  headers: Record<string, string>;
  /** Parsed JSON for a JSON content type, else text; null when the upstream sent no body. */
  body: unknown;
  durationMs: number;
}

export interface InvokeOptions {
  /** Cancels the call (a workflow run being cancelled); its reason is thrown as is. */
  signal?: AbortSignal;
  /** Counts the call (family tool): an upstream 5xx or a failed call is an error, no response an upstream error. */
  recorder?: Recorder;
}

/** The environment's committed tool `key`: 404 when it has none, 409 when it is switched off or invalid. */
export async function resolveTool(resolver: Resolver, workspaceId: string, environmentId: string, key: string): Promise<{ view: ResolutionView; tool: ResolvedTool }> {
  const state = await resolver.environment(workspaceId, environmentId);
  if (!state) throw new StaleKeyError('environment');
  return { view: state.committed, tool: toolOf(await state.committed.resolve('tool', key)) };
}

/**
 * A tool as a version resolves it (committed, or a draft in a test run): 404 when the version
 * lacks it, 409 `tool_inactive` when switched off, 409 `tool_invalid` when its override makes it
 * no valid tool.
 */
export function toolOf(resolution: Resolution<'tool'>): ResolvedTool {
  const { key, content, hash } = resolvedOrThrow(resolution);
  return { key, content, hash };
}

/**
 * Renders the tool for `input` with the scope of the view's environment (its variables and
 * secrets) and performs the call through the environment's egress policy. Rendering and scope
 * errors are StagelineErrors with 4xx statuses; an address the policy refuses is 403
 * `egress_denied`; a timeout is 504 `upstream_timeout`, a failed connection 502
 * `upstream_unreachable`, a body over the limit 502 `upstream_response_too_large`. Messages name
 * the tool and the host, never a value. Redirects are not followed: a 3xx is answered as the
 * upstream sent it.
 */
export async function invokeTool(egress: Egress, view: ResolutionView, tool: ResolvedTool, input: Record<string, unknown>, options: InvokeOptions = {}): Promise<ToolResponse> {
  const started = performance.now();
  try {
    const scope = await view.scope(true);
    const call = renderToolCall(tool, { ...scope, secrets: scope.secrets ?? {}, input });
    const response = await performCall(tool, call, await egress.dispatcher(view.environment), options);
    options.recorder?.record(view.environment.workspaceId, view.environment.id, 'tool', tool.key, response.status, response.status >= 500, false, performance.now() - started);
    return response;
  } catch (error) {
    const noResponse = error instanceof StagelineError && (error.code === 'upstream_timeout' || error.code === 'upstream_unreachable');
    options.recorder?.record(view.environment.workspaceId, view.environment.id, 'tool', tool.key, 0, true, noResponse, performance.now() - started);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** What a tool template sees. */
export interface ToolScope extends RenderScope {
  secrets: Record<string, string>;
  input: Record<string, unknown>;
}

export interface ToolCall {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
  timeoutMs: number;
  maxResponseBytes: number;
}

const INVALID_HEADER_VALUE = /[\r\n\0]/;

/** The request a tool makes for one input: every template rendered, the URL and headers checked. */
export function renderToolCall(tool: ResolvedTool, scope: ToolScope): ToolCall {
  const id = resourceId('tool', tool.key);
  const content = tool.content;
  const rendered = renderValue({ url: content.url, headers: content.headers ?? {}, query: content.query ?? {}, body: content.body }, scope, TOOL_TEMPLATES, id) as {
    url: unknown;
    headers: Record<string, unknown>;
    query: Record<string, unknown>;
    body: unknown;
  };
  let url: URL;
  try {
    url = new URL(asText(rendered.url));
  } catch {
    throw conflict('tool_invalid', `${id}: url does not render to an http(s) URL`, [{ resource: id, field: 'url' }]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw conflict('tool_invalid', `${id}: url does not render to an http(s) URL`, [{ resource: id, field: 'url' }]);
  }
  for (const [name, value] of Object.entries(rendered.query)) url.searchParams.append(name, asText(value));
  // No prototype: a header named `__proto__` or `constructor` is a header like any other.
  const headers: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(rendered.headers)) {
    const text = asText(value);
    if (INVALID_HEADER_VALUE.test(text)) {
      throw conflict('tool_invalid', `${id}: header ${name} renders to a value with a line break or NUL`, [{ resource: id, field: `headers.${name}` }]);
    }
    headers[name.toLowerCase()] = text;
  }
  headers['user-agent'] ??= 'Stageline';
  let body: string | undefined;
  if (rendered.body !== undefined) {
    // A string body with the tool's own content type (a form, XML) is sent as it is; anything
    // else is sent as JSON.
    if (typeof rendered.body === 'string' && headers['content-type'] !== undefined) body = rendered.body;
    else {
      body = JSON.stringify(rendered.body);
      headers['content-type'] ??= 'application/json';
    }
  }
  return {
    method: content.method,
    url,
    headers,
    body,
    timeoutMs: content.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS,
    maxResponseBytes: content.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
  };
}

// ---------------------------------------------------------------------------------------------
// The call

/** Not passed on: they describe the upstream connection, or a session that is the server's. */
const DROPPED_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'set-cookie', 'set-cookie2']);

const UNREACHABLE_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CLOSED: 'connection closed',
};
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

class ResponseTooLarge extends Error {}

async function performCall(tool: ResolvedTool, call: ToolCall, dispatcher: Dispatcher, options: InvokeOptions): Promise<ToolResponse> {
  const id = resourceId('tool', tool.key);
  const host = call.url.host;
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), call.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout.signal, options.signal]) : timeout.signal;
  const started = performance.now();
  let body: Dispatcher.ResponseData['body'] | undefined;
  try {
    const response = await request(call.url, {
      method: call.method as Dispatcher.HttpMethod,
      headers: call.headers,
      ...(call.body !== undefined ? { body: call.body } : {}),
      signal,
      dispatcher,
      headersTimeout: call.timeoutMs,
      bodyTimeout: call.timeoutMs,
    });
    body = response.body;
    const bytes = await readAtMost(response.body, response.headers['content-length'], call.maxResponseBytes);
    return {
      status: response.statusCode,
      headers: passedHeaders(response.headers),
      body: decodeBody(bytes, asText(response.headers['content-type'])),
      durationMs: Math.round(performance.now() - started),
    };
  } catch (error) {
    // Destroying an unread body makes undici emit an abort error: it is expected, not a fault.
    body?.on('error', () => {}).destroy();
    if (options.signal?.aborted) throw options.signal.reason;
    if (error instanceof EgressDenied) {
      throw new StagelineError(403, 'egress_denied', `${id}: ${error.message}`, [{ resource: id, host: error.host, environment: error.environment }]);
    }
    if (error instanceof ResponseTooLarge) {
      throw new StagelineError(502, 'upstream_response_too_large', `${id}: the response of ${host} is larger than ${call.maxResponseBytes} bytes`, [
        { resource: id, host, maxResponseBytes: call.maxResponseBytes },
      ]);
    }
    const code = (error as { code?: unknown }).code;
    if (timeout.signal.aborted || (typeof code === 'string' && TIMEOUT_CODES.has(code))) {
      throw new StagelineError(504, 'upstream_timeout', `${id}: ${host} did not answer within ${call.timeoutMs} ms`, [{ resource: id, host, timeoutMs: call.timeoutMs }]);
    }
    if (code === 'UND_ERR_INVALID_ARG') throw conflict('tool_invalid', `${id}: the rendered request is not a valid HTTP request`, [{ resource: id }]);
    if (typeof code === 'string') {
      // Only the reason is passed on: the error's own message may quote the URL.
      const reason = UNREACHABLE_REASONS[code] ?? (code.startsWith('ERR_TLS') || code.includes('CERT') ? 'TLS failed' : 'connection failed');
      throw new StagelineError(502, 'upstream_unreachable', `${id}: could not reach ${host} (${reason})`, [{ resource: id, host, reason }]);
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function readAtMost(body: AsyncIterable<Buffer>, contentLength: string | string[] | undefined, limit: number): Promise<Buffer> {
  if (typeof contentLength === 'string' && Number(contentLength) > limit) throw new ResponseTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new ResponseTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function passedHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const named = new Set(asText(headers.connection).toLowerCase().split(',').map((h) => h.trim()));
  const out: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || DROPPED_HEADERS.has(lower) || named.has(lower)) continue;
    out[lower] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

function decodeBody(bytes: Buffer, contentType: string): unknown {
  if (bytes.length === 0) return null;
  const charset = /;\s*charset="?([\w-]+)"?/i.exec(contentType)?.[1];
  let text: string;
  try {
    text = new TextDecoder(charset ?? 'utf-8').decode(bytes);
  } catch {
    text = bytes.toString('utf8');
  }
  if (!JSON_TYPE.test(contentType)) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text; // declared JSON but not: the caller still sees what came
  }
}
