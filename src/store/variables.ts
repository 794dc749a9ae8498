// Workspace variables: a default and per-environment values.
import { scopeRecord } from '../domain/templates/scope.js';
import type { Db } from './database.js';

export interface VariableRow {
  name: string;
  /** The default, or undefined when the variable has none. */
  value: unknown;
  hasDefault: boolean;
  description: string | null;
  overrides: Record<string, unknown>;
  updatedBy: string;
  updatedAt: string;
}

export async function listVariables(db: Db, workspaceId: string, envSlugs: Map<string, string>, only?: string): Promise<VariableRow[]> {
  let query = db.selectFrom('variables').selectAll().where('workspace_id', '=', workspaceId);
  let values = db.selectFrom('variable_values').selectAll().where('workspace_id', '=', workspaceId);
  if (only !== undefined) {
    query = query.where('name', '=', only);
    values = values.where('name', '=', only);
  }
  const [rows, valueRows] = await Promise.all([query.orderBy('name').execute(), values.execute()]);
  return rows.map((row) => {
    const overrides: Record<string, unknown> = Object.create(null);
    for (const v of valueRows) {
      const slug = envSlugs.get(v.environment_id);
      if (v.name === row.name && slug) overrides[slug] = JSON.parse(v.value);
    }
    return {
      name: row.name,
      value: row.value === null ? undefined : JSON.parse(row.value),
      hasDefault: row.value !== null,
      description: row.description,
      overrides,
      updatedBy: row.updated_by,
      updatedAt: row.updated_at,
    };
  });
}

/**
 * The values every variable takes in one environment: its value there, else (for a branch) its
 * parent's value, else its default.
 */
export async function variablesForEnvironment(db: Db, workspaceId: string, environmentId: string): Promise<Record<string, unknown>> {
  const lineage = await lineageOf(db, workspaceId, environmentId);
  const [defaults, values] = await Promise.all([
    db.selectFrom('variables').select(['name', 'value']).where('workspace_id', '=', workspaceId).execute(),
    db
      .selectFrom('variable_values')
      .select(['name', 'value', 'environment_id'])
      .where('workspace_id', '=', workspaceId)
      .where('environment_id', 'in', lineage)
      .execute(),
  ]);
  // No prototype: a template or plan looking up `constructor` finds a variable or nothing.
  const set: [string, unknown][] = [];
  for (const row of defaults) if (row.value !== null) set.push([row.name, JSON.parse(row.value)]);
  // The environment's own values are applied last, over its parent's.
  for (const id of lineage) for (const row of values) if (row.environment_id === id) set.push([row.name, JSON.parse(row.value)]);
  return scopeRecord(set);
}

/** The environment's parent (a branch's) and the environment itself, in that order. */
export async function lineageOf(db: Db, workspaceId: string, environmentId: string): Promise<string[]> {
  const row = await db.selectFrom('environments').select('parent_id').where('workspace_id', '=', workspaceId).where('id', '=', environmentId).executeTakeFirst();
  return row?.parent_id ? [row.parent_id, environmentId] : [environmentId];
}

export async function putVariable(
  db: Db,
  workspaceId: string,
  variable: { name: string; value: unknown; hasDefault: boolean; description: string | null; overrides: Map<string, unknown>; by: string; at: string },
) {
  const row = {
    workspace_id: workspaceId,
    name: variable.name,
    value: variable.hasDefault ? JSON.stringify(variable.value) : null,
    description: variable.description,
    updated_by: variable.by,
    updated_at: variable.at,
  };
  await db
    .insertInto('variables')
    .values(row)
    .onConflict((oc) => oc.columns(['workspace_id', 'name']).doUpdateSet({ value: row.value, description: row.description, updated_by: row.updated_by, updated_at: row.updated_at }))
    .execute();
  await db.deleteFrom('variable_values').where('workspace_id', '=', workspaceId).where('name', '=', variable.name).execute();
  const values = [...variable.overrides].map(([environmentId, value]) => ({ workspace_id: workspaceId, name: variable.name, environment_id: environmentId, value: JSON.stringify(value) }));
  if (values.length > 0) await db.insertInto('variable_values').values(values).execute();
}

export async function deleteVariable(db: Db, workspaceId: string, name: string) {
  await db.deleteFrom('variable_values').where('workspace_id', '=', workspaceId).where('name', '=', name).execute();
  await db.deleteFrom('variables').where('workspace_id', '=', workspaceId).where('name', '=', name).execute();
}
