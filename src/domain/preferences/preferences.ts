// Recipient preferences: what a recipient has opted into, per environment. A preference set
// holds rules at three levels — per channel type, per workflow, per workflow × channel type —
// and the environment's defaults (setting `preferences.defaults`) hold the same. A channel step
// is sent unless the most specific rule that speaks says no; the recipient's own rule wins over
// the default at the same level. With no rule at all, a recipient is opted in.
import { z } from 'zod';
import { RESOURCE_KEY_PATTERN } from '../resources/kinds.js';

export const PREFERENCE_CHANNELS = ['email', 'in_app', 'webhook'] as const;
export type PreferenceChannel = (typeof PREFERENCE_CHANNELS)[number];

/** At most this many workflow entries in one set (a recipient's or the defaults). */
export const MAX_WORKFLOW_RULES = 1000;

const channelTypes = z
  .strictObject({ email: z.boolean().optional(), in_app: z.boolean().optional(), webhook: z.boolean().optional() })
  .describe('true: opted in, false: opted out, absent: no rule at this level');

const workflowRule = z.union([
  z.boolean().describe('every channel of the workflow'),
  z.strictObject({ channelTypes }).describe('per channel type within the workflow'),
]);

export const preferenceSetSchema = z
  .strictObject({
    channelTypes: channelTypes.optional(),
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
  /** The rule that decided, e.g. `workflows.welcome.channelTypes.email`, or null: no rule (opted in). */
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
    { rule: `${prefix}.channelTypes.${channel}`, value: typeof byWorkflow === 'object' ? own(byWorkflow.channelTypes, channel) : undefined },
    { rule: prefix, value: typeof byWorkflow === 'boolean' ? byWorkflow : undefined },
    { rule: `channelTypes.${channel}`, value: own(set?.channelTypes, channel) },
  ];
}

/**
 * Whether `workflow`'s `channel` step reaches a recipient: the most specific level with a rule
 * decides (workflow × channel, then workflow, then channel), the recipient's rule before the
 * environment default's at each level; no rule anywhere: opted in.
 */
export function decide(recipient: PreferenceSet | undefined, defaults: PreferenceSet | undefined, workflow: string, channel: PreferenceChannel): PreferenceDecision {
  const recipientLevels = levels(recipient, workflow, channel);
  const defaultLevels = levels(defaults, workflow, channel);
  for (let level = 0; level < recipientLevels.length; level++) {
    const mine = recipientLevels[level]!;
    if (mine.value !== undefined) return { allowed: mine.value, rule: mine.rule, source: 'recipient' };
    const theirs = defaultLevels[level]!;
    if (theirs.value !== undefined) return { allowed: theirs.value, rule: theirs.rule, source: 'defaults' };
  }
  return { allowed: true, rule: null, source: null };
}

/** The set with `workflow`'s email turned off (scope `workflow`) or all email (scope `email`); other rules kept. */
export function optOutOfEmail(set: PreferenceSet, workflow: string, scope: 'workflow' | 'email'): PreferenceSet {
  if (scope === 'email') return { ...set, channelTypes: { ...set.channelTypes, email: false } };
  const workflows: Record<string, z.infer<typeof workflowRule>> = {};
  for (const [key, rule] of Object.entries(set.workflows ?? {})) Object.defineProperty(workflows, key, { value: rule, enumerable: true, writable: true, configurable: true });
  const current = own(set.workflows, workflow);
  // A workflow switched off whole stays off; one switched on keeps its other channels on.
  const channels = typeof current === 'object' ? current.channelTypes : current === true ? { email: true, in_app: true, webhook: true } : current === false ? null : {};
  const next = channels === null ? false : { channelTypes: { ...channels, email: false } };
  Object.defineProperty(workflows, workflow, { value: next, enumerable: true, writable: true, configurable: true });
  return { ...set, workflows };
}
