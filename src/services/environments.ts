// Environment use cases: list the chain, add an environment before production, change flags,
// delete an empty middle environment.
import {
  assertSlug,
  compactPositions,
  deletionBlocker,
  insertionBeforeLast,
  orderEnvironments,
  type Environment,
} from '../domain/environments/chain.js';
import { conflict, invalid, notFound } from '../domain/errors.js';
import { authorize } from '../domain/auth/permissions.js';
import {
  countEnvironmentContents,
  deleteEnvironment as deleteEnvironmentRows,
  insertEnvironment,
  lockEnvironments,
  listEnvironments as listEnvironmentRows,
  setPositions,
  updateEnvironmentFlags,
} from '../store/environments.js';
import { record } from './audit.js';
import type { CallContext, Deps } from './context.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';
import { chainEnvironment } from './workspaces.js';

export async function listEnvironments(deps: Deps, ctx: CallContext): Promise<Environment[]> {
  authorize(ctx.actor, 'workspace.read');
  return orderEnvironments(await listEnvironmentRows(deps.store.db, ctx.workspace.id));
}

export async function getEnvironment(deps: Deps, ctx: CallContext, slug: string) {
  const env = await environmentOf(deps.store.db, ctx, slug);
  authorize(ctx.actor, 'resource.read', env.slug);
  return env;
}

export interface EnvironmentFlags {
  name?: string;
  protected?: boolean;
  approvalsRequired?: number;
  obfuscateData?: boolean;
  region?: string | null;
  color?: string | null;
}

export async function createEnvironment(
  deps: Deps,
  ctx: CallContext,
  input: { slug: string; name?: string; kind?: 'chain' | 'branch'; from?: string; ttlHours?: number } & EnvironmentFlags,
): Promise<Environment> {
  authorize(ctx.actor, 'environment.manage');
  assertSlug(input.slug);
  if ((input.kind ?? 'chain') !== 'chain') throw invalid([{ field: 'kind', message: 'must be "chain"', in: 'body' }]);
  const forkOnly = (['from', 'ttlHours'] as const).filter((field) => input[field] !== undefined);
  if (forkOnly.length > 0) throw invalid(forkOnly.map((field) => ({ field, message: 'applies only to branch environments', in: 'body' as const })));
  return deps.store.transaction(async (tx) => {
    const all = await lockEnvironments(deps.store, tx, ctx.workspace.id);
    if (all.some((e) => e.slug === input.slug)) {
      throw conflict('environment_exists', `environment ${input.slug} already exists`, [{ field: 'slug' }]);
    }
    const at = deps.now().toISOString();
    const { position, shift } = insertionBeforeLast(all);
    await setPositions(tx, ctx.workspace.id, shift);
    const env: Environment = {
      ...chainEnvironment(ctx.workspace.id, input.slug, input.name ?? input.slug, position, at),
      ...pickFlags(input),
    };
    await insertEnvironment(tx, env);
    await record(deps, tx, ctx, { action: 'environment.create', environment: env.slug, target: `environment/${env.slug}`, after: env, details: { position } });
    return env;
  });
}

function pickFlags(input: EnvironmentFlags): Partial<Environment> {
  const out: Partial<Environment> = {};
  if (input.protected !== undefined) out.protected = input.protected;
  if (input.approvalsRequired !== undefined) out.approvalsRequired = input.approvalsRequired;
  if (input.obfuscateData !== undefined) out.obfuscateData = input.obfuscateData;
  if (input.region !== undefined) out.region = input.region;
  if (input.color !== undefined) out.color = input.color;
  if (input.name !== undefined) out.name = input.name;
  return out;
}

export async function updateEnvironment(deps: Deps, ctx: CallContext, slug: string, input: EnvironmentFlags): Promise<Environment> {
  authorize(ctx.actor, 'environment.manage', slug);
  return deps.store.transaction(async (tx) => {
    const before = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const after: Environment = { ...before, ...pickFlags(input), updatedAt: deps.now().toISOString() };
    await updateEnvironmentFlags(tx, after);
    const changed = Object.keys(pickFlags(input)).filter((k) => before[k as keyof Environment] !== after[k as keyof Environment]);
    await record(deps, tx, ctx, {
      action: 'environment.update',
      environment: slug,
      target: `environment/${slug}`,
      before,
      after,
      details: { changed },
      // Templates read `env.name`: delivered content may change with the environment.
      change: { environmentId: before.id, type: 'environment', payload: { changed } },
    });
    return after;
  });
}

export async function deleteEnvironment(deps: Deps, ctx: CallContext, slug: string): Promise<void> {
  authorize(ctx.actor, 'environment.manage', slug);
  await deps.store.transaction(async (tx) => {
    const all = await lockEnvironments(deps.store, tx, ctx.workspace.id);
    const env = all.find((e) => e.slug === slug);
    if (!env) throw notFound(`environment ${slug}`);
    const contents = await countEnvironmentContents(tx, ctx.workspace.id, env.id);
    const blocker = deletionBlocker(env, all, contents);
    if (blocker) throw conflict(blocker.code, blocker.message);
    await deleteEnvironmentRows(tx, ctx.workspace.id, env.id);
    await setPositions(tx, ctx.workspace.id, compactPositions(all, env.id));
    await record(deps, tx, ctx, {
      action: 'environment.delete',
      environment: slug,
      target: `environment/${slug}`,
      before: env,
      change: { environmentId: env.id, type: 'environment', payload: { deleted: true } },
    });
  });
}
