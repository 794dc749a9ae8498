// One environment's route table: its committed routes (overrides merged, kill switches honoured)
// compiled once per change into what the hot path reads — prefixes in an index, templates
// rendered, injected headers as flat arrays, upstream pools, limiters, allow-lists and splits.
// A route that cannot be served answers its own error; it never breaks the table for the others.
import { isIP } from 'node:net';
import { validateHeaderValue } from 'node:http';
import type { Environment } from '../domain/environments/chain.js';
import { checkAddress, checkHost } from '../domain/egress/policy.js';
import { resourceId } from '../domain/releases/snapshot.js';
import { KIND_SCHEMAS, zodIssues, type RouteContent } from '../domain/resources/kinds.js';
import { asText, renderValue, UnresolvedReferenceError, type RenderScope, type TemplateUse } from '../domain/templates/render.js';
import { StagelineError } from '../domain/errors.js';
import type { EgressFor } from '../services/context.js';
import { errorBody } from '../http/errors.js';
import type { AllowList, RouteLimiter, Splitter, UpstreamPool, UpstreamTarget } from './contract.js';
import { PrefixIndex, routePrefix } from './paths.js';

/** Route templates read the environment's values only: they are rendered once per table build. */
export const ROUTE_TEMPLATES: TemplateUse = {
  name: 'route templates',
  roots: new Set(['vars', 'secrets', 'env']),
  given: new Set(),
  otherRoots: 'refuse',
};

export const DEFAULT_TIMEOUT_MS = 30_000;

/** An answer the gateway makes itself, its body encoded once. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
  body: string;
}

export function refusal(status: number, code: string, message: string, details: unknown[] = []): Refusal {
  return { status, code, message, body: JSON.stringify(errorBody(code, message, details)) };
}

/** One upstream a route can send a request to. */
export interface RouteTarget {
  /** `primary`, `canary`, `blue`, `green`: sent back as `x-stageline-target` when the route splits. */
  name: string;
  upstream: UpstreamTarget;
  /** Null when the egress policy refused the upstream; `refusal` says why. */
  pool: UpstreamPool | null;
  refusal: Refusal | null;
}

export interface CompiledRoute {
  key: string;
  /** The normalised `match.pathPrefix` (routePrefix). */
  prefix: string;
  /** Upper-case methods the route accepts; null accepts any. */
  methods: ReadonlySet<string> | null;
  /** `match.headers` as lower-case name and exact value; null when the route names none. */
  headers: readonly (readonly [string, string])[] | null;
  /** Set when the route cannot forward (switched off, invalid): every request gets it. */
  refusal: Refusal | null;
  stripPrefix: boolean;
  timeoutMs: number;
  /** `retries`: how many times an idempotent request without a streamed body is sent again after a failed connection. */
  retries: number;
  /** [primary] or [primary, canary] or [blue, green]; empty when `refusal` is set. */
  targets: RouteTarget[];
  /** Chooses among `targets` when the route splits. */
  splitter: Splitter | null;
  /** Flat `[name, value, …]`, lower-case names, rendered. */
  injectHeaders: string[];
  /** Names in `injectHeaders`: a client header of the same name is not forwarded. */
  injectedNames: ReadonlySet<string>;
  /** Rendered `injectBody`: merged over JSON object bodies, its keys winning. */
  injectBody: Record<string, unknown> | null;
  allowList: AllowList | null;
  limiter: RouteLimiter | null;
}

/** The routes of one prefix, in the order a request tries them. */
export interface PrefixGroup {
  routes: CompiledRoute[];
  /** The `Allow` header of a 405 from this group: the union of its methods. */
  allow: string;
  /** The group of the next shorter prefix: tried when no route here matches the request's headers. */
  parent: PrefixGroup | null;
  /** Whether a route here has `match.headers` (otherwise the parent is never needed). */
  constrained: boolean;
}

/** What a route resolves to in the environment before compiling. */
export type RouteSource =
  | { key: string; state: 'active'; content: RouteContent }
  | { key: string; state: 'inactive'; content: RouteContent }
  /** The override makes the route invalid: only its prefix (the merge's, else the base's) is known. */
  | { key: string; state: 'invalid'; pathPrefix: string | null; issues: { field: string; message: string }[] };

/** What building a table needs from the rest of the gateway (pools, policy parts). */
export interface TableParts {
  /** Parses an upstream URL (throws on one that is not an http(s) origin and path). */
  parseUpstreamUrl(url: string): UpstreamTarget;
  /** The pool of `target` under the environment's egress policy, reused across builds. */
  pool(egress: EgressFor, target: UpstreamTarget): UpstreamPool;
  allowList(clients: string[]): AllowList;
  /** The limiter of a route in this environment (its counters outlive a rebuild with the same limits). */
  limiter(route: string, spec: NonNullable<RouteContent['rateLimit']>): RouteLimiter;
  /** The targets of a split (primary first when it is a canary) and the splitter choosing among them. */
  split(route: string, primaryUrl: string, spec: NonNullable<RouteContent['split']>): { targets: { name: string; url: string }[]; splitter: Splitter };
}

export interface TableInput {
  environment: Environment;
  routes: RouteSource[];
  scope: RenderScope;
  egress: EgressFor;
}

/** A problem with one route found while building, for the node's log (no values, only names). */
export interface RouteProblem {
  route: string;
  code: string;
  message: string;
}

/** The compiled routes of one environment; a request reads one table from start to end. */
export class RouteTable {
  /** Requests that hold this table: pools are released only when a retired table has none. */
  inFlight = 0;
  /** The environment's release the routes were read at (set by whoever reads them). */
  atRelease = 0;
  private retired = false;
  private release: (() => void) | null = null;

  constructor(
    readonly environment: Environment,
    private readonly index: PrefixIndex<PrefixGroup>,
    /** Every route, for inspection and tests. */
    readonly routes: readonly CompiledRoute[],
    readonly problems: readonly RouteProblem[],
    /** The pools this table's routes use (each once). */
    readonly pools: readonly UpstreamPool[],
  ) {}

  /** The prefix group a normalised path falls under, or undefined (no route). */
  group(path: string): PrefixGroup | undefined {
    return this.index.lookup(path);
  }

  /** A newer table serves from now on: `release` runs once no request holds this one. */
  retire(release: () => void): void {
    this.retired = true;
    this.release = release;
    if (this.inFlight === 0) this.finish();
  }

  /** A request that held this table ended. */
  leave(): void {
    this.inFlight -= 1;
    if (this.retired && this.inFlight === 0) this.finish();
  }

  private finish() {
    const release = this.release;
    this.release = null;
    release?.();
  }
}

/**
 * Picks the route of a group for a request: the first whose `match.headers` the request has and
 * whose methods include its method. Null with `allow` set: a route matched but not the method
 * (405). Undefined: nothing matched (404).
 */
export function pickRoute(group: PrefixGroup | undefined, method: string, request: RequestHeaders): CompiledRoute | PrefixGroup | undefined {
  for (let g: PrefixGroup | null | undefined = group; g; g = g.parent) {
    let matched = false;
    for (const route of g.routes) {
      if (route.headers !== null && !headersMatch(route.headers, request)) continue;
      matched = true;
      if (route.methods === null || route.methods.has(method)) return route;
    }
    if (matched) return g;
    if (!g.constrained) return undefined;
  }
  return undefined;
}

/** Reads a request header by lower-case name. */
export interface RequestHeaders {
  header(name: string): string | undefined;
}

function headersMatch(wanted: readonly (readonly [string, string])[], request: RequestHeaders): boolean {
  for (const [name, value] of wanted) if (request.header(name) !== value) return false;
  return true;
}

/** Routes with header constraints first, then routes naming methods, then by key (a stable order). */
function routeOrder(a: CompiledRoute, b: CompiledRoute): number {
  const byHeaders = (b.headers === null ? 0 : 1) - (a.headers === null ? 0 : 1);
  if (byHeaders !== 0) return byHeaders;
  const byMethods = (b.methods === null ? 0 : 1) - (a.methods === null ? 0 : 1);
  if (byMethods !== 0) return byMethods;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

const ALL_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/** Compiles an environment's routes. Never throws for one bad route: that route answers its refusal. */
export function compileTable(input: TableInput, parts: TableParts): RouteTable {
  const routes: CompiledRoute[] = [];
  const problems: RouteProblem[] = [];
  for (const source of input.routes) {
    const compiled = compileGuarded(source, input, parts, problems);
    if (compiled) routes.push(compiled);
  }
  return indexTable(input.environment, routes, problems);
}

/**
 * `previous` with the routes of `changed` compiled again (null: the route is gone) and every
 * other route kept as compiled, its limiter and pools included: equal to compiling the whole
 * table at the new release, for the cost of the changed routes and an index of the prefixes.
 * `input.routes` is unused; `input.scope` must hold what the changed routes reference.
 */
export function patchTable(previous: RouteTable, changed: Map<string, RouteSource | null>, input: Omit<TableInput, 'routes'>, parts: TableParts): RouteTable {
  const routes = previous.routes.filter((route) => !changed.has(route.key));
  const problems = previous.problems.filter((problem) => !changed.has(problem.route));
  for (const source of changed.values()) {
    if (!source) continue;
    const compiled = compileGuarded(source, { ...input, routes: [] }, parts, problems);
    if (compiled) routes.push(compiled);
  }
  // In key order, as a table compiled whole lists them (its sources come in id order).
  routes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return indexTable(input.environment, routes, problems);
}

function indexTable(environment: Environment, routes: CompiledRoute[], problems: RouteProblem[]): RouteTable {
  const pools = new Set<UpstreamPool>();
  for (const route of routes) for (const target of route.targets) if (target.pool) pools.add(target.pool);
  const byPrefix = new Map<string, CompiledRoute[]>();
  for (const route of routes) {
    const list = byPrefix.get(route.prefix);
    if (list) list.push(route);
    else byPrefix.set(route.prefix, [route]);
  }
  const index = new PrefixIndex<PrefixGroup>();
  const groups = new Map<string, PrefixGroup>();
  for (const [prefix, list] of byPrefix) {
    list.sort(routeOrder);
    const methods = new Set<string>();
    let any = false;
    for (const route of list) {
      if (route.methods === null) any = true;
      else for (const method of route.methods) methods.add(method);
    }
    const group: PrefixGroup = { routes: list, allow: any ? ALL_METHODS : [...methods].join(', '), parent: null, constrained: list.some((r) => r.headers !== null) };
    groups.set(prefix, group);
    index.set(prefix, group);
  }
  // A group whose routes all need headers falls back to the next shorter prefix.
  for (const [prefix, group] of groups) {
    if (!group.constrained || prefix === '/') continue;
    const cut = prefix.lastIndexOf('/');
    group.parent = index.lookup(cut <= 0 ? '/' : prefix.slice(0, cut)) ?? null;
    if (group.parent === group) group.parent = null;
  }
  return new RouteTable(environment, index, routes, problems, [...pools]);
}

/** A route whose compilation throws for a reason not foreseen answers 502 route_invalid; the table is built. */
function compileGuarded(source: RouteSource, input: TableInput, parts: TableParts, problems: RouteProblem[]): CompiledRoute | null {
  try {
    return compileRoute(source, input, parts, problems);
  } catch {
    const message = `${resourceId('route', source.key)} cannot be compiled in ${input.environment.slug}`;
    problems.push({ route: source.key, code: 'route_invalid', message });
    const prefix = source.state === 'invalid' ? (source.pathPrefix === null ? null : routePrefix(source.pathPrefix)) : routePrefix(source.content.match.pathPrefix);
    return prefix === null ? null : refused(source.key, prefix, refusal(502, 'route_invalid', message, [{ route: source.key }]));
  }
}

function compileRoute(source: RouteSource, input: TableInput, parts: TableParts, problems: RouteProblem[]): CompiledRoute | null {
  const env = input.environment.slug;
  const id = resourceId('route', source.key);
  if (source.state === 'invalid') {
    const prefix = source.pathPrefix === null ? null : routePrefix(source.pathPrefix);
    const first = source.issues[0];
    const message = `${id} with its override in ${env} is not a valid route${first ? `: ${first.field} ${first.message}` : ''}`;
    problems.push({ route: source.key, code: 'route_invalid', message });
    if (prefix === null) return null;
    return refused(source.key, prefix, refusal(502, 'route_invalid', message, source.issues.map((issue) => ({ route: source.key, ...issue }))));
  }
  const content = source.content;
  const rawPrefix = routePrefix(content.match.pathPrefix);
  if (source.state === 'inactive') {
    if (rawPrefix === null) return null;
    return refused(source.key, rawPrefix, refusal(503, 'route_inactive', `${id} is switched off in ${env}`, [{ route: source.key, environment: env }]), content.match);
  }

  let rendered: RouteContent;
  try {
    rendered = renderRoute(content, input.scope, id);
  } catch (error) {
    if (!(error instanceof RouteInvalid)) throw error;
    problems.push({ route: source.key, code: 'route_invalid', message: error.message });
    if (rawPrefix === null) return null;
    return refused(source.key, rawPrefix, refusal(502, 'route_invalid', error.message, [{ route: source.key, field: error.field }]), content.match);
  }
  const prefix = routePrefix(rendered.match.pathPrefix);
  if (prefix === null) {
    problems.push({ route: source.key, code: 'route_invalid', message: `${id}: match.pathPrefix renders to a path no request can have` });
    return null;
  }

  const targets: RouteTarget[] = [];
  let splitter: Splitter | null = null;
  try {
    const urls = rendered.split ? parts.split(source.key, rendered.upstream.url, rendered.split) : null;
    if (urls) splitter = urls.splitter;
    for (const { name, url } of urls?.targets ?? [{ name: 'primary', url: rendered.upstream.url }]) {
      targets.push(target(name, url, input, parts, source.key, problems));
    }
  } catch (error) {
    if (!(error instanceof RouteInvalid)) throw error;
    problems.push({ route: source.key, code: 'route_invalid', message: error.message });
    return refused(source.key, prefix, refusal(502, 'route_invalid', error.message, [{ route: source.key, field: error.field }]), rendered.match);
  }

  const injectHeaders: string[] = [];
  const injectedNames = new Set<string>();
  for (const [name, value] of Object.entries(rendered.injectHeaders ?? {})) {
    const lower = name.toLowerCase();
    injectHeaders.push(lower, value);
    injectedNames.add(lower);
  }
  return {
    key: source.key,
    prefix,
    ...matchOf(rendered.match),
    refusal: null,
    stripPrefix: rendered.stripPrefix === true,
    timeoutMs: rendered.upstream.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    retries: rendered.retries ?? 0,
    targets,
    splitter,
    injectHeaders,
    injectedNames,
    injectBody: rendered.injectBody ?? null,
    allowList: rendered.clients ? parts.allowList(rendered.clients) : null,
    limiter: rendered.rateLimit ? parts.limiter(source.key, rendered.rateLimit) : null,
  };
}

/** A route's methods and header conditions as matching compares them. */
function matchOf(match: RouteContent['match'] | null): Pick<CompiledRoute, 'methods' | 'headers'> {
  const headers = match?.headers ? Object.entries(match.headers).map(([name, value]) => [name.toLowerCase(), value] as const) : null;
  return { methods: match?.methods ? new Set(match.methods) : null, headers: headers && headers.length > 0 ? headers : null };
}

/**
 * A route that answers an error of its own. It keeps the methods and header conditions it was
 * written with, where they are known, so switching off (or breaking) one of several routes on a
 * prefix takes only its own traffic, not its siblings'.
 */
function refused(key: string, prefix: string, answer: Refusal, match: RouteContent['match'] | null = null): CompiledRoute {
  return {
    key,
    prefix,
    ...matchOf(match),
    refusal: answer,
    stripPrefix: false,
    timeoutMs: DEFAULT_TIMEOUT_MS,
    retries: 0,
    targets: [],
    splitter: null,
    injectHeaders: [],
    injectedNames: new Set(),
    injectBody: null,
    allowList: null,
    limiter: null,
  };
}

class RouteInvalid extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/**
 * The route with every template rendered against the environment's values, checked against the
 * route schema again (a rendered URL must be a URL, a header value a header value). Errors name
 * the route and the field, never a value.
 */
function renderRoute(content: RouteContent, scope: RenderScope, id: string): RouteContent {
  let rendered: Record<string, unknown>;
  try {
    rendered = renderValue(content, scope, ROUTE_TEMPLATES, id) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof UnresolvedReferenceError) throw new RouteInvalid(error.message, error.reference);
    if (error instanceof StagelineError) throw new RouteInvalid(`${id}: ${error.message}`, '');
    throw error;
  }
  // A header is text: `{{ vars.count }}` holding a number is sent as its digits.
  for (const field of ['injectHeaders'] as const) {
    const values = rendered[field];
    if (values && typeof values === 'object') for (const name of Object.keys(values)) textField(values as Record<string, unknown>, name);
  }
  const match = rendered.match as { headers?: Record<string, unknown> } | undefined;
  if (match?.headers) for (const name of Object.keys(match.headers)) textField(match.headers, name);
  const parsed = KIND_SCHEMAS.route.safeParse(rendered);
  if (!parsed.success) {
    const issue = zodIssues(parsed.error, '')[0]!;
    throw new RouteInvalid(`${id}: ${issue.field} as rendered in this environment ${issue.message}`, issue.field);
  }
  const route = parsed.data;
  for (const [name, value] of Object.entries(route.injectHeaders ?? {})) {
    try {
      validateHeaderValue(name, value);
    } catch {
      throw new RouteInvalid(`${id}: injectHeaders.${name} renders to a value with a line break, NUL or other character a header cannot carry`, `injectHeaders.${name}`);
    }
  }
  return route;
}

function textField(record: Record<string, unknown>, name: string) {
  Object.defineProperty(record, name, { value: asText(record[name]), enumerable: true, writable: true, configurable: true });
}

function target(name: string, url: string, input: TableInput, parts: TableParts, key: string, problems: RouteProblem[]): RouteTarget {
  const field = name === 'primary' ? 'upstream.url' : name === 'canary' ? 'split.canary.url' : `split.blueGreen.${name}`;
  let upstream: UpstreamTarget;
  try {
    upstream = parts.parseUpstreamUrl(url);
  } catch {
    throw new RouteInvalid(`${resourceId('route', key)}: ${field} is not an http(s) URL a request path can be appended to`, field);
  }
  const denied = egressRefusal(input, upstream);
  if (denied !== null) {
    const message = `the upstream of ${resourceId('route', key)} (${field}) is refused by the egress policy of ${input.environment.slug}: ${denied}`;
    problems.push({ route: key, code: 'egress_denied', message });
    return { name, upstream, pool: null, refusal: refusal(502, 'egress_denied', message, [{ route: key, field, host: upstream.hostname, environment: input.environment.slug }]) };
  }
  return { name, upstream, pool: parts.pool(input.egress, upstream), refusal: null };
}

/**
 * The checks that need no name resolution: an invalid setting, a host named in egress.deny or a
 * metadata name, and an address literal outside what the environment may reach. A name is
 * checked again, on the address it resolves to, when a connection is opened.
 */
function egressRefusal(input: TableInput, upstream: UpstreamTarget): string | null {
  const { policy, invalid } = input.egress;
  if (invalid) return `the egress setting of ${policy.environment} is not valid`;
  const byName = checkHost(policy, upstream.hostname);
  if (!byName.allowed) return byName.reason;
  if (isIP(upstream.hostname) !== 0) {
    const byAddress = checkAddress(policy, upstream.hostname, upstream.hostname, upstream.port);
    if (!byAddress.allowed) return byAddress.reason;
  }
  return null;
}
