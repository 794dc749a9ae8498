// Whether an API key belongs to the environment a command names. The runtime API does not say
// which environment a key is of, so this asks the management API (when a token is at hand): the
// environment's keys list each key's first characters.
import { connect } from '../api.js';
import type { Context } from '../context.js';
import { CliError, usageError } from '../errors.js';

export type KeyCheck = 'matches' | 'unchecked';

/** A key's listed prefix (what the server keeps of it: `sk_` and 8 more characters). */
const prefixOf = (key: string) => key.slice(0, 11);

/**
 * 'matches' when `environment` lists the key; a usage error naming the key's real environment
 * when it does not; 'unchecked' without a management token or the right to list keys.
 */
export async function checkKeyEnvironment(ctx: Context, environment: string, key: string): Promise<{ result: KeyCheck; reason?: string }> {
  if (!ctx.token) return { result: 'unchecked', reason: 'no management token' };
  // A check, not the work: it waits no longer than the runtime API would.
  const conn = connect({ ...ctx, env: { ...ctx.env, STAGELINE_TIMEOUT_MS: ctx.env.STAGELINE_TIMEOUT_MS ?? '10000' } });
  const keysOf = (env: string) => conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}/api-keys', { params: { path: conn.ws({ env }) } }));
  let listed: Awaited<ReturnType<typeof keysOf>>;
  try {
    listed = await keysOf(environment);
  } catch (error) {
    if (error instanceof CliError && error.status === 404) throw usageError(`workspace ${ctx.workspace} has no environment "${environment}" (--env)`);
    return { result: 'unchecked', reason: error instanceof Error ? error.message : String(error) };
  }
  if (listed.data.some((k) => k.prefix === prefixOf(key))) return { result: 'matches' };
  // Name the key's own environment when the token may see it.
  let owner: string | undefined;
  try {
    const environments = await conn.call(conn.api.GET('/api/workspaces/{ws}/environments', { params: { path: conn.ws() } }));
    for (const env of environments.data) {
      if (env.slug === environment) continue;
      const keys = await keysOf(env.slug).catch(() => undefined);
      if (keys?.data.some((k) => k.prefix === prefixOf(key))) {
        owner = env.slug;
        break;
      }
    }
  } catch {
    // the refusal below stands without the owner's name
  }
  throw usageError(
    owner
      ? `the key belongs to ${owner}, not ${environment}: pass --env ${owner}, or a key of ${environment}`
      : `the key is not one of ${environment}'s keys (workspace ${ctx.workspace}): pass a key of ${environment}`,
  );
}
