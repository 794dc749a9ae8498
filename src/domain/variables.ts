// Variables: a workspace-wide default and per-environment values. A change to a variable
// matters to every environment whose effective value it changes.
import { canonicalJson } from './canonical.js';

export interface VariableValues {
  hasDefault: boolean;
  value?: unknown;
  /** Values by environment slug. */
  overrides: Record<string, unknown>;
}

/** The value an environment sees: its own, else the default; undefined when it has neither. */
export function effectiveValue(variable: VariableValues | null, slug: string): unknown {
  if (!variable) return undefined;
  if (Object.prototype.hasOwnProperty.call(variable.overrides, slug)) return variable.overrides[slug];
  return variable.hasDefault ? variable.value : undefined;
}

/** The environments whose effective value differs between two states of a variable. */
export function affectedEnvironments(slugs: string[], before: VariableValues | null, after: VariableValues | null): string[] {
  const text = (value: unknown) => (value === undefined ? '\u0000absent' : canonicalJson(value));
  return slugs.filter((slug) => text(effectiveValue(before, slug)) !== text(effectiveValue(after, slug)));
}
