// Per-environment settings: the known names have a schema (channel configurations, branding);
// any other name holds a free JSON object. Credentials are named secrets, never inline values.
import { z } from 'zod';
import type { FieldIssue } from '../errors.js';
import { zodIssues } from '../resources/kinds.js';
import { egressEntryIssue } from '../egress/policy.js';
import { preferenceSetSchema } from '../preferences/preferences.js';

export const SETTING_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;
const secretName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be the name of a secret');
const hostname = z.string().min(1).max(253).regex(/^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:]+\]$/, 'must be a host name or address');
const emailAddress = z
  .string()
  .max(320)
  .regex(/^(?:[^<>]*<)?[^\s@<>]+@[^\s@<>]+(?:>)?$/, 'must be an email address, optionally as "Name <address>"');

const egressEntry = z.string().max(260).superRefine((entry, ctx) => {
  const issue = egressEntryIssue(entry);
  if (issue !== null) ctx.addIssue({ code: 'custom', message: issue });
});

/** `*`, or scheme://host[:port] without a path: what a browser sends as Origin. */
const CORS_ORIGIN = /^\*$|^https?:\/\/(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/;

export const KNOWN_SETTINGS = {
  'channel.email': z.strictObject({
    host: hostname,
    port: z.number().int().min(1).max(65_535),
    secure: z.boolean().optional(),
    from: emailAddress,
    replyTo: emailAddress.optional(),
    auth: z.strictObject({ user: z.string().min(1).max(320), passwordSecret: secretName }).optional(),
    timeoutMs: z.number().int().min(100).max(120_000).optional(),
  }),
  'channel.webhook': z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    signingSecret: secretName,
    timeoutMs: z.number().int().min(100).max(120_000).optional(),
    headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/), z.string().max(8192)).optional(),
  }),
  'channel.in_app': z.strictObject({
    enabled: z.boolean().optional(),
    retentionDays: z.number().int().min(1).max(3650).optional(),
  }),
  branding: z.strictObject({
    name: z.string().max(200).optional(),
    logoUrl: z.url({ protocol: /^https?$/ }).optional(),
    primaryColor: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a #rrggbb color').optional(),
  }),
  // Which addresses outbound calls of the environment may reach beyond the defaults (docs/egress.md).
  egress: z.strictObject({
    allow: z.array(egressEntry).max(256).optional(),
    deny: z.array(egressEntry).max(256).optional(),
  }),
  // Browser origins allowed to read runtime answers of this environment's keys (see runtime-policies.ts).
  cors: z.strictObject({
    origins: z.array(z.string().regex(CORS_ORIGIN, 'must be "*" or an origin such as "https://app.example" or "http://localhost:5173"')).max(100),
  }),
  feeds: z.strictObject({
    requireRecipientToken: z.boolean().optional(),
    // Bumping it rotates the environment's recipient-token signing secret (src/domain/feeds/recipient-token.ts).
    signingKeyVersion: z.number().int().min(1).max(1_000_000).optional(),
  }),
  // Recipient preferences (docs/preferences.md): the defaults beneath every recipient's own set,
  // what a one-click unsubscribe turns off, and the version of the unsubscribe signing secret.
  preferences: z.strictObject({
    defaults: preferenceSetSchema.optional(),
    unsubscribe: z.enum(['workflow', 'email']).optional().describe("workflow (the default): that workflow's email; email: every email"),
    signingKeyVersion: z.number().int().min(1).max(1_000_000).optional(),
  }),
} as const;

export function settingNameIssue(name: string): FieldIssue | null {
  return SETTING_NAME.test(name) ? null : { field: 'name', message: 'must be 1-64 lowercase letters, digits, dots, underscores or hyphens', in: 'path' };
}

/** The schema of a known setting; undefined for any other name (own keys only: `constructor` is no known setting). */
export function knownSettingSchema(name: string): z.ZodType | undefined {
  return Object.hasOwn(KNOWN_SETTINGS, name) ? (KNOWN_SETTINGS as Record<string, z.ZodType>)[name] : undefined;
}

/** One issue per bad field of a setting's value (paths under `value`). */
export function settingIssues(name: string, value: unknown): FieldIssue[] {
  const nameIssue = settingNameIssue(name);
  if (nameIssue) return [nameIssue];
  const schema = knownSettingSchema(name);
  if (schema) {
    const parsed = schema.safeParse(value);
    return parsed.success ? [] : zodIssues(parsed.error, 'value');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [{ field: 'value', message: 'must be a JSON object', in: 'body' }];
  }
  return [];
}
