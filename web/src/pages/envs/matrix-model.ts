// The matrix of what runs where as plain data: one row per resource, one cell per environment,
// drift where a cell runs something other than the environment it is promoted from (its left
// neighbour in the chain, a branch's parent). Pure, so the page only filters and draws.
import type { Environment } from '../../api/queries';
import type { MatrixColumn } from './data';

export interface MatrixCell {
  /** The environment lists the resource (committed or as a draft). */
  present: boolean;
  /** The committed content hash the environment runs; null when it has none committed. */
  hash: string | null;
  draft: MatrixColumn['resources'][number]['draft'];
  active: boolean;
  override: boolean;
  /** Differs from the column it is compared with (index in `compareWith`). */
  drift: boolean;
}

export interface MatrixRow {
  id: string;
  kind: string;
  key: string;
  app: string | null;
  cells: MatrixCell[];
  drift: boolean;
  /** Lower-cased text the search box matches. */
  text: string;
}

export interface Matrix {
  rows: MatrixRow[];
  kinds: string[];
  apps: string[];
  /** For each column, the column its drift is measured against (-1: none). */
  compareWith: number[];
}

export function buildMatrix(columns: Environment[], data: MatrixColumn[]): Matrix {
  const compareWith = columns.map((env, index) => {
    if (env.kind === 'branch') return columns.findIndex((c) => c.slug === env.parent);
    for (let i = index - 1; i >= 0; i--) if (columns[i]!.kind === 'chain') return i;
    return -1;
  });
  const byId = new Map<string, MatrixRow>();
  const kinds = new Set<string>();
  const apps = new Set<string>();
  columns.forEach((env, column) => {
    for (const r of data.find((c) => c.environment === env.slug)?.resources ?? []) {
      const id = `${r.kind}/${r.key}`;
      let row = byId.get(id);
      if (!row) {
        row = { id, kind: r.kind, key: r.key, app: null, cells: columns.map(absent), drift: false, text: '' };
        byId.set(id, row);
      }
      row.app ??= r.app;
      row.cells[column] = { present: true, hash: r.committedHash, draft: r.draft, active: r.active, override: r.override, drift: false };
    }
  });
  const rows = [...byId.values()].sort((a, b) => (a.kind === b.kind ? (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) : a.kind < b.kind ? -1 : 1));
  for (const row of rows) {
    kinds.add(row.kind);
    if (row.app) apps.add(row.app);
    row.text = `${row.id} ${row.app ?? ''}`.toLowerCase();
    // A resource not yet in an environment whose predecessor runs it drifts there too.
    row.cells.forEach((cell, column) => {
      const other = compareWith[column]!;
      if (other < 0) return;
      cell.drift = row.cells[other]!.hash !== cell.hash;
      if (cell.drift) row.drift = true;
    });
  }
  return { rows, kinds: [...kinds].sort(), apps: [...apps].sort(), compareWith };
}

function absent(): MatrixCell {
  return { present: false, hash: null, draft: null, active: true, override: false, drift: false };
}

export interface MatrixFilter {
  kind: string;
  app: string;
  text: string;
  driftOnly: boolean;
}

export const NO_APP = '\u0000none';

export function filterRows(rows: MatrixRow[], filter: MatrixFilter): MatrixRow[] {
  const text = filter.text.trim().toLowerCase();
  if (!text && !filter.kind && !filter.app && !filter.driftOnly) return rows;
  return rows.filter(
    (row) =>
      (!filter.kind || row.kind === filter.kind) &&
      (!filter.app || (filter.app === NO_APP ? row.app === null : row.app === filter.app)) &&
      (!filter.driftOnly || row.drift) &&
      (!text || row.text.includes(text)),
  );
}
