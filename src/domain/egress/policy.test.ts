import { describe, expect, it } from 'vitest';
import { effectiveAddress, formatCidr, formatIp, parseCidr, parseIp } from './addresses.js';
import { checkAddress, checkHost, compileEgress, egressEntryIssue, type EgressPolicy, type EgressSetting } from './policy.js';

function policy(editable: boolean, setting?: EgressSetting, extra: Partial<EgressPolicy> = {}): EgressPolicy {
  return { environment: editable ? 'development' : 'production', editable, rules: compileEgress(setting), listeners: [], localAddresses: [], ...extra };
}

const allowed = (p: EgressPolicy, address: string, host = address, port = 443) => checkAddress(p, host, address, port).allowed;

describe('addresses', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['64:ff9b::a9fe:a9fe', '169.254.169.254'],
    ['::', '::'],
    ['fe80::1%eth0', 'fe80::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ])('%s is checked as %s', (text, expected) => {
    const parsed = parseIp(text);
    expect(parsed).not.toBeNull();
    expect(formatIp(effectiveAddress(parsed!))).toBe(expected);
  });

  it.each(['2130706433', '0x7f.1', '017700000001', '127.1', '127.0.0.01', '256.0.0.1', '1::2::3', '::g', 'localhost'])('%s is not an address', (text) => {
    expect(parseIp(text)).toBeNull();
  });

  it('a range with bits after its prefix names the range it meant', () => {
    expect(parseCidr('10.0.0.1/8')).toEqual({ error: 'has bits set after the prefix: the range is 10.0.0.0/8' });
    expect(parseCidr('10.0.0.0/33')).toEqual({ error: 'has a prefix length that is not between 0 and 32' });
    const mapped = parseCidr('::ffff:10.0.0.0/104');
    expect('cidr' in mapped && formatCidr(mapped.cidr)).toBe('10.0.0.0/8');
  });
});

describe('setting entries', () => {
  it.each(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1', 'api.example.com', '*.corp.example', 'localhost'])('%s is accepted', (entry) => {
    expect(egressEntryIssue(entry)).toBeNull();
  });
  it.each(['10.0.0.0/33', '300.0.0.0/8', '2130706433', '0x7f.1', 'fd00::/129', 'a b', '*.', '-x.example', 'http://x'])('%s is refused', (entry) => {
    expect(egressEntryIssue(entry)).not.toBeNull();
  });
});

describe('defaults', () => {
  // Written from the documented table, not from DEFAULT_RANGES.
  const table: [string, boolean, boolean][] = [
    // address, allowed in development, allowed in production
    ['93.184.215.14', true, true],
    ['2606:4700::1111', true, true],
    ['127.0.0.1', true, false],
    ['127.5.5.5', true, false],
    ['::1', true, false],
    ['0.0.0.0', true, false],
    ['::', true, false],
    ['::ffff:127.0.0.1', true, false],
    ['10.1.2.3', true, false],
    ['172.16.0.1', true, false],
    ['172.31.255.255', true, false],
    ['172.32.0.1', true, true],
    ['192.168.0.10', true, false],
    ['100.64.0.1', true, false],
    ['fd12::1', true, false],
    ['169.254.169.254', false, false],
    ['169.254.170.2', false, false],
    ['169.254.1.1', false, false],
    ['fe80::1', false, false],
    ['fd00:ec2::254', false, false],
    ['100.100.100.200', false, false],
    ['::ffff:169.254.169.254', false, false],
    ['64:ff9b::a9fe:a9fe', false, false],
  ];
  it.each(table)('%s: development %s, production %s', (address, development, production) => {
    expect(allowed(policy(true), address)).toBe(development);
    expect(allowed(policy(false), address)).toBe(production);
  });

  it('a refusal names the address, its range and the setting that lifts it', () => {
    expect(checkAddress(policy(false), 'localhost', '::ffff:127.0.0.1', 80)).toEqual({
      allowed: false,
      reason: '127.0.0.1 is a loopback address (127.0.0.0/8); internal addresses are allowed only in development and branch environments: add it to egress.allow to call it',
    });
  });

  it('metadata service names are refused before resolution, unless allowed by name', () => {
    expect(checkHost(policy(true), 'metadata.google.internal').allowed).toBe(false);
    expect(checkHost(policy(true), 'Metadata.Google.Internal.').allowed).toBe(false);
    expect(checkHost(policy(true), 'api.example.com').allowed).toBe(true);
    expect(checkHost(policy(true, { allow: ['metadata.google.internal'] }), 'metadata.google.internal').allowed).toBe(true);
  });
});

describe('the egress setting', () => {
  it('an allowed range opens internal addresses in production', () => {
    const p = policy(false, { allow: ['10.0.0.0/8', '::1'] });
    expect(allowed(p, '10.20.30.40')).toBe(true);
    expect(allowed(p, '::1')).toBe(true);
    expect(allowed(p, '192.168.0.1')).toBe(false);
  });

  it('an allowed host opens the internal addresses it resolves to, not metadata ones', () => {
    const p = policy(false, { allow: ['*.corp.example', 'localhost'] });
    expect(allowed(p, '10.0.0.5', 'db.corp.example')).toBe(true);
    expect(allowed(p, '127.0.0.1', 'localhost')).toBe(true);
    expect(allowed(p, '10.0.0.5', 'corp.example')).toBe(false);
    expect(allowed(p, '169.254.169.254', 'db.corp.example')).toBe(false);
  });

  it('a range wider than a default range lifts nothing inside it', () => {
    const p = policy(false, { allow: ['0.0.0.0/0', '::/0'] });
    expect(allowed(p, '127.0.0.1')).toBe(false);
    expect(allowed(p, '169.254.169.254')).toBe(false);
    expect(allowed(p, '::1')).toBe(false);
    expect(allowed(p, '8.8.8.8')).toBe(true);
  });

  it('allowing link-local does not allow the metadata address inside it; naming the address does', () => {
    expect(allowed(policy(true, { allow: ['169.254.0.0/16'] }), '169.254.10.1')).toBe(true);
    expect(allowed(policy(true, { allow: ['169.254.0.0/16'] }), '169.254.169.254')).toBe(false);
    expect(allowed(policy(true, { allow: ['169.254.169.254'] }), '169.254.169.254')).toBe(true);
  });

  it('deny beats allow, for ranges and hosts, in every environment', () => {
    const p = policy(true, { allow: ['10.0.0.0/8', 'api.example.com'], deny: ['10.9.0.0/16', 'api.example.com'] });
    expect(allowed(p, '10.1.0.1')).toBe(true);
    expect(allowed(p, '10.9.0.1')).toBe(false);
    expect(allowed(p, '93.184.215.14', 'api.example.com')).toBe(false);
    expect(checkHost(p, 'api.example.com')).toEqual({ allowed: false, reason: 'api.example.com matches "api.example.com" in egress.deny' });
    expect(allowed(policy(false, { deny: ['93.184.215.0/24'] }), '93.184.215.14')).toBe(false);
  });
});

describe("the node's own listeners", () => {
  const listeners = [
    { address: '127.0.0.1', port: 4700 },
    { address: '0.0.0.0', port: 4701 },
  ];
  it('are refused in development and even where the setting allows the address', () => {
    const p = policy(true, { allow: ['127.0.0.0/8', '0.0.0.0', '192.0.2.10'] }, { listeners, localAddresses: ['192.0.2.10'] });
    expect(checkAddress(p, '127.0.0.1', '127.0.0.1', 4700)).toEqual({ allowed: false, reason: '127.0.0.1:4700 is a listener of this Stageline node' });
    expect(allowed(p, '::ffff:127.0.0.1', '127.0.0.1', 4700)).toBe(false);
    expect(allowed(p, '0.0.0.0', '0.0.0.0', 4700)).toBe(false);
    // A wildcard listener is reached through any local address.
    expect(allowed(p, '127.9.9.9', 'x', 4701)).toBe(false);
    expect(allowed(p, '192.0.2.10', 'x', 4701)).toBe(false);
  });
  it('other ports and addresses are not the listener', () => {
    const p = policy(true, undefined, { listeners, localAddresses: ['192.0.2.10'] });
    expect(allowed(p, '127.0.0.1', '127.0.0.1', 4702)).toBe(true);
    expect(allowed(p, '127.0.0.2', '127.0.0.2', 4700)).toBe(true);
  });
});
