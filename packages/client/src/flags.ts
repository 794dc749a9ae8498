// The flag model: how a `config` resource answers a feature-flag evaluation for a context. One
// pure function shared by the server's OFREP endpoints and the OpenFeature providers.

/** JSON as it arrives in a resource's content or an evaluation context. */
export type FlagJson = null | boolean | number | string | FlagJson[] | { [key: string]: FlagJson };

/** The OpenFeature reasons an evaluation gives. */
export type FlagReason = 'STATIC' | 'DEFAULT' | 'TARGETING_MATCH' | 'SPLIT' | 'DISABLED';

/** The operators of a targeting condition; a condition has exactly one of them. */
export const FLAG_OPERATORS = [
  'equals',
  'notEquals',
  'in',
  'notIn',
  'startsWith',
  'endsWith',
  'contains',
  'gt',
  'gte',
  'lt',
  'lte',
  'semverGt',
  'semverGte',
  'semverLt',
  'semverLte',
  'exists',
] as const;
export type FlagOperator = (typeof FLAG_OPERATORS)[number];

/** `{attribute: "email", endsWith: "@example.com"}`: an attribute of the context and one operator. */
export type FlagCondition = { attribute: string } & Partial<Record<FlagOperator, FlagJson>>;

export interface FlagRule {
  /** One condition, or a list that must all hold. */
  if: FlagCondition | FlagCondition[];
  variant: string;
}

export interface FlagRollout {
  /** Variant → percentage; the percentages add up to 100. */
  variants: Record<string, number>;
  /** The context attribute the split is sticky on (default `targetingKey`). */
  by?: string;
}

/** The optional `flag` field of a config. */
export interface FlagDefinition {
  variants?: Record<string, FlagJson>;
  defaultVariant?: string;
  rules?: FlagRule[];
  rollout?: FlagRollout;
}

/** The fields of a config content the flag model reads. */
export interface FlagContent {
  value: FlagJson;
  flag?: FlagDefinition;
}

export type FlagContext = Record<string, unknown>;

export interface FlagResolution {
  ok: true;
  value: FlagJson;
  variant: string;
  reason: FlagReason;
}

export interface FlagFailure {
  ok: false;
  /** OpenFeature error codes: a context that is not an object, or content that is not a flag. */
  errorCode: 'INVALID_CONTEXT' | 'PARSE_ERROR';
  message: string;
}

export type FlagEvaluation = FlagResolution | FlagFailure;

/** The variant name of a config's `value` (a config without variants, or a flag without a default variant). */
export const VALUE_VARIANT = 'default';

export interface FlagIssue {
  /** Path under the `flag` field, e.g. `rules.0.if.attribute`. */
  path: (string | number)[];
  message: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const has = (record: object, key: string) => Object.prototype.hasOwnProperty.call(record, key);

const SEMVER = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

function isPrimitive(value: unknown): boolean {
  return value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** What each operator accepts as its operand, and a message when it gets something else. */
function operandIssue(operator: FlagOperator, operand: unknown): string | null {
  switch (operator) {
    case 'equals':
    case 'notEquals':
      return isPrimitive(operand) ? null : 'must be a string, number, boolean or null';
    case 'in':
    case 'notIn':
      return Array.isArray(operand) && operand.length <= 10_000 && operand.every(isPrimitive) ? null : 'must be a list of strings, numbers, booleans or nulls (at most 10000)';
    case 'startsWith':
    case 'endsWith':
    case 'contains':
      return typeof operand === 'string' ? null : 'must be a string';
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return typeof operand === 'number' && Number.isFinite(operand) ? null : 'must be a number';
    case 'semverGt':
    case 'semverGte':
    case 'semverLt':
    case 'semverLte':
      return typeof operand === 'string' && SEMVER.test(operand) ? null : 'must be a semantic version such as 1.4.0';
    case 'exists':
      return typeof operand === 'boolean' ? null : 'must be true or false';
  }
}

/**
 * Checks a config's `flag` field: shapes, operators, and that every variant named (default,
 * rules, rollout) is one of `variants`. One issue per bad path; empty when valid.
 */
export function flagIssues(flag: unknown): FlagIssue[] {
  const issues: FlagIssue[] = [];
  const add = (path: (string | number)[], message: string) => issues.push({ path, message });
  if (!isRecord(flag)) return [{ path: [], message: 'must be an object' }];
  for (const key of Object.keys(flag)) if (!['variants', 'defaultVariant', 'rules', 'rollout'].includes(key)) add([key], 'unknown field');
  let names: Set<string> | null = null;
  if (flag.variants !== undefined) {
    if (!isRecord(flag.variants)) add(['variants'], 'must be an object of variant name to value');
    else {
      names = new Set(Object.keys(flag.variants));
      if (names.size === 0) add(['variants'], 'must name at least one variant');
      if (names.size > 100) add(['variants'], 'at most 100 variants');
    }
  }
  const variant = (path: (string | number)[], value: unknown) => {
    if (typeof value !== 'string' || value === '') add(path, 'must be a variant name');
    else if (names === null) add(path, `names variant ${value} but the flag has no variants`);
    else if (!names.has(value)) add(path, `must be one of the variants: ${[...names].join(', ')}`);
  };
  if (flag.defaultVariant !== undefined) variant(['defaultVariant'], flag.defaultVariant);
  if (flag.rules !== undefined) {
    if (!Array.isArray(flag.rules)) add(['rules'], 'must be a list of rules');
    else {
      if (flag.rules.length > 200) add(['rules'], 'at most 200 rules');
      flag.rules.forEach((rule: unknown, i) => {
        if (!isRecord(rule)) return add(['rules', i], 'must be an object with if and variant');
        for (const key of Object.keys(rule)) if (key !== 'if' && key !== 'variant') add(['rules', i, key], 'unknown field');
        variant(['rules', i, 'variant'], rule.variant);
        if (rule.if === undefined) return add(['rules', i, 'if'], 'is required');
        const conditions = Array.isArray(rule.if) ? rule.if : [rule.if];
        if (Array.isArray(rule.if) && (rule.if.length === 0 || rule.if.length > 50)) add(['rules', i, 'if'], 'must hold 1 to 50 conditions');
        conditions.forEach((condition: unknown, j) => {
          const path = Array.isArray(rule.if) ? ['rules', i, 'if', j] : ['rules', i, 'if'];
          if (!isRecord(condition)) return add(path, 'must be an object with attribute and one operator');
          if (typeof condition.attribute !== 'string' || condition.attribute === '' || condition.attribute.length > 200) add([...path, 'attribute'], 'must be the name of a context attribute');
          const operators = Object.keys(condition).filter((key) => key !== 'attribute');
          for (const key of operators) {
            if (!(FLAG_OPERATORS as readonly string[]).includes(key)) add([...path, key], `unknown operator: use one of ${FLAG_OPERATORS.join(', ')}`);
            else {
              const problem = operandIssue(key as FlagOperator, condition[key]);
              if (problem) add([...path, key], problem);
            }
          }
          if (operators.length !== 1) add(path, 'must have exactly one operator');
        });
      });
    }
  }
  if (flag.rollout !== undefined) {
    const rollout = flag.rollout;
    if (!isRecord(rollout)) add(['rollout'], 'must be an object with variants and by');
    else {
      for (const key of Object.keys(rollout)) if (key !== 'variants' && key !== 'by') add(['rollout', key], 'unknown field');
      if (rollout.by !== undefined && (typeof rollout.by !== 'string' || rollout.by === '')) add(['rollout', 'by'], 'must be the name of a context attribute');
      if (!isRecord(rollout.variants)) add(['rollout', 'variants'], rollout.variants === undefined ? 'is required' : 'must be an object of variant name to percentage');
      else {
        let total = 0;
        for (const [name, weight] of Object.entries(rollout.variants)) {
          variant(['rollout', 'variants', name], name);
          if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0 || weight > 100) add(['rollout', 'variants', name], 'must be a percentage from 0 to 100');
          else total += weight;
        }
        if (Math.abs(total - 100) > 1e-9) add(['rollout', 'variants'], `the percentages must add up to 100 (they add up to ${total})`);
      }
    }
  }
  return issues;
}

function compareSemver(a: string, b: string): number | null {
  const x = SEMVER.exec(a);
  const y = SEMVER.exec(b);
  if (!x || !y) return null;
  for (let i = 1; i <= 3; i++) {
    const d = Number(x[i]) - Number(y[i]);
    if (d !== 0) return Math.sign(d);
  }
  // A pre-release sorts before its release; pre-releases compare field by field (semver.org §11).
  const [pa, pb] = [x[4], y[4]];
  if (pa === undefined || pb === undefined) return pa === pb ? 0 : pa === undefined ? 1 : -1;
  const fa = pa.split('.');
  const fb = pb.split('.');
  for (let i = 0; i < Math.max(fa.length, fb.length); i++) {
    const [ea, eb] = [fa[i], fb[i]];
    if (ea === undefined) return -1;
    if (eb === undefined) return 1;
    const na = /^\d+$/.test(ea);
    const nb = /^\d+$/.test(eb);
    if (na && nb && Number(ea) !== Number(eb)) return Math.sign(Number(ea) - Number(eb));
    if (na !== nb) return na ? -1 : 1;
    if (ea !== eb) return ea < eb ? -1 : 1;
  }
  return 0;
}

/** The attribute's value: `targetingKey` or a top-level attribute of the context. */
function attributeOf(context: FlagContext, name: string): unknown {
  return has(context, name) ? context[name] : undefined;
}

function holds(condition: FlagCondition, context: FlagContext): boolean {
  const value = attributeOf(context, condition.attribute);
  const operator = (Object.keys(condition) as (keyof FlagCondition)[]).find((key) => key !== 'attribute') as FlagOperator;
  const operand = condition[operator];
  switch (operator) {
    case 'exists':
      return (value !== undefined && value !== null) === operand;
    case 'equals':
      return value === operand;
    case 'notEquals':
      return value !== undefined && value !== operand;
    case 'in':
      return value !== undefined && (operand as FlagJson[]).includes(value as FlagJson);
    case 'notIn':
      return value !== undefined && !(operand as FlagJson[]).includes(value as FlagJson);
    case 'startsWith':
      return typeof value === 'string' && value.startsWith(operand as string);
    case 'endsWith':
      return typeof value === 'string' && value.endsWith(operand as string);
    case 'contains':
      return typeof value === 'string' && value.includes(operand as string);
    case 'gt':
      return typeof value === 'number' && value > (operand as number);
    case 'gte':
      return typeof value === 'number' && value >= (operand as number);
    case 'lt':
      return typeof value === 'number' && value < (operand as number);
    case 'lte':
      return typeof value === 'number' && value <= (operand as number);
    case 'semverGt':
    case 'semverGte':
    case 'semverLt':
    case 'semverLte': {
      const order = typeof value === 'string' ? compareSemver(value, operand as string) : null;
      if (order === null) return false;
      return operator === 'semverGt' ? order > 0 : operator === 'semverGte' ? order >= 0 : operator === 'semverLt' ? order < 0 : order <= 0;
    }
  }
}

/** FNV-1a, 32 bits, over the UTF-16 code units: the same bucket in every runtime, no dependency. */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** The bucket 0–9999 of a value of the rollout attribute for one flag: sticky per flag and value. */
export function rolloutBucket(flagKey: string, value: string): number {
  return stableHash(`${flagKey}/${value}`) % 10_000;
}

function rolloutVariant(flagKey: string, rollout: FlagRollout, by: string): string | null {
  const bucket = rolloutBucket(flagKey, by);
  let upTo = 0;
  let last: string | null = null;
  for (const [name, weight] of Object.entries(rollout.variants)) {
    if (weight <= 0) continue;
    upTo += weight * 100;
    last = name;
    if (bucket < upTo) return name;
  }
  return last;
}

/** Why `context` cannot be an evaluation context (null when it can): an object whose targetingKey, if any, is a string. */
export function contextIssue(context: unknown): string | null {
  if (!isRecord(context)) return 'the evaluation context must be an object';
  if (context.targetingKey !== undefined && typeof context.targetingKey !== 'string') return 'the targetingKey of the context must be a string';
  return null;
}

/**
 * Flag definitions already found valid: the providers and the server evaluate the same content
 * object many times, and it is not changed once read (a change arrives as a new object).
 */
const checkedFlags = new WeakSet<object>();

/**
 * Evaluates the config `content` of flag `flagKey` for `context`:
 * - switched off (`disabled`): the default, reason DISABLED;
 * - no `flag` field: `value`, variant `default`, reason STATIC;
 * - the first rule whose conditions all hold: its variant, TARGETING_MATCH;
 * - a rollout whose attribute the context has: the variant of its bucket, SPLIT;
 * - otherwise the default (`defaultVariant`, else `value`): DEFAULT when rules or a rollout
 *   could have applied, STATIC when the flag has neither.
 */
export function evaluateFlag(flagKey: string, content: unknown, context: unknown = {}, options: { disabled?: boolean } = {}): FlagEvaluation {
  const problem = contextIssue(context);
  if (problem !== null || !isRecord(context)) return { ok: false, errorCode: 'INVALID_CONTEXT', message: problem ?? 'the evaluation context must be an object' };
  if (!isRecord(content) || !has(content, 'value')) return { ok: false, errorCode: 'PARSE_ERROR', message: `${flagKey} is not a config with a value` };
  const config = content as unknown as FlagContent;
  if (config.flag !== undefined && !checkedFlags.has(config.flag as object)) {
    const issues = flagIssues(config.flag);
    if (issues.length > 0) {
      const first = issues[0]!;
      return { ok: false, errorCode: 'PARSE_ERROR', message: `${flagKey}: flag.${first.path.join('.')} ${first.message}` };
    }
    if (typeof config.flag === 'object' && config.flag !== null) checkedFlags.add(config.flag);
  }
  const flag = config.flag;
  const variants = flag?.variants ?? {};
  const resolved = (variant: string, reason: FlagReason): FlagResolution => ({ ok: true, value: variants[variant] as FlagJson, variant, reason });
  const fallback = (reason: FlagReason): FlagResolution =>
    flag?.defaultVariant !== undefined ? resolved(flag.defaultVariant, reason) : { ok: true, value: config.value, variant: VALUE_VARIANT, reason };
  if (options.disabled) return fallback('DISABLED');
  if (!flag || (flag.rules === undefined && flag.rollout === undefined)) return fallback('STATIC');
  for (const rule of flag.rules ?? []) {
    const conditions = Array.isArray(rule.if) ? rule.if : [rule.if];
    if (conditions.every((condition) => holds(condition, context))) return resolved(rule.variant, 'TARGETING_MATCH');
  }
  if (flag.rollout) {
    const by = attributeOf(context, flag.rollout.by ?? 'targetingKey');
    if (typeof by === 'string' || (typeof by === 'number' && Number.isFinite(by))) {
      const variant = rolloutVariant(flagKey, flag.rollout, String(by));
      if (variant !== null) return resolved(variant, 'SPLIT');
    }
  }
  return fallback('DEFAULT');
}
