// Metric rollups (per node, minute and hour rows) and the release/override markers analytics
// draws on the same time axis. Records leave this module in camelCase.
import { sql } from 'kysely';
import type { Db, Store } from './database.js';

export type Resolution = 'minute' | 'hour';

/** Counter columns in the order of src/metrics/recorder.ts (REQUESTS … DURATION_SUM). */
const COUNTER_COLUMNS = ['requests', 's2xx', 's3xx', 's4xx', 's5xx', 'errors', 'upstream_errors', 'duration_count', 'duration_sum_ms'] as const;

export interface RollupWrite {
  bucketStart: string;
  workspaceId: string;
  environmentId: string;
  family: string;
  subject: string;
  /** The nine counters, recorder order. */
  counters: ArrayLike<number>;
  /** Sparse histogram `{index: count}`. */
  buckets: Record<string, number>;
}

export interface RollupRecord extends RollupWrite {
  nodeId: string;
  resolution: Resolution;
  counters: number[];
}

const key = (r: { bucketStart: string; workspaceId: string; environmentId: string; family: string; subject: string }) =>
  `${r.bucketStart}\n${r.workspaceId}\n${r.environmentId}\n${r.family}\n${r.subject}`;

function parseBuckets(text: string): Record<string, number> {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, number>) : {};
  } catch {
    return {};
  }
}

/**
 * Adds counts to this node's rows (a minute flushed twice adds up): counters by addition in the
 * upsert; histograms merged here from the stored row, which only this node writes.
 */
export async function addRollups(store: Store, tx: Db, nodeId: string, resolution: Resolution, rows: RollupWrite[]): Promise<void> {
  if (rows.length === 0) return;
  const starts = [...new Set(rows.map((r) => r.bucketStart))];
  const existing = new Map<string, Record<string, number>>();
  for (let i = 0; i < starts.length; i += 200) {
    const stored = await tx
      .selectFrom('metric_rollups')
      .select(['bucket_start', 'workspace_id', 'environment_id', 'family', 'subject', 'buckets'])
      .where('node_id', '=', nodeId)
      .where('resolution', '=', resolution)
      .where('bucket_start', 'in', starts.slice(i, i + 200))
      .execute();
    for (const row of stored) {
      existing.set(key({ bucketStart: row.bucket_start, workspaceId: row.workspace_id, environmentId: row.environment_id, family: row.family, subject: row.subject }), parseBuckets(row.buckets));
    }
  }
  const values = rows.map((r) => {
    const buckets = new Map<string, number>(Object.entries(existing.get(key(r)) ?? {}));
    for (const [index, count] of Object.entries(r.buckets)) buckets.set(index, (buckets.get(index) ?? 0) + count);
    return {
      node_id: nodeId,
      resolution,
      bucket_start: r.bucketStart,
      workspace_id: r.workspaceId,
      environment_id: r.environmentId,
      family: r.family,
      subject: r.subject,
      requests: r.counters[0]!,
      s2xx: r.counters[1]!,
      s3xx: r.counters[2]!,
      s4xx: r.counters[3]!,
      s5xx: r.counters[4]!,
      errors: r.counters[5]!,
      upstream_errors: r.counters[6]!,
      duration_count: r.counters[7]!,
      duration_sum_ms: r.counters[8]!,
      buckets: JSON.stringify(Object.fromEntries(buckets)),
    };
  });
  for (let i = 0; i < values.length; i += store.insertBatch) {
    await tx
      .insertInto('metric_rollups')
      .values(values.slice(i, i + store.insertBatch))
      .onConflict((oc) =>
        oc.columns(['node_id', 'resolution', 'bucket_start', 'workspace_id', 'environment_id', 'family', 'subject']).doUpdateSet({
          requests: sql`metric_rollups.requests + excluded.requests`,
          s2xx: sql`metric_rollups.s2xx + excluded.s2xx`,
          s3xx: sql`metric_rollups.s3xx + excluded.s3xx`,
          s4xx: sql`metric_rollups.s4xx + excluded.s4xx`,
          s5xx: sql`metric_rollups.s5xx + excluded.s5xx`,
          errors: sql`metric_rollups.errors + excluded.errors`,
          upstream_errors: sql`metric_rollups.upstream_errors + excluded.upstream_errors`,
          duration_count: sql`metric_rollups.duration_count + excluded.duration_count`,
          duration_sum_ms: sql`metric_rollups.duration_sum_ms + excluded.duration_sum_ms`,
          buckets: sql`excluded.buckets`,
        }),
      )
      .execute();
  }
}

export interface RollupQuery {
  workspaceId: string;
  environmentIds: string[];
  family: string;
  /** '' the environments' totals; null every subject (a raw scan). */
  subject: string | null;
  resolution: Resolution;
  /** [from, to) as ISO text. */
  from: string;
  to: string;
}

/** Every node's rows of the query's environments in [from, to). */
export async function listRollups(db: Db, query: RollupQuery): Promise<RollupRecord[]> {
  if (query.environmentIds.length === 0) return [];
  let select = db
    .selectFrom('metric_rollups')
    .selectAll()
    .where('workspace_id', '=', query.workspaceId)
    .where('environment_id', 'in', query.environmentIds)
    .where('family', '=', query.family)
    .where('resolution', '=', query.resolution)
    .where('bucket_start', '>=', query.from)
    .where('bucket_start', '<', query.to);
  if (query.subject !== null) select = select.where('subject', '=', query.subject);
  const rows = await select.execute();
  return rows.map((row) => ({
    nodeId: row.node_id,
    resolution: row.resolution,
    bucketStart: row.bucket_start,
    workspaceId: row.workspace_id,
    environmentId: row.environment_id,
    family: row.family,
    subject: row.subject,
    counters: COUNTER_COLUMNS.map((c) => Number(row[c])),
    buckets: parseBuckets(row.buckets),
  }));
}

/** Deletes rows of a resolution older than `cutoff`, a few buckets per statement; answers the rows deleted. */
export async function pruneRollups(db: Db, resolution: Resolution, cutoff: string, bucketsPerBatch = 60): Promise<number> {
  let total = 0;
  for (;;) {
    const starts = await db
      .selectFrom('metric_rollups')
      .select('bucket_start')
      .distinct()
      .where('resolution', '=', resolution)
      .where('bucket_start', '<', cutoff)
      .orderBy('bucket_start')
      .limit(bucketsPerBatch)
      .execute();
    if (starts.length === 0) return total;
    const result = await db
      .deleteFrom('metric_rollups')
      .where('resolution', '=', resolution)
      .where(
        'bucket_start',
        'in',
        starts.map((s) => s.bucket_start),
      )
      .executeTakeFirst();
    total += Number(result.numDeletedRows);
  }
}

// ---------------------------------------------------------------------------------------------
// Markers: releases and override changes of environments in a range

export interface ReleaseMarker {
  environmentId: string;
  number: number;
  cause: string;
  at: string;
}

export async function listReleaseMarkers(db: Db, workspaceId: string, environmentIds: string[], from: string, to: string, limit: number): Promise<ReleaseMarker[]> {
  if (environmentIds.length === 0) return [];
  const rows = await db
    .selectFrom('releases')
    .select(['environment_id', 'number', 'cause', 'created_at'])
    .where('workspace_id', '=', workspaceId)
    .where('environment_id', 'in', environmentIds)
    .where('created_at', '>=', from)
    .where('created_at', '<', to)
    .orderBy('created_at')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ environmentId: r.environment_id, number: r.number, cause: r.cause, at: r.created_at }));
}

export interface OverrideMarker {
  /** The environment's slug as the audit entry names it. */
  environment: string;
  at: string;
}

export async function listOverrideMarkers(db: Db, workspaceId: string, environments: string[], actions: string[], from: string, to: string, limit: number): Promise<OverrideMarker[]> {
  if (environments.length === 0) return [];
  const rows = await db
    .selectFrom('audit_log')
    .select(['environment', 'at'])
    .where('workspace_id', '=', workspaceId)
    .where('environment', 'in', environments)
    .where('action', 'in', actions)
    .where('at', '>=', from)
    .where('at', '<', to)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ environment: r.environment ?? '', at: r.at }));
}

/** The number of the environment's release in force at `at` (null before its first). */
export async function releaseAt(db: Db, workspaceId: string, environmentId: string, at: string): Promise<number | null> {
  const row = await db
    .selectFrom('releases')
    .select((eb) => eb.fn.max('number').as('number'))
    .where('workspace_id', '=', workspaceId)
    .where('environment_id', '=', environmentId)
    .where('created_at', '<=', at)
    .executeTakeFirst();
  return row?.number == null ? null : Number(row.number);
}
