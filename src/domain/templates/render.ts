// The one Liquid engine behind every template in resource content, and the rules each use of it
// follows: which roots a template may read, which of them the caller gives per call, typed values.
import {
  Drop,
  filters,
  Liquid,
  TokenKind,
  toValueSync,
  UndefinedVariableError,
  type FS,
  type FilterImplOptions,
  type LiquidOptions,
  type PropertyAccessToken,
  type Template,
} from 'liquidjs';
import { invalid, StagelineError } from '../errors.js';
import { scopeRecord } from './scope.js';

export { scopeRecord } from './scope.js';

/** Templates never read files: there is no file system behind partials. */
const NO_FILES: FS = {
  exists: async () => false,
  existsSync: () => false,
  readFile: async () => {
    throw new Error('templates cannot read files');
  },
  readFileSync: () => {
    throw new Error('templates cannot read files');
  },
  resolve: (_dir, file) => file,
  contains: async () => false,
  containsSync: () => false,
};

// strictVariables makes a typo an error; lenientIf lets `{% if data.x %}` and `| default:` accept
// an absent field. Environment values (vars, secrets, env) are checked before rendering, so a
// missing one is an error whatever the template does with it.
const OPTIONS: LiquidOptions = {
  fs: NO_FILES,
  root: [],
  partials: [],
  layouts: [],
  dynamicPartials: false,
  relativeReference: false,
  strictVariables: true,
  lenientIf: true,
  strictFilters: true,
  ownPropertyOnly: true,
  parseLimit: 100_000,
  renderLimit: 250,
  memoryLimit: 10_000_000,
};

/**
 * HTML the runtime produced itself (an email body a layout wraps): HTML templates output it as it
 * is. Any filter applied to it yields a plain string, which is escaped like every other value.
 */
export class SafeHtml extends Drop {
  constructor(readonly html: string) {
    super();
  }
  override valueOf(): string {
    return this.html;
  }
}

const escapeFilter = filters.escape as Extract<FilterImplOptions, (...args: never[]) => unknown>;

/** Escapes every output of an HTML template but SafeHtml; `| raw` opts a value out. */
function escapeOutput(this: ThisParameterType<typeof escapeFilter>, value: unknown): string {
  return value instanceof SafeHtml ? value.html : (escapeFilter.call(this, value) as string);
}

const engine = new Liquid(OPTIONS);
/** HTML templates (an email's html, an email layout's html): output is HTML-escaped by default. */
const htmlEngine = new Liquid({ ...OPTIONS, outputEscape: escapeOutput });

/** Tags that load other templates have nothing to load here; they are refused at parse time. */
for (const liquid of [engine, htmlEngine]) {
  for (const name of ['include', 'render', 'layout']) {
    liquid.registerTag(name, {
      parse() {
        throw new Error(`the ${name} tag is not available in Stageline templates`);
      },
      render() {
        return '';
      },
    });
  }
}

/**
 * Parsed templates kept in memory, bounded by the total length of their sources. The escaping of
 * HTML templates is fixed at parse time, so each engine has its own cache.
 */
const PARSE_CACHE_CHARS = 8_000_000;
class ParseCache {
  private readonly parsed = new Map<string, Template[]>();
  private chars = 0;
  constructor(private readonly liquid: Liquid) {}

  parse(source: string): Template[] {
    const hit = this.parsed.get(source);
    if (hit) return hit;
    const templates = this.liquid.parse(source);
    while (this.parsed.size > 0 && this.chars + source.length > PARSE_CACHE_CHARS) {
      const oldest = this.parsed.keys().next().value as string;
      this.parsed.delete(oldest);
      this.chars -= oldest.length;
    }
    if (source.length <= PARSE_CACHE_CHARS) {
      this.parsed.set(source, templates);
      this.chars += source.length;
    }
    return templates;
  }
}
const textCache = new ParseCache(engine);
const htmlCache = new ParseCache(htmlEngine);

export function isTemplate(value: string): boolean {
  return value.includes('{{') || value.includes('{%');
}

/** Parses a template (cached); throws Liquid's error when it is not valid. */
export function parseTemplate(source: string): Template[] {
  return textCache.parse(source);
}

/** A path a template reads from its scope; a nested path is an index computed by the template. */
export type VariablePath = (string | number | VariablePath)[];

/** What a template reads, from its parsed tree. */
export interface TemplateAnalysis {
  /** Every path read from the scope the caller gives, such as ['vars', 'app_url']. */
  paths: VariablePath[];
  /** Reads that no static check can follow, each a sentence naming the expression; refused. */
  refusals: string[];
}

/** The roots an environment gives: a template reads them but never rebinds them. */
const ENVIRONMENT_ROOTS = new Set(['vars', 'secrets', 'env']);
const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** A path as Liquid would write it: `vars.a`, `secrets[vars.n]`, `secrets[0]`. */
export function pathText(path: VariablePath): string {
  return path
    .map((segment, i) => {
      if (Array.isArray(segment)) return `[${pathText(segment)}]`;
      if (typeof segment === 'number') return `[${segment}]`;
      if (i === 0) return segment;
      return PLAIN_NAME.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`;
    })
    .join('');
}

type Node = { kind?: number; initial?: { postfix: unknown[] }; filters?: { name: string; args: unknown[] }[]; lhs?: unknown; rhs?: unknown; props?: unknown[] };

/**
 * Filters that evaluate an expression written in a string (`where_exp: "i", "secrets[i]"`): what
 * it reads is invisible to any analysis of the template, so they are refused.
 */
const EXPRESSION_FILTERS = new Set(['where_exp', 'reject_exp', 'group_by_exp', 'find_exp', 'find_index_exp', 'has_exp', 'search_exp', 'filter_exp']);

/** Every property access (and filter used) in a tag or output argument: its value, filter arguments, ranges and indexes. */
function* accessesIn(node: unknown): Generator<PropertyAccessToken | { filter: string }> {
  if (!node || typeof node !== 'object') return;
  const n = node as Node;
  if (n.initial && Array.isArray(n.initial.postfix)) {
    for (const token of n.initial.postfix) yield* accessesIn(token);
    for (const filter of n.filters ?? []) {
      yield { filter: filter.name };
      for (const arg of filter.args) yield* accessesIn(Array.isArray(arg) ? arg[1] : arg);
    }
  } else if (n.kind === TokenKind.Range) {
    yield* accessesIn(n.lhs);
    yield* accessesIn(n.rhs);
  } else if (n.kind === TokenKind.PropertyAccess) {
    yield node as PropertyAccessToken;
    for (const prop of n.props ?? []) yield* accessesIn(prop);
  }
}

/**
 * What liquidjs's own analysis cannot see: a root whose name the template computes (`[k].x`,
 * `[vars.n]`, which reach any root) and a local variable that shadows an environment root in
 * some branches only (`{% if false %}{% assign secrets = 1 %}{% endif %}{{ secrets }}`).
 */
function structuralRefusals(templates: Template[]): string[] {
  const refusals: string[] = [];
  const visit = (template: Template) => {
    for (const argument of template.arguments?.() ?? []) {
      for (const access of accessesIn(argument)) {
        if ('filter' in access) {
          if (EXPRESSION_FILTERS.has(access.filter)) refusals.push(`the ${access.filter} filter evaluates an expression written in a string, which no check can read: use ${access.filter.replace(/_exp$/, '')} with a property name`);
          continue;
        }
        const root = access.props[0] as { kind?: number } | undefined;
        if (root?.kind === TokenKind.PropertyAccess) refusals.push(`${access.getText()} computes the name of the variable it reads: name it literally`);
      }
    }
    const locals = [...(template.localScope?.() ?? [])].map((ident) => ident.content);
    for (const name of [...locals, ...(template.blockScope?.() ?? [])]) {
      if (ENVIRONMENT_ROOTS.has(name)) refusals.push(`${name} is the environment's ${name}: it cannot be assigned, captured, counted or used as a loop variable`);
    }
    if (template.children) for (const child of toValueSync(template.children(false, true))) visit(child);
  };
  for (const template of templates) visit(template);
  return refusals;
}

function analyse(templates: Template[]): TemplateAnalysis {
  const paths = engine.globalVariableSegmentsSync(templates) as VariablePath[];
  const refusals = structuralRefusals(templates);
  for (const path of paths) {
    // Only a literal name lets the secrets a template reads be known before it renders.
    if (path[0] === 'secrets' && typeof path[1] !== 'string') {
      const what = path.length === 1 ? 'uses secrets as a whole' : `reads ${pathText(path.slice(0, 2))}, a secret whose name is not literal`;
      refusals.push(`${what}: read one secret by its literal name, secrets.NAME or secrets["NAME"]`);
    }
  }
  return { paths, refusals: [...new Set(refusals)] };
}

const analyses = new WeakMap<Template[], TemplateAnalysis>();

/** What a template reads (cached with its parse); throws Liquid's error when it is not valid. */
export function analyseTemplate(source: string): TemplateAnalysis {
  const templates = parseTemplate(source);
  let analysis = analyses.get(templates);
  if (!analysis) analyses.set(templates, (analysis = analyse(templates)));
  return analysis;
}

export class UnresolvedReferenceError extends StagelineError {
  constructor(message: string, readonly reference: string) {
    super(409, 'unresolved_reference', message, [{ reference }]);
  }
}

/** What one kind of template may read. */
export interface TemplateUse {
  /** Named in messages, e.g. "tool templates". */
  name: string;
  roots: ReadonlySet<string>;
  /**
   * Roots whose values come with each call (a tool's input, a workflow's recipient and data):
   * a field they lack is the caller's to fix, a 400 naming it.
   */
  given: ReadonlySet<string>;
  /** A string that reads another root: left as it is for a later stage, or refused. */
  otherRoots: 'keep' | 'refuse';
  /** HTML: every output is escaped unless it is SafeHtml or ends with `| raw`. */
  html?: boolean;
}

function templateUse(name: string, roots: string[], given: string[], otherRoots: 'keep' | 'refuse'): TemplateUse {
  return { name, roots: new Set(roots), given: new Set(given), otherRoots };
}

/** Delivery resolves what one environment knows; strings using run-time data stay for the runtime. */
export const DELIVERY_TEMPLATES = templateUse('delivered content', ['vars', 'secrets', 'env'], [], 'keep');
export const TOOL_TEMPLATES = templateUse('tool templates', ['vars', 'secrets', 'env', 'input'], ['input'], 'refuse');
/** Email and webhook steps, which may carry credentials to their receiver. */
export const WORKFLOW_TEMPLATES = templateUse('workflow templates', ['vars', 'secrets', 'env', 'recipient', 'data'], ['recipient', 'data'], 'refuse');
/** In-app content is read by clients with publishable keys: it never carries secrets. */
export const IN_APP_TEMPLATES = templateUse('in-app templates', ['vars', 'env', 'recipient', 'data'], ['recipient', 'data'], 'refuse');
/** A tool step's input, rendered before the tool renders its own templates with its secrets. */
export const TOOL_INPUT_TEMPLATES = templateUse('tool step inputs', ['vars', 'env', 'recipient', 'data'], ['recipient', 'data'], 'refuse');

/** The same use for HTML templates, whose output is escaped by default. */
export function htmlUse(use: TemplateUse): TemplateUse {
  return { ...use, html: true };
}

/** A use that also reads `extra` roots (a layout reads `content`). */
export function withRoots(use: TemplateUse, name: string, ...extra: string[]): TemplateUse {
  return { ...use, name, roots: new Set([...use.roots, ...extra]) };
}

export interface RenderScope {
  vars: Record<string, unknown>;
  /** Absent where secrets must never be rendered (publishable keys). */
  secrets?: Record<string, string>;
  env: { slug: string; name: string };
  [root: string]: unknown;
}

const ENV_FIELDS = new Set(['slug', 'name']);
const WHOLE_VALUE = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}$/;
const UNDEFINED_VARIABLE = /^undefined variable: ([A-Za-z_][A-Za-z0-9_]*(?:\.[^,\s]+)?), line:/;

function own(value: unknown, name: string): boolean {
  return typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, name);
}

function lookup(root: unknown, path: string[]): { ok: true; value: unknown } | { ok: false } {
  let value = root;
  for (const name of path) {
    if (!own(value, name)) return { ok: false };
    value = (value as Record<string, unknown>)[name];
  }
  return { ok: true, value };
}

/** Environment values a template reads must exist: a missing one is never rendered as empty. */
function checkReferences(segments: VariablePath[], scope: RenderScope, prefix: string): void {
  for (const [root, name] of segments) {
    if (typeof name !== 'string') continue;
    if (root === 'secrets') {
      if (!scope.secrets) throw new UnresolvedReferenceError(`${prefix}secrets.${name} cannot be resolved with a publishable key`, `secrets.${name}`);
      if (!own(scope.secrets, name)) throw new UnresolvedReferenceError(`${prefix}secret ${name} has no value in ${scope.env.slug}`, `secrets.${name}`);
    } else if (root === 'vars' && !own(scope.vars, name)) {
      throw new UnresolvedReferenceError(`${prefix}variable ${name} has no value in ${scope.env.slug}`, `vars.${name}`);
    } else if (root === 'env' && !ENV_FIELDS.has(name)) {
      throw new UnresolvedReferenceError(`${prefix}env.${name} does not exist (env.slug, env.name)`, `env.${name}`);
    }
  }
}

function renderString(text: string, scope: RenderScope, use: TemplateUse, where: string | undefined): unknown {
  if (!isTemplate(text)) return text;
  const prefix = where ? `${where}: ` : '';
  let analysis: TemplateAnalysis;
  try {
    analysis = analyseTemplate(text);
  } catch {
    throw new UnresolvedReferenceError(`${prefix}a template is not valid Liquid`, '');
  }
  // Content stored before these reads were refused at write time is refused when it renders.
  if (analysis.refusals.length > 0) throw new UnresolvedReferenceError(`${prefix}${analysis.refusals[0]}`, '');
  const segments = analysis.paths;
  const other = segments.find(([root]) => typeof root !== 'string' || !use.roots.has(root));
  if (other) {
    if (use.otherRoots === 'keep') return text;
    const root = String(other[0]);
    throw new UnresolvedReferenceError(`${prefix}${root} is not available in ${use.name} (${[...use.roots].join(', ')})`, root);
  }
  checkReferences(segments, scope, prefix);
  // A string that is exactly one value takes its JSON value, so a number or an object stays typed.
  // HTML is text: its values always go through the escaping engine.
  const whole = use.html ? null : WHOLE_VALUE.exec(text);
  if (whole && whole[1] !== 'secrets' && (whole[2] || use.given.has(whole[1]!))) {
    const found = lookup(scope[whole[1]!], whole[2]!.split('.').slice(1));
    if (found.ok) return found.value;
  }
  try {
    const [liquid, cache] = use.html ? [htmlEngine, htmlCache] : [engine, textCache];
    const environment = Object.assign(Object.create(null) as RenderScope, scope, { secrets: scope.secrets ?? scopeRecord<string>([]) });
    return liquid.renderSync(cache.parse(text), environment);
  } catch (error) {
    const missing = error instanceof UndefinedVariableError ? UNDEFINED_VARIABLE.exec(error.message)?.[1] : undefined;
    const missingRoot = missing?.split('.')[0];
    if (missing && missingRoot && use.given.has(missingRoot)) {
      throw invalid([{ field: missing, message: `is used by ${where ?? use.name} and was not given`, in: 'body' }]);
    }
    // Liquid's message may quote values; when secrets are in play it is not passed on.
    const usesSecrets = segments.some(([root]) => root === 'secrets');
    const message = !usesSecrets && error instanceof Error ? error.message.split(', line:')[0] : 'the template failed';
    throw new UnresolvedReferenceError(`${prefix}a template could not be rendered: ${message}`, '');
  }
}

/**
 * A JSON document with every template string rendered for one use. Errors are StagelineErrors:
 * 409 `unresolved_reference` for what the environment lacks or the use may not read, 400
 * naming the field for a value the call should have given. `where` (e.g. `tool/crm`) prefixes
 * messages.
 */
export function renderValue(value: unknown, scope: RenderScope, use: TemplateUse, where?: string): unknown {
  if (typeof value === 'string') return renderString(value, scope, use, where);
  if (Array.isArray(value)) return value.map((item) => renderValue(item, scope, use, where));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      // Defined, not assigned: a key such as `__proto__` stays an ordinary field.
      Object.defineProperty(out, key, { value: renderValue(item, scope, use, where), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

/** A rendered value where text is needed (a subject, a URL, a header). */
export function asText(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
}
