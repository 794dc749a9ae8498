// Recipient preferences: what a recipient has opted into, per environment. A preference set
// holds rules at three levels — per channel type, per workflow, per workflow × channel type —
// and the environment's defaults (setting `preferences.defaults`) hold the same. The recipient's
// own choice beats the environment's default; within each, the most specific rule that speaks
// decides. With no rule at all, a recipient is opted in.
import { z } from 'zod';
import { RESOURCE_KEY_PATTERN } from '../resources/kinds.js';

export const PREFERENCE_CHANNELS = ['email', 'in_app', 'webhook'] as const;
export type PreferenceChannel = (typeof PREFERENCE_CHANNELS)[number];

/** At most this many workflow entries in one set (a recipient's or the defaults). */
export const MAX_WORKFLOW_RULES = 1000;

const channels = z
  .strictObject({ email: z.boolean().optional(), in_app: z.boolean().optional(), webhook: z.boolean().optional() })
  .describe('true: opted in, false: opted out, absent: no rule at this level');

const workflowRule = z.union([
  z.boolean().describe('every channel of the workflow'),
  z.strictObject({ channels }).describe('per channel type within the workflow'),
]);

export const preferenceSetSchema = z
  .strictObject({
    channels: channels.optional(),
    workflows: z
      .record(z.string().regex(RESOURCE_KEY_PATTERN, 'must be a workflow key'), workflowRule)
      .refine((rules) => Object.keys(rules).length <= MAX_WORKFLOW_RULES, `at most ${MAX_WORKFLOW_RULES} workflows`)
      .optional()
      .describe('by workflow key'),
  })
  .meta({ id: 'PreferenceSet' });

export type PreferenceSet = z.infer<typeof preferenceSetSchema>;

export interface PreferenceDecision {
  /** Whether the step may be sent. */
  allowed: boolean;
  /** The rule that decided, e.g. `workflows.welcome.channels.email`, or null: no rule (opted in). */
  rule: string | null;
  /** Whose rule it was. */
  source: 'recipient' | 'defaults' | null;
}

/** An own property only: a workflow named `constructor` or `__proto__` is a key like any other. */
function own<T>(record: Record<string, T> | undefined, key: string): T | undefined {
  return record !== undefined && Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
}

/** The rules of one set for (workflow, channel), most specific first; undefined where the set is silent. */
function levels(set: PreferenceSet | undefined, workflow: string, channel: PreferenceChannel): { rule: string; value: boolean | undefined }[] {
  const byWorkflow = own(set?.workflows, workflow);
  const prefix = `workflows.${workflow}`;
  return [
    { rule: `${prefix}.channels.${channel}`, value: typeof byWorkflow === 'object' ? own(byWorkflow.channels, channel) : undefined },
    { rule: prefix, value: typeof byWorkflow === 'boolean' ? byWorkflow : undefined },
    { rule: `channels.${channel}`, value: own(set?.channels, channel) },
  ];
}

/**
 * Whether `workflow`'s `channel` step reaches a recipient: the recipient's own rules first, most
 * specific first (workflow × channel, then workflow, then channel), then the environment's
 * defaults in the same order; no rule anywhere: opted in. A recipient's explicit choice is never
 * overturned by a default, whatever its level.
 */
export function decide(recipient: PreferenceSet | undefined, defaults: PreferenceSet | undefined, workflow: string, channel: PreferenceChannel): PreferenceDecision {
  for (const [source, set] of [
    ['recipient', recipient],
    ['defaults', defaults],
  ] as const) {
    for (const level of levels(set, workflow, channel)) if (level.value !== undefined) return { allowed: level.value, rule: level.rule, source };
  }
  return { allowed: true, rule: null, source: null };
}

type WorkflowRule = z.infer<typeof workflowRule>;

/** A plain copy of a workflows record (defineProperty: a key named `__proto__` stays a key). */
function copyWorkflows(workflows: Record<string, WorkflowRule> | undefined): Record<string, WorkflowRule> {
  const out: Record<string, WorkflowRule> = {};
  for (const [key, rule] of Object.entries(workflows ?? {})) Object.defineProperty(out, key, { value: rule, enumerable: true, writable: true, configurable: true });
  return out;
}

/** A workflow's rule with its email turned off: one off whole stays off, one on keeps its other channels on. */
function withoutEmail(rule: WorkflowRule | undefined): WorkflowRule {
  if (rule === false) return false;
  const channels = typeof rule === 'object' ? rule.channels : rule === true ? { email: true, in_app: true, webhook: true } : {};
  return { channels: { ...channels, email: false } };
}

/** Whether a workflow's own rule lets its email through (a rule that would beat `channels.email: false`). */
function letsEmailThrough(rule: WorkflowRule): boolean {
  return rule === true || (typeof rule === 'object' && own(rule.channels, 'email') === true);
}

/**
 * The set after a one-click unsubscribe: `workflow`'s email off (scope `workflow`), or every
 * email (scope `email`: `channels.email` off, and any more specific email opt-in of the
 * recipient's own turned off too, so nothing of theirs lets email through). Other rules are
 * kept. A set already at MAX_WORKFLOW_RULES workflows turns off every email instead of adding one.
 */
export function optOutOfEmail(set: PreferenceSet, workflow: string, scope: 'workflow' | 'email'): { set: PreferenceSet; scope: 'workflow' | 'email' } {
  const workflows = copyWorkflows(set.workflows);
  const full = own(workflows, workflow) === undefined && Object.keys(workflows).length >= MAX_WORKFLOW_RULES;
  if (scope === 'email' || full) {
    for (const [key, rule] of Object.entries(workflows)) {
      if (letsEmailThrough(rule)) Object.defineProperty(workflows, key, { value: withoutEmail(rule), enumerable: true, writable: true, configurable: true });
    }
    return { set: { ...set, channels: { ...set.channels, email: false }, ...(set.workflows ? { workflows } : {}) }, scope: 'email' };
  }
  Object.defineProperty(workflows, workflow, { value: withoutEmail(own(workflows, workflow)), enumerable: true, writable: true, configurable: true });
  return { set: { ...set, workflows }, scope: 'workflow' };
}
