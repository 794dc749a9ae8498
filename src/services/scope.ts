// Resolving the environment a call names, inside the caller's workspace.
import type { Environment } from '../domain/environments/chain.js';
import { notFound } from '../domain/errors.js';
import type { Db } from '../store/database.js';
import { findEnvironment, lockEnvironment } from '../store/environments.js';
import type { CallContext, Deps } from './context.js';

export async function environmentOf(db: Db, ctx: CallContext, slug: string): Promise<Environment> {
  const env = await findEnvironment(db, ctx.workspace.id, slug);
  if (!env) throw notFound(`environment ${slug}`);
  return env;
}

/**
 * Reads the environment inside a transaction holding its row lock until the transaction ends:
 * every write scoped to one environment takes it first, so the release head and the drafts
 * a commit reads cannot change under it.
 */
export async function lockedEnvironmentOf(deps: Deps, tx: Db, ctx: CallContext, slug: string): Promise<Environment> {
  const env = await lockEnvironment(deps.store, tx, ctx.workspace.id, slug);
  if (!env) throw notFound(`environment ${slug}`);
  return env;
}
