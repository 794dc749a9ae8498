// The isolation part's detector: what a credential may reach, and whether an answer shows more.
// (a) a 2xx on an operation naming an object outside the credential's reach, (b) a canary outside
// its reach in an answer's body or headers, (d) a gateway answer or forwarded request carrying
// another environment's canary. Log lines (c) are scanned by LogScanner in isolation-fixture.ts.
import type { Answer, Canaries, Canary, Credential, Entry } from './isolation-fixture.js';
import type { Operation } from './isolation-operations.js';

/** Where a path parameter's value came from. */
export type Source = { entry: Entry; group: string } | { random: true };

export interface Attempt {
  op: Operation;
  cred: Credential;
  variant: string;
  /** Path parameter values. */
  values: Record<string, string>;
  sources: Record<string, Source>;
  query: Record<string, string>;
  body: unknown;
  /**
   * Set once writes in reach have run: promotions and rollbacks then move resource content along
   * its workspace's chain, so a resource canary is judged by its workspace alone.
   */
  chainMoved?: boolean;
}

/** Groups whose `{id}` identifies an object by itself (not a name inside a scope). */
export function isGlobalId(group: string, param: string): boolean {
  return param === 'id' && group !== 'data';
}

/** The environments a feed is open to a publishable key without a recipient token (feeds.requireRecipientToken's default). */
const OPEN_FEEDS = new Set(['development']);

/** Whether `cred` may see `canary` in an answer. */
export function canaryAllowed(cred: Credential, canary: Canary, chainMoved = false): boolean {
  if (canary.kind === 'upstream') return false; // only the gateway answers an upstream's canary
  if (cred.surface === 'management') return canary.ws === cred.ws && canary.kind !== 'secret';
  if (cred.surface !== 'runtime' || canary.ws !== cred.ws) return false;
  if (canary.env !== null && canary.env !== cred.env && !(chainMoved && canary.kind === 'resource')) return false;
  if (cred.kind === 'sk') return true;
  // Publishable keys: never a secret, never data (403), feeds only where open or for the token's recipient.
  if (canary.kind === 'secret' || canary.kind === 'data') return false;
  if (canary.kind === 'feed') return OPEN_FEEDS.has(cred.env ?? '') || canary.recipient === cred.recipient;
  return true;
}

/**
 * Why a 2xx answer to `attempt` is a leak, or null when it is not: the credential has no access
 * to this API, the path names another workspace, a deleted environment, or an object id of
 * another scope or one that was deleted.
 */
export function foreignReason(a: Attempt): string | null {
  const { op, cred } = a;
  if (op.open) return null;
  if (cred.surface !== op.surface) return `${cred.kind} has no access to the ${op.surface} API`;
  const runtime = op.surface === 'runtime';
  const ws = runtime ? cred.ws : (a.values.ws ?? null);
  const env = runtime ? cred.env : (a.values.env ?? null);
  const wsSource = a.sources.ws;
  if (!runtime && wsSource && 'entry' in wsSource && wsSource.entry.ws !== cred.ws) return `workspace ${a.values.ws} is another workspace's`;
  const envSource = a.sources.env;
  if (envSource && 'entry' in envSource && envSource.entry.deleted && ws === cred.ws) return `environment ${a.values.env} was deleted`;
  for (const [param, source] of Object.entries(a.sources)) {
    if (!('entry' in source) || param === 'ws' || param === 'env' || !isGlobalId(source.group, param)) continue;
    const { entry } = source;
    if (entry.ws !== ws) return `${source.group}/${a.values[param]} belongs to workspace ${entry.ws}`;
    if (entry.env !== null && env !== null && entry.env !== env) return `${source.group}/${a.values[param]} belongs to ${entry.ws}/${entry.env}, not ${env}`;
    // A revoked key or token is still an object (read and revoked again idempotently); using it again is not.
    if (entry.deleted && !(entry.revoked && (a.op.method === 'GET' || a.op.method === 'DELETE'))) return `${source.group}/${a.values[param]} was ${entry.revoked ? 'revoked' : 'deleted'}`;
  }
  return null;
}

/** Whether the attempt names anything outside the credential's reach (or random): else it is an in-reach call. */
export function namesOutsideReach(a: Attempt): boolean {
  if (a.cred.surface !== a.op.surface) return true;
  if (foreignReason(a) !== null) return true;
  return Object.entries(a.sources).some(([, s]) => 'random' in s || s.entry.deleted || s.entry.ws !== a.cred.ws || (a.cred.env !== null && s.entry.env !== null && s.entry.env !== a.cred.env));
}

export interface Verdict {
  /** (a): why the 2xx is a leak. */
  foreign2xx: string | null;
  /** (b): canaries outside the credential's reach, in the body or in a header. */
  bodyLeaks: Canary[];
  headerLeaks: Canary[];
  /** Canaries inside its reach (to show the fixture is visible at all). */
  own: Canary[];
}

export function judge(canaries: Canaries, a: Attempt, answer: Answer): Verdict {
  const foreign2xx = answer.status >= 200 && answer.status < 300 ? foreignReason(a) : null;
  const inBody = canaries.find(answer.text);
  const inHeaders = canaries.find(JSON.stringify(answer.headers));
  return {
    foreign2xx,
    bodyLeaks: inBody.filter((c) => !canaryAllowed(a.cred, c, a.chainMoved)),
    headerLeaks: inHeaders.filter((c) => !canaryAllowed(a.cred, c, a.chainMoved)),
    own: inBody.filter((c) => canaryAllowed(a.cred, c, a.chainMoved)),
  };
}

// ---------------------------------------------------------------------------------------------
// Gateway

export interface GatewayAttempt {
  label: string;
  /** The workspace the gateway node serves. */
  ws: string;
  headers: Record<string, string>;
  method: string;
  path: string;
  /** The environment the request must be served by, or null: it must not be forwarded at all. */
  expected: string | null;
  requestId: string;
}

export interface Forwarded {
  /** The upstream that received it. */
  ws: string;
  env: string;
  /** Its request's headers and body as text. */
  text: string;
}

/** Why a gateway answer (and what reached the upstreams for it) leaks, or [] when it does not. */
export function judgeGateway(canaries: Canaries, a: GatewayAttempt, answer: { status: number; text: string; headers: unknown }, forwarded: Forwarded[]): string[] {
  const problems: string[] = [];
  const shown = [...canaries.find(answer.text), ...canaries.find(JSON.stringify(answer.headers))];
  for (const c of shown) {
    const expectedUpstream = c.kind === 'upstream' && a.expected !== null && c.ws === a.ws && c.env === a.expected;
    if (!expectedUpstream) problems.push(`answer carries ${c.kind} canary of ${c.ws}/${c.env ?? 'all'}`);
  }
  if (a.expected === null && answer.status >= 200 && answer.status < 300) problems.push(`2xx for a request that must not be served (${answer.status})`);
  for (const f of forwarded) {
    if (a.expected === null || f.ws !== a.ws || f.env !== a.expected) problems.push(`forwarded to ${f.ws}/${f.env} (expected ${a.expected === null ? 'nowhere' : `${a.ws}/${a.expected}`})`);
    for (const c of canaries.find(f.text)) {
      if (c.ws !== f.ws || (c.env !== null && c.env !== f.env)) problems.push(`forwarded to ${f.ws}/${f.env} with ${c.kind} canary of ${c.ws}/${c.env ?? 'all'}`);
    }
  }
  return problems;
}
