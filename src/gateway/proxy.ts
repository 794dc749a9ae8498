// The gateway's request handler: selects the environment (header, API key or default), reads its
// route table, applies the route's rules (methods, kill switch, allow-list, limits, split) and
// hands the request to the upstream pool. Everything in memory is answered synchronously: a
// request waits only for what is not (a first table build, a key lookup, a Redis count).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { StagelineError } from '../domain/errors.js';
import type { KeyPrincipal } from '../services/api-keys.js';
import type { KeyCache } from '../runtime/key-cache.js';
import { KeyError } from '../domain/secrets/envelope.js';
import { errorBody, SECRET_UNREADABLE, secretUnreadableMessage } from '../http/errors.js';
import { clientAddress, type AddressSet } from './clients.js';
import type { ForwardOutcome, ForwardRequest, GatewayObserver, LimitDecision, UpstreamFailureKind } from './contract.js';
import { UnknownWorkspace, type Environments, type ServedEnvironment } from './environments.js';
import { forwardedPath, parseRequestTarget } from './paths.js';
import { pickRoute, refusal, type CompiledRoute, type PrefixGroup, type Refusal, type RouteTable, type RouteTarget } from './table.js';
import { HOP_BY_HOP } from './http1.js';

export interface HandlerOptions {
  environments: Environments;
  keys: KeyCache;
  /** STAGELINE_REGION / --region: environments of another region answer 421. */
  region: string | null;
  /** STAGELINE_TRUSTED_PROXIES, compiled: only their x-forwarded-* headers are believed. */
  trustedProxies: AddressSet;
  /** Largest JSON body read for `injectBody` (STAGELINE_GATEWAY_BODY_LIMIT). */
  bodyLimit: number;
  /**
   * STAGELINE_GATEWAY_OPEN_EDITABLE: whether `x-stageline-env` alone selects development or a
   * branch. Off by default: whoever drafts there chooses its upstreams, and those environments
   * may reach loopback and private addresses, so from outside they need one of their keys.
   */
  openEditable: boolean;
  observer?: GatewayObserver | undefined;
  logger?: FastifyBaseLogger | undefined;
}

/**
 * Request headers never forwarded: hop-by-hop ones (HOP_BY_HOP, shared with the response side), the ones selecting the
 * environment, and the ones the gateway sets itself. `expect` was answered by this server. The
 * single-address client headers some upstreams believe (`x-real-ip` and the like) are dropped:
 * a client could forge them, and x-forwarded-for / forwarded carry the address the gateway saw.
 */
const NOT_FORWARDED = new Set([
  ...HOP_BY_HOP,
  'http2-settings',
  'host',
  'expect',
  'x-stageline-env',
  'x-stageline-key',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
  'x-request-id',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-cluster-client-ip',
]);

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Request ids unique across processes: a random prefix per process and a counter. */
const REQUEST_ID_PREFIX = `gw_${randomBytes(6).toString('hex')}`;
let requestCounter = 0;
export function nextRequestId(): string {
  requestCounter = (requestCounter + 1) % Number.MAX_SAFE_INTEGER;
  return REQUEST_ID_PREFIX + requestCounter.toString(36).padStart(6, '0');
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const FAILURES: Record<UpstreamFailureKind, [number, string]> = {
  timeout: [504, 'upstream_timeout'],
  unreachable: [502, 'upstream_unreachable'],
  bad_response: [502, 'upstream_unreachable'],
  egress_denied: [502, 'egress_denied'],
  invalid_request: [400, 'invalid_request'],
};

const EMPTY = Buffer.alloc(0);
const INVALID_PATH = refusal(400, 'invalid_path', 'the request path is not valid: send an absolute path without escaped "/", "\\" or NUL');
/**
 * Only WebSocket upgrades are tunnelled: after any other protocol switch (h2c above all) the
 * client could send requests for any path of the upstream, outside the route's rules.
 */
const UPGRADE_REFUSED = refusal(400, 'invalid_request', 'only WebSocket upgrades ("Upgrade: websocket") pass the gateway');
const UNAVAILABLE = refusal(503, 'unavailable', 'the gateway cannot read its routes now; try again');

/** The gateway's handler for one node: `handle` for requests, `upgrade` for Upgrade requests. */
export class GatewayHandler {
  constructor(readonly options: HandlerOptions) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    new Exchange(this.options, req, res, null, null).start();
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    new Exchange(this.options, req, null, socket, head).start();
  }
}

/** One request through the gateway, from its head to the end of its answer. */
class Exchange {
  private readonly started: number;
  /** Lower-case header names, parallel to the pairs of req.rawHeaders. */
  private readonly names: string[] = [];
  private envSlug: string | undefined;
  private key: string | undefined;
  private host: string | undefined;
  private forwardedFor: string | string[] | undefined;
  private forwardedProto: string | undefined;
  private forwardedHost: string | undefined;
  private forwarded: string | undefined;
  private contentType: string | undefined;
  private contentEncoding: string | undefined;
  private contentLength: string | undefined;
  private chunked = false;
  /** Names listed in the request's Connection header (hop-by-hop by declaration). */
  private connectionNames: Set<string> | null = null;
  private upgradeHeader: string | undefined;
  private requestId = '';
  private path = '';
  private query = '';
  private principal: KeyPrincipal | null = null;
  private served: ServedEnvironment | null = null;
  private table: RouteTable | null = null;
  private route: CompiledRoute | null = null;
  private address = '';
  private limitHeaders: string[] | null = null;
  /** The split's choice, sent back as x-stageline-target. */
  private targetName: string | null = null;
  private finished = false;
  /** Times the request was sent again (route `retries`). */
  private attempts = 0;

  constructor(
    private readonly options: HandlerOptions,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse | null,
    private readonly socket: Duplex | null,
    private readonly head: Buffer | null,
  ) {
    this.started = options.observer ? performance.now() : 0;
  }

  start(): void {
    this.readHeaders();
    const target = parseRequestTarget(this.req.url ?? '');
    if (target === null) return this.refuse(INVALID_PATH);
    this.path = target.path;
    this.query = target.query;
    if (this.socket !== null && (this.upgradeHeader === undefined || this.upgradeHeader.trim().toLowerCase() !== 'websocket')) return this.refuse(UPGRADE_REFUSED);
    this.selectEnvironment();
  }

  /** One pass over the raw headers: the ones the gateway reads, and every name lower-cased. */
  private readHeaders() {
    const raw = this.req.rawHeaders;
    const names = this.names;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      names.push(name);
      const value = raw[i + 1]!;
      switch (name) {
        case 'x-stageline-env':
          this.envSlug ??= value;
          break;
        case 'x-stageline-key':
          this.key ??= value;
          break;
        case 'host':
          this.host ??= value;
          break;
        case 'x-forwarded-for':
          if (this.forwardedFor === undefined) this.forwardedFor = value;
          else if (typeof this.forwardedFor === 'string') this.forwardedFor = [this.forwardedFor, value];
          else this.forwardedFor.push(value);
          break;
        case 'x-forwarded-proto':
          this.forwardedProto ??= value;
          break;
        case 'x-forwarded-host':
          this.forwardedHost ??= value;
          break;
        case 'forwarded':
          this.forwarded = this.forwarded === undefined ? value : `${this.forwarded}, ${value}`;
          break;
        case 'x-request-id':
          if (this.requestId === '' && REQUEST_ID.test(value)) this.requestId = value;
          break;
        case 'content-type':
          this.contentType ??= value;
          break;
        case 'content-encoding':
          this.contentEncoding ??= value;
          break;
        case 'content-length':
          this.contentLength ??= value;
          break;
        case 'transfer-encoding':
          this.chunked = true;
          break;
        case 'upgrade':
          this.upgradeHeader ??= value;
          break;
        case 'connection':
          // The usual values name no header: no split.
          if (value.length <= 10 && /^(?:keep-alive|close|upgrade)$/i.test(value)) break;
          for (const token of value.split(',')) {
            const listed = token.trim().toLowerCase();
            if (listed !== '' && listed !== 'close' && listed !== 'keep-alive' && listed !== 'upgrade') (this.connectionNames ??= new Set()).add(listed);
          }
          break;
      }
    }
    if (this.requestId === '') this.requestId = nextRequestId();
  }

  /** A request header by lower-case name (the first), for `match.headers`. */
  header(name: string): string | undefined {
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i] === name) return this.req.rawHeaders[i * 2 + 1];
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // The environment

  private selectEnvironment() {
    const { environments, keys } = this.options;
    if (this.key !== undefined) {
      // Cached under the Authorization header the runtime API would see for the same key, so a
      // key used here does not become usable on /v1 without "Bearer".
      const header = 'Bearer ' + this.key;
      const cached = keys.cachedByHeader(header);
      if (cached !== undefined && environments.ready) return this.withPrincipal(cached);
      const waiting = cached !== undefined ? Promise.resolve(cached) : keys.authenticate(this.key, header);
      waiting.then(
        (principal) => (environments.ready ? this.withPrincipal(principal) : environments.refresh().then(() => this.withPrincipal(principal), (error) => this.failed(error))),
        (error) => (error instanceof StagelineError && error.status === 401 ? this.answer(401, 'unauthenticated', `x-stageline-key: ${error.message}`) : this.failed(error)),
      );
      return;
    }
    if (this.envSlug !== undefined) {
      const served = environments.bySlugNow(this.envSlug);
      if (served !== undefined) return this.byHeader(served);
      environments.bySlugLoaded(this.envSlug).then((found) => (found ? this.byHeader(found) : this.unknownEnvironment()), (error) => this.failed(error));
      return;
    }
    const fallback = environments.defaultNow();
    if (fallback !== undefined) return fallback === null ? this.noDefault() : this.withEnvironment(fallback);
    environments.defaultLoaded().then((found) => (found ? this.withEnvironment(found) : this.noDefault()), (error) => this.failed(error));
  }

  /** An environment named by `x-stageline-env` alone (no key). */
  private byHeader(served: ServedEnvironment) {
    if (served.editable && !this.options.openEditable && served !== this.options.environments.defaultNow()) {
      const slug = served.environment.slug;
      return this.answer(403, 'key_required', `${slug} is editable (development or a branch): select it with one of its API keys in x-stageline-key`, [
        { header: 'x-stageline-key', environment: slug },
      ]);
    }
    return this.withEnvironment(served);
  }

  private withPrincipal(principal: KeyPrincipal) {
    const { environments } = this.options;
    this.principal = principal;
    if (principal.workspaceId !== environments.workspace) {
      return this.answer(401, 'unauthenticated', 'the API key in x-stageline-key belongs to a workspace this gateway does not serve');
    }
    const served = environments.byIdNow(principal.environmentId);
    if (served !== undefined) return this.withKeyEnvironment(served);
    environments.byIdLoaded(principal.environmentId).then((found) => {
      if (found) return this.withKeyEnvironment(found);
      // The key's environment is gone: every key of it is refused from now on, not only this one.
      this.options.keys.forget(principal, 'environment');
      this.answer(401, 'unauthenticated', 'the API key in x-stageline-key is not valid');
    }, (error) => this.failed(error));
  }

  private withKeyEnvironment(served: ServedEnvironment) {
    if (this.envSlug === undefined) return this.withEnvironment(served);
    const named = this.options.environments.bySlugNow(this.envSlug);
    const compare = (found: ServedEnvironment | undefined) => {
      if (found === undefined) return this.unknownEnvironment();
      if (found !== served) {
        return this.answer(400, 'environment_mismatch', `x-stageline-env names ${this.envSlug} but the API key in x-stageline-key belongs to ${served.environment.slug}`, [
          { header: 'x-stageline-env', environment: this.envSlug, keyEnvironment: served.environment.slug },
        ]);
      }
      this.withEnvironment(served);
    };
    if (named !== undefined) return compare(named);
    this.options.environments.bySlugLoaded(this.envSlug).then(compare, (error) => this.failed(error));
  }

  private unknownEnvironment() {
    this.answer(404, 'unknown_environment', `x-stageline-env names no environment of this gateway's workspace`, [{ header: 'x-stageline-env' }]);
  }

  private noDefault() {
    this.answer(404, 'unknown_environment', 'the request names no environment (x-stageline-env or x-stageline-key) and this gateway has no default environment');
  }

  private withEnvironment(served: ServedEnvironment) {
    this.served = served;
    const env = served.environment;
    const region = this.options.region;
    if (region !== null && env.region !== null && env.region !== region) {
      return this.answer(421, 'wrong_region', `environment ${env.slug} is served by gateway nodes of region ${env.region}; this node serves region ${region}`, [
        { environment: env.slug, region: env.region, nodeRegion: region },
      ]);
    }
    const table = served.tableNow();
    if (table !== null) return this.withTable(table);
    served.table().then(
      (built) => this.withTable(built),
      (error) => this.failed(error),
    );
  }

  // -------------------------------------------------------------------------------------------
  // The route

  private withTable(table: RouteTable) {
    this.table = table;
    table.inFlight += 1;
    const group = table.group(this.path);
    const picked = pickRoute(group, this.req.method ?? 'GET', this);
    if (picked === undefined) {
      return this.answer(404, 'no_route', `no route of ${table.environment.slug} matches ${this.path}`, [{ environment: table.environment.slug, path: this.path }]);
    }
    if (!('key' in picked)) return this.methodNotAllowed(picked);
    const route = picked;
    this.route = route;
    if (route.refusal !== null) return this.refuse(route.refusal);
    this.address = clientAddress(this.req.socket.remoteAddress, this.forwardedFor, this.options.trustedProxies);
    if (route.allowList !== null && !route.allowList.allows(this.address)) {
      return this.answer(403, 'client_not_allowed', `route ${route.key} does not accept requests from this client address`, [{ route: route.key, address: this.address }]);
    }
    if (route.limiter === null) return this.toTarget();
    const decision = route.limiter.take(this.principal?.id ?? this.address, this.address);
    if ('then' in decision) {
      decision.then(
        (settled) => this.withLimit(settled),
        (error) => this.failed(error),
      );
      return;
    }
    this.withLimit(decision);
  }

  private methodNotAllowed(group: PrefixGroup) {
    const method = this.req.method ?? '';
    this.answer(405, 'method_not_allowed', `the route for ${this.path} does not accept ${method}; it accepts ${group.allow}`, [{ method, allow: group.allow }], ['allow', group.allow]);
  }

  private withLimit(decision: LimitDecision) {
    this.limitHeaders = decision.headers.length > 0 ? decision.headers : null;
    if (decision.allowed) return this.toTarget();
    const route = this.route!;
    if (decision.storeUnavailable) {
      return this.answer(503, 'limit_store_unavailable', `route ${route.key} counts its limits in a store that is unreachable now and refuses requests until it is back`, [{ route: route.key }]);
    }
    // Retry-After is among the decision's headers.
    const retry = decision.retryAfterSeconds ?? 1;
    const tier = decision.tripped ?? 'window';
    this.answer(429, 'rate_limited', `route ${route.key} allows no more requests from this client now (${tier} limit); retry in ${retry} s`, [{ route: route.key, limit: tier, retryAfterSeconds: retry }]);
  }

  private toTarget() {
    const route = this.route!;
    let target: RouteTarget;
    if (route.splitter !== null) {
      const choice = route.splitter(this.principal?.id ?? this.address);
      target = route.targets[choice.target]!;
      this.targetName = choice.name;
    } else {
      target = route.targets[0]!;
    }
    if (target.refusal !== null) return this.refuse(target.refusal);
    if (this.socket !== null) return this.forwardUpgrade(route, target);
    // A JSON request that has a body, even an empty one (Content-Length: 0), gets the route's fields.
    const framed = this.chunked || this.contentLength !== undefined;
    if (route.injectBody !== null && framed && this.contentType !== undefined && JSON_TYPE.test(this.contentType)) return this.readJsonBody(route, target);
    const hasBody = this.chunked || (this.contentLength !== undefined && this.contentLength !== '0');
    this.forward(route, target, hasBody ? this.req : null);
  }

  // -------------------------------------------------------------------------------------------
  // Bodies

  private readJsonBody(route: CompiledRoute, target: RouteTarget) {
    const limit = this.options.bodyLimit;
    if (this.contentEncoding !== undefined && this.contentEncoding.toLowerCase() !== 'identity') {
      return this.answer(415, 'unsupported_media_type', `route ${route.key} adds fields to JSON bodies: send the body without Content-Encoding`, [{ route: route.key }]);
    }
    if (this.contentLength !== undefined && Number(this.contentLength) > limit) return this.tooLarge(route, limit);
    const req = this.req;
    // The client left during an earlier wait (a key lookup, a first table build, a Redis count):
    // no 'end' or 'close' would come to release the table.
    if (req.destroyed) return this.finish(null);
    const chunks: Buffer[] = [];
    let size = 0;
    let read = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        read = true;
        req.off('data', onData);
        req.off('end', onEnd);
        this.tooLarge(route, limit);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      read = true;
      req.off('data', onData);
      this.withJsonBody(route, target, Buffer.concat(chunks, size));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.on('error', () => {});
    // The client went away before its body was in: nobody is left to answer.
    req.once('close', () => {
      if (!read) this.finish(null);
    });
  }

  private tooLarge(route: CompiledRoute, limit: number) {
    // The rest of the body is not read: the connection closes after the answer.
    this.answer(413, 'payload_too_large', `route ${route.key} reads JSON bodies of up to ${limit} bytes to add its fields`, [{ route: route.key, limit }], ['connection', 'close']);
  }

  private withJsonBody(route: CompiledRoute, target: RouteTarget, bytes: Buffer) {
    let body: unknown = {};
    if (bytes.length > 0) {
      try {
        body = JSON.parse(bytes.toString('utf8'));
      } catch {
        return this.answer(400, 'invalid_body', 'the request body is not valid JSON', [{ route: route.key }]);
      }
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return this.answer(400, 'invalid_body', `route ${route.key} adds fields to the request body: send a JSON object`, [{ route: route.key }]);
    }
    const merged = body as Record<string, unknown>;
    // Defined, not assigned: `__proto__` in either is a field like any other.
    for (const [key, value] of Object.entries(route.injectBody!)) Object.defineProperty(merged, key, { value, enumerable: true, writable: true, configurable: true });
    // Encoded again (not spliced), so the upstream never sees a client's copy of an injected key.
    let encoded: string;
    try {
      encoded = JSON.stringify(merged);
    } catch {
      return this.answer(400, 'invalid_body', `the request body nests too deeply for route ${route.key} to add its fields`, [{ route: route.key }]);
    }
    this.forward(route, target, Buffer.from(encoded));
  }

  // -------------------------------------------------------------------------------------------
  // Upstream

  /** The headers sent upstream: the client's minus the ones never forwarded, then the route's and the gateway's. */
  private upstreamHeaders(route: CompiledRoute, body: IncomingMessage | Buffer | null): string[] {
    const raw = this.req.rawHeaders;
    const names = this.names;
    // A replaced body (injectBody) has a new length: the upstream leg frames it (and any body) itself.
    const replaced = body !== null && body !== this.req;
    const out: string[] = [];
    const connectionNames = this.connectionNames;
    const injected = route.injectedNames;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      if (NOT_FORWARDED.has(name) || injected.has(name) || (connectionNames !== null && connectionNames.has(name))) continue;
      if (replaced && name === 'content-length') continue;
      out.push(raw[i * 2]!, raw[i * 2 + 1]!);
    }
    const inject = route.injectHeaders;
    for (let i = 0; i < inject.length; i++) out.push(inject[i]!);
    this.pushForwarded(out);
    out.push('x-request-id', this.requestId);
    return out;
  }

  /** x-forwarded-for/-proto/-host and Forwarded: extended when the peer is a trusted proxy, else set afresh. */
  private pushForwarded(out: string[]) {
    const peer = normalPeer(this.req.socket.remoteAddress);
    const trusted = peer !== '' && this.options.trustedProxies.allows(peer);
    const host = this.host ?? '';
    const xff = trusted && this.forwardedFor !== undefined ? `${typeof this.forwardedFor === 'string' ? this.forwardedFor : this.forwardedFor.join(', ')}, ${peer}` : peer;
    out.push('x-forwarded-for', xff);
    out.push('x-forwarded-proto', trusted && this.forwardedProto !== undefined ? this.forwardedProto : 'http');
    if (host !== '' || (trusted && this.forwardedHost !== undefined)) out.push('x-forwarded-host', trusted && this.forwardedHost !== undefined ? this.forwardedHost : host);
    const element = `for=${forwardedNode(peer)}${host !== '' ? `;host=${quoted(host)}` : ''};proto=http`;
    out.push('forwarded', trusted && this.forwarded !== undefined ? `${this.forwarded}, ${element}` : element);
  }

  private forward(route: CompiledRoute, target: RouteTarget, body: IncomingMessage | Buffer | null) {
    const request: ForwardRequest = {
      method: this.req.method ?? 'GET',
      path: forwardedPath(target.upstream.basePath, route.prefix, this.path, route.stripPrefix) + this.query,
      headers: this.upstreamHeaders(route, body),
      body,
      timeoutMs: route.timeoutMs,
    };
    const extra = this.responseHeaders();
    const pool = target.pool!;
    const done = (outcome: ForwardOutcome) => {
      if (this.retry(outcome, request)) pool.forward(request, this.res!, extra, done);
      else this.forwardEnded(outcome);
    };
    pool.forward(request, this.res!, extra, done);
  }

  /**
   * Whether to send the request again after `outcome`: a connection that failed before any
   * response head, a route with `retries` left, an idempotent method and a body that can be
   * sent twice (none, or one already in memory), as nginx's proxy_next_upstream does by default.
   */
  private retry(outcome: ForwardOutcome, request: ForwardRequest): boolean {
    const failure = outcome.failure;
    if (failure === null || failure.kind !== 'unreachable' || outcome.headersSent || this.attempts >= this.route!.retries) return false;
    if (request.body !== null && !Buffer.isBuffer(request.body)) return false;
    if (!IDEMPOTENT.has(request.method)) return false;
    this.attempts += 1;
    return true;
  }

  private forwardUpgrade(route: CompiledRoute, target: RouteTarget) {
    const headers = this.upstreamHeaders(route, null);
    // The Upgrade request's own point: the protocol asked for goes upstream with it.
    if (this.upgradeHeader !== undefined) headers.push('connection', 'upgrade', 'upgrade', this.upgradeHeader);
    const request: ForwardRequest = {
      method: this.req.method ?? 'GET',
      path: forwardedPath(target.upstream.basePath, route.prefix, this.path, route.stripPrefix) + this.query,
      headers,
      body: null,
      timeoutMs: route.timeoutMs,
    };
    target.pool!.upgrade(request, this.socket!, this.head ?? EMPTY, (outcome) => this.forwardEnded(outcome));
  }

  /** What the gateway adds to an upstream's response: the limit headers and the split's choice. */
  private responseHeaders(): string[] | null {
    const limits = this.limitHeaders;
    if (this.targetName === null) return limits;
    const out = limits === null ? [] : limits.slice();
    out.push('x-stageline-target', this.targetName);
    return out;
  }

  /** The upstream leg ended: a failure before any response head is answered here. */
  private forwardEnded(outcome: ForwardOutcome) {
    const failure = outcome.failure;
    if (failure === null || outcome.headersSent) return this.finish(outcome);
    const route = this.route!;
    const [status, code] = FAILURES[failure.kind];
    const details: unknown[] = [{ route: route.key, ...(this.targetName !== null ? { target: this.targetName } : {}) }];
    const message =
      failure.kind === 'timeout'
        ? `the upstream of route ${route.key} did not answer within ${route.timeoutMs} ms`
        : failure.kind === 'egress_denied'
          ? `the upstream of route ${route.key} is refused by the egress policy of ${this.served!.environment.slug}: ${failure.message}`
          : failure.kind === 'invalid_request'
            ? `the request cannot be sent upstream: ${failure.message}`
            : `the upstream of route ${route.key} could not be reached: ${failure.message}`;
    this.answer(status, code, message, details, null, outcome);
  }

  // -------------------------------------------------------------------------------------------
  // Answers made here

  private failed(error: unknown) {
    if (error instanceof UnknownWorkspace) return this.answer(503, 'unavailable', `this gateway serves workspace ${error.slug}, which does not exist`);
    this.options.logger?.error({ err: error, reqId: this.requestId }, 'gateway request failed');
    // A secret the route injects that cannot be decrypted: retrying will not help, so say what it is.
    if (error instanceof KeyError) return this.answer(500, SECRET_UNREADABLE, secretUnreadableMessage(error));
    this.refuse(UNAVAILABLE);
  }

  private refuse(answer: Refusal) {
    this.send(answer.status, answer.code, answer.body, null, null);
  }

  private answer(status: number, code: string, message: string, details: unknown[] = [], extra: string[] | null = null, outcome: ForwardOutcome | null = null) {
    this.send(status, code, JSON.stringify(errorBody(code, message, details)), extra, outcome);
  }

  /** Writes an answer of the gateway's own, with the limit headers and the split's choice when there are. */
  private send(status: number, code: string, body: string, extra: string[] | null, outcome: ForwardOutcome | null) {
    const res = this.res;
    const added = this.responseHeaders();
    if (res !== null) {
      if (!res.headersSent && !res.destroyed) {
        const headers = ['content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'x-request-id', this.requestId];
        if (added !== null) for (let i = 0; i < added.length; i++) headers.push(added[i]!);
        if (extra !== null) for (let i = 0; i < extra.length; i++) headers.push(extra[i]!);
        res.writeHead(status, headers).end(body);
      }
    } else if (this.socket !== null && this.socket.writable) {
      let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${this.requestId}\r\nconnection: close\r\n`;
      for (const list of [added, extra]) if (list !== null) for (let i = 0; i < list.length; i += 2) head += `${list[i]}: ${list[i + 1]}\r\n`;
      // Written, then closed: the client's side of the connection is not left half open.
      const socket = this.socket;
      socket.end(`${head}\r\n${body}`, () => socket.destroy());
    }
    this.finish(outcome, status, code);
  }

  private finish(outcome: ForwardOutcome | null, status?: number, code?: string) {
    if (this.finished) return;
    this.finished = true;
    this.table?.leave();
    const observer = this.options.observer;
    if (!observer) return;
    const env = this.served?.environment;
    if (!env) return;
    observer({
      workspaceId: env.workspaceId,
      environmentId: env.id,
      route: this.route?.key ?? null,
      status: status ?? outcome?.status ?? 0,
      code: code ?? null,
      durationMs: performance.now() - this.started,
      upstreamFailure: outcome?.failure?.kind ?? null,
    });
  }
}

/** The peer address as sent in x-forwarded-for: IPv4-mapped IPv6 as IPv4. */
function normalPeer(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.indexOf('.') !== -1 ? address.slice(7) : address;
}

/** A node in Forwarded (RFC 7239): IPv6 in brackets, quoted. */
function forwardedNode(address: string): string {
  if (address === '') return 'unknown';
  return address.indexOf(':') !== -1 ? `"[${address}]"` : address;
}

function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}
