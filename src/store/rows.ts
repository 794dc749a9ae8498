// Mapping between stored rows and domain values, kept beside the queries that use them.
import type { Environment } from '../domain/environments/chain.js';
import type { ExpressionBuilder, Selectable } from 'kysely';
import type { EnvironmentTable } from './schema.js';

export function toEnvironment(row: Selectable<EnvironmentTable>): Environment {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    slug: row.slug,
    name: row.name,
    kind: row.kind as Environment['kind'],
    position: row.position,
    protected: row.protected === 1,
    approvalsRequired: row.approvals_required,
    approvalsForRollback: row.approvals_for_rollback === 1,
    obfuscateData: row.obfuscate_data === 1,
    region: row.region,
    color: row.color,
    parentId: row.parent_id,
    headRelease: row.head_release,
    forkRelease: row.fork_release ?? null,
    mergeBase: row.merge_base ?? null,
    expiresAt: row.expires_at ?? null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function flag(value: boolean): number {
  return value ? 1 : 0;
}

/** Rows after a resource id in (kind, key) order, for keyset pagination. */
export function afterResource(eb: ExpressionBuilder<any, any>, after: { kind: string; key: string }) {
  return eb.or([eb('kind', '>', after.kind), eb.and([eb('kind', '=', after.kind), eb('key', '>', after.key)])]);
}

/**
 * A JSON object column parsed into an object without a prototype, so that a key read from
 * input (an environment slug such as `constructor`) never finds an Object.prototype member.
 * A column that holds no object reads as an empty one.
 */
export function jsonRecord(text: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(text);
  const record: Record<string, unknown> = Object.create(null);
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) Object.assign(record, parsed);
  return record;
}
