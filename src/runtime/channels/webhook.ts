// The webhook channel: a signed JSON POST to the environment's `channel.webhook` URL, and the
// signature check a receiver runs. The scheme (like Stripe's): `x-stageline-timestamp: <unix
// seconds>` and `x-stageline-signature: v1=<hex HMAC-SHA256(signing secret, "<timestamp>.<body>")>`.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { request } from 'undici';
import { EgressDenied } from '../../domain/egress/policy.js';
import type { Environment } from '../../domain/environments/chain.js';
import type { Deps } from '../../services/context.js';
import { channelSecret, requiredChannelSetting } from './settings.js';
import { ChannelError, type DeliveryResult, type SendOptions, type WebhookMessage } from './types.js';

export const TIMESTAMP_HEADER = 'x-stageline-timestamp';
export const SIGNATURE_HEADER = 'x-stageline-signature';
export const DELIVERY_HEADER = 'x-stageline-delivery';
export const DEFAULT_TOLERANCE_SECONDS = 300;

const DEFAULT_TIMEOUT_MS = 10_000;
const SNIPPET_BYTES = 512;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
/** Headers the transport owns; a setting or step cannot set them. */
const TRANSPORT_HEADERS = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer']);
const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function hmac(secret: string, timestamp: string, body: string | Buffer): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/** The `x-stageline-signature` value of a body sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, timestamp: number | string, body: string | Buffer): string {
  return `v1=${hmac(secret, String(timestamp), body).toString('hex')}`;
}

/**
 * Whether a received webhook is authentic: the signature header holds a `v1=` entry (several
 * may be given, comma-separated) equal to the HMAC of `"<timestamp>.<raw body>"`, and the
 * timestamp is within `toleranceSeconds` of now (a replayed old delivery fails). Verify the raw
 * body bytes as received, before parsing them.
 */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string | undefined,
  body: string | Buffer,
  header: string | undefined,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
  nowMs = Date.now(),
): boolean {
  if (!timestamp || !header || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const expected = hmac(secret, timestamp, body);
  let valid = false;
  for (const entry of header.split(',')) {
    const [scheme, value] = entry.trim().split('=', 2);
    if (scheme !== 'v1' || !value || !/^[0-9a-f]{64}$/i.test(value)) continue;
    // Every entry is compared, so the time taken does not tell which one matched.
    if (timingSafeEqual(expected, Buffer.from(value, 'hex'))) valid = true;
  }
  return valid;
}

/** Header names lowercased, so that later sources replace earlier ones whatever their case. */
function lowercased(headers: Record<string, string> | undefined, env: Environment): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!HEADER_NAME.test(name) || /[\r\n\0]/.test(value)) {
      throw new ChannelError('webhook', 'invalid_message', `header ${JSON.stringify(name)} of a webhook in ${env.slug} is not a valid HTTP header`, false);
    }
    const lower = name.toLowerCase();
    if (!TRANSPORT_HEADERS.has(lower)) out[lower] = value;
  }
  return out;
}

/** Retry-After as seconds (delta-seconds or an HTTP date), when given. */
function retryAfter(value: string | string[] | undefined, now: Date): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d{1,9}$/.test(text.trim())) return Number(text.trim());
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

async function snippet(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= SNIPPET_BYTES) break;
    }
  } catch {
    // The status decides the outcome; the body is only a hint for whoever reads the run log.
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8');
}

/**
 * A failure before any HTTP answer: timeouts and network errors may pass later; TLS failures and
 * an address the egress policy refuses need a change of configuration.
 */
function requestError(error: unknown, timedOut: boolean, env: Environment, origin: string, timeoutMs: number): ChannelError {
  if (error instanceof EgressDenied) return new ChannelError('webhook', 'egress_denied', `the webhook receiver ${origin}: ${error.message}`, false);
  const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
  const reason = error instanceof Error ? error.message : String(error);
  if (timedOut || (code && TIMEOUT_CODES.has(code))) {
    return new ChannelError('webhook', 'timeout', `the webhook receiver ${origin} of ${env.slug} did not answer within ${timeoutMs} ms`, true);
  }
  if (code && TLS_CODES.has(code)) return new ChannelError('webhook', 'tls_failed', `TLS with the webhook receiver ${origin} of ${env.slug} failed: ${reason}`, false);
  if (code === 'UND_ERR_INVALID_ARG') return new ChannelError('webhook', 'invalid_message', `the webhook request is not valid: ${reason}`, false);
  return new ChannelError('webhook', 'unavailable', `the webhook receiver ${origin} of ${env.slug} could not be reached: ${code ?? reason}`, true);
}

/** What a receiver answered: its status, the start of its body, and Retry-After when given. */
export interface ReceiverAnswer {
  status: number;
  /** Up to 512 bytes of the body, as a hint for whoever reads the log. */
  snippet: string;
  retryAfterSeconds: number | undefined;
}

/**
 * POSTs `body` to `url` through `env`'s egress policy, redirects not followed, with `timeoutMs`
 * for the connection, the headers and the body. Failures before an answer are ChannelErrors
 * naming only the URL's origin (its path or query may carry a token).
 */
export async function postToReceiver(deps: Deps, env: Environment, url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<ReceiverAnswer> {
  const origin = new URL(url).origin;
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Awaited<ReturnType<typeof request>>;
  try {
    const dispatcher = await deps.egress.dispatcher(env);
    response = await request(url, { method: 'POST', headers, body, dispatcher, signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  } catch (error) {
    throw requestError(error, signal.aborted, env, origin, timeoutMs);
  }
  const answer = await snippet(response.body);
  return { status: response.statusCode, snippet: answer, retryAfterSeconds: response.statusCode === 429 ? retryAfter(response.headers['retry-after'], deps.now()) : undefined };
}

export class WebhookChannel {
  async send(deps: Deps, env: Environment, message: WebhookMessage, options: SendOptions): Promise<DeliveryResult> {
    const setting = await requiredChannelSetting(deps, env, 'webhook');
    const secret = await channelSecret(deps, env, 'webhook', setting.signingSecret);
    const body = JSON.stringify(message.payload);
    const timestamp = Math.floor(deps.now().getTime() / 1000);
    const headers = {
      ...lowercased(setting.headers, env),
      ...lowercased(message.headers, env),
      'content-type': 'application/json',
      'user-agent': 'Stageline-Webhooks/1',
      [DELIVERY_HEADER]: options.deliveryId,
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
    };
    return postJson(deps, env, setting.url, headers, body, options.deliveryId, setting.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }
}

/**
 * POSTs a JSON body to `url` through `env`'s egress policy, redirects not followed: a 2xx is a
 * delivery; 429, 408 and 5xx are transient ChannelErrors, other answers permanent. Errors name
 * only the URL's origin (a path or query may carry a token).
 */
export async function postJson(deps: Deps, env: Environment, url: string, headers: Record<string, string>, body: string, deliveryId: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<DeliveryResult> {
  // The URL may carry a token in its path or query; messages name only its origin.
  const origin = new URL(url).origin;
  const { status, snippet: answer, retryAfterSeconds: after } = await postToReceiver(deps, env, url, headers, body, timeoutMs);
  if (status >= 200 && status < 300) return { channel: 'webhook', messageId: deliveryId, detail: `HTTP ${status}` };
  const details = { status, ...(answer ? { response: answer } : {}) };
  if (status === 429) {
    throw new ChannelError('webhook', 'rate_limited', `the webhook receiver ${origin} of ${env.slug} answered 429`, true, {
      ...details,
      ...(after !== undefined ? { retryAfterSeconds: after } : {}),
    });
  }
  if (status >= 500 || status === 408) {
    throw new ChannelError('webhook', 'receiver_error', `the webhook receiver ${origin} of ${env.slug} answered ${status}`, true, details);
  }
  throw new ChannelError('webhook', 'rejected', `the webhook receiver ${origin} of ${env.slug} answered ${status}`, false, details);
}
