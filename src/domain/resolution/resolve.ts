// The one rule for "what does an environment run for kind/key": a version's content with the
// environment's override merged, its kill switch honoured, the merge checked against the kind's
// schema again, and the template scope (vars, secrets for secret keys only, env) it renders with.
import { contentHash } from '../canonical.js';
import { conflict, notFound, StagelineError } from '../errors.js';
import { mergeOverride } from '../overrides/merge.js';
import { resourceId } from '../releases/snapshot.js';
import { contentIssues, type ConfigContent, type LayoutContent, type ResourceKind, type RouteContent, type ToolContent, type WorkflowContent } from '../resources/kinds.js';
import { visibleTo, type CredentialKind } from '../resources/visibility.js';
import type { RenderScope } from '../templates/render.js';
import { resolveContent, UnresolvedReferenceError } from '../templates/template.js';

export interface KindContents {
  workflow: WorkflowContent;
  layout: LayoutContent;
  route: RouteContent;
  tool: ToolContent;
  config: ConfigContent;
}

/** What an environment holds for one resource in one version (a release, or the draft state). */
export interface ResourceState {
  /** Content hash of the version's content (before the override); undefined when it has none. */
  hash: string | undefined;
  content: unknown;
  /** The environment's override; null or undefined inherits the base. */
  override: unknown;
  /** The kill switch. */
  active: boolean;
}

/** A resource as an environment runs it: not yet rendered, since some strings need run-time data. */
export interface ResolvedResource<K extends ResourceKind = ResourceKind> {
  kind: K;
  key: string;
  /** Hash of the version's content, before the override. */
  hash: string;
  /** The content with the override merged and checked against the kind's schema. */
  content: KindContents[K];
}

/** Why a resource does not run: the version lacks it, it is switched off, or its merge is not valid. */
export type ResolutionFailure =
  | { reason: 'missing'; id: string; version: string }
  | { reason: 'inactive'; id: string; kind: ResourceKind; environment: string }
  | { reason: 'invalid'; id: string; kind: ResourceKind; environment: string; issues: { field: string; message: string }[] };

export type Resolution<K extends ResourceKind = ResourceKind> = { ok: true; resource: ResolvedResource<K> } | { ok: false; failure: ResolutionFailure };

export interface ResolutionPlace {
  /** The environment's slug, named in failures. */
  environment: string;
  /** The version resolved, named when it lacks the resource: `staging#4`, `the draft state of dev`. */
  version: string;
}

/**
 * Resolves one resource. Overrides are checked against the content of their time; a later
 * promotion may change the base under them, so a merge is checked again (content without an
 * override was checked when it was written).
 */
export function resolveResource<K extends ResourceKind>(kind: K, key: string, state: ResourceState, place: ResolutionPlace): Resolution<K> {
  const id = resourceId(kind, key);
  if (state.hash === undefined) return { ok: false, failure: { reason: 'missing', id, version: place.version } };
  if (!state.active) return { ok: false, failure: { reason: 'inactive', id, kind, environment: place.environment } };
  const hasOverride = state.override !== null && state.override !== undefined;
  const content = hasOverride ? mergeOverride(state.content, state.override) : state.content;
  if (hasOverride) {
    const issues = contentIssues(kind, content);
    if (issues.length > 0) {
      return { ok: false, failure: { reason: 'invalid', id, kind, environment: place.environment, issues: issues.map(({ field, message }) => ({ field, message })) } };
    }
  }
  return { ok: true, resource: { kind, key, hash: state.hash, content: content as KindContents[K] } };
}

/**
 * The error a failure answers: 404 for a resource the version lacks, 409 `KIND_inactive` when
 * switched off, 409 `KIND_invalid` when the merge with the override is not a valid resource.
 */
export function failureError(failure: ResolutionFailure): StagelineError {
  switch (failure.reason) {
    case 'missing':
      return notFound(`${failure.id} in ${failure.version}`);
    case 'inactive':
      return conflict(`${failure.kind}_inactive`, `${failure.id} is switched off in ${failure.environment}`, [{ resource: failure.id, environment: failure.environment }]);
    case 'invalid':
      return conflict(
        `${failure.kind}_invalid`,
        `${failure.id} with its override in ${failure.environment} is not a valid ${failure.kind}`,
        failure.issues.map((issue) => ({ resource: failure.id, ...issue })),
      );
  }
}

/** The resolved resource, or its failure thrown as the error it answers. */
export function resolvedOrThrow<K extends ResourceKind>(resolution: Resolution<K>): ResolvedResource<K> {
  if (!resolution.ok) throw failureError(resolution.failure);
  return resolution.resource;
}

// ---------------------------------------------------------------------------------------------
// Template scope

/** A record without a prototype: a name such as `constructor` or `__proto__` is only ever a name. */
export function nameRecord<T>(entries: Iterable<[string, T]>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [name, value] of entries) Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

export interface ScopeValues {
  vars: Record<string, unknown>;
  /** Absent where secrets must never be rendered (publishable keys, in-app content). */
  secrets?: Record<string, string> | undefined;
  env: { slug: string; name: string };
}

/** The template scope of one environment, every record without a prototype. */
export function templateScope(values: ScopeValues): RenderScope {
  const scope: RenderScope = {
    vars: nameRecord(Object.entries(values.vars)),
    env: nameRecord([
      ['slug', values.env.slug],
      ['name', values.env.name],
    ]) as { slug: string; name: string },
  };
  if (values.secrets) scope.secrets = nameRecord(Object.entries(values.secrets));
  return scope;
}

// ---------------------------------------------------------------------------------------------
// Delivery

/** What the delivery API answers for one resource: `{kind, key, content, hash}`. */
export interface DeliveredResource {
  kind: string;
  key: string;
  content: unknown;
  /** Hash of the delivered content: changes with overrides, variables and secrets too. */
  hash: string;
}

export type DeliveredEntry = { ok: true; resource: DeliveredResource } | { ok: false; error: StagelineError };

/**
 * A resolution as a key of `keyKind` receives it, or null when it receives nothing (switched
 * off, absent, or not visible to the key): every template that the environment's values can
 * resolve is rendered with `scope`, which holds secrets only for secret keys.
 */
export function deliveredEntry(resolution: Resolution, keyKind: CredentialKind, scope: RenderScope): DeliveredEntry | null {
  if (!resolution.ok) {
    // A publishable key sees public configs only, and an invalid merge cannot be trusted to be one.
    if (resolution.failure.reason !== 'invalid' || keyKind !== 'secret') return null;
    return { ok: false, error: failureError(resolution.failure) };
  }
  const { kind, key, content: merged } = resolution.resource;
  if (!visibleTo(keyKind, { kind, content: merged })) return null;
  try {
    const content = resolveContent(merged, scope);
    return { ok: true, resource: { kind, key, content, hash: contentHash(content) } };
  } catch (error) {
    if (!(error instanceof UnresolvedReferenceError)) throw error;
    const id = resourceId(kind, key);
    return { ok: false, error: new StagelineError(409, error.code, `${id}: ${error.message}`, error.details) };
  }
}
