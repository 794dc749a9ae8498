// Response schemas of what moves between releases: field and resource changes, diffs, the plan
// of a promotion or rollback, and the promotion requests that hold a plan for approval.
import { z } from 'zod';
import { actorRef, anyJson, release, resourceKind, storedJson, watchInput } from '../schemas.js';

export const fieldChange = z
  .object({
    path: z.string().describe('JSON Pointer (RFC 6901) of the field; "" for the whole document'),
    before: anyJson('the value before; absent when the field was added').optional(),
    after: anyJson('the value after; absent when the field was removed').optional(),
  })
  .meta({ id: 'FieldChange' });

export const resourceChange = z
  .object({
    kind: resourceKind,
    key: z.string(),
    status: z.enum(['added', 'changed', 'removed']),
    fromHash: z.string().nullable(),
    toHash: z.string().nullable(),
    app: z.object({ before: z.string().nullable(), after: z.string().nullable() }).optional().describe('present when the app label changes'),
    fields: z.array(fieldChange),
  })
  .meta({ id: 'ResourceChange' });

const stateRef = z.object({
  ref: z.string().describe('as asked: env, env#N or env~draft'),
  environment: z.string(),
  release: z.number(),
  draft: z.boolean(),
});
export const diffView = z
  .object({ from: stateRef, to: stateRef, changes: z.array(resourceChange) })
  .meta({ id: 'Diff' });

export const draftChange = resourceChange
  .extend({
    updatedAt: z.string(),
    updatedBy: z.string(),
    stale: z.boolean().describe('the committed content moved since the draft was written'),
  })
  .meta({ id: 'DraftChange' });

export const changesView = z
  .object({
    environment: z.string(),
    release: z.number().describe('the committed release the drafts apply to'),
    data: z.array(draftChange),
    next: z.string().nullable(),
  })
  .meta({ id: 'Changes' });

export const snapshotEntry = z.object({ kind: resourceKind, key: z.string(), hash: z.string(), app: z.string().nullable() });
export const releaseDetail = release.extend({ resources: z.array(snapshotEntry).describe('the release snapshot, by resource id') }).meta({ id: 'ReleaseDetail' });

const referenceBase = { reference: z.string().describe('vars.NAME or secrets.NAME'), resources: z.array(z.string()).describe('kind/key of the resources using it') };
// Tried in order: the options with a distinguishing field first, the plain value last.
export const planReference = z
  .union([
    z.object({ ...referenceBase, secret: z.object({ hint: z.string(), version: z.number(), inheritedFrom: z.string().nullable().describe("a branch using its parent's value") }) }),
    z.object({ ...referenceBase, missing: z.literal(true) }),
    z.object({ ...referenceBase, unchecked: z.literal(true).describe('the template computes the name when it renders: no plan can check it') }),
    z.object({ ...referenceBase, value: anyJson('the value the target resolves the variable to') }),
  ])
  .meta({ id: 'PlanReference' });

export const promotionPlan = z
  .object({
    kind: z.enum(['promotion', 'merge', 'rollback']),
    source: z.object({ environment: z.string(), release: z.number(), name: z.string() }).describe("a rollback's source is its own earlier release"),
    target: z.object({ environment: z.string(), release: z.number(), protected: z.boolean() }),
    summary: z.object({ added: z.number(), changed: z.number(), removed: z.number() }),
    changes: z.array(resourceChange),
    references: z.array(planReference).describe('each variable and secret the added or changed resources use, as the target resolves it (secrets masked)'),
    missingReferences: z.array(z.object(referenceBase)),
    merge: z
      .object({ base: z.string().nullable(), resolved: z.array(z.object({ resource: z.string(), take: z.enum(['branch', 'parent']) })) })
      .optional()
      .describe('merges of a branch: the merge base and the resolutions applied'),
    planHash: z.string().describe('covers source, target, the resulting snapshot and every resolution'),
  })
  .meta({ id: 'PromotionPlan' });

export const gate = z
  .object({
    type: z.enum(['approvals', 'check', 'checklist', 'soak', 'hold']),
    name: z.string(),
    state: z.enum(['pending', 'passed', 'failed']),
    detail: z.string(),
  })
  .meta({ id: 'Gate' });

export const gateConfig = z
  .object({
    checks: z.array(z.string()).describe('names of the CI checks that must succeed on the source release'),
    checklist: z.array(z.string()).describe('items a member ticks on each promotion request'),
    soakMinutes: z.number().describe('minutes the source release must have run in the source environment with no alert'),
    autoApply: z.boolean().describe('a request applies by itself when its last gate passes'),
    watch: watchInput.nullable().describe('the watch a promotion into the environment gets when it names none'),
  })
  .meta({ id: 'GateConfig' });

export const hold = z.object({ since: z.string(), reason: z.string(), release: z.number().nullable().describe('the release the breach rolled back from') }).meta({ id: 'Hold' });

export const dryRunPlan = promotionPlan
  .extend({
    dryRun: z.literal(true),
    approvalsRequired: z.number().optional().describe('present when applying it would wait for approvals'),
    request: z.boolean().optional().describe('promotions: whether applying it would open a promotion request'),
    gates: z.array(gate).optional().describe('promotions into a gated environment: the gates a request would show'),
    hold: hold.nullable().optional(),
  })
  .meta({ id: 'DryRunPlan' });

export const promotionRequest = z
  .object({
    id: z.string(),
    kind: z.enum(['promotion', 'rollback']),
    environment: z.string().describe('the target'),
    status: z.enum(['pending', 'applied', 'rejected', 'stale']),
    source: z.object({ environment: z.string(), release: z.number(), name: z.string() }),
    targetRelease: z.number().describe("the target's release the plan was made against"),
    resources: z.union([z.string().describe('"all"'), z.array(z.string())]).describe('"all", or the resource ids asked for'),
    message: z.string().nullable(),
    planHash: z.string(),
    plan: storedJson(promotionPlan).describe('the plan approvers see, as it was when the request was opened'),
    approvalsRequired: z.number(),
    approvals: z.array(z.object({ actor: actorRef, comment: z.string().nullable(), at: z.string() })),
    rejectedBy: actorRef.nullable(),
    requestedBy: actorRef,
    createdAt: z.string(),
    decidedAt: z.string().nullable(),
    reason: z.string().nullable().describe('why it was rejected or went stale'),
    release: z.object({ number: z.number(), name: z.string() }).nullable().describe('the release it made, once applied'),
    gates: z.array(gate),
    gateState: z.enum(['pending', 'passed', 'failed']),
    blocked: z.boolean().describe('pending with a failed gate: it applies only once that gate passes again'),
    autoApply: z.boolean(),
    watch: watchInput.nullable(),
    hold: hold.nullable(),
  })
  .meta({ id: 'PromotionRequest' });

export const promotionRequestResult = z
  .object({ request: promotionRequest, release: release.optional().describe('present when this call applied the request') })
  .meta({ id: 'PromotionRequestResult' });
