// Request and response schemas of the management API. They validate requests, type handlers,
// and are the OpenAPI document's source.
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { ROLES } from '../domain/auth/permissions.js';
import { RESOURCE_KINDS } from '../domain/resources/kinds.js';
import { SLUG_PATTERN } from '../domain/environments/chain.js';

export const slug = z.string().regex(SLUG_PATTERN, 'must start with a lowercase letter and contain 2 to 41 lowercase letters, digits or hyphens');
const name = z.string().trim().min(1).max(200);
const message = z.string().trim().min(1, 'must not be empty').max(2000);
/** Release numbers and counters are 32-bit integers in both databases. */
export const MAX_INT = 2_147_483_647;
const releaseNumber = z.number().int().min(1).max(MAX_INT);
const resourceIdList = z.array(z.string().max(300)).min(1).max(10_000);

export const errorResponse = z
  .object({
    error: z.object({
      code: z.string().describe('machine-readable snake_case code'),
      message: z.string(),
      details: z.array(z.unknown()).describe('one entry per bad field ({field, message, in}) for invalid_request; what the code names otherwise'),
    }),
  })
  .meta({ id: 'Error', description: 'an error: `{"error": {code, message, details}}`' });

const ERROR_MEANINGS = {
  400: 'invalid_request (one detail per bad field) or invalid_json',
  401: 'unauthenticated: no valid credential',
  403: 'forbidden: the permission named in details is missing, or a rule refuses it',
  404: 'not_found',
  409: 'a state conflict; the code names it',
  413: 'payload_too_large',
  429: 'rate_limited; Retry-After says when to try again',
  502: 'the upstream could not be called',
  504: 'the upstream did not answer in time',
} as const;
type ErrorStatus = keyof typeof ERROR_MEANINGS;

/** The error answers of a route, each described by what its status means here. */
export function errors<S extends ErrorStatus>(...statuses: S[]): Record<S, typeof errorResponse> {
  return Object.fromEntries(statuses.map((status) => [status, errorResponse.describe(ERROR_MEANINGS[status])])) as Record<S, typeof errorResponse>;
}

/** A 204: no body. */
export const noContent = z.undefined().describe('no content');

/** A list answer: a page of items and the cursor of the next page. */
export function page<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), next: z.string().nullable().describe('pass as `cursor` to read the next page; null on the last page') });
}

/** A member or service token as other records name it. */
export const actorRef = z.object({ id: z.string(), name: z.string() }).meta({ id: 'ActorRef' });

export const resourceKind = z.enum(RESOURCE_KINDS);
export const roleName = z.enum(ROLES);
/** A JSON value of the caller's (content, values, overrides): any JSON. */
export const anyJson = (description: string) => z.unknown().describe(description);

/**
 * A value the store keeps as JSON (typed `unknown` there): the document describes it, and the
 * response check checks it, as `schema`; the handler's type is not asked to prove it.
 */
export function storedJson<T extends z.ZodType>(schema: T) {
  return z.unknown().pipe(schema);
}

/**
 * A response body in another media type than JSON (text, NDJSON, server-sent events). Answers
 * sent as strings or streams are not serialized, so these are described, never checked.
 */
export function mediaResponse(mediaType: string, description: string) {
  return z.custom<string | Buffer | Readable>().meta({ description, content: { [mediaType]: { schema: { type: 'string', description } } } });
}

export const wsParams = z.strictObject({ ws: z.string().min(1).max(100) });
export const envParams = wsParams.extend({ env: z.string().min(1).max(100) });
export const resourceParams = envParams.extend({ kind: z.string().max(40), key: z.string().max(200) });
export const releaseParams = envParams.extend({ number: z.coerce.number().int().min(1).max(1e9) });

export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(500).optional(),
});

export const workspaceCreate = z.strictObject({ slug, name: name.optional() });
export const workspace = z.object({ id: z.string(), slug: z.string(), name: z.string(), role: z.string().optional(), createdAt: z.string().optional() }).meta({ id: 'Workspace' });

const flags = {
  protected: z.boolean().optional(),
  approvalsRequired: z.number().int().min(0).max(20).optional(),
  approvalsForRollback: z.boolean().optional().describe('protected environments: a rollback waits for approvals like a promotion (default false)'),
  obfuscateData: z.boolean().optional(),
  region: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'must be a lowercase region label').nullable().optional(),
  color: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a #rrggbb color').nullable().optional(),
};
export const environmentCreate = z.strictObject({
  slug,
  name: name.optional(),
  kind: z.enum(['chain', 'branch']).optional(),
  from: slug.optional(),
  ttlHours: z.number().int().min(1).max(24 * 365).optional(),
  ...flags,
});
export const environmentPatch = z.strictObject({ name: name.optional(), ...flags });
export const environment = z
  .object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    kind: z.enum(['chain', 'branch']),
    position: z.number(),
    protected: z.boolean(),
    approvalsRequired: z.number(),
    approvalsForRollback: z.boolean(),
    obfuscateData: z.boolean(),
    region: z.string().nullable(),
    color: z.string().nullable(),
    release: z.number().describe('current release number, 0 before the first'),
    parent: z.string().nullable().describe('branches: the chain environment it forked from and merges into'),
    forkRelease: z.number().nullable().describe("branches: the parent's release it forked at"),
    expiresAt: z.string().nullable().describe('branches: when the TTL sweep deletes it'),
    editable: z.boolean(),
    default: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Environment' });

export const draftWrite = z.strictObject({
  content: z.unknown().refine((v) => v !== undefined, 'is required'),
  app: z.string().max(41).nullable().optional(),
});
export const activeWrite = z.strictObject({ active: z.boolean() });
export const overrideWrite = z.strictObject({ override: z.record(z.string(), z.unknown()) });

export const resourceListQuery = pageQuery.extend({ kind: z.string().max(40).optional(), app: z.string().max(41).optional() });

export const commitCreate = z.strictObject({ message, resources: resourceIdList.optional() });
/** A promotion's watch, or an environment's default one (src/services/watches.ts). */
export const watchInput = z
  .strictObject({
    minutes: z.number().int().min(1).max(24 * 60),
    maxErrorRate: z.number().min(0).max(1).optional().describe('absolute ceiling of the error rate, a fraction 0–1'),
    maxP95Ms: z.number().positive().max(3_600_000).optional(),
    maxRegression: z.number().min(1).max(1000).optional().describe("how many times the previous release's baseline counts as a breach"),
  });
export const promotionCreate = z.strictObject({
  from: slug.optional(),
  release: releaseNumber.optional(),
  resources: resourceIdList.optional(),
  message: message.optional(),
  expectedRelease: z.number().int().min(0).max(MAX_INT).optional(),
  dryRun: z.boolean().optional(),
  force: z.boolean().optional().describe('promote even when the target lacks variables or secrets the resources reference'),
  breakGlass: z.strictObject({ reason: z.string().trim().min(1).max(2000) }).optional().describe('promote into a frozen environment (owner or admin)'),
  resolutions: z
    .array(z.strictObject({ resource: z.string().max(300), take: z.enum(['branch', 'parent']) }))
    .max(10_000)
    .optional()
    .describe('merging a branch: the side to take for each resource changed on both sides since they last agreed'),
  watch: watchInput.nullable().optional().describe("after it applies, watch the target's figures and roll back on a breach; null: no watch, even the gates' default"),
});
export const promotionRequestParams = wsParams.extend({ id: z.string().min(1).max(100) });
export const promotionRequestQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
  status: z.enum(['pending', 'applied', 'rejected', 'stale']).optional(),
  environment: slug.optional(),
});
export const promotionApproval = z.strictObject({
  comment: z.string().trim().min(1).max(2000).optional(),
  planHash: z.string().regex(/^[0-9a-f]{64}$/, 'must be the 64-hex-digit plan hash').optional().describe('refuse to approve unless the request holds this plan'),
  breakGlass: z.strictObject({ reason: z.string().trim().min(1).max(2000) }).optional().describe('apply into a frozen environment (owner or admin)'),
});
export const promotionRejection = z.strictObject({ reason: z.string().trim().min(1, 'must give a reason').max(2000) });
export const rollbackCreate = z.strictObject({
  release: releaseNumber,
  dryRun: z.boolean().optional().describe('answer the per-resource diff the rollback would apply; write nothing'),
  message: message.optional(),
  expectedRelease: z.number().int().min(0).max(MAX_INT).optional(),
  breakGlass: z.strictObject({ reason: z.string().trim().min(1).max(2000) }).optional().describe('roll back a frozen environment (owner or admin)'),
});

export const release = z
  .object({
    environment: z.string(),
    number: z.number(),
    name: z.string().describe('env#N'),
    cause: z.enum(['commit', 'promotion', 'rollback', 'merge', 'fork']),
    source: z.string().nullable().describe('env#N a promotion came from'),
    rolledBackTo: z.number().nullable(),
    message: z.string(),
    author: actorRef,
    createdAt: z.string(),
    resourceCount: z.number(),
    snapshot: z.string(),
    current: z.boolean(),
    changes: z.object({ added: z.number(), changed: z.number(), removed: z.number() }).optional(),
  })
  .meta({ id: 'Release' });

export const diffQuery = z.strictObject({
  from: z.string().min(1).max(100).describe('env, env#N or env~draft'),
  to: z.string().min(1).max(100).describe('env, env#N or env~draft'),
});

export const auditQuery = pageQuery.extend({
  environment: z.string().max(100).optional(),
  actor: z.string().max(100).optional(),
  action: z.string().max(100).optional(),
  // Entries store UTC times; an offset given by the caller is converted before comparing.
  since: z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString()).optional(),
  until: z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString()).optional(),
});

export const auditEntry = z
  .object({
    seq: z.number().describe('position in the workspace chain, from 1'),
    id: z.string(),
    at: z.string(),
    actorId: z.string(),
    actorKind: z.string().describe('user, service, apikey or system'),
    actorName: z.string(),
    action: z.string().describe('what changed, e.g. `release.promote`, `secret.write`'),
    environment: z.string().nullable(),
    target: z.string().nullable(),
    beforeDigest: z.string().nullable(),
    afterDigest: z.string().nullable(),
    requestId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    keyId: z.string().nullable().describe('the chain key that sealed it; null before the chain was keyed'),
    prevHash: z.string(),
    hash: z.string(),
  })
  .meta({ id: 'AuditEntry' });

export const auditCheckpoint = z
  .strictObject({
    seq: z.number().int().min(0).max(MAX_INT),
    hash: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters'),
    at: z.string().min(1).max(40),
    keyId: z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 lowercase hex characters'),
    signature: z.string().min(1).max(200).describe('base64 Ed25519 signature'),
  })
  .meta({ id: 'AuditCheckpoint' });

/** A checkpoint in a query string: its JSON as returned, or base64 / base64url of that JSON. */
const checkpointParam = z
  .string()
  .max(4000)
  .transform((text, ctx) => {
    const decoded = text.trimStart().startsWith('{') ? text : Buffer.from(text, 'base64url').toString('utf8');
    try {
      return JSON.parse(decoded) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be the checkpoint JSON, or base64 of it' });
      return z.NEVER;
    }
  })
  .pipe(auditCheckpoint)
  .describe('a checkpoint from GET …/audit-log/checkpoint: its JSON, or base64 / base64url of it');

export const auditVerifyQuery = z.strictObject({ checkpoint: checkpointParam.optional() });

const chainBreak = z.object({ seq: z.number(), reason: z.enum(['hash_mismatch', 'broken_link', 'missing_entry', 'unknown_key', 'unkeyed_entry', 'unmarked_key_change', 'not_keyed']) });
export const auditVerifyResult = z
  .object({
    valid: z.boolean(),
    entries: z.number(),
    head: z.string().nullable(),
    firstBroken: chainBreak.nullable(),
    unkeyed: z.object({ from: z.number(), to: z.number() }).nullable().describe('entries written before the chain was keyed (plain SHA-256)'),
    keyedFrom: z.number().nullable().describe('the first entry sealed with HMAC-SHA256 under the chain key'),
    keyId: z.string().nullable(),
    checkpoint: z
      .object({ seq: z.number(), valid: z.boolean(), reason: z.enum(['signature_invalid', 'unknown_key', 'missing_entry', 'hash_mismatch']).nullable() })
      .optional()
      .describe('present when a checkpoint was given: whether the log still extends it'),
  })
  .meta({ id: 'AuditVerifyResult' });

export const auditPublicKey = z
  .object({ algorithm: z.literal('Ed25519'), publicKey: z.string().describe('SPKI PEM'), keyId: z.string() })
  .meta({ id: 'AuditPublicKey' });

export const activityQuery = pageQuery.extend({
  environment: z.string().max(100).optional().describe('environment slug'),
  actor: z.string().max(100).optional().describe('API key id'),
  action: z.string().max(100).optional().describe('`data.put`, `data.delete`, `feed.read`, `feed.read_all`, `workflow.trigger`, `preferences.put`, `preferences.unsubscribe`, or a prefix such as `data.*`'),
  since: z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString()).optional(),
  until: z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString()).optional(),
});
export const activityEntry = z
  .object({
    id: z.string(),
    at: z.string(),
    environment: z.string().describe('slug of the environment written to'),
    actor: z.object({ kind: z.enum(['api_key', 'recipient']).describe('recipient: their own one-click unsubscribe'), id: z.string(), name: z.string().optional() }),
    action: z.string().describe('data.put | data.delete | feed.read | feed.read_all | workflow.trigger | preferences.put | preferences.unsubscribe'),
    target: z.string().describe('what was written: data/<collection>/<id>, feed/<recipient>, workflow/<key>'),
    requestId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).describe('ids, counts and digests; never record values or secrets'),
  })
  .meta({ id: 'ActivityEntry' });
export const activityPage = page(activityEntry);

export const variableParams = wsParams.extend({ name: z.string().max(100) });
export const variableWrite = z.strictObject({
  value: z.unknown().optional().describe('default value (any JSON); absent = no default'),
  description: z.string().max(2000).nullable().optional(),
  overrides: z.record(z.string().max(100), z.unknown()).optional().describe('value per environment slug'),
});

export const secretParams = envParams.extend({ name: z.string().max(100) });
export const secretWrite = z.strictObject({ value: z.string() });
export const secretMetadata = z
  .object({ name: z.string(), environment: z.string(), version: z.number(), hint: z.string(), updatedBy: z.string(), updatedAt: z.string() })
  .meta({ id: 'SecretMetadata' });

export const settingParams = envParams.extend({ name: z.string().max(100) });
export const settingWrite = z.strictObject({ value: z.unknown().refine((v) => v !== undefined, 'is required') });

export const apiKeyParams = envParams.extend({ id: z.string().max(100) });
export const apiKeyCreate = z.strictObject({
  name: z.string().trim().min(1).max(200),
  kind: z.enum(['secret', 'publishable']),
  expiresAt: z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString()).optional(),
});
export const apiKeyRotate = z.strictObject({
  graceSeconds: z.number().int().min(0).max(90 * 86_400).optional().describe('how long the old key keeps working (default 86400)'),
});
export const apiKey = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(['secret', 'publishable']),
    prefix: z.string(),
    environment: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    expiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    status: z.enum(['active', 'expired', 'revoked']),
    key: z.string().optional().describe('the key itself: returned once, at creation or rotation'),
  })
  .meta({ id: 'ApiKey' });

const role = z.enum(ROLES);
const environmentRoles = z.record(z.string().max(100), role).describe('role per environment slug, replacing `role` there');
export const loginBody = z.strictObject({ email: z.string().trim().min(1).max(320), password: z.string().min(1).max(1024) });
export const memberParams = wsParams.extend({ id: z.string().max(100) });
export const memberCreate = z.strictObject({
  email: z.string().trim().min(3).max(320).regex(/^[^\s@]+@[^\s@]+$|^admin$/, 'must be an email address'),
  password: z.string().max(1024).optional(),
  role,
  environmentRoles: environmentRoles.optional(),
});
export const memberPatch = z.strictObject({ role: role.optional(), environmentRoles: environmentRoles.optional(), password: z.string().max(1024).optional() });
export const tokenParams = wsParams.extend({ id: z.string().max(100) });
export const tokenCreate = z.strictObject({
  name: z.string().trim().min(1).max(200),
  role,
  environmentRoles: environmentRoles.optional(),
  expiresAt: z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString()).optional(),
});

export const freezeParams = envParams.extend({ id: z.string().max(100) });
export const freezeCreate = z.strictObject({
  startsAt: z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString()),
  endsAt: z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString()),
  reason: z.string().trim().min(1).max(2000),
});
export const reviewQuery = z.strictObject({ open: z.enum(['true', 'false']).optional() });
export const reviewParams = wsParams.extend({ id: z.string().max(100) });

const health = z.object({ status: z.enum(['ok', 'unavailable']) }).meta({ id: 'Health' });
/** GET /healthz: its schema is here so that app.ts only names it. */
export const healthzSchema = {
  tags: ['health'],
  operationId: 'getHealth',
  summary: 'Whether this node serves: {"status":"ok"}, or 503 {"status":"unavailable"} while its database is unreachable',
  security: [],
  response: { 200: health, 503: health.describe('a dependency is unavailable') },
};
