// What the delivery API serves: one environment's committed resources with their overrides
// merged and their templates resolved against that environment's variables (and, for secret
// keys only, its secrets). Built whole per environment and key kind, then served from memory.
import { contentHash } from '../domain/canonical.js';
import type { Environment } from '../domain/environments/chain.js';
import { StagelineError } from '../domain/errors.js';
import { mergeOverride } from '../domain/overrides/merge.js';
import { resourceId } from '../domain/releases/snapshot.js';
import { resolveContent, UnresolvedReferenceError, type ResolutionScope } from '../domain/templates/template.js';
import type { Db } from '../store/database.js';
import { changesAfter, type ChangeEvent } from '../store/changes.js';
import { findEnvironmentById } from '../store/environments.js';
import { getContents } from '../store/releases.js';
import { listInactive, listOverrides } from '../store/resources.js';
import { variablesForEnvironment } from '../store/variables.js';
import type { ApiKeyKind } from './api-keys.js';
import { visibleTo } from '../domain/resources/visibility.js';
import type { Deps } from './context.js';
import { secretValues } from './secrets.js';
import { headSnapshot } from './snapshots.js';

export interface ResolvedResource {
  kind: string;
  key: string;
  content: unknown;
  /** Hash of the resolved content: changes with overrides, variables and secrets too. */
  hash: string;
}

export type ResolvedEntry = { ok: true; resource: ResolvedResource } | { ok: false; error: StagelineError };

export interface ResolvedEnvironment {
  environment: Environment;
  release: number;
  entries: Map<string, ResolvedEntry>;
}

export async function resolveEnvironment(deps: Deps, workspaceId: string, environmentId: string, keyKind: ApiKeyKind): Promise<ResolvedEnvironment | null> {
  const db: Db = deps.store.db;
  const env = await findEnvironmentById(db, workspaceId, environmentId);
  if (!env) return null;
  const scope = { workspaceId, environmentId };
  const [snapshot, inactive, overrides, vars, secrets] = await Promise.all([
    headSnapshot(db, env),
    listInactive(db, scope),
    listOverrides(db, scope),
    variablesForEnvironment(db, workspaceId, environmentId),
    keyKind === 'secret' ? secretValues(deps, db, env) : Promise.resolve(undefined),
  ]);
  const active = [...snapshot.values()].filter((e) => !inactive.has(resourceId(e.kind, e.key)));
  const contents = await getContents(db, workspaceId, active.map((e) => e.hash));
  const resolution: ResolutionScope = { vars, ...(secrets ? { secrets } : {}), env: { slug: env.slug, name: env.name } };
  const entries = new Map<string, ResolvedEntry>();
  for (const entry of active.sort((a, b) => (resourceId(a.kind, a.key) < resourceId(b.kind, b.key) ? -1 : 1))) {
    const id = resourceId(entry.kind, entry.key);
    const merged = mergeOverride(contents.get(entry.hash), overrides.get(id));
    if (!visibleTo(keyKind, { kind: entry.kind, content: merged })) continue;
    try {
      const content = resolveContent(merged, resolution);
      entries.set(id, { ok: true, resource: { kind: entry.kind, key: entry.key, content, hash: contentHash(content) } });
    } catch (error) {
      if (!(error instanceof UnresolvedReferenceError)) throw error;
      entries.set(id, { ok: false, error: new StagelineError(409, error.code, `${id}: ${error.message}`, error.details) });
    }
  }
  return { environment: env, release: env.headRelease, entries };
}

/** Change events of one environment (and the workspace-wide ones) after a sequence number. */
export async function environmentChangesAfter(deps: Deps, workspaceId: string, environmentId: string, afterSeq: number, limit: number): Promise<ChangeEvent[]> {
  return changesAfter(deps.store.db, workspaceId, afterSeq, { environmentId, limit });
}
