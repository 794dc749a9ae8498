// Reading environment states as snapshots: the committed head, a numbered release, or the
// head with the drafts applied. Shared by commit, promotion, diff and the resource views.
import type { Environment } from '../domain/environments/chain.js';
import { notFound } from '../domain/errors.js';
import { applyDrafts, type Snapshot } from '../domain/releases/snapshot.js';
import type { Db } from '../store/database.js';
import { findRelease, loadSnapshot, type Release } from '../store/releases.js';
import { listDrafts } from '../store/resources.js';

export async function releaseOf(db: Db, env: Environment, number: number): Promise<Release> {
  const release = await findRelease(db, env.workspaceId, env.id, number);
  if (!release) throw notFound(`release ${env.slug}#${number}`);
  return release;
}

export async function headSnapshotId(db: Db, env: Environment): Promise<string | null> {
  if (env.headRelease === 0) return null;
  return (await releaseOf(db, env, env.headRelease)).snapshotId;
}

export async function snapshotOf(db: Db, env: Environment, snapshotId: string | null): Promise<Snapshot> {
  return snapshotId ? loadSnapshot(db, env.workspaceId, snapshotId) : new Map();
}

export async function headSnapshot(db: Db, env: Environment): Promise<Snapshot> {
  return snapshotOf(db, env, await headSnapshotId(db, env));
}

export async function draftSnapshot(db: Db, env: Environment): Promise<Snapshot> {
  const [head, drafts] = await Promise.all([headSnapshot(db, env), listDrafts(db, { workspaceId: env.workspaceId, environmentId: env.id })]);
  return applyDrafts(head, drafts);
}

export function releaseName(env: { slug: string }, number: number): string {
  return `${env.slug}#${number}`;
}

export function releaseView(env: Environment, release: Release) {
  return {
    environment: env.slug,
    number: release.number,
    name: releaseName(env, release.number),
    cause: release.cause,
    source:
      release.cause !== 'commit' && release.cause !== 'rollback' && release.sourceEnvironment
        ? releaseName({ slug: release.sourceEnvironment }, release.sourceRelease ?? 0)
        : null,
    rolledBackTo: release.cause === 'rollback' ? release.sourceRelease : null,
    message: release.message,
    author: { id: release.authorId, name: release.authorName },
    createdAt: release.createdAt,
    resourceCount: release.resourceCount,
    snapshot: release.snapshotId,
    current: release.number === env.headRelease,
  };
}
