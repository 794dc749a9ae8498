// The built-in resource kinds and their schemas. A draft is checked here at write time so that
// every later reader (promotion, delivery, gateway, workflows) can trust the shape it gets.
// Every string may be a Liquid template; fields that must be URLs accept a template too.
import { isIP } from 'node:net';
import { flagIssues } from '@stageline/client';
import { z } from 'zod';
import { invalid, type FieldIssue } from '../errors.js';
import type { Json } from '../canonical.js';
import { mergeOverride } from '../overrides/merge.js';
import { validateAgainstJsonSchema } from './json-schema.js';
import { contentReferences, templateIssues } from '../templates/template.js';

export const RESOURCE_KINDS = ['workflow', 'layout', 'route', 'tool', 'config'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export const RESOURCE_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const APP_PATTERN = /^[a-z][a-z0-9-]{0,40}$/;

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;

function isTemplate(value: string): boolean {
  return value.includes('{{') || value.includes('{%');
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

export function isCidr(value: string): boolean {
  const [address, prefix, ...rest] = value.split('/');
  if (rest.length > 0 || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^(0|[1-9]\d{0,2})$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

const jsonValue: z.ZodType<Json> = z.lazy(() =>
  z.union([z.null(), z.boolean(), z.number(), z.string(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);

const template = z.string().max(100_000);
const url = z
  .string()
  .max(2048)
  .refine((value) => isTemplate(value) || isHttpUrl(value), 'must be an http(s) URL or a template');
/**
 * A gateway upstream: an http(s) origin and base path that the request path is appended to, so
 * no query or fragment; credentials go in `injectHeaders`, not in the URL.
 */
const upstreamUrl = z
  .string()
  .max(2048)
  .refine((value) => isTemplate(value) || isHttpUrl(value), 'must be an http(s) URL or a template')
  .refine((value) => isTemplate(value) || !isHttpUrl(value) || upstreamUrlIssue(new URL(value)) === null, {
    error: (issue) => upstreamUrlIssue(new URL(issue.input as string)) ?? 'is not a valid upstream URL',
  });

/** Why a parsed URL cannot be a gateway upstream (the path is appended to it); null when it can. */
export function upstreamUrlIssue(url: URL): string | null {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http(s) URL';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials: send them with injectHeaders';
  if (url.search !== '' || url.href.includes('?')) return 'must not have a query: the request path and query are appended to it';
  if (url.hash !== '' || url.href.includes('#')) return 'must not have a fragment';
  return null;
}

/**
 * A route's path prefix: a path that requests can have, so no query, fragment, backslash,
 * whitespace, or escaped `/`, `\` or NUL (the gateway refuses requests whose path holds those).
 */
export function pathPrefixIssue(prefix: string): string | null {
  if (!prefix.startsWith('/')) return 'must start with /';
  if (/[?#\\\s]/.test(prefix) || /[\u0000-\u001f\u007f]/.test(prefix)) return 'must be a path: no query, fragment, backslash, whitespace or control character';
  if (/%(?![0-9A-Fa-f]{2})|%2[Ff]|%5[Cc]|%00/.test(prefix)) return 'must not escape /, \\ or NUL, nor hold a % that is not an escape';
  return null;
}

/** Headers that frame or route the connection: the gateway sets them, a route cannot inject them. */
export const CONNECTION_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
]);

const timeoutMs = z.number().int().min(1).max(300_000);
const headers = z
  .record(z.string().regex(HEADER_NAME, 'must be a valid HTTP header name'), template)
  .refine((value) => Object.keys(value).length <= 100, 'at most 100 headers');
const resourceKey = z.string().regex(RESOURCE_KEY_PATTERN, 'must be a resource key');

const injectedHeaders = headers.refine(
  (value) => Object.keys(value).every((name) => !CONNECTION_HEADERS.has(name.toLowerCase())),
  { error: (issue) => `cannot set ${Object.keys(issue.input as object).find((name) => CONNECTION_HEADERS.has(name.toLowerCase()))}: the gateway frames the connection itself` },
);

const routeSchema = z.strictObject({
  match: z.strictObject({
    pathPrefix: z
      .string()
      .max(1024)
      .refine((prefix) => pathPrefixIssue(prefix) === null, { error: (issue) => pathPrefixIssue(issue.input as string) ?? 'is not a valid path prefix' }),
    methods: z.array(z.enum(HTTP_METHODS)).min(1).optional(),
    headers: z.record(z.string().regex(HEADER_NAME), z.string()).optional(),
  }),
  upstream: z.strictObject({ url: upstreamUrl, timeoutMs: timeoutMs.optional() }),
  stripPrefix: z.boolean().optional(),
  injectHeaders: injectedHeaders.optional(),
  injectBody: z.record(z.string(), jsonValue).optional(),
  rateLimit: z
    .strictObject({
      requests: z.number().int().min(1),
      windowSec: z.number().int().min(1).max(86_400),
      burst: z.number().int().min(1).optional(),
      dailyQuota: z.number().int().min(1).optional(),
      per: z.enum(['client', 'key', 'ip', 'route']).optional(),
      onStoreDown: z.enum(['open', 'closed', 'local']).optional(),
    })
    .refine((limit) => limit.burst === undefined || limit.burst >= limit.requests, {
      message: 'must be at least requests',
      path: ['burst'],
    })
    .optional(),
  clients: z.array(z.string().refine(isCidr, 'must be an IPv4 or IPv6 address or CIDR block')).max(1000).optional(),
  split: z
    .union([
      z.strictObject({ canary: z.strictObject({ url: upstreamUrl, weight: z.number().min(0).max(100) }) }),
      z.strictObject({
        blueGreen: z.strictObject({ blue: upstreamUrl, green: upstreamUrl, active: z.enum(['blue', 'green']) }),
      }),
    ])
    .optional(),
  retries: z.number().int().min(0).max(5).optional(),
});

const inAppTemplate = z.strictObject({
  title: template.optional(),
  body: template,
  actionUrl: template.optional(),
  data: z.record(z.string(), jsonValue).optional(),
});
const emailTemplate = z
  .strictObject({ subject: template, html: template.optional(), text: template.optional() })
  .refine((t) => t.html !== undefined || t.text !== undefined, 'needs html or text');
const webhookTemplate = z.strictObject({ body: jsonValue, headers: headers.optional() });

const stepBase = { name: z.string().max(200).optional() };
// `required`: sent whatever the recipient's preferences say (a password reset); the run log says so.
const channelBase = { ...stepBase, type: z.literal('channel'), required: z.boolean().optional() };
const channelStep = z.discriminatedUnion('channel', [
  z.strictObject({ ...channelBase, channel: z.literal('in_app'), layout: resourceKey.optional(), template: inAppTemplate }),
  z.strictObject({ ...channelBase, channel: z.literal('email'), layout: resourceKey.optional(), template: emailTemplate }),
  z.strictObject({ ...channelBase, channel: z.literal('webhook'), template: webhookTemplate }),
]);
const workflowSchema = z.strictObject({
  name: z.string().min(1).max(200),
  description: z.string().max(2000).optional(),
  steps: z
    .array(
      z.discriminatedUnion('type', [
        channelStep,
        z.strictObject({ ...stepBase, type: z.literal('delay'), seconds: z.number().int().min(1).max(30 * 86_400) }),
        z.strictObject({
          ...stepBase,
          type: z.literal('tool'),
          tool: resourceKey,
          input: z.record(z.string(), jsonValue).optional(),
        }),
      ]),
    )
    .min(1)
    .max(50),
});

const layoutSchema = z
  .strictObject({ name: z.string().max(200).optional(), html: template.optional(), text: template.optional() })
  .refine((l) => l.html !== undefined || l.text !== undefined, 'needs html or text');

const toolSchema = z.strictObject({
  method: z.enum(HTTP_METHODS),
  url,
  headers: headers.optional(),
  query: z.record(z.string(), template).optional(),
  body: jsonValue.optional(),
  timeoutMs: timeoutMs.optional(),
  maxResponseBytes: z.number().int().min(1).max(10 * 1024 * 1024).optional(),
});

/** A config's optional feature-flag fields; the flag model (and its checks) is the SDK's, shared with the providers. */
const flagField = jsonValue.superRefine((flag, ctx) => {
  for (const issue of flagIssues(flag)) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
});

const configSchema = z.strictObject({
  value: jsonValue,
  schema: z.record(z.string(), jsonValue).optional(),
  public: z.boolean().optional(),
  description: z.string().max(2000).optional(),
  flag: flagField.optional(),
});

export const KIND_SCHEMAS = {
  workflow: workflowSchema,
  layout: layoutSchema,
  route: routeSchema,
  tool: toolSchema,
  config: configSchema,
} satisfies Record<ResourceKind, z.ZodType>;

export type RouteContent = z.infer<typeof routeSchema>;
export type WorkflowContent = z.infer<typeof workflowSchema>;
export type LayoutContent = z.infer<typeof layoutSchema>;
export type ToolContent = z.infer<typeof toolSchema>;
export type ConfigContent = z.infer<typeof configSchema>;

export function isResourceKind(kind: string): kind is ResourceKind {
  return (RESOURCE_KINDS as readonly string[]).includes(kind);
}

/** Turns zod issues into one field issue per bad path, `unknown field` issues split per key. */
export function zodIssues(error: z.ZodError, prefix: string, where: FieldIssue['in'] = 'body'): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of error.issues) {
    const base = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ field: base ? `${base}.${key}` : key, message: 'unknown field', in: where });
    } else if (issue.code === 'invalid_union' && issue.errors.length === 0) {
      // A discriminated union whose discriminator (the last path part) matched no branch.
      out.push({ field: base, message: 'is not one of the accepted values', in: where });
    } else if (issue.code === 'invalid_union') {
      // A union (e.g. a split) failed every branch: report the branch that came closest, the
      // one whose problems lie deepest (a branch whose own keys are missing or unknown is the
      // wrong branch, not a nearly-right one).
      const branches = issue.errors as z.core.$ZodIssue[][];
      const shallow = (issues: z.core.$ZodIssue[]) => issues.filter((i) => i.path.length <= 1).length;
      const closest = [...branches].sort((a, b) => shallow(a) - shallow(b) || a.length - b.length)[0] ?? [];
      const nested = new z.ZodError(closest.map((i) => ({ ...i, path: [...issue.path, ...i.path] })));
      out.push(...zodIssues(nested, prefix, where));
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      out.push({ field: base, message: 'is required', in: where });
    } else {
      out.push({ field: base, message: issue.message, in: where });
    }
  }
  return out;
}

/** Checks one resource's content; returns one issue per bad field path (empty when valid). */
export function contentIssues(kind: ResourceKind, content: unknown): FieldIssue[] {
  const parsed = KIND_SCHEMAS[kind].safeParse(content);
  if (!parsed.success) return zodIssues(parsed.error, 'content');
  const issues = templateIssues(content, 'content');
  if (kind === 'config') {
    const config = parsed.data as ConfigContent;
    if (config.schema) {
      issues.push(...validateAgainstJsonSchema(config.schema, config.value, 'content'));
      // A variant is a value the application receives instead of `value`: the same schema holds for it.
      const variants = (config.flag as { variants?: Record<string, Json> } | undefined)?.variants ?? {};
      for (const [name, variant] of Object.entries(variants)) {
        for (const issue of validateAgainstJsonSchema(config.schema, variant, 'content')) {
          if (issue.field.endsWith('.schema')) continue; // reported once, for value
          issues.push({ ...issue, field: issue.field.replace(/^content\.value/, `content.flag.variants.${name}`) });
        }
      }
    }
    if (config.public) {
      // A public config is served to publishable (client-side) keys, which never see secrets.
      for (const ref of contentReferences(content).filter((r) => r.startsWith('secrets.'))) {
        issues.push({ field: 'content.public', message: `a public config cannot reference ${ref}`, in: 'body' });
      }
    }
  }
  return issues;
}

/** A resource's `app` label, when one is given. */
export function appLabelIssue(app: string | null | undefined): FieldIssue | null {
  if (app === undefined || app === null || APP_PATTERN.test(app)) return null;
  return { field: 'app', message: 'must be a lowercase label of letters, digits and hyphens', in: 'body' };
}

/** The content runtimes will read with an override merged over it must still be valid; issues named under `override`. */
export function overriddenContentIssues(kind: ResourceKind, base: unknown, override: unknown): FieldIssue[] {
  return contentIssues(kind, mergeOverride(base, override)).map((i) => ({ ...i, field: i.field.replace(/^content/, 'override') }));
}

export interface ResourceRef {
  kind: ResourceKind;
  key: string;
}

/** Checks the `:kind/:key` of a path. */
export function resourceRef(kind: string, key: string): ResourceRef {
  const issues = [];
  if (!isResourceKind(kind)) issues.push({ field: 'kind', message: 'must be one of workflow, layout, route, tool, config', in: 'path' as const });
  if (!RESOURCE_KEY_PATTERN.test(key)) {
    issues.push({ field: 'key', message: 'must be 1-128 letters, digits, dots, underscores or hyphens, starting with a letter or digit', in: 'path' as const });
  }
  if (issues.length > 0) throw invalid(issues);
  return { kind: kind as ResourceKind, key };
}
