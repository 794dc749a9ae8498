// Workspace variables: a default and per-environment values, immediate and audited. Templates
// read them as `{{ vars.NAME }}`.
import { authorize } from '../domain/auth/permissions.js';
import { affectedEnvironments, type VariableValues } from '../domain/variables.js';
import { invalid, notFound } from '../domain/errors.js';
import type { Db } from '../store/database.js';
import { listEnvironments } from '../store/environments.js';
import { deleteVariable as deleteVariableRows, listVariables, putVariable as putVariableRows } from '../store/variables.js';
import { record } from './audit.js';
import type { CallContext, Deps } from './context.js';

export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

function assertName(name: string) {
  if (!VARIABLE_NAME.test(name)) {
    throw invalid([{ field: 'name', message: 'must be 1-64 letters, digits or underscores, not starting with a digit', in: 'path' }]);
  }
}

function view(row: Awaited<ReturnType<typeof listVariables>>[number]) {
  return {
    name: row.name,
    ...(row.hasDefault ? { value: row.value } : {}),
    description: row.description,
    overrides: row.overrides,
    updatedBy: row.updatedBy,
    updatedAt: row.updatedAt,
  };
}

async function slugsById(db: Db, ctx: CallContext) {
  const envs = await listEnvironments(db, ctx.workspace.id);
  return new Map(envs.map((e) => [e.id, e.slug]));
}

export async function listAllVariables(deps: Deps, ctx: CallContext) {
  authorize(ctx.actor, 'workspace.read');
  return { data: (await listVariables(deps.store.db, ctx.workspace.id, await slugsById(deps.store.db, ctx))).map(view), next: null };
}

export async function getVariable(deps: Deps, ctx: CallContext, name: string) {
  authorize(ctx.actor, 'workspace.read');
  assertName(name);
  const [row] = await listVariables(deps.store.db, ctx.workspace.id, await slugsById(deps.store.db, ctx), name);
  if (!row) throw notFound(`variable ${name}`);
  return view(row);
}

/** Writing a variable needs the permission in every environment whose value it changes. */
function authorizeEffect(ctx: CallContext, slugs: string[], before: VariableValues | null, after: VariableValues | null) {
  for (const slug of affectedEnvironments(slugs, before, after)) authorize(ctx.actor, 'variable.write', slug);
}

export interface VariableInput {
  value?: unknown;
  description?: string | null;
  overrides?: Record<string, unknown>;
}

/**
 * Replaces a variable: its default (absent = none) and its per-environment values (absent =
 * none; an environment without a value uses the default).
 */
export async function putVariable(deps: Deps, ctx: CallContext, name: string, input: VariableInput) {
  assertName(name);
  authorize(ctx.actor, 'variable.write');
  const overrides = Object.entries(input.overrides ?? {});
  return deps.store.transaction(async (tx) => {
    const envs = await listEnvironments(tx, ctx.workspace.id);
    const bySlug = new Map(envs.map((e) => [e.slug, e.id]));
    const unknown = overrides.filter(([slug]) => !bySlug.has(slug));
    if (unknown.length > 0) throw invalid(unknown.map(([slug]) => ({ field: `overrides.${slug}`, message: 'is not an environment of this workspace', in: 'body' })));
    const slugs = new Map(envs.map((e) => [e.id, e.slug]));
    const [before] = await listVariables(tx, ctx.workspace.id, slugs, name);
    const next = { hasDefault: input.value !== undefined, value: input.value, overrides: Object.fromEntries(overrides) };
    authorizeEffect(ctx, envs.map((e) => e.slug), before ?? null, next);
    const at = deps.now().toISOString();
    await putVariableRows(tx, ctx.workspace.id, {
      name,
      value: input.value,
      hasDefault: input.value !== undefined,
      description: input.description ?? null,
      overrides: new Map(overrides.map(([slug, value]) => [bySlug.get(slug)!, value])),
      by: ctx.actor.id,
      at,
    });
    const [after] = await listVariables(tx, ctx.workspace.id, slugs, name);
    await record(deps, tx, ctx, {
      action: before ? 'variable.update' : 'variable.create',
      target: `variable/${name}`,
      before: before && view(before),
      after: view(after!),
      details: { environments: Object.keys(after!.overrides) },
      change: { environmentId: null, type: 'variable', payload: { name } },
    });
    return view(after!);
  });
}

export async function deleteVariable(deps: Deps, ctx: CallContext, name: string) {
  assertName(name);
  authorize(ctx.actor, 'variable.write');
  await deps.store.transaction(async (tx) => {
    const slugs = await slugsById(tx, ctx);
    const [before] = await listVariables(tx, ctx.workspace.id, slugs, name);
    if (!before) throw notFound(`variable ${name}`);
    authorizeEffect(ctx, [...slugs.values()], before, null);
    await deleteVariableRows(tx, ctx.workspace.id, name);
    await record(deps, tx, ctx, {
      action: 'variable.delete',
      target: `variable/${name}`,
      before: view(before),
      after: null,
      change: { environmentId: null, type: 'variable', payload: { name } },
    });
  });
}
