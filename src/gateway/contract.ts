// The seams between the gateway's parts: the route table (table.ts, proxy.ts), the upstream leg
// (upstream.ts), client allow-lists (clients.ts), limits (limits.ts) and splits (splits.ts). Each
// part is built against these types; the hot path passes plain values, flat header arrays and
// callbacks (no promise per request where the answer is in memory).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

// ---------------------------------------------------------------------------------------------
// Upstream leg (upstream.ts)

/** One upstream origin, parsed once when a route table is built. */
export interface UpstreamTarget {
  protocol: 'http:' | 'https:';
  /** The host as written in the URL (a name or an address; IPv6 without brackets). */
  hostname: string;
  port: number;
  /** `host[:port]` as sent in the Host header to this upstream. */
  hostHeader: string;
  /** The URL's path without a trailing slash ('' for the root): the forwarded path is appended. */
  basePath: string;
}

/**
 * Checks an upstream address against the environment's egress policy at connect time and
 * answers the address to connect to (src/runtime/outbound.ts `Outbound.admit`); rejects with
 * EgressDenied before any socket exists.
 */
export type Admit = (hostname: string, port: number) => Promise<string>;

export interface ForwardRequest {
  method: string;
  /** The request-target sent upstream: basePath + forwarded path + query, as is. */
  path: string;
  /** Flat `[name, value, name, value, …]`, hop-by-hop headers already removed; no Host. */
  headers: string[];
  /**
   * The client's request to stream upstream (a body of any framing), a replacement body already
   * encoded (an `injectBody` JSON body), or null when the request has no body.
   */
  body: IncomingMessage | Buffer | null;
  /** No response headers within this many ms → failure `timeout`. */
  timeoutMs: number;
}

export type UpstreamFailureKind =
  /** no response headers in time → 504 upstream_timeout */
  | 'timeout'
  /** connection refused, reset or closed before a complete response head → 502 upstream_unreachable */
  | 'unreachable'
  /** the egress policy refused the address → 502 egress_denied */
  | 'egress_denied'
  /** the upstream answered something that is not HTTP/1.1 → 502 upstream_unreachable */
  | 'bad_response'
  /**
   * the request cannot be written on HTTP/1.1 (a method, path, header name or value with a byte
   * HTTP/1.1 forbids: CR, LF, NUL, another control byte, a character over U+00FF) → 400 invalid_request
   */
  | 'invalid_request';

export interface UpstreamFailure {
  kind: UpstreamFailureKind;
  message: string;
}

/** What the upstream leg reports when an exchange ends (for the gateway's per-request hook). */
export interface ForwardOutcome {
  /** The upstream's status; 0 when no response head arrived. */
  status: number;
  /** Set when the exchange failed; `headersSent` tells whether the client already had a response head. */
  failure: UpstreamFailure | null;
  headersSent: boolean;
  /**
   * The client closed its connection (or its request body broke off) before the exchange ended:
   * the upstream connection was closed and nothing more is written. `failure` is null.
   */
  clientAborted?: boolean;
}

/**
 * A keep-alive connection pool to one upstream origin for one egress policy. `forward` writes
 * the upstream's response into `res` as it arrives (status, headers minus hop-by-hop ones plus
 * `extraHeaders`, body streamed with backpressure) and calls `done` once. When it fails before
 * the response head was written, it writes nothing to `res`: the caller answers the error.
 */
export interface UpstreamPool {
  forward(request: ForwardRequest, res: ServerResponse, extraHeaders: string[] | null, done: (outcome: ForwardOutcome) => void): void;
  /** Proxies a WebSocket (or any `Upgrade`) request: raw bytes both ways after the upstream's 101. */
  upgrade(request: ForwardRequest, client: Duplex, head: Buffer, done: (outcome: ForwardOutcome) => void): void;
  /** Closes idle connections now and the others when their exchange ends. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Clients (clients.ts)

/** A compiled allow-list: IPv4 and IPv6 CIDRs, IPv4-mapped IPv6 addresses normalised. */
export interface AllowList {
  allows(address: string): boolean;
}

// ---------------------------------------------------------------------------------------------
// Limits (limits.ts)

export type LimitTier = 'window' | 'burst' | 'daily';

export interface LimitDecision {
  allowed: boolean;
  /**
   * Flat header pairs to send on the response, allowed or not (RateLimit-Policy, RateLimit,
   * X-RateLimit-*), with Retry-After already in them when refused: send them as they are.
   */
  headers: string[];
  /** When refused: the tier that tripped and how long to wait. */
  tripped?: LimitTier;
  retryAfterSeconds?: number;
  /**
   * Refused because the shared counter store (Redis) is unreachable and the route's
   * `onStoreDown` is `closed`: answer 503 `limit_store_unavailable` (no `tripped`).
   */
  storeUnavailable?: boolean;
}

/** The limits of one route in one environment, compiled when the table is built. */
export interface RouteLimiter {
  /**
   * Counts one request of `client` (the route's `per` decides what is counted: the client id, the
   * address, or the whole route). Synchronous when counters are in memory; a promise over Redis.
   */
  take(clientKey: string, address: string): LimitDecision | Promise<LimitDecision>;
}

// ---------------------------------------------------------------------------------------------
// Splits (splits.ts)

/** Which of a route's targets a request goes to. */
export interface SplitChoice {
  /** `primary`, `canary`, `blue` or `green`: sent back as `x-stageline-target`. */
  name: string;
  /** An index into the route's compiled targets. */
  target: number;
}

/** Chooses a target for a client; sticky: the same client id always gets the same choice for a weight. */
export type Splitter = (clientId: string) => SplitChoice;

// ---------------------------------------------------------------------------------------------
// The per-request hook for metrics (next issue): absent costs nothing.

export interface GatewayRequestEvent {
  workspaceId: string;
  environmentId: string;
  /** The route's resource key; null when no route matched. */
  route: string | null;
  status: number;
  /** `upstream_timeout`, `rate_limited`, … for answers the gateway made itself. */
  code: string | null;
  /** From the request's arrival to the end of the response, in ms. */
  durationMs: number;
  upstreamFailure: UpstreamFailureKind | null;
}

export type GatewayObserver = (event: GatewayRequestEvent) => void;
