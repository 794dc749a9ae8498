// The response side of HTTP/1.1 for the upstream leg: an incremental parser over arbitrary chunk
// boundaries (RFC 9112) that slices bodies out of the chunks it is given instead of copying them.
//
// Strict where a lenient reading could let two parsers disagree: lines end in CRLF, no obs-fold,
// no whitespace before a header's colon, no control byte in a value, one Content-Length value,
// `chunked` as the only transfer coding. The upstream's framing is never passed through: the
// caller re-frames the body for its client, so what this parser decides is what the client gets.

/** No body: a HEAD request, 1xx, 204 or 304. */
export const BODY_NONE = 0;
/** `content-length` bytes. */
export const BODY_LENGTH = 1;
/** `transfer-encoding: chunked`. */
export const BODY_CHUNKED = 2;
/** Everything until the upstream closes the connection. */
export const BODY_CLOSE = 3;
export type BodyKind = typeof BODY_NONE | typeof BODY_LENGTH | typeof BODY_CHUNKED | typeof BODY_CLOSE;

/** Receives what the parser finds, synchronously from `execute`. */
export interface ResponseSink {
  /** A final response head (or a 101 the parser was told to expect); the parser's fields describe it. */
  onResponseHead(parser: ResponseParser): void;
  /** A piece of the decoded body: a slice of a chunk given to `execute`, never empty. */
  onResponseBody(chunk: Buffer): void;
}

export const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;
/** A chunk-size line (size, extensions) longer than this is refused, as Node's own parser does. */
const MAX_CHUNK_LINE_BYTES = 16 * 1024;
/** 13 hex digits: 2^52 bytes, under Number.MAX_SAFE_INTEGER. */
const MAX_CHUNK_SIZE_DIGITS = 13;
/** 15 decimal digits, under Number.MAX_SAFE_INTEGER. */
const MAX_LENGTH_DIGITS = 15;

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;
const COMMA = 44;
const SEMICOLON = 59;

/** tchar (RFC 9110 §5.6.2). */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** field-content bytes: HTAB, SP, VCHAR, obs-text (what Node's writeHead also accepts). */
const FIELD = new Uint8Array(256);
FIELD[HTAB] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD[c] = 1;

const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding', 'latin1');
const CONNECTION = Buffer.from('connection', 'latin1');
const KEEP_ALIVE = Buffer.from('keep-alive', 'latin1');
const CLOSE = Buffer.from('close', 'latin1');
const KEEP_ALIVE_TIMEOUT = /(?:^|[,;\s])timeout\s*=\s*(\d{1,9})/i;
const HTTP_1 = Buffer.from('HTTP/1.', 'latin1');

/** Whether buf[start, start + lower.length) is `lower` (letters and "-") ignoring ASCII case; buf holds validated field bytes, where no CR can fold into "-". */
function equalsLower(buf: Buffer, start: number, lower: Buffer): boolean {
  for (let i = 0; i < lower.length; i++) if ((buf[start + i]! | 0x20) !== lower[i]) return false;
  return true;
}

/**
 * Hop-by-hop header names (RFC 9110 §7.6.1, plus the RFC 2616 proxy-authentication pair, which
 * are meant for the proxy and must not reach the next hop), lower-case.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** HOP_BY_HOP.has(name.toLowerCase()) without lower-casing names that cannot be one. */
export function isHopByHop(name: string): boolean {
  switch (name.length) {
    case 2:
    case 7:
    case 10:
    case 16:
    case 17:
    case 18:
    case 19:
      return HOP_BY_HOP.has(name.toLowerCase());
    default:
      return false;
  }
}

// Parser states.
const S_HEAD = 0;
const S_LENGTH = 1;
const S_CHUNK_SIZE = 2;
const S_CHUNK_SIZE_WS = 3;
const S_CHUNK_EXT = 4;
const S_CHUNK_SIZE_LF = 5;
const S_CHUNK_DATA = 6;
const S_CHUNK_DATA_CR = 7;
const S_CHUNK_DATA_LF = 8;
const S_TRAILER_START = 9;
const S_TRAILER_NAME = 10;
const S_TRAILER_VALUE = 11;
const S_TRAILER_LF = 12;
const S_TRAILER_END_LF = 13;
const S_CLOSE = 14;
const S_DONE = 15;
const S_UPGRADED = 16;
const S_ERROR = 17;

/**
 * One connection's response parser, reset before each response. `execute` is given the bytes
 * as they arrive and answers how many it consumed: all of them while the response goes on, fewer
 * when the response ended (or a 101 switched protocols) inside the chunk, -1 once it failed
 * (`error` says why). It never throws on any input.
 */
export class ResponseParser {
  statusCode = 0;
  /** The reason phrase as sent ('' when none). */
  reason = '';
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor = 1;
  /** Flat `[name, value, …]` as received (names as cased by the upstream, values trimmed). Valid until the next `reset`. */
  headers: string[] = [];
  /** Lower-case names listed in `Connection` other than close and keep-alive; null when none. */
  connectionTokens: string[] | null = null;
  bodyKind: BodyKind = BODY_NONE;
  /** The Content-Length value; -1 when none was sent. */
  contentLength = -1;
  /** Sent as one `content-length` field with one value (else the caller writes its own). */
  contentLengthCanonical = true;
  /** Whether the connection may carry another exchange after this response (its framing and Connection allow it). */
  keepAlive = true;
  /** The idle time the upstream announced in `Keep-Alive: timeout=…`, in ms; -1 when none. */
  keepAliveTimeoutMs = -1;
  /** The bytes of the head (for a 101, which is relayed as is); a view, valid until the next `reset`. */
  rawHead: Buffer | null = null;
  /** Bytes given to `execute` since `reset`. */
  received = 0;
  /**
   * Why the parser failed, completing "the upstream sent …" (an invalid response) or "the
   * upstream …" (after `finish`: "closed the connection before answering").
   */
  error = '';

  private state = S_HEAD;
  private isHeadRequest = false;
  private expectUpgrade = false;
  private remaining = 0;
  private headParts: Buffer[] = [];
  private headBytes = 0;
  private lineBytes = 0;
  private lastByte = -1;
  private chunkDigits = 0;
  private trailerBytes = 0;
  private connectionClose = false;
  private connectionKeepAlive = false;
  private transferEncoding = 0;
  private transferChunked = false;
  private lengthFields = 0;

  constructor(
    private readonly sink: ResponseSink,
    private readonly maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES,
  ) {}

  /** Prepares for the response to a new request. */
  reset(isHeadRequest: boolean, expectUpgrade: boolean): void {
    this.isHeadRequest = isHeadRequest;
    this.expectUpgrade = expectUpgrade;
    this.received = 0;
    this.error = '';
    this.startHead();
  }

  get complete(): boolean {
    return this.state === S_DONE;
  }

  get upgraded(): boolean {
    return this.state === S_UPGRADED;
  }

  get failed(): boolean {
    return this.state === S_ERROR;
  }

  /** Stops the parser (the sink could not use what it was given). */
  abort(message: string): void {
    this.state = S_ERROR;
    this.error = message;
  }

  /**
   * The upstream closed the connection. True when that ends the response (a body delimited by
   * the close); false otherwise, with `error` saying what was cut short.
   */
  finish(): boolean {
    switch (this.state) {
      case S_CLOSE:
        this.state = S_DONE;
        return true;
      case S_DONE:
      case S_UPGRADED:
        return true;
      case S_ERROR:
        return false;
      case S_HEAD:
        return this.fail(this.received === 0 ? 'closed the connection before answering' : 'closed the connection in the middle of the response head');
      default:
        return this.fail('closed the connection in the middle of the response body');
    }
  }

  execute(chunk: Buffer): number {
    const end = chunk.length;
    this.received += end;
    let pos = 0;
    while (pos < end) {
      switch (this.state) {
        case S_HEAD:
          pos = this.scanHead(chunk, pos);
          if (pos < 0) return -1;
          break;
        case S_LENGTH: {
          const n = Math.min(this.remaining, end - pos);
          const piece = n === end && pos === 0 ? chunk : chunk.subarray(pos, pos + n);
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) this.state = S_DONE;
          this.sink.onResponseBody(piece);
          if (this.failed) return -1;
          if (this.complete) return pos;
          break;
        }
        case S_CHUNK_DATA: {
          const n = Math.min(this.remaining, end - pos);
          const piece = chunk.subarray(pos, pos + n);
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) this.state = S_CHUNK_DATA_CR;
          this.sink.onResponseBody(piece);
          if (this.failed) return -1;
          break;
        }
        case S_CLOSE:
          this.sink.onResponseBody(pos === 0 ? chunk : chunk.subarray(pos));
          return this.failed ? -1 : end;
        case S_DONE:
        case S_UPGRADED:
          return pos;
        case S_ERROR:
          return -1;
        default:
          pos = this.chunkFraming(chunk, pos);
          if (pos < 0) return -1;
          if (this.state === S_DONE) return pos;
      }
    }
    return this.failed ? -1 : pos;
  }

  private fail(message: string): false {
    this.state = S_ERROR;
    this.error = message;
    return false;
  }

  private startHead(): void {
    this.state = S_HEAD;
    this.statusCode = 0;
    this.reason = '';
    this.versionMinor = 1;
    this.headers.length = 0;
    this.connectionTokens = null;
    this.bodyKind = BODY_NONE;
    this.contentLength = -1;
    this.contentLengthCanonical = true;
    this.keepAlive = true;
    this.keepAliveTimeoutMs = -1;
    this.rawHead = null;
    this.headParts.length = 0;
    this.headBytes = 0;
    this.lineBytes = 0;
    this.lastByte = -1;
    this.connectionClose = false;
    this.connectionKeepAlive = false;
    this.transferEncoding = 0;
    this.transferChunked = false;
    this.lengthFields = 0;
  }

  /**
   * Looks for the empty line that ends the head; the lines before it may span chunks (kept as
   * views and joined once). Answers the position after the head, `end` when more is needed, -1.
   */
  private scanHead(chunk: Buffer, start: number): number {
    const end = chunk.length;
    let from = start;
    for (;;) {
      const lf = chunk.indexOf(LF, from);
      if (lf === -1) {
        const n = end - from;
        if (n > 0) {
          this.lineBytes += n;
          this.lastByte = chunk[end - 1]!;
        }
        this.headBytes += end - start;
        if (this.headBytes > this.maxHeaderBytes) return this.tooLarge();
        if (end > start) this.headParts.push(start === 0 ? chunk : chunk.subarray(start));
        return end;
      }
      const before = lf > from ? chunk[lf - 1]! : this.lastByte;
      const length = this.lineBytes + (lf - from);
      if (length === 0 || before !== CR) {
        this.fail('a line that does not end in CRLF');
        return -1;
      }
      if (this.headBytes + (lf + 1 - start) > this.maxHeaderBytes) return this.tooLarge();
      this.lineBytes = 0;
      this.lastByte = -1;
      from = lf + 1;
      if (length !== 1) continue;
      // The empty line: the head is complete (joined once when it came in several chunks).
      if (this.headParts.length === 0) {
        if (!this.parseHead(chunk, start, from)) return -1;
        return this.afterHead(chunk, start, from, from);
      }
      this.headParts.push(chunk.subarray(start, from));
      const head = Buffer.concat(this.headParts);
      this.headParts.length = 0;
      if (!this.parseHead(head, 0, head.length)) return -1;
      return this.afterHead(head, 0, head.length, from);
    }
  }

  private tooLarge(): -1 {
    this.fail(`a head larger than ${this.maxHeaderBytes} bytes`);
    return -1;
  }

  /** Parses a complete head in buf[start, end) (end is after the final CRLF). */
  private parseHead(buf: Buffer, start: number, end: number): boolean {
    let lf = buf.indexOf(LF, start);
    if (!this.parseStatusLine(buf, start, lf - 1)) return false;
    let line = lf + 1;
    // The last line is the empty one.
    while (line < end - 2) {
      lf = buf.indexOf(LF, line);
      if (!this.parseHeaderLine(buf, line, lf - 1)) return false;
      line = lf + 1;
    }
    return true;
  }

  private parseStatusLine(buf: Buffer, start: number, end: number): boolean {
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (end - start < 12 || !HTTP_1.equals(buf.subarray(start, start + 7))) return this.fail('no HTTP/1.x status line');
    const minor = buf[start + 7]! - 0x30;
    if (minor < 0 || minor > 9 || buf[start + 8] !== SP) return this.fail('no HTTP/1.x status line');
    const d0 = buf[start + 9]! - 0x30;
    const d1 = buf[start + 10]! - 0x30;
    const d2 = buf[start + 11]! - 0x30;
    if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.fail('a status line without a valid status code');
    let i = start + 12;
    if (i < end) {
      if (buf[i] !== SP) return this.fail('a status line without a valid status code');
      i++;
      for (let j = i; j < end; j++) if (FIELD[buf[j]!] === 0) return this.fail('an invalid byte in the reason phrase');
      this.reason = i < end ? buf.toString('latin1', i, end) : '';
    }
    this.versionMinor = minor === 0 ? 0 : 1;
    this.statusCode = d0 * 100 + d1 * 10 + d2;
    return true;
  }

  private parseHeaderLine(buf: Buffer, start: number, end: number): boolean {
    const first = buf[start]!;
    if (first === SP || first === HTAB) return this.fail('a folded header line (obs-fold)');
    let i = start;
    while (i < end && TCHAR[buf[i]!] === 1) i++;
    if (i === start || i === end || buf[i] !== COLON) return this.fail('an invalid header name');
    const nameEnd = i;
    i++;
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    let valueEnd = end;
    while (valueEnd > i && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    for (let j = i; j < valueEnd; j++) if (FIELD[buf[j]!] === 0) return this.fail('an invalid byte in a header value');
    const name = buf.toString('latin1', start, nameEnd);
    const value = i < valueEnd ? buf.toString('latin1', i, valueEnd) : '';
    this.headers.push(name, value);
    switch (nameEnd - start) {
      case 14:
        if (equalsLower(buf, start, CONTENT_LENGTH)) return this.contentLengthField(buf, i, valueEnd);
        break;
      case 17:
        if (equalsLower(buf, start, TRANSFER_ENCODING)) return this.transferEncodingField(value);
        break;
      case 10:
        if (equalsLower(buf, start, CONNECTION)) this.connectionField(buf, i, valueEnd, value);
        else if (equalsLower(buf, start, KEEP_ALIVE)) this.keepAliveField(value);
        break;
    }
    return true;
  }

  /** A list of equal decimal values; several fields are fine when they agree (RFC 9110 §8.6). */
  private contentLengthField(buf: Buffer, start: number, end: number): boolean {
    this.lengthFields++;
    let i = start;
    let elements = 0;
    for (;;) {
      const digitsStart = i;
      let value = 0;
      while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) value = value * 10 + (buf[i++]! - 0x30);
      const digits = i - digitsStart;
      if (digits === 0) return this.fail('an invalid Content-Length');
      if (digits > MAX_LENGTH_DIGITS) return this.fail('a Content-Length that is too large');
      if (this.contentLength !== -1 && this.contentLength !== value) return this.fail('different Content-Length values');
      this.contentLength = value;
      elements++;
      while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
      if (i === end) break;
      if (buf[i] !== COMMA) return this.fail('an invalid Content-Length');
      i++;
      while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    }
    if (elements > 1 || this.lengthFields > 1) this.contentLengthCanonical = false;
    return true;
  }

  /** Counts the codings; only a lone `chunked` is accepted (decided in afterHead, where the body matters). */
  private transferEncodingField(value: string): boolean {
    let codings = 0;
    for (const element of value.split(',')) {
      const coding = element.trim().toLowerCase();
      if (coding === '') continue;
      codings++;
      this.transferEncoding++;
      this.transferChunked = coding === 'chunked' && this.transferEncoding === 1;
    }
    // A field without any coding is not a framing anyone agrees on.
    if (codings === 0) this.transferEncoding += 2;
    return true;
  }

  /** `Keep-Alive: timeout=5` (RFC 2068 §19.7.1): how long the upstream keeps an idle connection. */
  private keepAliveField(value: string): void {
    const match = KEEP_ALIVE_TIMEOUT.exec(value);
    if (match !== null) this.keepAliveTimeoutMs = Number(match[1]) * 1000;
  }

  private connectionField(buf: Buffer, start: number, end: number, value: string): void {
    // Nearly every upstream sends exactly one of these two.
    if (end - start === 10 && equalsLower(buf, start, KEEP_ALIVE)) {
      this.connectionKeepAlive = true;
      return;
    }
    if (end - start === 5 && equalsLower(buf, start, CLOSE)) {
      this.connectionClose = true;
      return;
    }
    for (const element of value.split(',')) {
      const token = element.trim().toLowerCase();
      if (token === 'close') this.connectionClose = true;
      else if (token === 'keep-alive') this.connectionKeepAlive = true;
      else if (token !== '') (this.connectionTokens ??= []).push(token);
    }
  }

  /** Decides the framing of a complete head (RFC 9112 §6.3) and hands it to the sink. */
  private afterHead(head: Buffer, headStart: number, headEnd: number, pos: number): number {
    const status = this.statusCode;
    if (status < 200) {
      if (status === 101 && this.expectUpgrade) {
        this.state = S_UPGRADED;
        this.keepAlive = false;
        this.rawHead = head.subarray(headStart, headEnd);
        this.sink.onResponseHead(this);
        return this.failed ? -1 : pos;
      }
      if (status === 101) {
        this.fail('a 101 though no protocol switch was asked for');
        return -1;
      }
      // An interim response (100 Continue, 103 Early Hints, …): skipped; the final one follows.
      this.startHead();
      return pos;
    }
    this.keepAlive = this.versionMinor === 1 ? !this.connectionClose : this.connectionKeepAlive && !this.connectionClose;
    if (this.isHeadRequest || status === 204 || status === 304) {
      this.bodyKind = BODY_NONE;
    } else if (this.transferEncoding > 0) {
      if (this.versionMinor === 0) {
        this.fail('Transfer-Encoding in an HTTP/1.0 response');
        return -1;
      }
      if (!this.transferChunked || this.transferEncoding !== 1) {
        this.fail('a Transfer-Encoding other than chunked');
        return -1;
      }
      this.bodyKind = BODY_CHUNKED;
      // Both framings: chunked wins (RFC 9112 §6.3), and a connection that said both is not trusted again.
      if (this.contentLength !== -1) this.keepAlive = false;
    } else if (this.contentLength !== -1) {
      this.bodyKind = BODY_LENGTH;
    } else {
      this.bodyKind = BODY_CLOSE;
      this.keepAlive = false;
    }
    this.rawHead = head.subarray(headStart, headEnd);
    switch (this.bodyKind) {
      case BODY_NONE:
        this.state = S_DONE;
        break;
      case BODY_LENGTH:
        this.remaining = this.contentLength;
        this.state = this.remaining === 0 ? S_DONE : S_LENGTH;
        break;
      case BODY_CHUNKED:
        this.state = S_CHUNK_SIZE;
        this.remaining = 0;
        this.chunkDigits = 0;
        this.lineBytes = 0;
        break;
      case BODY_CLOSE:
        this.state = S_CLOSE;
        break;
    }
    this.sink.onResponseHead(this);
    return this.failed ? -1 : pos;
  }

  /** The framing bytes of a chunked body: size lines, extensions, CRLFs and trailers. */
  private chunkFraming(chunk: Buffer, start: number): number {
    const end = chunk.length;
    let pos = start;
    while (pos < end) {
      const c = chunk[pos]!;
      switch (this.state) {
        case S_CHUNK_SIZE: {
          const digit = HEX[c]!;
          if (digit >= 0) {
            if (++this.chunkDigits > MAX_CHUNK_SIZE_DIGITS) return this.chunkError('a chunk that is too large');
            this.remaining = this.remaining * 16 + digit;
          } else if (this.chunkDigits === 0) {
            return this.chunkError('an invalid chunk size');
          } else if (c === CR) {
            this.state = S_CHUNK_SIZE_LF;
          } else if (c === SEMICOLON) {
            this.state = S_CHUNK_EXT;
          } else if (c === SP || c === HTAB) {
            this.state = S_CHUNK_SIZE_WS;
          } else {
            return this.chunkError('an invalid chunk size');
          }
          break;
        }
        case S_CHUNK_SIZE_WS:
          if (c === CR) this.state = S_CHUNK_SIZE_LF;
          else if (c === SEMICOLON) this.state = S_CHUNK_EXT;
          else if (c !== SP && c !== HTAB) return this.chunkError('an invalid chunk size');
          break;
        case S_CHUNK_EXT:
          if (c === CR) this.state = S_CHUNK_SIZE_LF;
          else if (FIELD[c] === 0) return this.chunkError('an invalid chunk extension');
          break;
        case S_CHUNK_SIZE_LF:
          if (c !== LF) return this.chunkError('a chunk size line that does not end in CRLF');
          this.lineBytes = 0;
          this.chunkDigits = 0;
          if (this.remaining === 0) {
            this.state = S_TRAILER_START;
            this.trailerBytes = 0;
          } else {
            this.state = S_CHUNK_DATA;
            return pos + 1;
          }
          break;
        case S_CHUNK_DATA_CR:
          if (c !== CR) return this.chunkError('a chunk that does not end in CRLF');
          this.state = S_CHUNK_DATA_LF;
          break;
        case S_CHUNK_DATA_LF:
          if (c !== LF) return this.chunkError('a chunk that does not end in CRLF');
          this.state = S_CHUNK_SIZE;
          this.remaining = 0;
          this.lineBytes = 0;
          break;
        case S_TRAILER_START:
          if (c === CR) this.state = S_TRAILER_END_LF;
          else if (TCHAR[c] === 1) this.state = S_TRAILER_NAME;
          else return this.chunkError('an invalid trailer');
          break;
        case S_TRAILER_NAME:
          if (c === COLON) this.state = S_TRAILER_VALUE;
          else if (TCHAR[c] === 0) return this.chunkError('an invalid trailer');
          break;
        case S_TRAILER_VALUE:
          if (c === CR) this.state = S_TRAILER_LF;
          else if (FIELD[c] === 0) return this.chunkError('an invalid trailer');
          break;
        case S_TRAILER_LF:
          if (c !== LF) return this.chunkError('a trailer that does not end in CRLF');
          this.state = S_TRAILER_START;
          break;
        case S_TRAILER_END_LF:
          if (c !== LF) return this.chunkError('a trailer section that does not end in CRLF');
          // Trailers are read and dropped: the client's response is re-framed without them.
          this.state = S_DONE;
          return pos + 1;
        default:
          return pos;
      }
      pos++;
      if (this.state >= S_TRAILER_START && this.state <= S_TRAILER_END_LF) {
        if (++this.trailerBytes > this.maxHeaderBytes) return this.chunkError(`trailers larger than ${this.maxHeaderBytes} bytes`);
      } else if (this.state !== S_CHUNK_DATA_CR && this.state !== S_CHUNK_DATA_LF && ++this.lineBytes > MAX_CHUNK_LINE_BYTES) {
        return this.chunkError('a chunk size line that is too long');
      }
    }
    return pos;
  }

  private chunkError(message: string): -1 {
    this.fail(message);
    return -1;
  }
}
