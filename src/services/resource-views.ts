// Read-only views of resources for the dashboard: what an environment runs for one resource (the
// committed content with its override merged and every delivery-time template rendered, secrets
// named but never shown), and the overrides an environment holds.
import { authorize } from '../domain/auth/permissions.js';
import { contentHash } from '../domain/canonical.js';
import { notFound } from '../domain/errors.js';
import { resourceId } from '../domain/releases/snapshot.js';
import type { ResourceRef } from '../domain/resources/kinds.js';
import { resolveContent, UnresolvedReferenceError } from '../domain/templates/template.js';
import { scopeRecord } from '../domain/templates/scope.js';
import type { Resolver } from '../runtime/resolver.js';
import { listOverrides } from '../store/resources.js';
import { secretsForEnvironment } from '../store/secrets.js';
import type { CallContext, Deps } from './context.js';
import { environmentOf } from './scope.js';

export type ResolvedStatus = 'resolved' | 'missing' | 'inactive' | 'invalid' | 'unresolved';

export interface ResolvedView {
  kind: string;
  key: string;
  environment: string;
  release: number;
  status: ResolvedStatus;
  /** The content as a secret key would receive it, secrets shown as `[secret NAME]`; null unless resolved. */
  content: unknown;
  /** Hash of `content` (masked secrets included): equal hashes mean the same delivered content. */
  hash: string | null;
  /** Why it does not resolve, in words; null when it does. */
  message: string | null;
  issues: { field: string; message: string }[];
}

export async function resolvedView(deps: Deps, resolver: Resolver, ctx: CallContext, slug: string, ref: ResourceRef): Promise<ResolvedView> {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const state = await resolver.environment(env.workspaceId, env.id);
  if (!state) throw notFound(`environment ${slug}`);
  const base = { kind: ref.kind, key: ref.key, environment: slug, release: state.environment.headRelease };
  const failed = (status: ResolvedStatus, message: string, issues: ResolvedView['issues'] = []): ResolvedView => ({ ...base, status, content: null, hash: null, message, issues });
  const resolution = await state.committed.resolve(ref.kind, ref.key);
  if (!resolution.ok) {
    const { failure } = resolution;
    if (failure.reason === 'missing') return failed('missing', `${failure.id} is not in ${failure.version}`);
    if (failure.reason === 'inactive') return failed('inactive', `${failure.id} is switched off in ${slug}`);
    return failed('invalid', `${failure.id} with its override in ${slug} is not a valid ${ref.kind}`, failure.issues);
  }
  // Secret names resolve to a placeholder, so a missing secret still fails as delivery would.
  const names = [...(await secretsForEnvironment(deps.store.db, env)).keys()];
  const scope = { ...(await state.scope(false)), secrets: scopeRecord(names.map((name) => [name, `[secret ${name}]`] as const)) };
  try {
    const content = resolveContent(resolution.resource.content, scope);
    return { ...base, status: 'resolved', content, hash: contentHash(content), message: null, issues: [] };
  } catch (error) {
    if (!(error instanceof UnresolvedReferenceError)) throw error;
    return failed('unresolved', `${resourceId(ref.kind, ref.key)}: ${error.message}`);
  }
}

/** Every override of an environment, sorted by resource id. */
export async function overridesOf(deps: Deps, ctx: CallContext, slug: string) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const overrides = await listOverrides(deps.store.db, { workspaceId: env.workspaceId, environmentId: env.id });
  const data = [...overrides].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, override]) => {
    const slash = id.indexOf('/');
    return { kind: id.slice(0, slash), key: id.slice(slash + 1), override };
  });
  return { environment: slug, data };
}
