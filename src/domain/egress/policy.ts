// The egress policy: whether Stageline may connect, for one environment, to a host name and the
// address it resolved to. Defaults by address range, the environment's `egress` setting
// (`{allow, deny}`), and the node's own listeners, which no setting can open.
import { contains, effectiveAddress, formatIp, parseCidr, parseIp, within, cidr, type Address, type Cidr } from './addresses.js';

/** What a default range is: metadata and link-local are denied everywhere, internal outside editable environments. */
export type RangeCategory = 'metadata' | 'link_local' | 'internal';

export interface DefaultRange {
  range: string;
  category: RangeCategory;
  label: string;
}

/** The defaults table of docs/egress.md; the most specific range an address falls in decides. */
export const DEFAULT_RANGES: readonly DefaultRange[] = [
  { range: '169.254.169.254/32', category: 'metadata', label: 'a cloud metadata address' },
  { range: '169.254.170.2/32', category: 'metadata', label: 'a cloud metadata address (container credentials)' },
  { range: '100.100.100.200/32', category: 'metadata', label: 'a cloud metadata address' },
  { range: 'fd00:ec2::254/128', category: 'metadata', label: 'a cloud metadata address' },
  { range: '169.254.0.0/16', category: 'link_local', label: 'a link-local address' },
  { range: 'fe80::/10', category: 'link_local', label: 'a link-local address' },
  { range: '0.0.0.0/8', category: 'internal', label: 'an unspecified ("this network") address' },
  { range: '127.0.0.0/8', category: 'internal', label: 'a loopback address' },
  { range: '10.0.0.0/8', category: 'internal', label: 'a private address' },
  { range: '172.16.0.0/12', category: 'internal', label: 'a private address' },
  { range: '192.168.0.0/16', category: 'internal', label: 'a private address' },
  { range: '100.64.0.0/10', category: 'internal', label: 'a shared (carrier-grade NAT) address' },
  { range: '192.0.0.0/24', category: 'internal', label: 'an IETF protocol address' },
  { range: '198.18.0.0/15', category: 'internal', label: 'a benchmarking address' },
  { range: '224.0.0.0/4', category: 'internal', label: 'a multicast address' },
  { range: '240.0.0.0/4', category: 'internal', label: 'a reserved address' },
  { range: '::/128', category: 'internal', label: 'an unspecified address' },
  { range: '::1/128', category: 'internal', label: 'a loopback address' },
  { range: 'fc00::/7', category: 'internal', label: 'a unique local (private) address' },
  { range: 'fec0::/10', category: 'internal', label: 'a site-local address' },
  { range: 'ff00::/8', category: 'internal', label: 'a multicast address' },
  { range: '100::/64', category: 'internal', label: 'a discard-only address' },
];

/** Names of metadata services, refused before they are resolved (no lookup is sent for them). */
export const METADATA_HOSTS: readonly string[] = ['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data', 'instance-data.ec2.internal', 'metadata.azure.internal'];

const COMPILED_DEFAULTS = DEFAULT_RANGES.map((d) => ({ ...d, cidr: cidr(d.range) })).sort((a, b) => b.cidr.prefix - a.cidr.prefix);

type Entry = { text: string; cidr: Cidr } | { text: string; host: string; wildcard: boolean };

/** The environment's `egress` setting, parsed. */
export interface EgressRules {
  allow: Entry[];
  deny: Entry[];
}

export interface EgressSetting {
  allow?: string[];
  deny?: string[];
}

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function parseHost(text: string): { host: string; wildcard: boolean } | null {
  const lower = text.toLowerCase().replace(/\.$/, '');
  const wildcard = lower.startsWith('*.');
  const name = wildcard ? lower.slice(2) : lower;
  if (name.length === 0 || name.length > 253 || !name.split('.').every((label) => HOST_LABEL.test(label))) return null;
  // Hexadecimal or octal address forms (0x7f.1) are addresses in disguise, never names.
  if (/^0x/i.test(name) || /^[0-9.]+$/.test(name)) return null;
  return { host: name, wildcard };
}

/** Digits and dots, a colon or a slash: an entry meant as an address or range, never a name. */
const ADDRESS_LIKE = /^[0-9.]+$|[:/]/;

/** Why an `egress.allow` or `egress.deny` entry is not an address, range or host name; null when it is. */
export function egressEntryIssue(text: string): string | null {
  if (ADDRESS_LIKE.test(text)) {
    const parsed = parseCidr(text);
    return 'error' in parsed ? parsed.error : null;
  }
  return parseHost(text) ? null : 'is not an IP address, a CIDR range (10.0.0.0/8) or a host name (api.example.com, *.example.com)';
}

function parseEntry(text: string): Entry {
  if (ADDRESS_LIKE.test(text)) return { text, cidr: cidr(text) };
  const host = parseHost(text);
  if (!host) throw new Error(`egress entry ${JSON.stringify(text)} ${egressEntryIssue(text)}`);
  return { text, ...host };
}

/** Parses a setting that passed its schema (entries checked with egressEntryIssue). */
export function compileEgress(setting: EgressSetting | undefined): EgressRules {
  return { allow: (setting?.allow ?? []).map(parseEntry), deny: (setting?.deny ?? []).map(parseEntry) };
}

/** A listening socket of this node: connections to it are refused in every environment. */
export interface Listener {
  address: string;
  port: number;
}

export interface EgressPolicy {
  /** Named in every refusal. */
  environment: string;
  /** Development and branch environments: internal addresses are allowed by default. */
  editable: boolean;
  rules: EgressRules;
  listeners: readonly Listener[];
  /** Addresses of this machine's interfaces: a listener on 0.0.0.0 or :: is reached through any of them. */
  localAddresses: readonly string[];
}

export type EgressDecision = { allowed: true } | { allowed: false; reason: string };

const ALLOWED: EgressDecision = { allowed: true };

function normalHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase().replace(/\.$/, '');
}

function hostMatches(entry: { host: string; wildcard: boolean }, host: string): boolean {
  return entry.wildcard ? host.endsWith(`.${entry.host}`) : host === entry.host;
}

function matching(entries: Entry[], host: string, address: Address | null): Entry | undefined {
  return entries.find((e) => ('cidr' in e ? address !== null && contains(e.cidr, address) : hostMatches(e, host)));
}

/**
 * The check before resolution, on the name asked for: a host named in `egress.deny` and a
 * metadata service name (unless named in `egress.allow`) are refused without a lookup.
 */
export function checkHost(policy: EgressPolicy, host: string): EgressDecision {
  const name = normalHost(host);
  const denied = matching(policy.rules.deny.filter((e) => !('cidr' in e)), name, null);
  if (denied) return { allowed: false, reason: `${name} matches "${denied.text}" in egress.deny` };
  if (METADATA_HOSTS.includes(name) && !matching(policy.rules.allow.filter((e) => !('cidr' in e)), name, null)) {
    return { allowed: false, reason: `${name} is a cloud metadata service; name it in egress.allow to call it` };
  }
  return ALLOWED;
}

const THIS_MACHINE = ['127.0.0.0/8', '::1/128', '0.0.0.0/8', '::/128'].map(cidr);

/** Loopback, unspecified, or an address of one of this machine's interfaces. */
function isLocal(address: Address, policy: EgressPolicy): boolean {
  return THIS_MACHINE.some((range) => contains(range, address)) || policy.localAddresses.some((local) => sameAddress(parseIp(local), address));
}

function sameAddress(a: Address | null, b: Address): boolean {
  if (!a) return false;
  const e = effectiveAddress(a);
  return e.family === b.family && e.value === b.value;
}

function isUnspecified(address: Address): boolean {
  return address.value === 0n;
}

/** Whether `address:port` reaches one of this node's listeners (0.0.0.0 and :: listen on every local address). */
export function isOwnListener(policy: EgressPolicy, address: Address, port: number): boolean {
  const target = effectiveAddress(address);
  return policy.listeners.some((listener) => {
    if (listener.port !== port) return false;
    const own = parseIp(listener.address);
    if (!own) return false;
    const ownAddress = effectiveAddress(own);
    if (sameAddress(ownAddress, target)) return true;
    // A connection to 0.0.0.0 or :: reaches this machine; a wildcard listener hears every local address.
    return isUnspecified(target) || (isUnspecified(ownAddress) && isLocal(target, policy));
  });
}

function defaultRange(address: Address) {
  return COMPILED_DEFAULTS.find((d) => contains(d.cidr, address));
}

/**
 * The check at connect time, on the address actually connected to (`host` is the name asked
 * for). In order: this node's listeners are refused; an `egress.deny` entry refuses; a public
 * address is allowed; an address of a default range is allowed where its category allows it
 * (internal in editable environments) or where an `egress.allow` entry lifts it. An address
 * entry lifts a default only when it lies inside the default range (so `0.0.0.0/0` lifts
 * nothing, and `169.254.0.0/16` does not lift the metadata address inside it); a host entry
 * lifts internal ranges, never link-local or metadata addresses.
 */
export function checkAddress(policy: EgressPolicy, host: string, resolved: string, port: number): EgressDecision {
  const parsed = parseIp(resolved);
  if (!parsed) return { allowed: false, reason: `${resolved} is not an IP address` };
  const address = effectiveAddress(parsed);
  const shown = formatIp(address);
  if (isOwnListener(policy, address, port)) return { allowed: false, reason: `${shown}:${port} is a listener of this Stageline node` };
  const name = normalHost(host);
  const denied = matching(policy.rules.deny, name, address);
  if (denied) return { allowed: false, reason: `${shown} matches "${denied.text}" in egress.deny` };
  const range = defaultRange(address);
  if (!range) return ALLOWED;
  if (range.category === 'internal' && policy.editable) return ALLOWED;
  const lifted = policy.rules.allow.some((e) =>
    'cidr' in e ? contains(e.cidr, address) && within(e.cidr, range.cidr) : range.category === 'internal' && hostMatches(e, name),
  );
  if (lifted) return ALLOWED;
  const where = range.category === 'internal' ? 'internal addresses are allowed only in development and branch environments' : 'it is denied by default';
  return { allowed: false, reason: `${shown} is ${range.label} (${range.range}); ${where}: add it to egress.allow to call it` };
}

/** Thrown by an outbound connection the policy refuses, before any socket is opened. */
export class EgressDenied extends Error {
  readonly code = 'EGRESS_DENIED';
  constructor(
    readonly host: string,
    readonly environment: string,
    readonly reason: string,
  ) {
    super(`egress to ${host} is denied in ${environment}: ${reason}`);
    this.name = 'EgressDenied';
  }
}
