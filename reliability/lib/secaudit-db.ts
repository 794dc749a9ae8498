// Whole-database snapshots for the audit part: every table of the database, each row as canonical
// JSON, so "the failed mutation changed nothing" is a comparison of two snapshots, not a list of
// the tables someone remembered to look at.
import { sql } from 'kysely';
import { canonicalJson } from '../../src/domain/canonical.js';
import type { Db } from '../../src/store/database.js';

export type DatabaseSnapshot = Map<string, string[]>;

export async function tableNames(db: Db, kind: 'sqlite' | 'postgres'): Promise<string[]> {
  const rows =
    kind === 'sqlite'
      ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table' order by name`.execute(db)).rows
      : (await sql<{ name: string }>`select tablename as name from pg_tables where schemaname = current_schema() order by tablename`.execute(db)).rows;
  return rows.map((row) => row.name);
}

/** Every row of every table, each table's rows as sorted canonical JSON. */
export async function snapshotDatabase(db: Db, kind: 'sqlite' | 'postgres'): Promise<DatabaseSnapshot> {
  const out: DatabaseSnapshot = new Map();
  for (const name of await tableNames(db, kind)) {
    const rows = (await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(db)).rows;
    out.set(name, rows.map((row) => canonicalJson(normalise(row))).sort());
  }
  return out;
}

function normalise(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    out[key] = value instanceof Date ? value.toISOString() : Buffer.isBuffer(value) ? value.toString('base64') : typeof value === 'bigint' ? value.toString() : value;
  }
  return out;
}

/** The tables whose rows differ, with how many rows were added and removed in each. */
export function snapshotDiff(before: DatabaseSnapshot, after: DatabaseSnapshot): { table: string; added: number; removed: number }[] {
  const diffs: { table: string; added: number; removed: number }[] = [];
  for (const table of new Set([...before.keys(), ...after.keys()])) {
    const a = new Set(before.get(table) ?? []);
    const b = new Set(after.get(table) ?? []);
    const added = [...b].filter((row) => !a.has(row)).length;
    const removed = [...a].filter((row) => !b.has(row)).length;
    if (added > 0 || removed > 0 || !before.has(table) || !after.has(table)) diffs.push({ table, added, removed });
  }
  return diffs;
}
