// The gateway's upstream leg: a keep-alive pool of HTTP/1.1 connections (net, or tls for https)
// to one origin, writing each request in one write and streaming the response into the client's
// node:http ServerResponse as it arrives, with backpressure both ways.
//
// Per request on a warm connection: one Exchange object, one head string, the parser's header
// strings and the relayed header array. No promise, no timer: one sweep per pool times out
// response heads and idle connections.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { Admit, ForwardOutcome, ForwardRequest, UpstreamFailureKind, UpstreamPool, UpstreamTarget } from './contract.js';
import { BODY_CHUNKED, DEFAULT_MAX_HEADER_BYTES, isHopByHop, ResponseParser, type ResponseSink } from './http1.js';

export { HOP_BY_HOP } from './http1.js';

export interface PoolOptions {
  /** The egress check, called for every new connection; its answer is the address connected to. */
  admit: Admit;
  /** Connections open at once (busy, idle or connecting); further requests wait in a queue. Default 128. */
  maxConnections?: number;
  /** How long an idle connection is kept. Default 30 s. */
  keepAliveMs?: number;
  /** How long a new connection may take: the egress check (and its name resolution), TCP, TLS. Default 10 s. */
  connectTimeoutMs?: number;
  /** The largest response head (and trailer section) accepted. Default 64 KiB. */
  maxResponseHeaderBytes?: number;
  /** Certificates to trust for an https upstream instead of the system's (a private CA, tests). */
  ca?: string | Buffer | Array<string | Buffer>;
}

/** Methods a keep-alive race may send twice: sending them again is harmless (RFC 9110 §9.2.2). */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const DEFAULT_MAX_CONNECTIONS = 128;
const DEFAULT_KEEP_ALIVE_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Parses a route's upstream URL once, when a route table is built. Throws on anything but http(s) to a host. */
export function parseUpstreamUrl(url: string): UpstreamTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`the upstream URL ${JSON.stringify(url)} is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`the upstream URL ${JSON.stringify(url)} must use http or https, not ${parsed.protocol.slice(0, -1)}`);
  if (parsed.username !== '' || parsed.password !== '') throw new Error('the upstream URL must not carry credentials: send them with injectHeaders');
  if (parsed.search !== '' || parsed.hash !== '') throw new Error(`the upstream URL ${JSON.stringify(url)} must not have a query or a fragment: the request's path and query are appended to it`);
  const bracketed = parsed.hostname.startsWith('[');
  const hostname = bracketed ? parsed.hostname.slice(1, -1) : parsed.hostname;
  if (hostname === '') throw new Error(`the upstream URL ${JSON.stringify(url)} has no host`);
  const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
  const basePath = parsed.pathname.replace(/\/+$/, '');
  // URL.host omits the scheme's default port and keeps an IPv6 address in brackets.
  return { protocol: parsed.protocol, hostname, port, hostHeader: parsed.host, basePath };
}

export function createUpstreamPool(target: UpstreamTarget, options: PoolOptions): UpstreamPool {
  return new Pool(target, options);
}

// ---------------------------------------------------------------------------------------------
// The request head

class InvalidRequest extends Error {}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What Node's own client and server refuse in a header value: control bytes but HTAB, and anything over 0xFF. */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** Bytes that cannot be in a request-target: space, control bytes, DEL, anything over 0xFF. */
const INVALID_TARGET = /[^\x21-\x7e\x80-\xff]/;
const DIGITS = /^\d{1,15}$/;

// How the request body is written.
const SEND_NONE = 0;
const SEND_BUFFER = 1;
const SEND_LENGTH = 2;
const SEND_CHUNKED = 3;
type SendMode = typeof SEND_NONE | typeof SEND_BUFFER | typeof SEND_LENGTH | typeof SEND_CHUNKED;

const EMPTY = Buffer.alloc(0);
const LAST_CHUNK = '0\r\n\r\n';

/**
 * The request line, Host, the caller's headers and the framing this leg chooses (the caller's
 * own Host, Content-Length and Transfer-Encoding are not written: the body decides them).
 */
function requestHead(target: UpstreamTarget, request: ForwardRequest, mode: SendMode, length: number): string {
  const { method, path, headers } = request;
  if (!TOKEN.test(method)) throw new InvalidRequest('the request method is not a valid HTTP token');
  if (path === '' || INVALID_TARGET.test(path)) throw new InvalidRequest('the request path has a byte HTTP/1.1 does not allow in a request-target');
  let head = `${method} ${path} HTTP/1.1\r\nHost: ${target.hostHeader}\r\n`;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1];
    if (typeof value !== 'string' || !TOKEN.test(name)) throw new InvalidRequest(`the request header ${JSON.stringify(String(name).slice(0, 64))} is not a valid header name`);
    if (INVALID_VALUE.test(value)) throw new InvalidRequest(`the value of the request header ${name} has a byte HTTP/1.1 does not allow`);
    if (isFramingOrHost(name)) continue;
    head += `${name}: ${value}\r\n`;
  }
  if (mode === SEND_BUFFER || mode === SEND_LENGTH) head += `Content-Length: ${length}\r\n`;
  else if (mode === SEND_CHUNKED) head += 'Transfer-Encoding: chunked\r\n';
  return `${head}\r\n`;
}

function isFramingOrHost(name: string): boolean {
  switch (name.length) {
    case 4:
      return name.toLowerCase() === 'host';
    case 14:
      return name.toLowerCase() === 'content-length';
    case 17:
      return name.toLowerCase() === 'transfer-encoding';
    default:
      return false;
  }
}

/** How an exchange writes `body`. */
function sendMode(body: IncomingMessage | Buffer | null): SendMode {
  if (body === null) return SEND_NONE;
  if (Buffer.isBuffer(body)) return SEND_BUFFER;
  if (body.headers['transfer-encoding'] !== undefined) return SEND_CHUNKED;
  return body.headers['content-length'] === undefined ? SEND_NONE : SEND_LENGTH;
}

/** The length sent for a body written with `mode` (Content-Length), 0 for the others. */
function sendLength(body: IncomingMessage | Buffer | null, mode: SendMode): number {
  if (mode === SEND_BUFFER) return (body as Buffer).length;
  if (mode !== SEND_LENGTH) return 0;
  const length = (body as IncomingMessage).headers['content-length']!;
  if (!DIGITS.test(length)) throw new InvalidRequest('the request has an invalid Content-Length');
  return Number(length);
}

/** The upstream's response headers for the client: hop-by-hop ones and those named in Connection dropped. */
function relayedHeaders(parser: ResponseParser, extra: string[] | null): string[] {
  const headers = parser.headers;
  const tokens = parser.connectionTokens;
  // A chunked body (even one that also named a length) and a length sent oddly are re-framed.
  const dropLength = parser.bodyKind === BODY_CHUNKED || !parser.contentLengthCanonical;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (isHopByHop(name)) continue;
    if (dropLength && name.length === 14 && name.toLowerCase() === 'content-length') continue;
    if (tokens !== null && tokens.includes(name.toLowerCase())) continue;
    out.push(name, headers[i + 1]!);
  }
  if (!parser.contentLengthCanonical && parser.bodyKind !== BODY_CHUNKED) out.push('content-length', String(parser.contentLength));
  if (extra !== null) for (let i = 0; i < extra.length; i++) out.push(extra[i]!);
  return out;
}

// ---------------------------------------------------------------------------------------------
// One exchange

/** The exchange a client-side object (response, request body, upgraded socket) belongs to. */
const kExchange = Symbol('stageline.upstream.exchange');
interface Carrier {
  [kExchange]?: Exchange | null;
}

// Listeners shared by every exchange: the emitter finds its exchange, so none is a new closure.
function onClientClose(this: Carrier): void {
  this[kExchange]?.clientClosed();
}
function onClientError(this: Carrier): void {
  this[kExchange]?.clientClosed();
}
function onClientDrain(this: Carrier): void {
  this[kExchange]?.connection?.resumeResponse();
}
function onBodyData(this: Carrier, chunk: Buffer): void {
  this[kExchange]?.connection?.writeBody(chunk);
}
function onBodyEnd(this: Carrier): void {
  this[kExchange]?.connection?.endBody();
}
function onBodyClose(this: IncomingMessage & Carrier): void {
  if (!this.complete) this[kExchange]?.clientClosed();
}

function deliver(done: (outcome: ForwardOutcome) => void, outcome: ForwardOutcome): void {
  done(outcome);
}

class Exchange {
  connection: Connection | null = null;
  status = 0;
  headersSent = false;
  /** The response head arrived (the timeout no longer applies). */
  answered = false;
  /** The request body is written in full. */
  sent = false;
  finished = false;
  retried = false;
  bodyPaused = false;
  listeningDrain = false;
  deadline = Infinity;
  res: ServerResponse | null = null;
  extraHeaders: string[] | null = null;
  client: Duplex | null = null;
  tunnelHead: Buffer | null = null;

  constructor(
    readonly pool: Pool,
    readonly head: string,
    readonly mode: SendMode,
    readonly body: IncomingMessage | Buffer | null,
    readonly isHead: boolean,
    readonly upgrade: boolean,
    readonly timeoutMs: number,
    readonly done: (outcome: ForwardOutcome) => void,
    /** Safe to send twice (GET, PUT, DELETE, …): a keep-alive race may resend it. */
    readonly idempotent: boolean,
  ) {}

  /** Whether the request can be sent again: its body, if any, is still in memory. */
  get retryable(): boolean {
    // A request the upstream may have acted on before the connection closed is sent again only
    // when sending it twice is harmless (RFC 9110 §9.2.2), as nginx does.
    return (this.mode === SEND_NONE || this.mode === SEND_BUFFER) && this.idempotent;
  }

  /** The client-side object whose drain resumes the upstream socket. */
  get sink(): (Carrier & NodeJS.WritableStream) | null {
    return (this.res ?? this.client) as (Carrier & NodeJS.WritableStream) | null;
  }

  /** The client went away: the exchange ends now and its connection, if it had one busy, is closed. */
  clientClosed(): void {
    if (this.finished) return;
    const connection = this.connection;
    if (connection !== null) connection.abandon(this);
    this.end(null, true);
  }

  /** Ends the exchange: no more work for it, its listeners detached, `done` called once. */
  end(failure: { kind: UpstreamFailureKind; message: string } | null, clientAborted = false): void {
    if (this.finished) return;
    this.finished = true;
    this.pool.unwatch(this);
    this.connection = null;
    const sink = this.sink;
    if (sink !== null) sink[kExchange] = null;
    const body = this.body;
    if (body !== null && !Buffer.isBuffer(body) && (body as Carrier)[kExchange] === this) {
      (body as Carrier)[kExchange] = null;
      body.removeListener('data', onBodyData);
      body.removeListener('end', onBodyEnd);
      body.removeListener('close', onBodyClose);
      // What the upstream did not take is read and dropped, so the client's connection can go on.
      if (!body.readableEnded) body.resume();
    }
    if (failure !== null && this.headersSent) {
      // The client already has a head: the only way left to say the response is broken.
      this.res?.destroy();
      this.client?.destroy();
    }
    const outcome: ForwardOutcome = { status: this.status, failure, headersSent: this.headersSent };
    if (clientAborted) outcome.clientAborted = true;
    this.done(outcome);
  }
}

// ---------------------------------------------------------------------------------------------
// One connection

const CONNECTING = 0;
const IDLE = 1;
const BUSY = 2;
const TUNNEL = 3;
const CLOSED = 4;

class Connection implements ResponseSink {
  socket: Socket | null = null;
  state = CONNECTING;
  exchange: Exchange | null = null;
  /** Served or waited in the pool before: a close before any response byte may be the keep-alive race. */
  reused = false;
  idleUntil = 0;
  private readonly parser: ResponseParser;
  private connectTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pool: Pool,
    /** The exchange this connection is opened for (it may end before the connection is ready). */
    private reserved: Exchange | null,
  ) {
    this.parser = new ResponseParser(this, pool.maxResponseHeaderBytes);
    pool.connections.add(this);
    if (reserved !== null) reserved.connection = this;
    // The egress check (with its name resolution), the TCP connection and the TLS handshake.
    this.connectTimer = setTimeout(this.onConnectTimeout, pool.connectTimeoutMs);
    let admitted: Promise<string>;
    try {
      admitted = pool.admit(pool.target.hostname, pool.target.port);
    } catch (error) {
      admitted = Promise.reject(error);
    }
    admitted.then(this.onAdmitted, this.onRefused);
  }

  private readonly onAdmitted = (address: string): void => {
    if (this.state === CLOSED) return;
    const { target } = this.pool;
    const socket =
      target.protocol === 'https:'
        ? tlsConnect({
            host: address,
            port: target.port,
            // SNI and the certificate check use the name asked for, not the address admitted.
            servername: isIP(target.hostname) === 0 ? target.hostname : undefined,
            ALPNProtocols: ['http/1.1'],
            ca: this.pool.ca,
            session: this.pool.tlsSession ?? undefined,
          })
        : netConnect({ host: address, port: target.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on(target.protocol === 'https:' ? 'secureConnect' : 'connect', this.onConnected);
    if (target.protocol === 'https:') socket.on('session', this.onSession);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
  };

  private readonly onRefused = (error: Error): void => {
    if (this.state === CLOSED) return;
    const denied = (error as { code?: unknown }).code === 'EGRESS_DENIED';
    this.refuse(denied ? 'egress_denied' : 'unreachable', denied ? error.message : `cannot connect to the upstream ${this.pool.target.hostHeader}: ${error.message}`);
  };

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = null;
    if (this.state === CONNECTING) this.refuse('unreachable', `cannot connect to the upstream ${this.pool.target.hostHeader} within ${this.pool.connectTimeoutMs} ms`);
  };

  private readonly onSession = (session: Buffer): void => {
    this.pool.tlsSession = session;
  };

  /** The connection could not be made: the exchange it was opened for fails. */
  private refuse(kind: UpstreamFailureKind, message: string): void {
    const ex = this.reserved;
    this.reserved = null;
    this.close();
    if (ex !== null && !ex.finished) ex.end({ kind, message });
  }

  private readonly onConnected = (): void => {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.state !== CONNECTING) return;
    const ex = this.reserved;
    this.reserved = null;
    if (ex !== null && !ex.finished) this.start(ex);
    else this.pool.release(this);
  };

  /** Writes `ex`'s request and waits for its response. */
  start(ex: Exchange): void {
    const socket = this.socket!;
    this.state = BUSY;
    this.exchange = ex;
    ex.connection = this;
    this.parser.reset(ex.isHead, ex.upgrade);
    // Paused when the previous client was slower than the upstream.
    if (socket.isPaused()) socket.resume();
    if (ex.mode === SEND_BUFFER && (ex.body as Buffer).length > 0) {
      socket.cork();
      socket.write(ex.head, 'latin1');
      socket.write(ex.body as Buffer);
      socket.uncork();
      ex.sent = true;
    } else {
      socket.write(ex.head, 'latin1');
      if (ex.mode === SEND_NONE || ex.mode === SEND_BUFFER) ex.sent = true;
      else this.streamBody(ex, ex.body as IncomingMessage & Carrier);
    }
  }

  private streamBody(ex: Exchange, body: IncomingMessage & Carrier): void {
    if (body.readableEnded) {
      this.endBody();
      return;
    }
    body[kExchange] = ex;
    body.on('data', onBodyData);
    body.on('end', onBodyEnd);
    body.on('close', onBodyClose);
  }

  writeBody(chunk: Buffer): void {
    const ex = this.exchange;
    if (ex === null || this.state !== BUSY) return;
    const socket = this.socket!;
    let more: boolean;
    if (ex.mode === SEND_CHUNKED) {
      if (chunk.length === 0) return;
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      more = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else {
      more = socket.write(chunk);
    }
    if (!more) {
      ex.bodyPaused = true;
      (ex.body as IncomingMessage).pause();
    }
    this.pool.progress(ex);
  }

  endBody(): void {
    const ex = this.exchange;
    if (ex === null || this.state !== BUSY || ex.sent) return;
    if (ex.mode === SEND_CHUNKED) this.socket!.write(LAST_CHUNK, 'latin1');
    ex.sent = true;
    this.pool.progress(ex);
  }

  private readonly onDrain = (): void => {
    const ex = this.exchange;
    if (ex !== null && ex.bodyPaused) {
      ex.bodyPaused = false;
      (ex.body as IncomingMessage).resume();
    }
  };

  /** The client can take more: read the upstream again. */
  resumeResponse(): void {
    if (this.state === BUSY) this.socket!.resume();
  }

  private readonly onData = (chunk: Buffer): void => {
    const ex = this.exchange;
    if (ex === null) {
      // Bytes on an idle connection answer nothing we asked: it cannot be trusted again.
      this.close();
      return;
    }
    const consumed = this.parser.execute(chunk);
    if (ex.finished || this.exchange !== ex) return;
    if (consumed < 0) this.fail(ex, 'bad_response', `the upstream ${this.pool.target.hostHeader} sent an invalid response: ${this.parser.error}`);
    else if (this.parser.complete) this.complete(ex, consumed < chunk.length);
    else if (this.parser.upgraded) this.tunnel(ex, consumed < chunk.length ? chunk.subarray(consumed) : null);
  };

  onResponseHead(parser: ResponseParser): void {
    const ex = this.exchange!;
    ex.answered = true;
    ex.status = parser.statusCode;
    this.pool.unwatch(ex);
    if (ex.upgrade) {
      if (!parser.upgraded) this.writeRawHead(ex, parser);
      return;
    }
    const res = ex.res!;
    const headers = relayedHeaders(parser, ex.extraHeaders);
    try {
      if (parser.reason === '') res.writeHead(parser.statusCode, headers);
      else res.writeHead(parser.statusCode, parser.reason, headers);
    } catch (error) {
      parser.abort(`a head that cannot be relayed (${(error as Error).message})`);
      return;
    }
    ex.headersSent = true;
  }

  /** A non-101 answer to an upgrade request, as HTTP/1.1 bytes on the client's socket (which closes after it). */
  private writeRawHead(ex: Exchange, parser: ResponseParser): void {
    const headers = relayedHeaders(parser, null);
    let head = `HTTP/1.1 ${parser.statusCode} ${parser.reason === '' ? (STATUS_CODES[parser.statusCode] ?? 'Unknown') : parser.reason}\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    if (parser.bodyKind === BODY_CHUNKED) head += 'Transfer-Encoding: chunked\r\n';
    head += 'Connection: close\r\n\r\n';
    ex.client!.write(head, 'latin1');
    ex.headersSent = true;
  }

  onResponseBody(chunk: Buffer): void {
    const ex = this.exchange!;
    let more: boolean;
    if (ex.res !== null) {
      more = ex.res.write(chunk);
    } else if (this.parser.bodyKind === BODY_CHUNKED) {
      const client = ex.client!;
      client.cork();
      client.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      client.write(chunk);
      more = client.write('\r\n', 'latin1');
      client.uncork();
    } else {
      more = ex.client!.write(chunk);
    }
    if (!more) {
      const sink = ex.sink!;
      if (!ex.listeningDrain) {
        ex.listeningDrain = true;
        sink.on('drain', onClientDrain);
      }
      this.socket!.pause();
    }
  }

  private complete(ex: Exchange, trailing: boolean): void {
    const reusable = this.parser.keepAlive && ex.sent && !trailing && !ex.upgrade;
    this.exchange = null;
    if (ex.res !== null) {
      ex.res.end();
    } else {
      if (this.parser.bodyKind === BODY_CHUNKED) ex.client!.write(LAST_CHUNK, 'latin1');
      ex.client!.end();
    }
    if (reusable) this.pool.release(this);
    else this.close();
    ex.end(null);
  }

  private fail(ex: Exchange, kind: UpstreamFailureKind, message: string): void {
    this.exchange = null;
    this.close();
    ex.end({ kind, message });
  }

  /** The connection broke during `ex`: sent again once on a fresh connection when that is safe, else failed. */
  private broken(ex: Exchange, message: string): void {
    if (this.reused && !ex.retried && !ex.answered && this.parser.received === 0 && ex.retryable) {
      // The keep-alive race: the upstream closed an idle connection as the request went out, so
      // the request never reached it. Any body is still in memory.
      this.exchange = null;
      ex.connection = null;
      ex.retried = true;
      this.close(false);
      this.pool.retry(ex);
      return;
    }
    this.fail(ex, 'unreachable', message);
  }

  private readonly onEnd = (): void => {
    const ex = this.exchange;
    if (ex === null || this.state !== BUSY) {
      this.close();
      return;
    }
    if (this.parser.finish()) this.complete(ex, false);
    else this.broken(ex, `the upstream ${this.pool.target.hostHeader} ${this.parser.error}`);
  };

  private readonly onError = (error: Error): void => {
    if (this.state === CLOSED || this.state === TUNNEL) return;
    if (this.state === CONNECTING) {
      this.refuse('unreachable', `cannot connect to the upstream ${this.pool.target.hostHeader}: ${error.message}`);
      return;
    }
    const ex = this.exchange;
    if (ex === null) this.close();
    else this.broken(ex, `the connection to the upstream ${this.pool.target.hostHeader} failed: ${error.message}`);
  };

  private readonly onClose = (): void => {
    if (this.state === CLOSED || this.state === TUNNEL) return;
    if (this.state === CONNECTING) {
      this.refuse('unreachable', `cannot connect to the upstream ${this.pool.target.hostHeader}: the connection closed`);
      return;
    }
    const ex = this.exchange;
    if (ex === null) this.close();
    else this.broken(ex, `the upstream ${this.pool.target.hostHeader} closed the connection`);
  };

  /** `ex`'s client went away: whatever this connection was doing for it is dropped. */
  abandon(ex: Exchange): void {
    if (this.reserved === ex) {
      // Still connecting: the connection can serve someone else once it is up.
      this.reserved = null;
      return;
    }
    if (this.exchange === ex) {
      this.exchange = null;
      this.close();
    }
  }

  /** `ex` waited too long for a response head. */
  timedOut(ex: Exchange): void {
    const connecting = this.state === CONNECTING;
    if (this.reserved === ex) this.reserved = null;
    if (this.exchange === ex) this.exchange = null;
    this.close();
    const host = this.pool.target.hostHeader;
    ex.end({ kind: 'timeout', message: connecting ? `no connection to the upstream ${host} within ${ex.timeoutMs} ms` : `the upstream ${host} sent no response head within ${ex.timeoutMs} ms` });
  }

  /** The exchange for which this connection is busy or being opened. */
  get pending(): Exchange | null {
    return this.exchange ?? this.reserved;
  }

  /** After a 101: the upgraded connection leaves the pool and bytes flow both ways until either side ends. */
  private tunnel(ex: Exchange, rest: Buffer | null): void {
    const socket = this.socket!;
    const client = ex.client! as Duplex & Carrier;
    this.exchange = null;
    this.state = TUNNEL;
    socket.removeListener('data', this.onData);
    socket.removeListener('drain', this.onDrain);
    socket.removeListener('end', this.onEnd);
    socket.removeListener('error', this.onError);
    socket.removeListener('close', this.onClose);
    this.pool.detach(this);
    client.removeListener('close', onClientClose);
    client.removeListener('error', onClientError);
    client[kExchange] = null;
    ex.headersSent = true;
    let over = false;
    const finish = () => {
      if (over) return;
      over = true;
      socket.destroy();
      client.destroy();
      ex.end(null);
    };
    socket.on('error', finish);
    socket.on('close', finish);
    client.on('error', finish);
    client.on('close', finish);
    client.write(this.parser.rawHead!);
    if (rest !== null) client.write(rest);
    if (ex.tunnelHead !== null && ex.tunnelHead.length > 0) socket.write(ex.tunnelHead);
    socket.pipe(client);
    client.pipe(socket);
    if (socket.isPaused()) socket.resume();
  }

  /** Closes the connection for good (`pump`: let the pool open another for a waiting request). */
  close(pump = true): void {
    if (this.state === CLOSED) return;
    const wasTunnel = this.state === TUNNEL;
    this.state = CLOSED;
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.socket?.destroy();
    if (!wasTunnel) this.pool.removed(this, pump);
  }

  /** Returns to the pool as idle, until `now` + keepAliveMs (or sooner, as the upstream announced). */
  rest(now: number): number {
    this.state = IDLE;
    const announced = this.parser.keepAliveTimeoutMs;
    // A second before the upstream's own limit, so it is not the upstream that closes a connection as it is reused.
    const keep = announced < 0 ? this.pool.keepAliveMs : Math.min(this.pool.keepAliveMs, announced > 2000 ? announced - 1000 : announced / 2);
    this.idleUntil = now + keep;
    // Read on while idle: a close (or stray bytes) is noticed at once.
    const socket = this.socket!;
    if (socket.isPaused()) socket.resume();
    return keep;
  }

  get usable(): boolean {
    const socket = this.socket;
    return this.state === IDLE && socket !== null && !socket.destroyed && socket.writable;
  }
}

// ---------------------------------------------------------------------------------------------
// The pool

function tickFor(ms: number): number {
  return Math.max(5, Math.min(1000, Math.ceil(ms / 20)));
}

class Pool implements UpstreamPool {
  readonly connections = new Set<Connection>();
  readonly admit: Admit;
  readonly maxConnections: number;
  readonly keepAliveMs: number;
  readonly connectTimeoutMs: number;
  readonly maxResponseHeaderBytes: number;
  readonly ca: string | Buffer | Array<string | Buffer> | undefined;
  tlsSession: Buffer | null = null;
  /** Idle connections, the most recently used last (taken first: LIFO keeps few connections warm). */
  private readonly idle: Connection[] = [];
  /** Requests waiting for a connection; `queueHead` is the next one. Ended ones are skipped. */
  private queue: (Exchange | null)[] = [];
  private queueHead = 0;
  /** Exchanges waiting for a response head with a deadline. */
  private waiting = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerMs = Infinity;
  private headTick = 1000;
  private readonly idleTick: number;
  private closed = false;
  private closeWaiters: (() => void)[] = [];

  constructor(
    readonly target: UpstreamTarget,
    options: PoolOptions,
  ) {
    this.admit = options.admit;
    this.maxConnections = Math.max(1, options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
    this.keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.maxResponseHeaderBytes = options.maxResponseHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    this.ca = options.ca;
    this.idleTick = Math.max(5, Math.min(1000, Math.ceil(this.keepAliveMs / 8)));
  }

  forward(request: ForwardRequest, res: ServerResponse, extraHeaders: string[] | null, done: (outcome: ForwardOutcome) => void): void {
    const ex = this.exchange(request, false, done);
    if (ex === null) return;
    ex.res = res;
    ex.extraHeaders = extraHeaders;
    this.begin(ex, res as ServerResponse & Carrier);
  }

  upgrade(request: ForwardRequest, client: Duplex, head: Buffer, done: (outcome: ForwardOutcome) => void): void {
    const ex = this.exchange(request, true, done);
    if (ex === null) return;
    ex.client = client;
    ex.tunnelHead = head;
    (client as Duplex & Carrier).on('error', onClientError);
    this.begin(ex, client as Duplex & Carrier);
  }

  private exchange(request: ForwardRequest, upgrade: boolean, done: (outcome: ForwardOutcome) => void): Exchange | null {
    try {
      // An upgrade request has no body: what follows its head belongs to the upgraded protocol.
      const mode = upgrade ? SEND_NONE : sendMode(request.body);
      const length = sendLength(request.body, mode);
      // A zero Content-Length is nothing to stream: sent like an empty buffer, it can be retried.
      const body = mode === SEND_LENGTH && length === 0 ? EMPTY : request.body;
      const send: SendMode = body === EMPTY ? SEND_BUFFER : mode;
      const head = requestHead(this.target, request, send, length);
      return new Exchange(this, head, send, send === SEND_NONE ? null : body, request.method === 'HEAD', upgrade, request.timeoutMs, done, IDEMPOTENT_METHODS.has(request.method));
    } catch (error) {
      if (!(error instanceof InvalidRequest)) throw error;
      process.nextTick(deliver, done, { status: 0, failure: { kind: 'invalid_request', message: error.message }, headersSent: false });
      return null;
    }
  }

  private begin(ex: Exchange, sink: Carrier & { destroyed: boolean; writableEnded: boolean; on(event: 'close', listener: () => void): unknown }): void {
    if (sink.destroyed || sink.writableEnded) {
      process.nextTick(() => ex.end(null, true));
      return;
    }
    sink[kExchange] = ex;
    sink.on('close', onClientClose);
    this.watch(ex);
    this.dispatch(ex);
  }

  private dispatch(ex: Exchange): void {
    for (;;) {
      const idle = this.idle.pop();
      if (idle === undefined) break;
      if (idle.usable) {
        idle.start(ex);
        return;
      }
      idle.close(false);
    }
    if (this.connections.size < this.maxConnections) new Connection(this, ex);
    else this.queue.push(ex);
  }

  /** A connection is free: it takes the next waiting request, or rests. */
  release(connection: Connection): void {
    connection.reused = true;
    const next = this.nextQueued();
    if (next !== null) {
      connection.start(next);
      return;
    }
    if (this.closed) {
      connection.close();
      return;
    }
    const keep = connection.rest(performance.now());
    this.idle.push(connection);
    this.schedule(Math.max(5, Math.min(this.idleTick, Math.ceil(keep / 8))));
  }

  /** Sends `ex` again on a connection of its own (it replaces the one that just broke). */
  retry(ex: Exchange): void {
    new Connection(this, ex);
  }

  /** A connection closed. */
  removed(connection: Connection, pump: boolean): void {
    this.connections.delete(connection);
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
    if (pump) this.pump();
    this.settle();
  }

  /** An upgraded connection is no longer the pool's. */
  detach(connection: Connection): void {
    this.connections.delete(connection);
    this.pump();
    this.settle();
  }

  private pump(): void {
    while (this.connections.size < this.maxConnections) {
      const next = this.nextQueued();
      if (next === null) return;
      new Connection(this, next);
    }
  }

  private nextQueued(): Exchange | null {
    const queue = this.queue;
    while (this.queueHead < queue.length) {
      const ex = queue[this.queueHead];
      queue[this.queueHead++] = null;
      if (ex != null && !ex.finished) return ex;
    }
    if (queue.length > 0) {
      this.queue = [];
      this.queueHead = 0;
    }
    return null;
  }

  watch(ex: Exchange): void {
    const ms = ex.timeoutMs;
    if (!(ms > 0) || !Number.isFinite(ms)) return;
    ex.deadline = performance.now() + ms;
    this.waiting++;
    const tick = tickFor(ms);
    if (tick < this.headTick) this.headTick = tick;
    this.schedule(this.headTick);
  }

  /**
   * A piece of a streamed request body went out: the clock starts again, so an upload the
   * upstream keeps reading is never cut short, and the upstream has timeoutMs after the last
   * piece to answer. (How long the client may take to send is the client-side server's limit.)
   */
  progress(ex: Exchange): void {
    if (ex.deadline !== Infinity) ex.deadline = performance.now() + ex.timeoutMs;
  }

  unwatch(ex: Exchange): void {
    if (ex.deadline === Infinity) return;
    ex.deadline = Infinity;
    this.waiting--;
  }

  private schedule(ms: number): void {
    if (this.timer !== null) {
      if (ms >= this.timerMs) return;
      clearTimeout(this.timer);
    }
    this.timerMs = ms;
    this.timer = setTimeout(this.sweep, ms);
    this.timer.unref();
  }

  /** Times out response heads and closes connections idle for longer than keepAliveMs. */
  private readonly sweep = (): void => {
    this.timer = null;
    this.timerMs = Infinity;
    const now = performance.now();
    if (this.waiting > 0) {
      // The queue first: a connection closed below must not be handed a request already late.
      for (let i = this.queueHead; i < this.queue.length; i++) {
        const ex = this.queue[i];
        if (ex != null && !ex.finished && ex.deadline <= now) {
          this.queue[i] = null;
          ex.end({ kind: 'timeout', message: `no connection to the upstream ${this.target.hostHeader} was free within ${ex.timeoutMs} ms` });
        }
      }
      for (const connection of this.connections) {
        const ex = connection.pending;
        if (ex !== null && !ex.finished && !ex.answered && ex.deadline <= now) connection.timedOut(ex);
      }
    }
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const connection = this.idle[i];
      if (connection !== undefined && connection.idleUntil <= now) connection.close();
    }
    if (this.waiting > 0) this.schedule(this.headTick);
    else if (this.idle.length > 0) this.schedule(this.idleTick);
  };

  /** After close(): resolves the waiters once the last connection is gone. */
  private settle(): void {
    if (!this.closed || this.connections.size > 0) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerMs = Infinity;
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const resolve of waiters) resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    for (const connection of [...this.idle]) connection.close(false);
    if (this.connections.size === 0) {
      this.settle();
      return Promise.resolve();
    }
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }
}
