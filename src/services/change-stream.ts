// Who may follow an environment's change stream with a management credential: a member (or
// service token) that may read the environment follows the same hub as API keys, seeing what
// changed by name (resources, variables, secrets, settings), never a value.
import { authorize } from '../domain/auth/permissions.js';
import type { KeyPrincipal } from './api-keys.js';
import type { CallContext, Deps } from './context.js';
import { environmentOf } from './scope.js';

/**
 * How long one management stream lives before the hub ends it. A credential's roles and
 * sessions change without a change event, so a follower re-authenticates at least this often:
 * it reconnects and resumes from its last event, and a revoked token gets its 401 then.
 */
export const MEMBER_STREAM_LIFETIME_MS = 10 * 60_000;

/** The stream principal of the caller in environment `slug`: the hub's view of a member. */
export async function memberStreamPrincipal(deps: Deps, ctx: CallContext, slug: string): Promise<KeyPrincipal> {
  authorize(ctx.actor, 'resource.read', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  return {
    // Never the id of an API key, so no key's revocation event ends this stream.
    id: `${ctx.actor.kind}:${ctx.actor.tokenId ?? ctx.actor.id}`,
    // Full frames: members see names of what changed, as their reads of the environment do.
    kind: 'secret',
    workspaceId: ctx.workspace.id,
    environmentId: env.id,
    expiresAt: new Date(deps.now().getTime() + MEMBER_STREAM_LIFETIME_MS).toISOString(),
    revoked: false,
  };
}
