// Per-environment settings: unversioned, immediate, audited.
import { authorize } from '../domain/auth/permissions.js';
import { invalid, notFound } from '../domain/errors.js';
import { KNOWN_SETTINGS, settingIssues, settingNameIssue } from '../domain/settings/settings.js';
import { deleteSetting as deleteSettingRow, findSetting, listSettings as listSettingRows, putSetting as putSettingRow } from '../store/settings.js';
import { record } from './audit.js';
import type { Db } from '../store/database.js';
import type { CallContext, Deps } from './context.js';
import { environmentOf, lockedEnvironmentOf } from './scope.js';

export type KnownSettingName = keyof typeof KNOWN_SETTINGS;
export type KnownSetting<N extends KnownSettingName> = ReturnType<(typeof KNOWN_SETTINGS)[N]['parse']>;

/**
 * A known setting of an environment as its schema reads it, or undefined when there is none or
 * the stored value no longer parses (one stored before its schema): treated as none.
 */
export async function knownSetting<N extends KnownSettingName>(db: Db, scope: { workspaceId: string; environmentId: string }, name: N): Promise<KnownSetting<N> | undefined> {
  const row = await findSetting(db, scope, name);
  const parsed = row && KNOWN_SETTINGS[name].safeParse(row.value);
  return parsed?.success ? (parsed.data as KnownSetting<N>) : undefined;
}

export async function listSettings(deps: Deps, ctx: CallContext, slug: string) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const rows = await listSettingRows(deps.store.db, { workspaceId: env.workspaceId, environmentId: env.id });
  return { data: rows.map((r) => ({ ...r, environment: slug })), next: null };
}

function assertSettingName(name: string) {
  const issue = settingNameIssue(name);
  if (issue) throw invalid([issue]);
}

export async function getSetting(deps: Deps, ctx: CallContext, slug: string, name: string) {
  authorize(ctx.actor, 'resource.read', slug);
  assertSettingName(name);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const row = await findSetting(deps.store.db, { workspaceId: env.workspaceId, environmentId: env.id }, name);
  if (!row) throw notFound(`setting ${name} in ${slug}`);
  return { ...row, environment: slug };
}

export async function putSetting(deps: Deps, ctx: CallContext, slug: string, name: string, value: unknown) {
  authorize(ctx.actor, 'setting.write', slug);
  const issues = settingIssues(name, value);
  if (issues.length > 0) throw invalid(issues);
  return deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const scope = { workspaceId: env.workspaceId, environmentId: env.id };
    const before = await findSetting(tx, scope, name);
    const at = deps.now().toISOString();
    await putSettingRow(tx, scope, name, value, ctx.actor.id, at);
    await record(deps, tx, ctx, {
      action: 'setting.update',
      environment: slug,
      target: `setting/${name}`,
      before: before?.value,
      after: value,
      change: { environmentId: env.id, type: 'setting', payload: { name } },
    });
    return { name, value, environment: slug, updatedBy: ctx.actor.id, updatedAt: at };
  });
}

export async function deleteSetting(deps: Deps, ctx: CallContext, slug: string, name: string) {
  authorize(ctx.actor, 'setting.write', slug);
  assertSettingName(name);
  await deps.store.transaction(async (tx) => {
    const env = await lockedEnvironmentOf(deps, tx, ctx, slug);
    const scope = { workspaceId: env.workspaceId, environmentId: env.id };
    const before = await findSetting(tx, scope, name);
    if (!before) throw notFound(`setting ${name} in ${slug}`);
    await deleteSettingRow(tx, scope, name);
    await record(deps, tx, ctx, {
      action: 'setting.delete',
      environment: slug,
      target: `setting/${name}`,
      before: before.value,
      after: null,
      change: { environmentId: env.id, type: 'setting', payload: { name } },
    });
  });
}
