// The overrides one environment carries, listed together: which resources it patches over their
// committed content, so a view of many resources (the dashboard's matrix) can mark them in one read.
import { authorize } from '../domain/auth/permissions.js';
import { listOverrides } from '../store/resources.js';
import type { CallContext, Deps } from './context.js';
import { environmentOf } from './scope.js';

export async function listEnvironmentOverrides(deps: Deps, ctx: CallContext, slug: string) {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const overrides = await listOverrides(deps.store.db, { workspaceId: env.workspaceId, environmentId: env.id });
  const data = [...overrides.entries()]
    .map(([id, override]) => {
      const slash = id.indexOf('/');
      return { kind: id.slice(0, slash), key: id.slice(slash + 1), override };
    })
    .sort((a, b) => (a.kind === b.kind ? (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) : a.kind < b.kind ? -1 : 1));
  return { data, next: null };
}
