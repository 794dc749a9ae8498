// Liquid templates inside resource content: which `vars.*` and `secrets.*` a document
// references, syntax checks at write time, and resolution against one environment's values.
// A string whose variables are all resolvable here (vars, secrets, env) is rendered; one that
// also uses run-time data (recipient, data, input, content) is left for the runtime to render.
// The engine and the rules of every use (delivery, tools, workflows) are in render.ts.
import type { FieldIssue } from '../errors.js';
import { DELIVERY_TEMPLATES, isTemplate, parseTemplate, renderValue, variableSegments, type RenderScope } from './render.js';

export { isTemplate, UnresolvedReferenceError } from './render.js';

/** Roots a delivery-time resolution provides. */
export const RESOLVABLE_ROOTS = DELIVERY_TEMPLATES.roots;

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
      parseTemplate(text);
    } catch (error) {
      const message = error instanceof Error ? error.message.split(', line:')[0] : 'invalid template';
      issues.push({ field: [prefix, ...path].join('.'), message: `is not a valid template: ${message}`, in: 'body' });
    }
  }
  return issues;
}

/** The `vars.NAME` and `secrets.NAME` a document references, sorted and unique. */
export function contentReferences(content: unknown): string[] {
  const refs = new Set<string>();
  for (const [text] of strings(content)) {
    if (!isTemplate(text)) continue;
    let segments: (string | number)[][];
    try {
      segments = variableSegments(text);
    } catch {
      continue; // syntax is checked at write time
    }
    for (const [root, name] of segments) {
      if ((root === 'vars' || root === 'secrets') && typeof name === 'string') refs.add(`${root}.${name}`);
    }
  }
  return [...refs].sort();
}

/** What a delivery-time resolution sees: one environment's values. */
export type ResolutionScope = RenderScope;

/** The document with every resolvable template rendered against one environment's values. */
export function resolveContent(content: unknown, scope: ResolutionScope): unknown {
  return renderValue(content, scope, DELIVERY_TEMPLATES);
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
