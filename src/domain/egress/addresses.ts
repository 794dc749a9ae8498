// IP addresses and CIDR ranges as numbers: strict parsing of the forms a resolver answers and a
// setting may hold, containment, and the IPv4 address an IPv6 address carries (mapped, NAT64).
export type Family = 4 | 6;

export interface Address {
  family: Family;
  /** 32 bits for IPv4, 128 for IPv6. */
  value: bigint;
}

export interface Cidr {
  family: Family;
  base: bigint;
  prefix: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };
const OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

/**
 * A dotted-quad IPv4 address, decimal only: `2130706433`, `0x7f.1` and `017700000001` are not
 * addresses here (a URL parser turns them into dotted quads before they reach a connection).
 */
function parseIpv4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    if (!OCTET.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseIpv6(text: string): bigint | null {
  if (text.length > 45) return null;
  let head = text;
  let tailV4: bigint | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (tailV4 === null) return null;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const split = (part: string) => (part === '' ? [] : part.split(':'));
  const left = split(halves[0]!);
  const right = halves.length === 2 ? split(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...right];
  let value = 0n;
  for (const group of groups) {
    if (!HEXTET.test(group)) return null;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  if (tailV4 !== null) value = (value & ~0xffffffffn) | tailV4;
  return value;
}

/** An IPv4 or IPv6 address (an IPv6 zone such as `%eth0` is ignored), or null. */
export function parseIp(text: string): Address | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) return { family: 4, value: v4 };
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = bare.indexOf('%');
  const v6 = parseIpv6(zone === -1 ? bare : bare.slice(0, zone));
  return v6 === null ? null : { family: 6, value: v6 };
}

/** A range `10.0.0.0/8`, `fc00::/7`, or a single address (a full-length prefix). */
export function parseCidr(text: string): { cidr: Cidr } | { error: string } {
  const slash = text.indexOf('/');
  const address = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!address || text.includes('%')) return { error: 'is not an IP address or CIDR range (such as 10.0.0.0/8 or fd00::/8)' };
  const bits = BITS[address.family];
  let prefix = bits;
  if (slash !== -1) {
    const length = text.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(length) || Number(length) > bits) return { error: `has a prefix length that is not between 0 and ${bits}` };
    prefix = Number(length);
  }
  const cidr = { family: address.family, base: address.value, prefix };
  if ((cidr.base & ~mask(cidr.family, prefix)) !== 0n) {
    return { error: `has bits set after the prefix: the range is ${formatCidr({ ...cidr, base: cidr.base & mask(cidr.family, prefix) })}` };
  }
  return { cidr: toIpv4Range(cidr) };
}

function mask(family: Family, prefix: number): bigint {
  const shift = BigInt(BITS[family] - prefix);
  const all = (1n << BigInt(BITS[family])) - 1n;
  return ((all >> shift) << shift) & all;
}

export function contains(range: Cidr, address: Address): boolean {
  return range.family === address.family && (address.value & mask(range.family, range.prefix)) === range.base;
}

/** Whether every address of `inner` is in `outer`. */
export function within(inner: Cidr, outer: Cidr): boolean {
  return inner.family === outer.family && inner.prefix >= outer.prefix && contains(outer, { family: inner.family, value: inner.base });
}

/** IPv6 ranges that carry an IPv4 address in their last 32 bits, and reach it. */
const CARRIERS: Cidr[] = [
  { family: 6, base: 0xffffn << 32n, prefix: 96 }, // ::ffff:0:0/96, IPv4-mapped
  { family: 6, base: 0x64ff9bn << 96n, prefix: 96 }, // 64:ff9b::/96, NAT64
  { family: 6, base: 0n, prefix: 96 }, // ::/96, IPv4-compatible (but :: and ::1, which are IPv6's own)
];

/**
 * The address as the rules see it: an IPv6 address that carries an IPv4 address is that IPv4
 * address, so `::ffff:127.0.0.1` is loopback and `64:ff9b::a9fe:a9fe` is the metadata address.
 * `::1` stays IPv6 loopback.
 */
export function effectiveAddress(address: Address): Address {
  if (address.family === 6 && address.value > 1n && CARRIERS.some((c) => contains(c, address))) {
    return { family: 4, value: address.value & 0xffffffffn };
  }
  return address;
}

/** An IPv6 range inside ::ffff:0:0/96 is written as the IPv4 range it reaches. */
function toIpv4Range(cidr: Cidr): Cidr {
  const mapped = CARRIERS[0]!;
  if (cidr.family === 6 && cidr.prefix >= 96 && contains(mapped, { family: 6, value: cidr.base })) {
    return { family: 4, base: cidr.base & 0xffffffffn, prefix: cidr.prefix - 96 };
  }
  return cidr;
}

export function formatIp(address: Address): string {
  if (address.family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((address.value >> shift) & 0xffn)).join('.');
  }
  const groups = Array.from({ length: 8 }, (_, i) => Number((address.value >> BigInt(112 - 16 * i)) & 0xffffn));
  // The longest run of two or more zero groups becomes `::` (RFC 5952).
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start === -1) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

export function formatCidr(cidr: Cidr): string {
  const text = formatIp({ family: cidr.family, value: cidr.base });
  return cidr.prefix === BITS[cidr.family] ? text : `${text}/${cidr.prefix}`;
}

export function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if ('error' in parsed) throw new Error(`${text} ${parsed.error}`);
  return parsed.cidr;
}
