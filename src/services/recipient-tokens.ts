// Recipient tokens for feeds: issued to a backend holding a secret key, checked on publishable-key
// feed calls where the environment requires them, and the environment's signing secret for
// backends that sign tokens themselves.
import { authorize } from '../domain/auth/permissions.js';
import { isEditable } from '../domain/environments/chain.js';
import { StaleKeyError, StagelineError } from '../domain/errors.js';
import { DEFAULT_TOKEN_TTL_SECONDS, recipientTokenProblem, recipientTokenSecret, signRecipientToken } from '../domain/feeds/recipient-token.js';
import { assertSecretKey } from '../domain/resources/visibility.js';
import { recipientTokenRequired, type FeedsSetting } from '../domain/settings/runtime-policies.js';
import { findEnvironmentById, listEnvironments } from '../store/environments.js';
import { knownSetting } from './settings.js';
import type { KeyPrincipal } from './api-keys.js';
import { record } from './audit.js';
import type { CallContext, Deps } from './context.js';
import { environmentOf } from './scope.js';

const version = (setting: FeedsSetting | undefined) => setting?.signingKeyVersion ?? 1;

function secretsOf(deps: Deps, workspaceId: string, environmentId: string, setting: FeedsSetting | undefined): string[] {
  return deps.keyring.derive((master) => recipientTokenSecret(master, workspaceId, environmentId, version(setting)));
}

/** A token for `recipient`'s feed in the key's environment (secret keys only). */
export function issueRecipientToken(deps: Deps, key: KeyPrincipal, setting: FeedsSetting | undefined, input: { recipient: string; ttlSeconds?: number }) {
  assertSecretKey(key.kind, 'recipient tokens', 'a token lets a browser read a recipient’s feed, so only a server may issue one');
  const now = Math.floor(deps.now().getTime() / 1000);
  const exp = now + (input.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS);
  const [secret] = secretsOf(deps, key.workspaceId, key.environmentId, setting);
  const token = signRecipientToken(secret!, { sub: input.recipient, env: key.environmentId, iat: now, exp });
  return { token, expiresAt: new Date(exp * 1000).toISOString() };
}

/**
 * Refuses (401) a publishable key's feed call on `recipient` without a valid token for that
 * recipient, where the environment requires one (`feeds.requireRecipientToken`, on by default
 * outside development and branches). Secret keys need none.
 */
export async function assertRecipientAccess(deps: Deps, key: KeyPrincipal, setting: FeedsSetting | undefined, recipient: string, token: string | undefined): Promise<void> {
  if (key.kind === 'secret') return;
  if (setting?.requireRecipientToken === undefined) {
    const [env, all] = await Promise.all([findEnvironmentById(deps.store.db, key.workspaceId, key.environmentId), listEnvironments(deps.store.db, key.workspaceId)]);
    if (!env) throw new StaleKeyError('environment');
    if (!recipientTokenRequired(setting, isEditable(env, all))) return;
  } else if (!setting.requireRecipientToken) return;
  if (token === undefined || token === '') {
    throw new StagelineError(401, 'unauthenticated', 'this environment requires a recipient token with a publishable key: send it as the x-stageline-recipient-token header or ?token=', [
      { field: 'x-stageline-recipient-token', in: 'header', message: 'required' },
    ]);
  }
  const problem = recipientTokenProblem(token, secretsOf(deps, key.workspaceId, key.environmentId, setting), {
    recipient,
    environmentId: key.environmentId,
    nowSeconds: Math.floor(deps.now().getTime() / 1000),
  });
  if (problem) throw new StagelineError(401, 'unauthenticated', problem, [{ field: 'x-stageline-recipient-token', in: 'header', message: problem }]);
}

/**
 * The environment's signing secret, for a backend that signs recipient tokens itself. Reading
 * it is audited; bumping `feeds.signingKeyVersion` rotates it (tokens signed before stop working).
 */
export async function readRecipientTokenSecret(deps: Deps, ctx: CallContext, slug: string) {
  authorize(ctx.actor, 'apikey.manage', slug);
  const env = await environmentOf(deps.store.db, ctx, slug);
  const current = await knownSetting(deps.store.db, { workspaceId: env.workspaceId, environmentId: env.id }, 'feeds');
  const [secret] = secretsOf(deps, env.workspaceId, env.id, current);
  await deps.store.transaction((tx) =>
    record(deps, tx, ctx, { action: 'recipient_token_secret.read', environment: slug, target: `environment/${slug}`, details: { version: version(current) } }),
  );
  return { environment: slug, environmentId: env.id, algorithm: 'HS256' as const, version: version(current), secret: secret! };
}
