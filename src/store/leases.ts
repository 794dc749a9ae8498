// Named leases in the database: the one node holding a lease runs its periodic job; the lease is
// renewed by its holder and taken over by any node once it has expired. One statement each, so
// two nodes racing for a free lease cannot both win.
import type { Db } from './database.js';

/**
 * Takes or renews `name` for `holder` until `now + ttlMs`: succeeds when the lease is free,
 * expired, or already held by `holder`. Answers whether `holder` holds it now.
 */
export async function acquireLease(db: Db, name: string, holder: string, now: Date, ttlMs: number): Promise<boolean> {
  const at = now.toISOString();
  const until = new Date(now.getTime() + ttlMs).toISOString();
  const row = await db
    .insertInto('leases')
    .values({ name, holder, expires_at: until })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet({ holder, expires_at: until })
        .where((eb) => eb.or([eb('leases.expires_at', '<', at), eb('leases.holder', '=', holder)])),
    )
    .returning('holder')
    .executeTakeFirst();
  return row?.holder === holder;
}

/** Gives the lease up (at shutdown) so another node need not wait for it to expire. */
export async function releaseLease(db: Db, name: string, holder: string): Promise<void> {
  await db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
}

/** Who holds `name` now (null when nobody or the lease has expired). */
export async function leaseHolder(db: Db, name: string, now: Date): Promise<string | null> {
  const row = await db.selectFrom('leases').select(['holder', 'expires_at']).where('name', '=', name).executeTakeFirst();
  return row && row.expires_at >= now.toISOString() ? row.holder : null;
}
