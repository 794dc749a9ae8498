import { describe, expect, it } from 'vitest';
import { BODY_CHUNKED, BODY_CLOSE, BODY_LENGTH, BODY_NONE, isHopByHop, ResponseParser, type ResponseSink } from './http1.js';

interface Parsed {
  status: number;
  reason: string;
  minor: number;
  headers: string[];
  body: Buffer;
  bodyKind: number;
  keepAlive: boolean;
  complete: boolean;
  upgraded: boolean;
  error: string;
  /** Bytes of the input left after the response (or the 101 head). */
  rest: number;
}

/** Feeds `input` in pieces cut at `cuts`, then the end of the connection when `eof`. */
function parse(input: Buffer | string, options: { cuts?: number[]; head?: boolean; upgrade?: boolean; eof?: boolean; maxHeaderBytes?: number } = {}): Parsed {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const body: Buffer[] = [];
  let heads = 0;
  const result: Parsed = { status: 0, reason: '', minor: -1, headers: [], body: Buffer.alloc(0), bodyKind: -1, keepAlive: false, complete: false, upgraded: false, error: '', rest: 0 };
  const sink: ResponseSink = {
    onResponseHead(p) {
      heads++;
      result.status = p.statusCode;
      result.reason = p.reason;
      result.minor = p.versionMinor;
      result.headers = [...p.headers];
      result.bodyKind = p.bodyKind;
    },
    onResponseBody(chunk) {
      if (chunk.length === 0) throw new Error('an empty body chunk');
      body.push(Buffer.from(chunk));
    },
  };
  const parser = new ResponseParser(sink, options.maxHeaderBytes);
  parser.reset(options.head ?? false, options.upgrade ?? false);
  const cuts = [...(options.cuts ?? [])].sort((a, b) => a - b);
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut <= start && cut !== bytes.length) continue;
    const piece = bytes.subarray(start, cut);
    start = cut;
    if (piece.length === 0) continue;
    const n = parser.execute(piece);
    if (n < 0) break;
    if (n < piece.length || parser.complete || parser.upgraded) {
      result.rest = piece.length - n + (bytes.length - start);
      break;
    }
  }
  if (options.eof && !parser.failed && !parser.complete && !parser.upgraded) parser.finish();
  if (heads > 1) throw new Error('two final heads');
  result.body = Buffer.concat(body);
  result.keepAlive = parser.keepAlive;
  result.complete = parser.complete;
  result.upgraded = parser.upgraded;
  result.error = parser.error;
  return result;
}

describe('response parser', () => {
  it('reads a content-length response and leaves what follows it', () => {
    const r = parse('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloEXTRA');
    expect(r).toMatchObject({ status: 200, reason: 'OK', minor: 1, complete: true, keepAlive: true, bodyKind: BODY_LENGTH, rest: 5, error: '' });
    expect(r.headers).toEqual(['Content-Type', 'text/plain', 'Content-Length', '5']);
    expect(r.body.toString()).toBe('hello');
  });

  it('reads a chunked body, ignoring extensions and consuming trailers', () => {
    const r = parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n1 ; x\r\n!\r\n0\r\nX-Checksum: 1\r\nX-Other: two\r\n\r\n');
    expect(r).toMatchObject({ status: 200, complete: true, keepAlive: true, bodyKind: BODY_CHUNKED, rest: 0 });
    expect(r.body.toString()).toBe('hello!');
  });

  it('reads a body delimited by the end of the connection', () => {
    const open = parse('HTTP/1.1 200 OK\r\n\r\nsome bytes');
    expect(open).toMatchObject({ complete: false, bodyKind: BODY_CLOSE, keepAlive: false, error: '' });
    const closed = parse('HTTP/1.1 200 OK\r\n\r\nsome bytes', { eof: true });
    expect(closed).toMatchObject({ complete: true, error: '' });
    expect(closed.body.toString()).toBe('some bytes');
  });

  it.each([
    ['HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n', true],
    ['204', 'HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n', false],
    ['304', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: "x"\r\n\r\n', false],
    ['204 with a chunked field', 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n', false],
  ])('a %s response has no body', (_name, text, head) => {
    const r = parse(text, { head });
    expect(r).toMatchObject({ complete: true, bodyKind: BODY_NONE, keepAlive: true, rest: 0 });
    expect(r.body.length).toBe(0);
  });

  it('skips interim responses (100 Continue, 103 Early Hints) before the final one', () => {
    const r = parse('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok');
    expect(r).toMatchObject({ status: 201, complete: true });
    expect(r.headers).toEqual(['Content-Length', '2']);
    expect(r.body.toString()).toBe('ok');
  });

  it('stops after a 101 it was told to expect, leaving the tunnel bytes', () => {
    const r = parse('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello', { upgrade: true });
    expect(r).toMatchObject({ status: 101, upgraded: true, rest: 7, keepAlive: false });
    expect(parse('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n').error).toMatch(/no protocol switch/);
  });

  it('answers a non-101 response to an upgrade request as a normal response', () => {
    const r = parse('HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope', { upgrade: true });
    expect(r).toMatchObject({ status: 403, complete: true, upgraded: false });
  });

  it.each([
    ['HTTP/1.1 close', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', false],
    ['HTTP/1.1 default', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', true],
    ['HTTP/1.0 default', 'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n', false],
    ['HTTP/1.0 keep-alive', 'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n', true],
    ['both framings', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', false],
    ['close-delimited', 'HTTP/1.1 200 OK\r\n\r\n', false],
  ])('keep-alive: %s', (_name, text, keepAlive) => {
    const r = parse(text, { eof: false });
    expect(r.error).toBe('');
    expect(r.keepAlive).toBe(keepAlive);
  });

  it('treats a response with both framings as chunked', () => {
    const r = parse('HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    expect(r).toMatchObject({ complete: true, bodyKind: BODY_CHUNKED });
    expect(r.body.toString()).toBe('abc');
  });

  it('accepts equal Content-Length values and lists the Connection tokens', () => {
    const body: Buffer[] = [];
    const parser = new ResponseParser({ onResponseHead() {}, onResponseBody: (c) => body.push(c) });
    parser.reset(false, false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\nConnection: keep-alive, X-Hop , Close\r\n\r\nabc'));
    expect(parser.complete).toBe(true);
    expect(parser.contentLength).toBe(3);
    expect(parser.contentLengthCanonical).toBe(false);
    expect(parser.connectionTokens).toEqual(['x-hop']);
    expect(parser.keepAlive).toBe(false);
  });

  it.each([
    ['timeout=5', 5000],
    ['timeout=5, max=1000', 5000],
    ['max=10, Timeout = 7', 7000],
    ['max=10', -1],
    ['timeout=x', -1],
  ])('reads the idle time from Keep-Alive: %s', (value, ms) => {
    const parser = new ResponseParser({ onResponseHead() {}, onResponseBody() {} });
    parser.reset(false, false);
    parser.execute(Buffer.from(`HTTP/1.1 200 OK\r\nKeep-Alive: ${value}\r\nContent-Length: 0\r\n\r\n`));
    expect(parser.keepAliveTimeoutMs).toBe(ms);
  });

  it('keeps headers named like Object.prototype members as ordinary headers', () => {
    const r = parse('HTTP/1.1 200 OK\r\n__proto__: a\r\nconstructor: b\r\ntoString: c\r\nContent-Length: 0\r\n\r\n');
    expect(r.headers).toEqual(['__proto__', 'a', 'constructor', 'b', 'toString', 'c', 'Content-Length', '0']);
  });

  it('keeps a reason phrase with obs-text and accepts a status line without one', () => {
    expect(parse('HTTP/1.1 200 Tr\xe8s bien\r\nContent-Length: 0\r\n\r\n').reason).toBe('Tr\xe8s bien');
    expect(parse('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n')).toMatchObject({ status: 200, reason: '', complete: true });
    expect(parse('HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n')).toMatchObject({ status: 599, complete: true });
  });

  it.each([
    ['not HTTP', 'SSH-2.0-OpenSSH_9.2\r\n\r\n', /status line/],
    ['HTTP/2', 'HTTP/2 200\r\n\r\n', /status line/],
    ['a short status', 'HTTP/1.1 20 OK\r\n\r\n', /status/],
    ['a status below 100', 'HTTP/1.1 099 Hm\r\n\r\n', /status code/],
    ['letters in the status', 'HTTP/1.1 2x0 OK\r\n\r\n', /status code/],
    ['a bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', /CRLF/],
    ['a bare LF ending the head', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n', /CRLF/],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued\r\nContent-Length: 0\r\n\r\n', /obs-fold/],
    ['space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', /header name/],
    ['no colon', 'HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n', /header name/],
    ['an empty name', 'HTTP/1.1 200 OK\r\n: 0\r\n\r\n', /header name/],
    ['a CR in a value', 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n', /header value/],
    ['a NUL in a value', 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n', /header value/],
    ['a DEL in a value', 'HTTP/1.1 200 OK\r\nX-A: a\x7fb\r\nContent-Length: 0\r\n\r\n', /header value/],
    ['a control byte in the reason', 'HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n', /reason/],
    ['different lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', /different Content-Length/],
    ['a different length in a list', 'HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd', /different Content-Length/],
    ['a signed length', 'HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc', /invalid Content-Length/],
    ['an empty length', 'HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n', /invalid Content-Length/],
    ['a huge length', 'HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999\r\n\r\n', /too large/],
    ['gzip coding', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', /other than chunked/],
    ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', /other than chunked/],
    ['chunked not last', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', /other than chunked/],
    ['an empty coding', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n', /other than chunked/],
    ['chunked in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /HTTP\/1\.0/],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /chunk size/],
    ['a chunk size with a sign', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n', /chunk size/],
    ['a chunk without its CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n', /CRLF/],
    ['a chunk size ending in LF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n', /chunk size/],
    ['a huge chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n', /too large/],
    ['a control byte in an extension', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a\x00\r\nabc\r\n0\r\n\r\n', /extension/],
    ['a folded trailer', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n  2\r\n\r\n', /trailer/],
    ['a trailer without a colon', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX\r\n\r\n', /trailer/],
  ])('refuses %s', (_name, text, message) => {
    const r = parse(text, { eof: true });
    expect(r.complete).toBe(false);
    expect(r.error).toMatch(message);
  });

  it('refuses a head over the size limit, even one that arrives a byte at a time', () => {
    const text = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(2000)}\r\nContent-Length: 0\r\n\r\n`;
    expect(parse(text, { maxHeaderBytes: 1024 }).error).toMatch(/larger than 1024 bytes/);
    const cuts = Array.from({ length: text.length }, (_, i) => i);
    expect(parse(text, { maxHeaderBytes: 1024, cuts }).error).toMatch(/larger than 1024 bytes/);
    expect(parse(text, { maxHeaderBytes: 4096, cuts })).toMatchObject({ complete: true, status: 200 });
  });

  it('refuses an endless chunk extension and trailers over the limit', () => {
    expect(parse(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'x'.repeat(20_000)}`).error).toMatch(/too long/);
    expect(parse(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ${'y'.repeat(2000)}\r\n\r\n`, { maxHeaderBytes: 1024 }).error).toMatch(/trailers larger/);
  });

  it('says what a close cut short', () => {
    expect(parse('', { eof: true }).error).toMatch(/before answering/);
    expect(parse('HTTP/1.1 200 OK\r\nContent-Le', { eof: true }).error).toMatch(/middle of the response head/);
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf', { eof: true }).error).toMatch(/middle of the response body/);
    expect(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhalf\r\n', { eof: true }).error).toMatch(/middle of the response body/);
  });

  it('parses the next response after a reset', () => {
    const seen: number[] = [];
    const parser = new ResponseParser({ onResponseHead: (p) => seen.push(p.statusCode), onResponseBody() {} });
    for (const status of [200, 404, 500]) {
      parser.reset(false, false);
      const n = parser.execute(Buffer.from(`HTTP/1.1 ${status} X\r\nContent-Length: 1\r\n\r\nx`));
      expect(n).toBe(`HTTP/1.1 ${status} X\r\nContent-Length: 1\r\n\r\nx`.length);
      expect(parser.complete).toBe(true);
    }
    expect(seen).toEqual([200, 404, 500]);
  });

  it('hands out slices of the chunk it was given, not copies', () => {
    const chunk = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
    let piece: Buffer | null = null;
    const parser = new ResponseParser({ onResponseHead() {}, onResponseBody: (c) => (piece = c) });
    parser.reset(false, false);
    parser.execute(chunk);
    expect(piece!.buffer).toBe(chunk.buffer);
  });

  it('knows the hop-by-hop names in any case', () => {
    for (const name of ['Connection', 'KEEP-ALIVE', 'proxy-connection', 'Transfer-Encoding', 'TE', 'Trailer', 'Upgrade', 'Proxy-Authorization', 'proxy-authenticate']) {
      expect(isHopByHop(name)).toBe(true);
    }
    for (const name of ['content-length', 'tee', 'trailers', 'x-upgrade', '__proto__', 'constructor']) expect(isHopByHop(name)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Random responses. fast-check is not installed in this repository, so the cases come from a
// small seeded generator; a failure names its seed and case (FUZZ_SEED=… reruns it).

function generator(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!;
  const string = (alphabet: string, min: number, max: number) => {
    let out = '';
    for (let n = int(min, max); n > 0; n--) out += alphabet[int(0, alphabet.length - 1)];
    return out;
  };
  const bytes = (min: number, max: number) => {
    const out = Buffer.alloc(int(min, max));
    for (let i = 0; i < out.length; i++) out[i] = int(0, 255);
    return out;
  };
  return { next, int, pick, string, bytes };
}

const TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
let VALUE = '\t !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~';
for (let c = 0x80; c <= 0xff; c++) VALUE += String.fromCharCode(c);
const SPECIAL = new Set(['content-length', 'transfer-encoding', 'connection']);

interface Sample {
  bytes: Buffer;
  status: number;
  reason: string;
  headers: string[];
  body: Buffer;
  head: boolean;
}

function randomResponse(g: ReturnType<typeof generator>): Sample {
  const head = g.next() < 0.1;
  const status = g.pick([200, 201, 204, 206, 301, 304, 400, 404, 418, 500, 503, g.int(200, 599)]);
  const reason = g.next() < 0.2 ? '' : g.string(VALUE.replace('\t', ''), 1, 20).trim();
  const headers: string[] = [];
  for (let n = g.int(0, 12); n > 0; n--) {
    let name = g.string(TOKEN, 1, 24);
    if (SPECIAL.has(name.toLowerCase())) name = `x-${name}`;
    let value = g.string(VALUE, 0, 60).replace(/^[\t ]+|[\t ]+$/g, '');
    if (g.next() < 0.05) value = '';
    headers.push(name, value);
  }
  const noBody = head || status === 204 || status === 304;
  const body = noBody ? Buffer.alloc(0) : g.pick([() => Buffer.alloc(0), () => g.bytes(1, 16), () => g.bytes(100, 5000)])();
  const chunked = g.next() < 0.5;
  let text = `HTTP/1.${g.int(0, 1) === 1 || chunked ? 1 : 0} ${status}${reason === '' && g.next() < 0.5 ? '' : ` ${reason}`}\r\n`;
  const framing = chunked ? ['Transfer-Encoding', g.pick(['chunked', 'Chunked', 'CHUNKED'])] : ['Content-Length', String(noBody && g.next() < 0.5 ? 1234 : body.length)];
  const at = g.int(0, headers.length / 2) * 2;
  const all = [...headers.slice(0, at), ...framing, ...headers.slice(at)];
  for (let i = 0; i < all.length; i += 2) text += `${all[i]}:${g.pick(['', ' ', '\t', '  '])}${all[i + 1]}${g.pick(['', ' ', '\t'])}\r\n`;
  text += '\r\n';
  const parts: Buffer[] = [Buffer.from(text, 'latin1')];
  if (!noBody && chunked) {
    let at = 0;
    while (at < body.length) {
      const size = Math.min(body.length - at, g.int(1, 700));
      const ext = g.next() < 0.2 ? `;${g.string(TOKEN, 1, 8)}=${g.string(TOKEN, 1, 8)}` : '';
      const hex = size.toString(16);
      parts.push(Buffer.from(`${g.next() < 0.5 ? hex : hex.toUpperCase()}${ext}\r\n`, 'latin1'), body.subarray(at, at + size), Buffer.from('\r\n'));
      at += size;
    }
    let end = '0\r\n';
    for (let n = g.next() < 0.3 ? g.int(1, 3) : 0; n > 0; n--) end += `${g.string(TOKEN, 1, 10)}: ${g.string(VALUE, 0, 20)}\r\n`;
    parts.push(Buffer.from(`${end}\r\n`, 'latin1'));
  } else if (!noBody) {
    parts.push(body);
  }
  return { bytes: Buffer.concat(parts), status, reason, headers: all, body, head };
}

function randomCuts(g: ReturnType<typeof generator>, length: number): number[] {
  const cuts: number[] = [];
  const n = g.pick([0, 1, 2, 5, 20, length]);
  for (let i = 0; i < n; i++) cuts.push(g.int(1, Math.max(1, length - 1)));
  return cuts;
}

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

describe('response parser on random input', () => {
  it('parses 1,000 random valid responses cut anywhere to the same status, headers and body', () => {
    for (let c = 0; c < 1000; c++) {
      const g = generator(SEED + c);
      const sample = randomResponse(g);
      const where = `seed ${SEED + c}`;
      const r = parse(sample.bytes, { cuts: randomCuts(g, sample.bytes.length), head: sample.head });
      expect(r.error, where).toBe('');
      expect(r.complete, where).toBe(true);
      expect(r.status, where).toBe(sample.status);
      expect(r.reason, where).toBe(sample.reason);
      expect(r.headers, where).toEqual(sample.headers);
      expect(r.body.equals(sample.body), where).toBe(true);
      expect(r.rest, where).toBe(0);
    }
  });

  it('never throws or hangs on 1,000 random byte strings and ends in a response or an error', () => {
    for (let c = 0; c < 1000; c++) {
      const g = generator(SEED + 1_000_000 + c);
      const prefix = g.pick(['', 'HTTP/1.1 ', 'HTTP/1.1 200 OK\r\n', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n']);
      const bytes = Buffer.concat([Buffer.from(prefix), g.bytes(0, 400)]);
      const r = parse(bytes, { cuts: randomCuts(g, bytes.length), eof: true, upgrade: g.next() < 0.2 });
      expect(r.complete || r.upgraded || r.error !== '', `seed ${SEED + 1_000_000 + c}`).toBe(true);
    }
  });

  it('never throws on 1,000 valid responses with a few bytes changed, and ends in a response or an error', () => {
    for (let c = 0; c < 1000; c++) {
      const g = generator(SEED + 2_000_000 + c);
      const sample = randomResponse(g);
      const bytes = Buffer.from(sample.bytes);
      for (let n = g.int(1, 4); n > 0; n--) bytes[g.int(0, bytes.length - 1)] = g.pick([0, 10, 13, 32, 58, 59, 48, 0x7f, 0xff, g.int(0, 255)]);
      const r = parse(bytes, { cuts: randomCuts(g, bytes.length), eof: true, head: sample.head });
      expect(r.complete || r.error !== '', `seed ${SEED + 2_000_000 + c}`).toBe(true);
    }
  });
});
