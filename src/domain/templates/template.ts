// Liquid templates inside resource content: which `vars.*` and `secrets.*` a document
// references, syntax checks at write time, and resolution against one environment's values.
// A string whose variables are all resolvable here (vars, secrets, env) is rendered; one that
// also uses run-time data (recipient, data, input, content) is left for the runtime to render.
import { Liquid, type FS, type Template } from 'liquidjs';
import { StagelineError, type FieldIssue } from '../errors.js';

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

const engine = new Liquid({
  fs: NO_FILES,
  root: [],
  partials: [],
  layouts: [],
  dynamicPartials: false,
  relativeReference: false,
  strictVariables: true,
  strictFilters: true,
  ownPropertyOnly: true,
  parseLimit: 100_000,
  renderLimit: 250,
  memoryLimit: 10_000_000,
});

/** Tags that load other templates have nothing to load here; they are refused at parse time. */
for (const name of ['include', 'render', 'layout']) {
  engine.registerTag(name, {
    parse() {
      throw new Error(`the ${name} tag is not available in Stageline templates`);
    },
    render() {
      return '';
    },
  });
}

/** Roots a delivery-time resolution provides. */
export const RESOLVABLE_ROOTS = new Set(['vars', 'secrets', 'env']);

/** Parsed templates kept in memory, bounded by the total length of their sources. */
const PARSE_CACHE_CHARS = 8_000_000;
const parsed = new Map<string, Template[]>();
let parsedChars = 0;

export function isTemplate(value: string): boolean {
  return value.includes('{{') || value.includes('{%');
}

function parse(source: string): Template[] {
  const hit = parsed.get(source);
  if (hit) return hit;
  const templates = engine.parse(source);
  while (parsed.size > 0 && parsedChars + source.length > PARSE_CACHE_CHARS) {
    const oldest = parsed.keys().next().value as string;
    parsed.delete(oldest);
    parsedChars -= oldest.length;
  }
  if (source.length <= PARSE_CACHE_CHARS) {
    parsed.set(source, templates);
    parsedChars += source.length;
  }
  return templates;
}

/** Every string in a JSON document with its dotted path. */
function* strings(value: unknown, path: string[] = []): Generator<[string, string[]]> {
  if (typeof value === 'string') yield [value, path];
  else if (Array.isArray(value)) for (let i = 0; i < value.length; i++) yield* strings(value[i], [...path, String(i)]);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield* strings(v, [...path, k]);
}

/** One issue per string that is not valid Liquid. */
export function templateSyntaxIssues(content: unknown, prefix: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const [text, path] of strings(content)) {
    if (!isTemplate(text)) continue;
    try {
      parse(text);
    } catch (error) {
      const message = error instanceof Error ? error.message.split(', line:')[0] : 'invalid template';
      issues.push({ field: [prefix, ...path].join('.'), message: `is not a valid template: ${message}`, in: 'body' });
    }
  }
  return issues;
}

function segmentsOf(text: string): (string | number)[][] {
  return engine.globalVariableSegmentsSync(parse(text)) as (string | number)[][];
}

/** The `vars.NAME` and `secrets.NAME` a document references, sorted and unique. */
export function contentReferences(content: unknown): string[] {
  const refs = new Set<string>();
  for (const [text] of strings(content)) {
    if (!isTemplate(text)) continue;
    let segments: (string | number)[][];
    try {
      segments = segmentsOf(text);
    } catch {
      continue; // syntax is checked at write time
    }
    for (const [root, name] of segments) {
      if ((root === 'vars' || root === 'secrets') && typeof name === 'string') refs.add(`${root}.${name}`);
    }
  }
  return [...refs].sort();
}

export interface ResolutionScope {
  vars: Record<string, unknown>;
  /** Absent where secrets must never be rendered (publishable keys). */
  secrets?: Record<string, string>;
  env: { slug: string; name: string };
}

export class UnresolvedReferenceError extends StagelineError {
  constructor(message: string, readonly reference: string) {
    super(409, 'unresolved_reference', message, [{ reference }]);
  }
}

const WHOLE_VARIABLE = /^\{\{\s*(vars|env)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;

function checkReferences(segments: (string | number)[][], scope: ResolutionScope) {
  for (const [root, name] of segments) {
    if (typeof name !== 'string') continue;
    if (root === 'secrets') {
      if (!scope.secrets) throw new UnresolvedReferenceError(`secrets.${name} cannot be resolved with a publishable key`, `secrets.${name}`);
      if (!Object.prototype.hasOwnProperty.call(scope.secrets, name)) {
        throw new UnresolvedReferenceError(`secret ${name} has no value in ${scope.env.slug}`, `secrets.${name}`);
      }
    } else if (root === 'vars' && !Object.prototype.hasOwnProperty.call(scope.vars, name)) {
      throw new UnresolvedReferenceError(`variable ${name} has no value in ${scope.env.slug}`, `vars.${name}`);
    }
  }
}

function renderString(text: string, scope: ResolutionScope): unknown {
  if (!isTemplate(text)) return text;
  let segments: (string | number)[][];
  try {
    segments = segmentsOf(text);
  } catch {
    throw new UnresolvedReferenceError('a template is not valid Liquid', '');
  }
  if (segments.some(([root]) => typeof root !== 'string' || !RESOLVABLE_ROOTS.has(root))) return text;
  checkReferences(segments, scope);
  // A string that is exactly one variable takes the variable's JSON value, so a number or an
  // object stays typed.
  const whole = WHOLE_VARIABLE.exec(text);
  if (whole) {
    const values: Record<string, unknown> = whole[1] === 'vars' ? scope.vars : scope.env;
    if (Object.prototype.hasOwnProperty.call(values, whole[2]!)) return values[whole[2]!];
  }
  try {
    return engine.renderSync(parse(text), { vars: scope.vars, secrets: scope.secrets ?? {}, env: scope.env });
  } catch (error) {
    // Liquid's message may quote values; when secrets are in play it is not passed on.
    const usesSecrets = segments.some(([root]) => root === 'secrets');
    const message = !usesSecrets && error instanceof Error ? error.message.split(', line:')[0] : 'the template failed';
    throw new UnresolvedReferenceError(`a template could not be rendered: ${message}`, '');
  }
}

/** The document with every resolvable template rendered against one environment's values. */
export function resolveContent(content: unknown, scope: ResolutionScope): unknown {
  if (typeof content === 'string') return renderString(content, scope);
  if (Array.isArray(content)) return content.map((item) => resolveContent(item, scope));
  if (content && typeof content === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(content)) {
      Object.defineProperty(out, key, { value: resolveContent(value, scope), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return content;
}

export interface MissingReference {
  reference: string;
  /** Resource ids (`kind/key`) that reference it. */
  resources: string[];
}

/**
 * The `vars.*` and `secrets.*` that resources reference but an environment cannot resolve:
 * a variable with neither a value there nor a default, a secret with no value there.
 */
export function missingReferences(
  referencesByResource: Map<string, string[]>,
  available: { vars: ReadonlySet<string>; secrets: ReadonlySet<string> },
): MissingReference[] {
  const missing = new Map<string, string[]>();
  for (const [resource, references] of referencesByResource) {
    for (const reference of references) {
      const [root, name] = [reference.slice(0, reference.indexOf('.')), reference.slice(reference.indexOf('.') + 1)];
      const present = root === 'vars' ? available.vars.has(name) : available.secrets.has(name);
      if (!present) missing.set(reference, [...(missing.get(reference) ?? []), resource]);
    }
  }
  return [...missing].sort(([a], [b]) => (a < b ? -1 : 1)).map(([reference, resources]) => ({ reference, resources: resources.sort() }));
}
