// Bytes on a socket: what app.inject cannot express (invalid UTF-8 in the request line, malformed
// headers and framing, exact dot segments) sent to a real listening node, and the first answer
// read back. The request ends with `Connection: close`, so an answer is framed by its length,
// its chunks, or the close; an event stream is cut once its head arrived.
import { connect } from 'node:net';
import fc from 'fast-check';
import { INVALID_UTF8, PROTO_NAMES, TRAVERSALS, type Draw, type FuzzCase } from './fuzz-cases.js';
import type { Credential, World } from './fuzz-world.js';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type RawOutcome = { answer: RawAnswer } | { closed: true } | { timeout: true };

/** Writes `request`, reads one response. */
export function sendRaw(port: number, request: Buffer, timeoutMs = 15_000, halfClose = false): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let head: { status: number; headers: Record<string, string>; bodyAt: number } | null = null;
    let done = false;
    const finish = (outcome: RawOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ timeout: true }), timeoutMs);
    const tryParse = (ended: boolean) => {
      if (!head) {
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return ended ? finish({ closed: true }) : undefined;
        const lines = data.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(lines[0]!.split(' ')[1]);
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        head = { status, headers, bodyAt: end + 4 };
        // Interim answers (100 Continue) are skipped.
        if (status >= 100 && status < 200 && status !== 101) {
          data = data.subarray(end + 4);
          head = null;
          return tryParse(ended);
        }
      }
      const { status, headers, bodyAt } = head;
      const rest = data.subarray(bodyAt);
      if (status === 101 || (headers['content-type'] ?? '').startsWith('text/event-stream') || status === 304 || status === 204) {
        return finish({ answer: { status, headers, body: Buffer.alloc(0) } });
      }
      if (headers['content-length'] !== undefined) {
        const length = Number(headers['content-length']);
        if (rest.length >= length || ended) return finish({ answer: { status, headers, body: rest.subarray(0, length) } });
        return;
      }
      if ((headers['transfer-encoding'] ?? '').includes('chunked')) {
        const body = dechunk(rest);
        if (body || ended) return finish({ answer: { status, headers, body: body ?? rest } });
        return;
      }
      if (ended) finish({ answer: { status, headers, body: rest } });
    };
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    socket.on('error', () => tryParse(true));
    socket.write(request, () => {
      if (halfClose) socket.end();
    });
  });
}

/** A complete chunked body, or null while it is incomplete. */
function dechunk(data: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const line = data.indexOf('\r\n', at);
    if (line < 0) return null;
    const size = parseInt(data.subarray(at, line).toString('latin1'), 16);
    if (Number.isNaN(size)) return null;
    if (size === 0) return Buffer.concat(parts);
    if (data.length < line + 2 + size + 2) return null;
    parts.push(data.subarray(line + 2, line + 2 + size));
    at = line + 2 + size + 2;
  }
}

/** A request as bytes: the line, headers in order (names may repeat), the body. */
export function requestBytes(method: string, target: string | Buffer, headers: [string, string | Buffer][], body?: string | Buffer, options: { version?: string; lengthHeader?: boolean } = {}): Buffer {
  const lines: Buffer[] = [Buffer.concat([Buffer.from(`${method} `), Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'), Buffer.from(` ${options.version ?? 'HTTP/1.1'}\r\n`)])];
  const all: [string, string | Buffer][] = [['Host', '127.0.0.1'], ...headers];
  const bytes = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  if (bytes !== undefined && options.lengthHeader !== false && !all.some(([n]) => /^(content-length|transfer-encoding)$/i.test(n))) all.push(['Content-Length', String(bytes.length)]);
  if (!all.some(([n]) => n.toLowerCase() === 'connection')) all.push(['Connection', 'close']);
  for (const [name, value] of all) lines.push(Buffer.concat([Buffer.from(`${name}: `, 'latin1'), Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1'), Buffer.from('\r\n')]));
  lines.push(Buffer.from('\r\n'));
  if (bytes) lines.push(bytes);
  return Buffer.concat(lines);
}

/** A generated API case as bytes, exactly as built (no client-side normalisation). */
export function caseBytes(c: FuzzCase): Buffer {
  return requestBytes(c.method, c.url, Object.entries(c.headers), c.body);
}

export const RAW_MUTATIONS = ['raw-utf8-target', 'raw-utf8-header', 'malformed-header', 'framing', 'request-line', 'exact-dots', 'oversized-head'] as const;
export type RawMutation = (typeof RAW_MUTATIONS)[number];

const pick = <T>(g: Draw, list: readonly T[]): T => g(fc.constantFrom, ...list) as T;

/** A raw-byte mutation of a generated case: what only a socket can send. */
export function rawMutation(g: Draw, c: FuzzCase): { mutation: RawMutation; bytes: Buffer; detail: string; halfClose: boolean } {
  const mutation = pick(g, RAW_MUTATIONS);
  const headers = Object.entries(c.headers) as [string, string | Buffer][];
  const bad = pick(g, INVALID_UTF8);
  const [path, query] = c.url.split('?') as [string, string | undefined];
  switch (mutation) {
    case 'raw-utf8-target': {
      const segments = path.split('/');
      const i = 1 + g(fc.nat, { max: Math.max(0, segments.length - 2) });
      const before = Buffer.from(segments.slice(0, i).join('/') + '/', 'latin1');
      const after = Buffer.from((segments.slice(i + 1).length ? '/' + segments.slice(i + 1).join('/') : '') + (query ? `?${query}` : ''), 'latin1');
      const target = Buffer.concat([before, Buffer.from('a'), bad, Buffer.from(segments[i] ?? ''), after]);
      return { mutation, bytes: requestBytes(c.method, target, headers, c.body), detail: `bytes ${bad.toString('hex')} in segment ${i}`, halfClose: false };
    }
    case 'raw-utf8-header': {
      const name = pick(g, ['Authorization', 'X-Request-Id', 'Content-Type', 'If-None-Match', 'Last-Event-ID', 'Origin', 'X-Stageline-Env', 'Accept-Language']);
      const value = name === 'Authorization' ? Buffer.concat([Buffer.from('Bearer sk_'), bad, Buffer.from('x')]) : Buffer.concat([Buffer.from('a'), bad]);
      const rest = headers.filter(([n]) => n.toLowerCase() !== name.toLowerCase());
      return { mutation, bytes: requestBytes(c.method, c.url, [...rest, [name, value]], c.body), detail: `${name}: bytes ${bad.toString('hex')}`, halfClose: false };
    }
    case 'malformed-header': {
      const line = pick(g, ['NoColonHere', ' folded continuation', 'X-A : b', 'X\u0000Y: z', 'Bad(Name): v', ': empty-name', 'X-Tab:\tv\t', 'X-CR: a\rb', 'Content-Type : application/json']);
      const raw = Buffer.from(`${c.method} ${c.url} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers.map(([n, v]) => `${n}: ${v.toString()}`).join('\r\n')}${headers.length ? '\r\n' : ''}${line}\r\nConnection: close\r\n${c.body !== undefined ? `Content-Length: ${Buffer.byteLength(c.body)}\r\n` : ''}\r\n`, 'latin1');
      return { mutation, bytes: c.body !== undefined ? Buffer.concat([raw, Buffer.isBuffer(c.body) ? c.body : Buffer.from(c.body)]) : raw, detail: JSON.stringify(line), halfClose: false };
    }
    case 'framing': {
      const body = c.body ?? '{"a":1}';
      const length = Buffer.byteLength(body);
      const variant = pick(g, ['two lengths', 'length and chunked', 'bad chunk size', 'negative length', 'huge length', 'short body', 'chunked twice', 'length not a number']);
      const framing: Record<string, [string, string][]> = {
        'two lengths': [['Content-Length', String(length)], ['Content-Length', String(length + 1)]],
        'length and chunked': [['Content-Length', String(length)], ['Transfer-Encoding', 'chunked']],
        'bad chunk size': [['Transfer-Encoding', 'chunked']],
        'negative length': [['Content-Length', '-1']],
        'huge length': [['Content-Length', '99999999999999999999']],
        'short body': [['Content-Length', String(length + 100)]],
        'chunked twice': [['Transfer-Encoding', 'chunked, chunked']],
        'length not a number': [['Content-Length', '1e3']],
      };
      const payload = variant === 'bad chunk size' ? `zz\r\n${body.toString()}\r\n0\r\n\r\n` : variant === 'chunked twice' ? `${length.toString(16)}\r\n${body.toString()}\r\n0\r\n\r\n` : body;
      const rest = headers.filter(([n]) => !/^content-length$/i.test(n));
      return { mutation, bytes: requestBytes(c.method, c.url, [...rest, ...framing[variant]!], payload, { lengthHeader: false }), detail: variant, halfClose: variant === 'short body' };
    }
    case 'request-line': {
      const variant = pick(g, ['lowercase method', 'unknown method', 'HTTP/1.0', 'HTTP/2.0', 'absolute form', 'asterisk', 'no version', 'LF only', 'tab separator', 'double space']);
      const h = headers.map(([n, v]) => `${n}: ${v.toString()}`);
      const lines: Record<string, string> = {
        'lowercase method': `${c.method.toLowerCase()} ${c.url} HTTP/1.1`,
        'unknown method': `FUZZ ${c.url} HTTP/1.1`,
        'HTTP/1.0': `${c.method} ${c.url} HTTP/1.0`,
        'HTTP/2.0': `${c.method} ${c.url} HTTP/2.0`,
        'absolute form': `${c.method} http://127.0.0.1${c.url} HTTP/1.1`,
        asterisk: `${c.method} * HTTP/1.1`,
        'no version': `${c.method} ${c.url}`,
        'LF only': `${c.method} ${c.url} HTTP/1.1`,
        'tab separator': `${c.method}\t${c.url}\tHTTP/1.1`,
        'double space': `${c.method}  ${c.url} HTTP/1.1`,
      };
      const eol = variant === 'LF only' ? '\n' : '\r\n';
      const text = `${lines[variant]}${eol}Host: 127.0.0.1${eol}${h.map((x) => x + eol).join('')}Connection: close${eol}${c.body !== undefined ? `Content-Length: ${Buffer.byteLength(c.body)}${eol}` : ''}${eol}`;
      const bytes = Buffer.concat([Buffer.from(text, 'latin1'), c.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(c.body) ? c.body : Buffer.from(c.body)]);
      return { mutation, bytes, detail: variant, halfClose: false };
    }
    case 'exact-dots': {
      const t = pick(g, [...TRAVERSALS, ...PROTO_NAMES, '//', '/./', '/%2e/']);
      const segments = path.split('/');
      const i = 1 + g(fc.nat, { max: Math.max(0, segments.length - 2) });
      segments.splice(i, 0, t);
      const target = segments.join('/') + (query ? `?${query}` : '');
      return { mutation, bytes: requestBytes(c.method, target, headers, c.body), detail: `${t} before segment ${i}`, halfClose: false };
    }
    case 'oversized-head': {
      const where = pick(g, ['header', 'target', 'many headers']);
      const extra: [string, string][] = where === 'header' ? [['X-Big', 'b'.repeat(20_000)]] : where === 'many headers' ? Array.from({ length: 2000 }, (_, i) => [`X-H${i}`, 'v'] as [string, string]) : [];
      const target = where === 'target' ? `${c.url}${c.url.includes('?') ? '&' : '?'}q=${'t'.repeat(20_000)}` : c.url;
      return { mutation, bytes: requestBytes(c.method, target, [...headers, ...extra], c.body), detail: where, halfClose: false };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The gateway: any method and path, the environment from headers, bodies for injectBody routes.

export const GATEWAY_MUTATIONS = ['valid', 'path', 'env-header', 'key-header', 'body', 'method', 'upgrade', 'raw-bytes', 'framing'] as const;
export type GatewayMutation = (typeof GATEWAY_MUTATIONS)[number];

export interface GatewayCase {
  mutation: GatewayMutation;
  /** The route prefix the path starts with (for grouping failures). */
  prefix: string;
  method: string;
  bytes: Buffer;
  detail: string;
  halfClose: boolean;
}

const PREFIXES = ['/api', '/body', '/limited', '/split', '/tenant', '/nothing', ''];
const ENV_VALUES = ['production', 'staging', 'development', 'feature-x', 'victim-1', 'nope', '__proto__', 'constructor', 'prototype', '../production', 'PRODUCTION', 'production ', '', 'a'.repeat(5000)];

export function gatewayCase(g: Draw, world: World): GatewayCase {
  const mutation = pick(g, GATEWAY_MUTATIONS);
  const prefix = pick(g, PREFIXES);
  let method = pick(g, ['GET', 'GET', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
  const suffix = pick(g, ['', '/x', '/a/b', '/users/1', '?a=1&a=2', '/x?__proto__=1&constructor[prototype]=2']);
  let target: string | Buffer = `${prefix}${suffix}`.replace(/^(?!\/)/, '/');
  const headers: [string, string | Buffer][] = [];
  const credential = pick(g, ['none', 'none', 'sk', 'pk', 'sk-dev', 'pk-dev', 'garbage'] as Credential[]);
  if (credential !== 'none') headers.push(['X-Stageline-Key', world.credentials[credential] ?? 'x']);
  if (g(fc.boolean)) headers.push(['X-Tenant', 'acme']);
  let body: string | Buffer | undefined = ['POST', 'PUT', 'PATCH'].includes(method) ? JSON.stringify({ id: 1, name: 'n' }) : undefined;
  if (body !== undefined) headers.push(['Content-Type', 'application/json']);
  let detail = '';
  let halfClose = false;
  let lengthHeader = true;
  switch (mutation) {
    case 'valid':
      break;
    case 'path': {
      const t = pick(g, [...TRAVERSALS, ...PROTO_NAMES, '//', '/./', '%2F', '%5C', '\\', '%00', '..;x', '%61pi', 'a'.repeat(10_000), '%', '%zz', '~', '%ff%fe']);
      target = pick(g, [`${prefix}/${t}`, `/${t}${prefix}`, `${prefix}/${t}/x`, `/${t}`]);
      detail = t.length > 60 ? `${t.slice(0, 20)}… (${t.length})` : t;
      break;
    }
    case 'env-header': {
      const value = pick(g, ENV_VALUES);
      headers.push(['X-Stageline-Env', value]);
      if (g(fc.boolean)) headers.push(['X-Stageline-Env', pick(g, ENV_VALUES)]);
      detail = value.slice(0, 40);
      break;
    }
    case 'key-header': {
      const value = pick(g, ['', 'sk_', 'pk_', `sk_${'0'.repeat(48)}`, 'Bearer sk_x', '__proto__', (world.credentials.sk ?? '') + 'x', 'k'.repeat(10_000)]);
      headers.push(['X-Stageline-Key', value]);
      if (g(fc.boolean)) headers.push(['X-Stageline-Env', pick(g, ['production', 'development', 'staging'])]);
      detail = value.slice(0, 40);
      break;
    }
    case 'body': {
      method = pick(g, ['POST', 'PUT', 'PATCH']);
      target = pick(g, ['/body', '/body/x', '/api/x']);
      const variant = pick(g, ['array', 'string', 'invalid json', 'deep', 'huge fits', 'huge over', 'invalid utf8', 'gzip', 'wrong type', 'empty', 'proto keys', 'odd numbers', 'json+suffix']);
      const type = variant === 'wrong type' ? 'text/plain' : variant === 'json+suffix' ? 'application/vnd.fuzz+json' : 'application/json';
      const bodies: Record<string, () => string | Buffer> = {
        array: () => '[1,2,3]',
        string: () => '"text"',
        'invalid json': () => '{"a":',
        deep: () => `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
        'huge fits': () => JSON.stringify({ blob: 'x'.repeat(1_000_000) }),
        'huge over': () => JSON.stringify({ blob: 'x'.repeat(1_100_000) }),
        'invalid utf8': () => Buffer.concat([Buffer.from('{"a":"'), pick(g, INVALID_UTF8), Buffer.from('"}')]),
        gzip: () => '{"a":1}',
        'wrong type': () => '{"a":1}',
        empty: () => '',
        'proto keys': () => '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"tenant":"mine"}',
        'odd numbers': () => `{"a":${pick(g, ['1e309', '-0', '18446744073709551616', '1e-400'])}}`,
        'json+suffix': () => '{"a":1}',
      };
      body = bodies[variant]!();
      for (let i = headers.length - 1; i >= 0; i -= 1) if (headers[i]![0] === 'Content-Type') headers.splice(i, 1);
      headers.push(['Content-Type', type]);
      if (variant === 'gzip') headers.push(['Content-Encoding', 'gzip']);
      detail = variant;
      break;
    }
    case 'method': {
      method = pick(g, ['FUZZ', 'TRACE', 'PROPFIND', 'M-SEARCH', 'PURGE', 'get', 'CONNECT']);
      if (method === 'CONNECT') target = '127.0.0.1:443';
      detail = method;
      break;
    }
    case 'upgrade': {
      const variant = pick(g, ['websocket', 'h2c', 'unknown', 'websocket without connection']);
      if (variant !== 'websocket without connection') headers.push(['Connection', 'Upgrade']);
      headers.push(['Upgrade', variant === 'h2c' ? 'h2c' : variant === 'unknown' ? 'fuzz/1' : 'websocket']);
      if (variant.startsWith('websocket')) headers.push(['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13']);
      method = 'GET';
      body = undefined;
      detail = variant;
      break;
    }
    case 'raw-bytes': {
      const bad = pick(g, INVALID_UTF8);
      const where = pick(g, ['target', 'env', 'key', 'other header']);
      if (where === 'target') target = Buffer.concat([Buffer.from(`${prefix || ''}/`), bad, Buffer.from('x')]);
      else headers.push([where === 'env' ? 'X-Stageline-Env' : where === 'key' ? 'X-Stageline-Key' : 'X-Tenant', Buffer.concat([Buffer.from('a'), bad])]);
      detail = `${where} bytes ${bad.toString('hex')}`;
      break;
    }
    case 'framing': {
      const text = body?.toString() ?? '{"a":1}';
      method = 'POST';
      const variant = pick(g, ['two lengths', 'length and chunked', 'bad chunk size', 'short body', 'chunked', 'expect continue', 'expect other']);
      lengthHeader = !['two lengths', 'length and chunked', 'bad chunk size', 'short body', 'chunked'].includes(variant);
      if (variant === 'two lengths') headers.push(['Content-Length', String(text.length)], ['Content-Length', String(text.length + 2)]);
      if (variant === 'length and chunked') headers.push(['Content-Length', String(text.length)], ['Transfer-Encoding', 'chunked']);
      if (variant === 'bad chunk size' || variant === 'chunked') headers.push(['Transfer-Encoding', 'chunked']);
      if (variant === 'short body') (headers.push(['Content-Length', String(text.length + 50)]), (halfClose = true));
      if (variant === 'expect continue') headers.push(['Expect', '100-continue']);
      if (variant === 'expect other') headers.push(['Expect', 'fuzz']);
      body = variant === 'bad chunk size' ? `zz\r\n${text}\r\n0\r\n\r\n` : variant === 'chunked' ? `${text.length.toString(16)}\r\n${text}\r\n0\r\n\r\n` : text;
      if (!headers.some(([n]) => n === 'Content-Type')) headers.push(['Content-Type', 'application/json']);
      detail = variant;
      break;
    }
  }
  return { mutation, prefix: prefix || '/', method, bytes: requestBytes(method, target, headers, body, { lengthHeader }), detail, halfClose };
}
