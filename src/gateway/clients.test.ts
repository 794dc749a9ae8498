import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { clientAddress, compileAllowList, compileTrustedProxies, normalizeAddress } from './clients.js';

/** A seeded generator (mulberry32): every run checks the same cases, and a failure names its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// --- A naive reference, written independently of clients.ts: BigInt arithmetic and string splits.

const MAPPED_PREFIX = 0xffffn << 32n;

function v4ToBig(text: string): bigint {
  return text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

function v6ToBig(text: string): bigint {
  const address = text.split('%')[0]!;
  let head = address;
  let tail = '';
  const gap = address.indexOf('::');
  if (gap >= 0) {
    head = address.slice(0, gap);
    tail = address.slice(gap + 2);
  }
  const groups = (part: string): bigint[] => {
    if (part === '') return [];
    const out: bigint[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const v4 = v4ToBig(piece);
        out.push(v4 >> 16n, v4 & 0xffffn);
      } else {
        out.push(BigInt(parseInt(piece, 16)));
      }
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  const all = gap >= 0 ? [...h, ...Array<bigint>(8 - h.length - t.length).fill(0n), ...t] : h;
  return all.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** Every address as a 128-bit number in the IPv6 space, IPv4 as its mapped address. */
function toSpace(address: string): bigint | null {
  const family = isIP(address);
  if (family === 4) return MAPPED_PREFIX | v4ToBig(address);
  if (family === 6) return v6ToBig(address);
  return null;
}

/** The reference: a loop over every entry, each as (network, shift) in the 128-bit space. */
function naiveList(entries: string[]): (address: string) => boolean {
  const blocks = entries.map((entry) => {
    const [net, prefix] = entry.split('/') as [string, string | undefined];
    const v4 = isIP(net) === 4;
    const bits = (prefix === undefined ? (v4 ? 32 : 128) : Number(prefix)) + (v4 ? 96 : 0);
    const shift = BigInt(128 - bits);
    return { network: toSpace(net)! >> shift, shift };
  });
  return (address) => {
    const x = toSpace(address);
    return x !== null && blocks.some((block) => x >> block.shift === block.network);
  };
}

function naiveAllows(entries: string[], address: string): boolean {
  return naiveList(entries)(address);
}

// --- Generators

function v4(rand: () => number): string {
  return Array.from({ length: 4 }, () => Math.floor(rand() * 256)).join('.');
}

function groupsOf(rand: () => number): number[] {
  // Mostly zeros and small numbers, so `::` and clusters of shared prefixes show up.
  return Array.from({ length: 8 }, () => (rand() < 0.4 ? 0 : rand() < 0.5 ? Math.floor(rand() * 16) : Math.floor(rand() * 65536)));
}

function v6Text(groups: number[], rand: () => number): string {
  const hex = groups.map((g) => {
    const s = g.toString(16);
    return rand() < 0.2 ? s.toUpperCase() : rand() < 0.1 ? s.padStart(4, '0') : s;
  });
  if (rand() < 0.5) {
    // Compress some zero run (any, not only the longest).
    const start = groups.findIndex((g) => g === 0);
    if (start >= 0) {
      let end = start;
      while (end < 8 && groups[end] === 0) end++;
      return `${hex.slice(0, start).join(':')}::${hex.slice(end).join(':')}`;
    }
  }
  return hex.join(':');
}

function bigToText(n: bigint, rand: () => number): string {
  if (n >> 32n === 0xffffn) {
    const v4 = Number(n & 0xffffffffn);
    return [v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255].join('.');
  }
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  return v6Text(groups, rand);
}

/** The first or last address of an entry's block, or one step outside it. */
function addressAtEdge(entry: string, rand: () => number): string {
  const [net, prefix] = entry.split('/') as [string, string | undefined];
  const v4 = isIP(net) === 4;
  const bits = (prefix === undefined ? (v4 ? 32 : 128) : Number(prefix)) + (v4 ? 96 : 0);
  const size = 1n << BigInt(128 - bits);
  const first = (toSpace(net)! / size) * size;
  const last = first + size - 1n;
  const pick = [first, last, first - 1n, last + 1n][Math.floor(rand() * 4)]!;
  const max = (1n << 128n) - 1n;
  return bigToText(pick < 0n ? 0n : pick > max ? max : pick, rand);
}

/** An address near an entry (often inside it), in one of the forms a peer or an entry may take. */
function addressNear(entry: string, rand: () => number): string {
  if (rand() < 0.25) return addressAtEdge(entry, rand);
  const [net] = entry.split('/') as [string];
  if (isIP(net) === 4) {
    const octets = net.split('.').map(Number);
    const i = Math.floor(rand() * 4);
    octets[i] = rand() < 0.5 ? octets[i]! : Math.floor(rand() * 256);
    const text = octets.join('.');
    if (rand() < 0.15) return `::ffff:${text}`;
    if (rand() < 0.1) {
      const n = v4ToBig(text);
      return `::ffff:${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
    }
    return text;
  }
  const base = toSpace(net)!;
  const flip = BigInt(Math.floor(rand() * 128));
  const n = rand() < 0.3 ? base : base ^ (1n << flip);
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  const text = v6Text(groups, rand);
  return rand() < 0.1 ? `${text}%eth0` : text;
}

function cidr(rand: () => number): string {
  const roll = rand();
  // Short prefixes are rare, as in real lists (a /0 in a thousand random blocks would hold everything).
  if (roll < 0.5) return `${v4(rand)}/${12 + Math.floor(rand() * 21)}`;
  if (roll < 0.6) return v4(rand);
  if (roll < 0.7) return `::ffff:${v4(rand)}/${104 + Math.floor(rand() * 25)}`;
  // Global unicast blocks: a block over ::/8 would hold every IPv4 address through the mapped range.
  const groups = groupsOf(rand);
  groups[0] = 0x2000 + Math.floor(rand() * 16);
  return `${v6Text(groups, rand)}/${16 + Math.floor(rand() * 113)}`;
}

describe('address parsing', () => {
  it('accepts exactly what net.isIP accepts, on 20,000 random strings of address characters', () => {
    const rand = random(7);
    const alphabet = '0123456789abcdefABCDEF:.%z';
    const mismatches: string[] = [];
    for (let n = 0; n < 20_000; n++) {
      let text = '';
      const length = 1 + Math.floor(rand() * 24);
      for (let i = 0; i < length; i++) text += alphabet[Math.floor(rand() * alphabet.length)];
      if ((normalizeAddress(text) !== null) !== (isIP(text) !== 0)) mismatches.push(text);
    }
    expect(mismatches).toEqual([]);
  });

  it('accepts exactly what net.isIP accepts, on generated addresses and their near misses', () => {
    const rand = random(11);
    const mismatches: string[] = [];
    let valid = 0;
    for (let n = 0; n < 20_000; n++) {
      let text = rand() < 0.3 ? v4(rand) : v6Text(groupsOf(rand), rand);
      if (rand() < 0.5) {
        const i = Math.floor(rand() * text.length);
        const edits = [':', '.', '', '0', 'g', '::', '1.2.3.4'];
        text = text.slice(0, i) + edits[Math.floor(rand() * edits.length)] + text.slice(i + 1);
      }
      if (isIP(text) !== 0) valid++;
      if ((normalizeAddress(text) !== null) !== (isIP(text) !== 0)) mismatches.push(text);
    }
    expect(mismatches).toEqual([]);
    expect(valid).toBeGreaterThan(10_000);
  });

  it.each([
    ['fe80::1%eth0', 'fe80::1'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::FFFF:10.1.2.3', '10.1.2.3'],
    ['::ffff:a01:203', '10.1.2.3'],
    ['0:0:0:0:0:ffff:a01:203', '10.1.2.3'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['2001:db8::0:1', '2001:db8::1'],
    ['203.0.113.7', '203.0.113.7'],
  ])('%s is written %s', (input, expected) => {
    expect(normalizeAddress(input)).toBe(expected);
  });

  it('writes IPv6 as RFC 5952 (the form WHATWG URL serialises), on 5,000 generated addresses', () => {
    const rand = random(13);
    for (let n = 0; n < 5_000; n++) {
      const groups = groupsOf(rand);
      if (groups.slice(0, 6).every((g, i) => (i === 5 ? g === 0xffff : g === 0))) continue;
      const text = v6Text(groups, rand);
      expect(normalizeAddress(text), text).toBe(new URL(`http://[${text}]/`).hostname.slice(1, -1));
    }
  });

  it.each(['', '__proto__', 'constructor', 'toString', '1.2.3.4 ', ' 1.2.3.4', '1.2.3.04', 'fe80::1%', '[::1]', '1.2.3.4%eth0'])('%j is not an address', (text) => {
    expect(normalizeAddress(text)).toBeNull();
  });

  it('a very long string is not an address', () => {
    expect(normalizeAddress('1:'.repeat(50_000))).toBeNull();
  });
});

describe('compileAllowList', () => {
  it('agrees with a naive reference on 1,000 random CIDRs and 20,000 addresses', () => {
    const rand = random(42);
    const entries = Array.from({ length: 1000 }, () => cidr(rand));
    const list = compileAllowList(entries);
    const reference = naiveList(entries);
    let allowed = 0;
    const disagreements: string[] = [];
    for (let n = 0; n < 20_000; n++) {
      const address = rand() < 0.8 ? addressNear(entries[Math.floor(rand() * entries.length)]!, rand) : rand() < 0.5 ? v4(rand) : v6Text(groupsOf(rand), rand);
      const expected = reference(address);
      if (expected) allowed++;
      if (list.allows(address) !== expected) disagreements.push(address);
    }
    expect(disagreements).toEqual([]);
    // Both answers occur often: the check cannot pass by answering one of them always.
    expect(allowed).toBeGreaterThan(2_000);
    expect(allowed).toBeLessThan(18_000);
  });

  it('agrees with the reference on small lists of narrow blocks (the edges of ranges)', () => {
    const rand = random(5);
    for (let round = 0; round < 200; round++) {
      const entries = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => {
        const roll = rand();
        if (roll < 0.5) return `${v4(rand)}/${24 + Math.floor(rand() * 9)}`;
        return `${v6Text(groupsOf(rand), rand)}/${120 + Math.floor(rand() * 9)}`;
      });
      const list = compileAllowList(entries);
      for (const entry of entries) {
        for (let n = 0; n < 20; n++) {
          const address = addressNear(entry, rand);
          expect(list.allows(address), `${address} in ${entries.join(',')}`).toBe(naiveAllows(entries, address));
        }
      }
    }
  });

  it('treats IPv4-mapped IPv6 as IPv4, in entries and in addresses', () => {
    const list = compileAllowList(['10.0.0.0/8', '::ffff:192.0.2.0/120', '2001:db8::/32']);
    expect(list.allows('10.1.2.3')).toBe(true);
    expect(list.allows('::ffff:10.1.2.3')).toBe(true);
    expect(list.allows('::ffff:a01:203')).toBe(true);
    expect(list.allows('192.0.2.200')).toBe(true);
    expect(list.allows('192.0.3.1')).toBe(false);
    expect(list.allows('11.0.0.1')).toBe(false);
    expect(list.allows('2001:db8:1::1')).toBe(true);
    expect(list.allows('2001:db9::1')).toBe(false);
  });

  it('reads ::ffff:10.0.0.0/104 as 10.0.0.0/8', () => {
    const list = compileAllowList(['::ffff:10.0.0.0/104']);
    expect(list.allows('10.255.255.255')).toBe(true);
    expect(list.allows('10.0.0.0')).toBe(true);
    expect(list.allows('9.255.255.255')).toBe(false);
    expect(list.allows('11.0.0.0')).toBe(false);
  });

  it('an IPv6 block covering the mapped range holds IPv4 addresses; ::1 does not', () => {
    expect(compileAllowList(['::/0']).allows('203.0.113.9')).toBe(true);
    expect(compileAllowList(['::1']).allows('127.0.0.1')).toBe(false);
    expect(compileAllowList(['127.0.0.1']).allows('::1')).toBe(false);
  });

  it('strips zone ids from entries and addresses', () => {
    const list = compileAllowList(['fe80::1%eth0']);
    expect(list.allows('fe80::1')).toBe(true);
    expect(list.allows('fe80::1%lo')).toBe(true);
    expect(list.allows('fe80::2')).toBe(false);
  });

  it('an empty list lets nobody in', () => {
    const list = compileAllowList([]);
    expect(list.allows('127.0.0.1')).toBe(false);
    expect(list.allows('::1')).toBe(false);
  });

  it('a single address and /0 blocks', () => {
    expect(compileAllowList(['203.0.113.7']).allows('203.0.113.7')).toBe(true);
    expect(compileAllowList(['203.0.113.7']).allows('203.0.113.8')).toBe(false);
    expect(compileAllowList(['0.0.0.0/0']).allows('255.255.255.255')).toBe(true);
    expect(compileAllowList(['0.0.0.0/0']).allows('2001:db8::1')).toBe(false);
  });

  it.each(['example.com', '10.0.0.0/33', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/08', '/24', '__proto__', '10.0.0.0/8/8'])(
    'refuses the entry %j at compile time with a clear error',
    (entry) => {
      expect(() => compileAllowList([entry])).toThrow(/is not an IPv4 or IPv6 address|invalid prefix length/);
    },
  );

  it.each([
    ['the empty string', ''],
    ['garbage', 'garbage'],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['an octet above 255', '999.1.1.1'],
    ['a mapped address with a bad octet', '::ffff:999.1.1.1'],
    ['100,000 characters', 'a'.repeat(100_000)],
  ])('answers false, never throws, for %s', (_name, address) => {
    const list = compileAllowList(['0.0.0.0/0', '::/0']);
    expect(list.allows(address)).toBe(false);
  });
});

describe('clientAddress', () => {
  const trusted = compileTrustedProxies(['10.0.0.0/8', '::1', '2001:db8:ffff::/48']);

  it.each([
    ['an untrusted peer, whose header is ignored', '203.0.113.5', '198.51.100.1', '203.0.113.5'],
    ['a trusted peer: the element left of it', '10.0.0.2', '198.51.100.1', '198.51.100.1'],
    ['trusted hops are skipped from the right', '10.0.0.2', '198.51.100.1, 10.0.0.9, 10.1.1.1', '198.51.100.1'],
    ['the first untrusted from the right wins over spoofed elements left of it', '10.0.0.2', '6.6.6.6, 198.51.100.1, 10.0.0.9', '198.51.100.1'],
    ['every hop trusted: the leftmost', '10.0.0.2', '10.0.0.7, 10.0.0.9', '10.0.0.7'],
    ['a malformed element ends the walk at the last good address', '10.0.0.2', '198.51.100.1, garbage, 10.0.0.9', '10.0.0.9'],
    ['a malformed rightmost element: the peer', '10.0.0.2', '198.51.100.1, unknown', '10.0.0.2'],
    ['empty elements are skipped', '10.0.0.2', ' , 198.51.100.1 ,, ', '198.51.100.1'],
    ['an empty header: the peer', '10.0.0.2', '', '10.0.0.2'],
    ['an IPv4 element with a port', '10.0.0.2', '198.51.100.1:4711', '198.51.100.1'],
    ['a bracketed IPv6 element with a port', '::1', '[2001:DB8::7]:443', '2001:db8::7'],
    ['a bracketed IPv6 element', '::1', '[2001:db8::7]', '2001:db8::7'],
    ['a bare IPv6 element, canonicalised', '::1', '2001:0db8:0:0::7', '2001:db8::7'],
    ['a mapped element is IPv4', '::1', '::ffff:198.51.100.1', '198.51.100.1'],
    ['a mapped peer inside a trusted IPv4 block', '::ffff:10.0.0.2', '198.51.100.1', '198.51.100.1'],
    ['a trusted IPv6 hop is skipped', '::1', '198.51.100.1, 2001:db8:ffff::1', '198.51.100.1'],
    ['a port out of range is malformed', '10.0.0.2', '198.51.100.1:70000', '10.0.0.2'],
    ['a prototype name is malformed', '10.0.0.2', '__proto__', '10.0.0.2'],
  ])('%s', (_name, peer, forwardedFor, expected) => {
    expect(clientAddress(peer, forwardedFor, trusted)).toBe(expected);
  });

  it('normalises the peer: mapped IPv4 and zone ids', () => {
    const none = compileTrustedProxies([]);
    expect(clientAddress('::ffff:203.0.113.5', undefined, none)).toBe('203.0.113.5');
    expect(clientAddress('fe80::1%eth0', undefined, none)).toBe('fe80::1');
    expect(clientAddress('2001:db8::1', '198.51.100.1', none)).toBe('2001:db8::1');
    expect(clientAddress(undefined, '198.51.100.1', trusted)).toBe('');
  });

  it('walks several header lines from the last one back', () => {
    expect(clientAddress('10.0.0.2', ['198.51.100.1', '10.0.0.8'], trusted)).toBe('198.51.100.1');
    expect(clientAddress('10.0.0.2', ['198.51.100.1', '203.0.113.3, 10.0.0.8'], trusted)).toBe('203.0.113.3');
    expect(clientAddress('10.0.0.2', ['198.51.100.1', ''], trusted)).toBe('198.51.100.1');
    expect(clientAddress('10.0.0.2', ['198.51.100.1', 'bad'], trusted)).toBe('10.0.0.2');
  });

  it('answers a peer address without copying it when it is already canonical', () => {
    const peer = ['203.0', '113.5'].join('.');
    expect(clientAddress(peer, undefined, trusted)).toBe(peer);
  });
});
