// How an environment's `config` resources become environment variables for `run` and `export`:
// the naming rule, the mapping of stageline.json that overrides it, and the refusal to let two
// resources silently claim one name. Pure: resources and settings in, variables out.
import { CliError, usageError } from '../errors.js';

/** A `config` resource as the runtime API resolved it: only its `value` becomes variables. */
export interface ConfigValue {
  key: string;
  value: unknown;
}

/** `run` in stageline.json, with the flags merged in. */
export interface VariableRules {
  /** Explicit names: `{"CHECKOUT_URL": "config/payments.checkoutUrl"}`. */
  mapping: Record<string, string>;
  /** true: only the mapped names, no name from the rule. */
  mappedOnly: boolean;
  /** Put before every name the rule derives (not before mapped names, which are written out). */
  prefix: string;
  /** When set, the rule exports only these config keys (mapped names are exported regardless). */
  only: string[] | undefined;
}

export interface Variables {
  /** Name → value, sorted by name. */
  values: Record<string, string>;
  /** Name → where it came from (`config/payments.checkoutUrl`), for messages and `--json`. */
  sources: Record<string, string>;
}

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The rule's name for a key and an optional field, after the prefix: upper-cased, every run of
 * characters other than A–Z and 0–9 one `_` (`payments`, `checkoutUrl` → `PAYMENTS_CHECKOUTURL`,
 * `feature-flags` → `FEATURE_FLAGS`); a name that would start with a digit gets a leading `_`.
 */
export function variableName(prefix: string, key: string, field?: string): string {
  const name = [key, ...(field === undefined ? [] : [field])].map((part) => part.toUpperCase().replace(/[^A-Z0-9]+/g, '_')).join('_');
  const full = prefix + name;
  return /^[0-9]/.test(full) ? `_${full}` : full;
}

/** Strings as they are; numbers, booleans, arrays and objects as their JSON text; null: not set. */
export function variableValue(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads `run` of stageline.json (file named for its messages); flags given win over it. */
export function rulesOf(raw: Record<string, unknown>, file: string, flags: { prefix?: string; only?: string }): VariableRules {
  const run = raw.run;
  if (run !== undefined && !isObject(run)) throw new CliError(`${file}: "run" must be an object`);
  const mapping: Record<string, string> = {};
  const env = run?.env;
  if (env !== undefined) {
    if (!isObject(env)) throw new CliError(`${file}: "run.env" must map variable names to "config/<key>.<field>"`);
    for (const [name, ref] of Object.entries(env)) {
      if (!NAME_PATTERN.test(name)) throw new CliError(`${file}: run.env: "${name}" is not a variable name (letters, digits and _, not starting with a digit)`);
      if (typeof ref !== 'string' || !/^config\/./.test(ref)) throw new CliError(`${file}: run.env.${name} must be "config/<key>" or "config/<key>.<field>"`);
      mapping[name] = ref;
    }
  }
  if (run?.only !== undefined && typeof run.only !== 'boolean') throw new CliError(`${file}: "run.only" must be true or false`);
  if (run?.prefix !== undefined && typeof run.prefix !== 'string') throw new CliError(`${file}: "run.prefix" must be a string`);
  const prefix = flags.prefix ?? (run?.prefix as string | undefined) ?? '';
  if (prefix !== '' && !NAME_PATTERN.test(prefix)) throw usageError(`--prefix "${prefix}" cannot start a variable name (letters, digits and _, not starting with a digit)`);
  const only = flags.only
    ?.split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => (item.startsWith('config/') ? item.slice('config/'.length) : item));
  if (only !== undefined && only.length === 0) throw usageError('--only needs config resources, e.g. --only config/payments,config/db');
  if (only?.some((key) => key.includes('/'))) throw usageError('--only takes config resources only (config/<key>): only config is exported');
  return { mapping, mappedOnly: run?.only === true, prefix, only };
}

/** Follows `.a.b.0` into a value; undefined when the path leads nowhere. */
function follow(value: unknown, path: string[]): { found: boolean; value: unknown } {
  let current = value;
  for (const segment of path) {
    if (isObject(current) && Object.hasOwn(current, segment)) current = current[segment];
    else if (Array.isArray(current) && /^\d+$/.test(segment) && Number(segment) < current.length) current = current[Number(segment)];
    else return { found: false, value: undefined };
  }
  return { found: true, value: current };
}

/**
 * `config/payments.checkoutUrl` → the resource and the field path. Keys may hold dots, so the
 * longest key that exists wins (`config/a.b.c` is key `a.b` field `c` when `a.b` exists).
 */
function lookUp(ref: string, configs: Map<string, unknown>): { key: string; path: string[] } | undefined {
  const rest = ref.slice('config/'.length);
  const parts = rest.split('.');
  for (let n = parts.length; n >= 1; n--) {
    const key = parts.slice(0, n).join('.');
    if (configs.has(key)) return { key, path: parts.slice(n) };
  }
  return undefined;
}

/**
 * The variables of the rule and the mapping. The rule gives `config/<key>` with an object value
 * one variable per top-level field (`<KEY>_<FIELD>`), any other value one variable (`<KEY>`).
 * A mapped name always wins over the rule; two rule names that collide are an error naming both.
 */
export function variablesOf(resources: readonly ConfigValue[], rules: VariableRules, environment: string): Variables {
  const configs = new Map(resources.map((r) => [r.key, r.value] as const));
  const values = new Map<string, string>();
  const sources = new Map<string, string>();
  const mapped = new Set(Object.keys(rules.mapping));

  if (!rules.mappedOnly) {
    const only = rules.only ? new Set(rules.only) : undefined;
    if (only) {
      const missing = [...only].filter((key) => !configs.has(key));
      if (missing.length > 0) throw new CliError(`${environment} has no ${missing.map((key) => `config/${key}`).join(', ')} (named by --only)`);
    }
    const claim = (name: string, source: string, value: unknown) => {
      if (mapped.has(name)) return; // the mapping names this variable itself
      const text = variableValue(value);
      if (text === undefined) return;
      const earlier = sources.get(name);
      if (earlier !== undefined) {
        throw new CliError(`${earlier} and ${source} both become ${name}: map one of them to another name in stageline.json ("run": {"env": {…}}) or leave one out with --only`);
      }
      values.set(name, text);
      sources.set(name, source);
    };
    for (const { key, value } of [...resources].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
      if (only && !only.has(key)) continue;
      if (isObject(value)) {
        for (const [field, inner] of Object.entries(value)) claim(variableName(rules.prefix, key, field), `config/${key}.${field}`, inner);
      } else {
        claim(variableName(rules.prefix, key), `config/${key}`, value);
      }
    }
  }

  for (const [name, ref] of Object.entries(rules.mapping)) {
    const target = lookUp(ref, configs);
    if (!target) throw new CliError(`stageline.json run.env.${name}: ${environment} has no ${ref.split('.')[0]} (or no resource matching ${ref})`);
    const found = follow(configs.get(target.key), target.path);
    if (!found.found) throw new CliError(`stageline.json run.env.${name}: config/${target.key} in ${environment} has no field ${target.path.join('.')}`);
    const text = variableValue(found.value);
    if (text === undefined) continue;
    values.set(name, text);
    sources.set(name, ref);
  }

  for (const [name, value] of values) {
    if (value.includes('\u0000')) throw new CliError(`${sources.get(name)} holds a NUL character, which no environment variable can carry (${name})`);
  }
  const names = [...values.keys()].sort();
  return {
    values: Object.fromEntries(names.map((name) => [name, values.get(name)!])),
    sources: Object.fromEntries(names.map((name) => [name, sources.get(name)!])),
  };
}

/** The config keys the variables depend on: an unresolvable one of these stops `run`. */
export function keysUsed(rules: VariableRules): (key: string) => boolean {
  const mappedKeys = Object.values(rules.mapping).map((ref) => ref.slice('config/'.length));
  const uses = (key: string) => mappedKeys.some((ref) => ref === key || ref.startsWith(`${key}.`));
  if (rules.mappedOnly) return uses;
  if (rules.only) {
    const only = new Set(rules.only);
    return (key) => only.has(key) || uses(key);
  }
  return () => true;
}

/** Two variable sets hold the same names and values. */
export function sameVariables(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}
