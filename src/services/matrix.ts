// What runs where, in one read: for each named environment (default: the chain) every resource
// it lists with the committed hash, draft state, kill switch and whether it carries an override.
// A fixed number of whole-table reads per environment, so a view of thousands stays one request.
import { authorize } from '../domain/auth/permissions.js';
import { orderEnvironments } from '../domain/environments/chain.js';
import { invalid } from '../domain/errors.js';
import { draftState } from '../domain/resources/drafts.js';
import { resourceId } from '../domain/releases/snapshot.js';
import { listEnvironments } from '../store/environments.js';
import { listDrafts, listInactive, listOverrides } from '../store/resources.js';
import type { CallContext, Deps } from './context.js';
import { headSnapshot } from './snapshots.js';

export async function resourceMatrix(deps: Deps, ctx: CallContext, slugs: string[] | undefined) {
  const db = deps.store.db;
  const all = orderEnvironments(await listEnvironments(db, ctx.workspace.id));
  const envs = slugs ? slugs.map((slug) => all.find((e) => e.slug === slug)) : all.filter((e) => e.kind === 'chain');
  const unknown = slugs?.filter((_, i) => !envs[i]) ?? [];
  if (unknown.length > 0) throw invalid([{ field: 'environments', message: `no environment ${unknown.join(', ')}`, in: 'query' }]);
  for (const env of envs) authorize(ctx.actor, 'resource.read', env!.slug);
  const columns = await Promise.all(
    envs.map(async (env) => {
      const scope = { workspaceId: env!.workspaceId, environmentId: env!.id };
      const [snapshot, drafts, inactive, overrides] = await Promise.all([headSnapshot(db, env!), listDrafts(db, scope), listInactive(db, scope), listOverrides(db, scope)]);
      const rows = new Map<string, { kind: string; key: string; app: string | null; committedHash: string | null; draft: ReturnType<typeof draftState> | null }>();
      for (const [id, entry] of snapshot) rows.set(id, { kind: entry.kind, key: entry.key, app: entry.app, committedHash: entry.hash, draft: null });
      for (const draft of drafts) {
        const id = resourceId(draft.kind, draft.key);
        const committed = rows.get(id);
        rows.set(id, { kind: draft.kind, key: draft.key, app: draft.app, committedHash: committed?.committedHash ?? null, draft: draftState(committed?.committedHash ?? null, draft.hash) });
      }
      const resources = [...rows.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([id, row]) => ({ ...row, active: !inactive.has(id), override: overrides.has(id) }));
      return { environment: env!.slug, release: env!.headRelease, resources };
    }),
  );
  return { data: columns };
}
