// Liquid templates inside resource content: which `vars.*` and `secrets.*` a document
// references, syntax checks at write time, and resolution against one environment's values.
// A string whose variables are all resolvable here (vars, secrets, env) is rendered; one that
// also uses run-time data (recipient, data, input, content) is left for the runtime to render.
// The engine and the rules of every use (delivery, tools, workflows) are in render.ts.
import type { FieldIssue } from '../errors.js';
import { analyseTemplate, DELIVERY_TEMPLATES, isTemplate, pathText, renderValue, type RenderScope, type TemplateAnalysis } from './render.js';

export { isTemplate, UnresolvedReferenceError } from './render.js';

/** Roots a delivery-time resolution provides. */
export const RESOLVABLE_ROOTS = DELIVERY_TEMPLATES.roots;

/** Every string in a JSON document with its dotted path. */
function* strings(value: unknown, path: string[] = []): Generator<[string, string[]]> {
  if (typeof value === 'string') yield [value, path];
  else if (Array.isArray(value)) for (let i = 0; i < value.length; i++) yield* strings(value[i], [...path, String(i)]);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield* strings(v, [...path, k]);
}

/**
 * One issue per string that is not valid Liquid or reads what no static check can follow: the
 * secrets other than by literal name, a computed root, an environment root rebound.
 */
export function templateIssues(content: unknown, prefix: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const [text, path] of strings(content)) {
    if (!isTemplate(text)) continue;
    const field = [prefix, ...path].join('.');
    let analysis: TemplateAnalysis;
    try {
      analysis = analyseTemplate(text);
    } catch (error) {
      const message = error instanceof Error ? error.message.split(', line:')[0] : 'invalid template';
      issues.push({ field, message: `is not a valid template: ${message}`, in: 'body' });
      continue;
    }
    for (const refusal of analysis.refusals) issues.push({ field, message: refusal, in: 'body' });
  }
  return issues;
}

/**
 * The `vars.NAME` and `secrets.NAME` a document references, sorted and unique, and the reads of
 * `vars` whose name is computed when rendering (`vars[vars.n]`, `vars`): those are unchecked.
 */
export function contentReferences(content: unknown): string[] {
  const refs = new Set<string>();
  for (const [text] of strings(content)) {
    if (!isTemplate(text)) continue;
    let analysis: TemplateAnalysis;
    try {
      analysis = analyseTemplate(text);
    } catch {
      continue; // syntax is checked at write time
    }
    for (const path of analysis.paths) {
      const [root, name] = path;
      if (root !== 'vars' && root !== 'secrets') continue;
      if (typeof name === 'string') refs.add(`${root}.${name}`);
      else if (root === 'vars') refs.add(pathText(path.slice(0, 2)));
    }
  }
  return [...refs].sort();
}

/** A reference whose name is known only when rendering (`vars[vars.n]`): no plan can check it. */
export function isUncheckedReference(reference: string): boolean {
  return !reference.startsWith('vars.') && !reference.startsWith('secrets.');
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
      if (isUncheckedReference(reference)) continue;
      const [root, name] = [reference.slice(0, reference.indexOf('.')), reference.slice(reference.indexOf('.') + 1)];
      const present = root === 'vars' ? available.vars.has(name) : available.secrets.has(name);
      if (!present) missing.set(reference, [...(missing.get(reference) ?? []), resource]);
    }
  }
  return [...missing].sort(([a], [b]) => (a < b ? -1 : 1)).map(([reference, resources]) => ({ reference, resources: resources.sort() }));
}
