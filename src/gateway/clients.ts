// Who a gateway client is and whether a route lets it in: addresses parsed without allocation,
// allow-lists and trusted proxies compiled into sorted ranges searched in O(log n).
import type { AllowList } from './contract.js';

// An address is read into these words: IPv4 in v4[0]; IPv6 as four big-endian 32-bit words.
// One scratch per module is safe: parsing and the search that follows never yield.
const scratch = new Uint32Array(4);
const scratchGroups = new Uint16Array(8);

const FAMILY_NONE = 0;
const FAMILY_V4 = 4;
const FAMILY_V6 = 6;
type Family = typeof FAMILY_NONE | typeof FAMILY_V4 | typeof FAMILY_V6;

/** Reads `a.b.c.d` (decimal, no leading zeros, as `net.isIP`) from text[start, end); -1 when it is not one. */
function parseV4(text: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let leadingZero = false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (leadingZero) return -1;
      if (digits === 0 && c === 48) leadingZero = true;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      leadingZero = false;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Zone ids (`fe80::1%eth0`) carry the characters `net.isIP` accepts. */
function isZoneChar(c: number): boolean {
  return (c >= 48 && c <= 58) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46;
}

/**
 * Reads an IPv6 address (an optional embedded IPv4 tail, an optional zone id, which is dropped)
 * from text[start, end) into `scratch` as four words; false when it is not one.
 */
function parseV6(text: string, start: number, end: number): boolean {
  const groups = scratchGroups;
  // A zone id ends the address: strip it, but only when it is non-empty and well formed.
  for (let i = start; i < end; i++) {
    if (text.charCodeAt(i) === 37) {
      if (i + 1 === end) return false;
      for (let j = i + 1; j < end; j++) if (!isZoneChar(text.charCodeAt(j))) return false;
      end = i;
      break;
    }
  }
  let count = 0;
  let gap = -1;
  let i = start;
  if (end - start < 2) return false;
  if (text.charCodeAt(i) === 58) {
    if (text.charCodeAt(i + 1) !== 58) return false;
    gap = 0;
    i += 2;
    if (i === end) {
      groups.fill(0);
      scratch.fill(0);
      return true;
    }
  }
  while (i < end) {
    if (count === 8) return false;
    const groupStart = i;
    let value = 0;
    let digits = 0;
    while (i < end) {
      const d = hexDigit(text.charCodeAt(i));
      if (d < 0) break;
      value = value * 16 + d;
      if (++digits > 4) return false;
      i++;
    }
    if (i < end && text.charCodeAt(i) === 46) {
      // An IPv4 tail: the last 32 bits, in place of two groups.
      if (count > 6) return false;
      const v4 = parseV4(text, groupStart, end);
      if (v4 < 0) return false;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (digits === 0) return false;
    groups[count++] = value;
    if (i === end) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && text.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i === end) {
      return false;
    }
  }
  if (gap < 0) {
    if (count !== 8) return false;
  } else {
    if (count > 7) return false;
    const zeros = 8 - count;
    for (let k = count - 1; k >= gap; k--) groups[k + zeros] = groups[k]!;
    for (let k = gap; k < gap + zeros; k++) groups[k] = 0;
  }
  for (let w = 0; w < 4; w++) scratch[w] = ((groups[2 * w]! << 16) | groups[2 * w + 1]!) >>> 0;
  return true;
}

function hasColon(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (text.charCodeAt(i) === 58) return true;
  return false;
}

function isMapped(): boolean {
  return scratch[0] === 0 && scratch[1] === 0 && scratch[2] === 0xffff;
}

/**
 * Reads an address into `scratch`. IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`,
 * `::ffff:a01:203`) answer IPv4 with the IPv4 address in scratch[0] unless `keepMapped`.
 */
function parseAddress(text: string, start: number, end: number, keepMapped = false): Family {
  if (!hasColon(text, start, end)) {
    const v4 = parseV4(text, start, end);
    if (v4 < 0) return FAMILY_NONE;
    scratch[0] = v4;
    return FAMILY_V4;
  }
  if (!parseV6(text, start, end)) return FAMILY_NONE;
  if (!keepMapped && isMapped()) {
    scratch[0] = scratch[3]!;
    return FAMILY_V4;
  }
  return FAMILY_V6;
}

function formatV4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** RFC 5952 text of the IPv6 address in scratch: lower case, the first longest run of 2+ zero groups as `::`. */
function formatV6(): string {
  const g = scratchGroups;
  for (let w = 0; w < 4; w++) {
    g[2 * w] = scratch[w]! >>> 16;
    g[2 * w + 1] = scratch[w]! & 0xffff;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let k = 0; k < 8; ) {
    if (g[k] !== 0) {
      k++;
      continue;
    }
    let run = k;
    while (run < 8 && g[run] === 0) run++;
    if (run - k > bestLength) {
      bestStart = k;
      bestLength = run - k;
    }
    k = run;
  }
  let text = '';
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      text += '::';
      k += bestLength - 1;
      continue;
    }
    if (text !== '' && !text.endsWith(':')) text += ':';
    text += g[k]!.toString(16);
  }
  return text;
}

/**
 * The canonical text of text[start, end) just parsed as `family`: IPv4 dotted quad (also for
 * IPv4-mapped IPv6), IPv6 per RFC 5952 without zone id. Answers the input itself when it is
 * already canonical and spans the whole string, so the usual peer address costs nothing.
 */
function canonical(text: string, start: number, end: number, family: Family): string {
  if (family === FAMILY_V4) {
    // A plain dotted quad is canonical (parseV4 refuses leading zeros); a mapped one is rewritten.
    if (hasColon(text, start, end)) return formatV4(scratch[0]!);
    return start === 0 && end === text.length ? text : text.slice(start, end);
  }
  return formatV6();
}

/** The canonical text of an address (IPv4-mapped IPv6 as IPv4, IPv6 per RFC 5952, no zone id); null when it is not an address. */
export function normalizeAddress(address: string): string | null {
  const family = parseAddress(address, 0, address.length);
  if (family === FAMILY_NONE) return null;
  return canonical(address, 0, address.length, family);
}

// ---------------------------------------------------------------------------------------------
// Compiled address sets

interface Range {
  /** IPv4: one word; IPv6: four. */
  start: number[];
  end: number[];
}

function compareWords(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

/** a + 1 === b, word-wise (to merge adjacent ranges). */
function adjacent(a: readonly number[], b: readonly number[]): boolean {
  const next = a.slice();
  for (let i = next.length - 1; i >= 0; i--) {
    if (next[i] === 0xffffffff) {
      next[i] = 0;
      continue;
    }
    next[i]! += 1;
    return compareWords(next, b) === 0;
  }
  return false;
}

/** Sorted, merged, non-overlapping ranges laid out flat: `width` words of start, then of end, per range. */
function packRanges(ranges: Range[], width: number): Uint32Array {
  ranges.sort((a, b) => compareWords(a.start, b.start));
  const merged: Range[] = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && (compareWords(range.start, last.end) <= 0 || adjacent(last.end, range.start))) {
      if (compareWords(range.end, last.end) > 0) last.end = range.end;
    } else {
      merged.push({ start: range.start.slice(), end: range.end.slice() });
    }
  }
  const packed = new Uint32Array(merged.length * width * 2);
  merged.forEach((range, i) => {
    packed.set(range.start, i * width * 2);
    packed.set(range.end, i * width * 2 + width);
  });
  return packed;
}

/** A network prefix of `bits` over `words` (big-endian) as its first and last address. */
function prefixRange(words: readonly number[], bits: number): Range {
  const start: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < words.length; i++) {
    const keep = Math.max(0, Math.min(32, bits - i * 32));
    const mask = keep === 0 ? 0 : keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0;
    start.push((words[i]! & mask) >>> 0);
    end.push((words[i]! | ~mask) >>> 0);
  }
  return { start, end };
}

const MAPPED_START = [0, 0, 0xffff, 0];
const MAPPED_END = [0, 0, 0xffff, 0xffffffff];

/**
 * A set of IPv4 and IPv6 addresses compiled from addresses and CIDR blocks. An IPv4-mapped
 * IPv6 address is the IPv4 address it maps, in entries and in the addresses checked: an IPv6
 * block that covers part of `::ffff:0:0/96` covers those IPv4 addresses, so `::ffff:10.0.0.0/104`
 * is `10.0.0.0/8` and `::/0` also holds every IPv4 address.
 */
export class AddressSet implements AllowList {
  /** Ranges of IPv4 addresses: start, end, start, end, … */
  private readonly v4: Uint32Array;
  /** Ranges of IPv6 addresses: 4 words of start, 4 of end, … */
  private readonly v6: Uint32Array;
  private readonly v4Count: number;
  private readonly v6Count: number;

  constructor(entries: readonly string[]) {
    const v4: Range[] = [];
    const v6: Range[] = [];
    for (const entry of entries) {
      const slash = entry.indexOf('/');
      const addressEnd = slash < 0 ? entry.length : slash;
      const family = parseAddress(entry, 0, addressEnd, true);
      if (family === FAMILY_NONE) throw new Error(`"${entry}" is not an IPv4 or IPv6 address or CIDR block`);
      const maxBits = family === FAMILY_V4 ? 32 : 128;
      let bits = maxBits;
      if (slash >= 0) {
        const prefix = entry.slice(slash + 1);
        if (!/^(0|[1-9]\d{0,2})$/.test(prefix) || Number(prefix) > maxBits) {
          throw new Error(`"${entry}" has an invalid prefix length (0 to ${maxBits})`);
        }
        bits = Number(prefix);
      }
      if (family === FAMILY_V4) {
        v4.push(prefixRange([scratch[0]!], bits));
        continue;
      }
      const range = prefixRange(Array.from(scratch), bits);
      v6.push(range);
      // The part of the block inside ::ffff:0:0/96, as IPv4 (CIDR blocks nest or are disjoint).
      if (compareWords(range.start, MAPPED_END) <= 0 && compareWords(range.end, MAPPED_START) >= 0) {
        const start = compareWords(range.start, MAPPED_START) > 0 ? range.start[3]! : 0;
        const end = compareWords(range.end, MAPPED_END) < 0 ? range.end[3]! : 0xffffffff;
        v4.push({ start: [start], end: [end] });
      }
    }
    this.v4 = packRanges(v4, 1);
    this.v6 = packRanges(v6, 4);
    this.v4Count = this.v4.length / 2;
    this.v6Count = this.v6.length / 8;
  }

  /** Whether the set holds the address; false for anything that is not an address (never throws). */
  allows(address: string): boolean {
    const family = parseAddress(address, 0, address.length);
    return family !== FAMILY_NONE && this.holdsParsed(family);
  }

  /** @internal Whether the set holds the address just parsed into the module's scratch words. */
  holdsParsed(family: Family): boolean {
    if (family === FAMILY_V4) {
      const x = scratch[0]!;
      const ranges = this.v4;
      // The last range that starts at or before x.
      let lo = 0;
      let hi = this.v4Count - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (ranges[mid * 2]! <= x) {
          found = mid;
          lo = mid + 1;
        } else {
          hi = mid - 1;
        }
      }
      return found >= 0 && x <= ranges[found * 2 + 1]!;
    }
    if (family !== FAMILY_V6) return false;
    const ranges = this.v6;
    let lo = 0;
    let hi = this.v6Count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compareScratch(ranges, mid * 8) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && compareScratch(ranges, found * 8 + 4) >= 0;
  }

  get empty(): boolean {
    return this.v4Count === 0 && this.v6Count === 0;
  }
}

/** Compares ranges[offset..offset+4) with the IPv6 address in scratch: <0, 0, >0 as the range word is below, equal, above. */
function compareScratch(ranges: Uint32Array, offset: number): number {
  for (let i = 0; i < 4; i++) {
    const a = ranges[offset + i]!;
    const b = scratch[i]!;
    if (a !== b) return a < b ? -1 : 1;
  }
  return 0;
}

/**
 * A route's `clients` as one compiled set. Entries were validated by the route schema; one that
 * is not an address or CIDR block throws here, at table build time, never per request.
 * An empty list lets nobody in.
 */
export function compileAllowList(entries: readonly string[]): AllowList {
  return new AddressSet(entries);
}

/** STAGELINE_TRUSTED_PROXIES (addresses and CIDR blocks) as a compiled set. */
export function compileTrustedProxies(entries: readonly string[]): AddressSet {
  return new AddressSet(entries);
}

// ---------------------------------------------------------------------------------------------
// The client's address

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** Where parseForwarded found the address inside the element: start, end. */
const bounds = [0, 0];

/**
 * Parses one x-forwarded-for element in text[start, end) (already trimmed): an address,
 * `a.b.c.d:port`, `[v6]` or `[v6]:port`. Answers the family, with the address's bounds in
 * `bounds`, or FAMILY_NONE.
 */
function parseForwarded(text: string, start: number, end: number): Family {
  if (text.charCodeAt(start) === 91) {
    const close = text.indexOf(']', start);
    if (close < 0 || close >= end) return FAMILY_NONE;
    if (close + 1 !== end && !isPort(text, close + 1, end)) return FAMILY_NONE;
    bounds[0] = start + 1;
    bounds[1] = close;
    // Inside brackets only IPv6 (or a mapped IPv4) is allowed.
    const colon = text.indexOf(':', start + 1);
    if (colon < 0 || colon >= close) return FAMILY_NONE;
    return parseAddress(text, start + 1, close);
  }
  bounds[0] = start;
  bounds[1] = end;
  const family = parseAddress(text, start, end);
  if (family !== FAMILY_NONE) return family;
  // `a.b.c.d:port`: the port's colon is the only one (an IPv6 address without brackets has several).
  const colon = text.indexOf(':', start);
  if (colon < 0 || colon >= end || hasColon(text, colon + 1, end) || !isPort(text, colon, end)) return FAMILY_NONE;
  const v4 = parseV4(text, start, colon);
  if (v4 < 0) return FAMILY_NONE;
  scratch[0] = v4;
  bounds[1] = colon;
  return FAMILY_V4;
}

/** `:digits` (1–5 digits, ≤ 65535) in text[start, end). */
function isPort(text: string, start: number, end: number): boolean {
  if (text.charCodeAt(start) !== 58 || end - start < 2 || end - start > 6) return false;
  let value = 0;
  for (let i = start + 1; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    value = value * 10 + (c - 48);
  }
  return value <= 65535;
}

/**
 * The client's address: the peer's, normalised; when the peer is a trusted proxy, the
 * x-forwarded-for list is walked from the right, skipping trusted hops, to the first address
 * that is not a trusted proxy (nginx `real_ip_recursive on`). Every hop is trusted → the
 * leftmost one. A malformed element ends the walk at the last good address (as nginx does):
 * stepping over it would hand the choice to whoever wrote the elements to its left. An untrusted
 * peer's header is ignored. Answers '' when the peer is unknown (a socket already gone).
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trusted: AddressSet): string {
  if (peer === undefined || peer === '') return '';
  const peerFamily = parseAddress(peer, 0, peer.length);
  if (peerFamily === FAMILY_NONE) return peer;
  let address = canonicalPeer(peer, peerFamily);
  if (forwardedFor === undefined || trusted.empty || !trusted.holdsParsed(peerFamily)) return address;
  if (typeof forwardedFor === 'string') return walkForwarded(forwardedFor, address, trusted) ?? address;
  for (let h = forwardedFor.length - 1; h >= 0; h--) {
    const found = walkForwarded(forwardedFor[h]!, address, trusted);
    if (found === null) continue;
    address = found;
    // The header's walk ended at an untrusted (or malformed) element: that is the answer.
    if (!walkEndedTrusted) return address;
  }
  return address;
}

/** Set by walkForwarded: whether every element it read was a trusted proxy. */
let walkEndedTrusted = false;

/**
 * Walks one x-forwarded-for value from the right. Answers the address the walk settled on (the
 * first untrusted element, or the leftmost trusted one) or null when the value held no element;
 * `walkEndedTrusted` says whether the walk may continue into an earlier header line.
 */
function walkForwarded(value: string, current: string, trusted: AddressSet): string | null {
  let address: string | null = null;
  let end = value.length;
  walkEndedTrusted = true;
  while (end > 0) {
    while (end > 0 && isSpace(value.charCodeAt(end - 1))) end--;
    let start = end;
    while (start > 0 && value.charCodeAt(start - 1) !== 44) start--;
    const nextEnd = start - 1;
    while (start < end && isSpace(value.charCodeAt(start))) start++;
    if (start < end) {
      const family = parseForwarded(value, start, end);
      if (family === FAMILY_NONE) {
        walkEndedTrusted = false;
        return address ?? current;
      }
      address = canonical(value, bounds[0]!, bounds[1]!, family);
      if (!trusted.holdsParsed(family)) {
        walkEndedTrusted = false;
        return address;
      }
    }
    end = nextEnd;
  }
  return address;
}

/**
 * The peer address from the socket: libuv already writes IPv6 per RFC 5952 in lower case, so
 * only mapped IPv4, zone ids and upper case need rewriting.
 */
function canonicalPeer(peer: string, family: Family): string {
  if (family === FAMILY_V4) return canonical(peer, 0, peer.length, family);
  for (let i = 0; i < peer.length; i++) {
    const c = peer.charCodeAt(i);
    if (c === 37 || c === 46 || (c >= 65 && c <= 70)) return formatV6();
  }
  return peer;
}
