// What runs where: every resource against every environment of the chain (branches optional),
// the short hash each one runs, drafts, inactive resources and overrides marked, drift from the
// environment it is promoted from highlighted. Rows are virtualized, so thousands stay fluid.
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { Environment } from '../../api/queries';
import { Badge, EnvBadge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { EmptyState, ErrorNotice, Spinner } from '../../components/Feedback';
import { CheckboxField, PageHeader, SelectField, TextField } from '../../components/Misc';
import { chainOf, useEnv } from '../../context';
import { fetchMatrix } from './data';
import { buildMatrix, filterRows, NO_APP, type MatrixCell, type MatrixFilter, type MatrixRow } from './matrix-model';
import './envs.css';

const ROW_HEIGHT = 36;

export default function Matrix() {
  const { ws, environments, envPath } = useEnv();
  const [withBranches, setWithBranches] = useState(false);
  const [filter, setFilter] = useState<MatrixFilter>({ kind: '', app: '', text: '', driftOnly: false });
  const chain = chainOf(environments);
  const branches = environments.filter((e) => e.kind === 'branch');
  const columns = useMemo(() => {
    const ordered = chainOf(environments);
    return withBranches ? [...ordered, ...environments.filter((e) => e.kind === 'branch')] : ordered;
  }, [withBranches, environments]);

  const slugs = columns.map((e) => e.slug);
  const query = useQuery({
    queryKey: [ws, 'matrix', slugs.join(',')] as const,
    queryFn: ({ signal }) => fetchMatrix(ws, slugs, signal),
    enabled: slugs.length > 0,
    staleTime: 30_000,
  });
  const loading = columns.length === 0 || query.isPending;
  const matrix = useMemo(() => (query.data ? buildMatrix(columns, query.data) : null), [columns, query.data]);
  const rows = useMemo(() => (matrix ? filterRows(matrix.rows, filter) : []), [matrix, filter]);
  const set = (patch: Partial<MatrixFilter>) => setFilter((f) => ({ ...f, ...patch }));
  const filtered = filter.kind !== '' || filter.app !== '' || filter.text.trim() !== '' || filter.driftOnly;

  return (
    <>
      <PageHeader
        title="What runs where"
        description="Every resource in every environment: the first 7 characters of the content hash each environment runs. A highlighted cell differs from the environment it is promoted from."
      />
      <div className="matrix-toolbar" role="search" aria-label="Filter the matrix">
        <TextField label="Search" type="search" value={filter.text} onChange={(e) => set({ text: e.target.value })} placeholder="kind/key or app" autoComplete="off" />
        <SelectField label="Kind" value={filter.kind} onChange={(e) => set({ kind: e.target.value })}>
          <option value="">All kinds</option>
          {(matrix?.kinds ?? []).map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </SelectField>
        <SelectField label="App" value={filter.app} onChange={(e) => set({ app: e.target.value })}>
          <option value="">All apps</option>
          <option value={NO_APP}>No app</option>
          {(matrix?.apps ?? []).map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </SelectField>
        <CheckboxField label="Drift only" checked={filter.driftOnly} onChange={(e) => set({ driftOnly: e.target.checked })} />
        <CheckboxField label={`Show branches${branches.length ? ` (${branches.length})` : ''}`} checked={withBranches} onChange={(e) => setWithBranches(e.target.checked)} />
      </div>
      <p className="matrix-count" aria-live="polite">
        {matrix ? (filtered ? `${rows.length} of ${matrix.rows.length} resources` : `${matrix.rows.length} resources`) : ''}
        {matrix && matrix.rows.some((r) => r.drift) ? ` · ${matrix.rows.filter((r) => r.drift).length} with drift` : ''}
      </p>
      <ul className="matrix-legend" aria-label="Legend">
        <li>
          <span className="matrix-drift-mark" aria-hidden="true">
            ≠
          </span>
          differs from the environment before it
        </li>
        <li>
          <Badge tone="info">override</Badge> patched in that environment
        </li>
        <li>
          <Badge tone="danger">inactive</Badge> kill switch off
        </li>
        <li>
          <Badge>draft</Badge> uncommitted edit
        </li>
      </ul>
      <ErrorNotice error={query.error} />
      {loading ? (
        <div className="matrix-scroll" aria-busy="true">
          <Spinner label="Loading every environment's resources" />
        </div>
      ) : matrix && matrix.rows.length === 0 ? (
        <EmptyState
          title="No resources in any environment yet"
          action={
            <Link className="btn btn-primary" to={envPath('resources', chain[0]?.slug)}>
              Create a resource in {chain[0]?.name ?? 'development'}
            </Link>
          }
        >
          Create a resource, commit it and promote it: this page then shows what each environment runs.
        </EmptyState>
      ) : matrix ? (
        <MatrixTable columns={columns} environments={environments} rows={rows} compareWith={matrix.compareWith} onClear={filtered ? () => setFilter({ kind: '', app: '', text: '', driftOnly: false }) : undefined} />
      ) : null}
    </>
  );
}

function MatrixTable({
  columns,
  environments,
  rows,
  compareWith,
  onClear,
}: {
  columns: Environment[];
  environments: Environment[];
  rows: MatrixRow[];
  compareWith: number[];
  onClear: (() => void) | undefined;
}) {
  const { envPath } = useEnv();
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    initialRect: { width: 1000, height: 600 },
  });
  const items = virtualizer.getVirtualItems();
  const total = virtualizer.getTotalSize();
  const top = items[0]?.start ?? 0;
  const bottom = total - (items[items.length - 1]?.end ?? 0);

  // When the rows the user sees are on the screen: a performance mark and a time a test can read.
  useEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    performance.mark('matrix-rendered');
    el.dataset.renderedMs = String(Math.round(performance.now()));
    el.dataset.rows = String(rows.length);
  }, [rows]);

  return (
    <div className="matrix-scroll" ref={scrollRef} role="region" aria-label="Resources by environment" tabIndex={0}>
      <table className="matrix" aria-rowcount={rows.length + 1}>
        <thead>
          <tr aria-rowindex={1}>
            <th scope="col">Resource</th>
            {columns.map((env) => (
              <th scope="col" key={env.id}>
                <span className="matrix-env-head">
                  <EnvBadge environment={env} environments={environments} />
                  <span className="muted">
                    {env.release > 0 ? (
                      <Link to={envPath('releases', env.slug)} aria-label={`${env.name} runs release ${env.release}`}>
                        release #{env.release}
                      </Link>
                    ) : (
                      'no release yet'
                    )}
                  </span>
                </span>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={columns.length + 1}>
                <EmptyState title="No resource matches the filters" action={onClear ? <Button onClick={onClear}>Clear the filters</Button> : undefined}>
                  Change the search, the kind or the app, or turn off “Drift only”.
                </EmptyState>
              </td>
            </tr>
          ) : null}
          {top > 0 ? (
            <tr className="matrix-spacer" aria-hidden="true">
              <td colSpan={columns.length + 1} style={{ height: top }} />
            </tr>
          ) : null}
          {items.map((item) => {
            const row = rows[item.index]!;
            return (
              <tr key={row.id} aria-rowindex={item.index + 2} className={row.drift ? 'matrix-row-drift' : undefined}>
                <th scope="row" title={row.id}>
                  <span className="matrix-id">{row.id}</span>
                  {row.app ? (
                    <span className="matrix-app">
                      <Badge>{row.app}</Badge>
                    </span>
                  ) : null}
                </th>
                {row.cells.map((cell, column) => (
                  <Cell
                    key={columns[column]!.id}
                    row={row}
                    cell={cell}
                    env={columns[column]!}
                    against={compareWith[column]! >= 0 ? columns[compareWith[column]!] : undefined}
                    href={envPath(`resources/${encodeURIComponent(row.kind)}/${encodeURIComponent(row.key)}`, columns[column]!.slug)}
                  />
                ))}
              </tr>
            );
          })}
          {bottom > 0 ? (
            <tr className="matrix-spacer" aria-hidden="true">
              <td colSpan={columns.length + 1} style={{ height: bottom }} />
            </tr>
          ) : null}
        </tbody>
      </table>
    </div>
  );
}

function Cell({ row, cell, env, against, href }: { row: MatrixRow; cell: MatrixCell; env: Environment; against: Environment | undefined; href: string }) {
  const drift = cell.drift && against ? `, differs from ${against.name}` : '';
  const className = ['matrix-cell', cell.drift ? 'matrix-drift' : '', cell.present && !cell.active ? 'matrix-inactive' : ''].filter(Boolean).join(' ');
  if (!cell.present) {
    return (
      <td className={className}>
        {cell.drift ? (
          <span className="matrix-drift-mark" aria-hidden="true">
            ≠
          </span>
        ) : null}
        <span className="matrix-absent" aria-hidden="true">
          —
        </span>
        <span className="visually-hidden">
          not in {env.name}
          {drift}
        </span>
      </td>
    );
  }
  const short = cell.hash ? cell.hash.slice(0, 7) : 'draft only';
  const label = `${row.id} in ${env.name}: ${cell.hash ? short : 'not committed'}${cell.active ? '' : ', inactive'}${cell.override ? ', overridden' : ''}${cell.draft ? `, draft ${cell.draft}` : ''}${drift}`;
  return (
    <td className={className}>
      {cell.drift ? (
        <span className="matrix-drift-mark" aria-hidden="true">
          ≠
        </span>
      ) : null}
      <Link to={href} aria-label={label} title={cell.hash ?? undefined}>
        {short}
      </Link>
      {cell.override ? <Badge tone="info">override</Badge> : null}
      {!cell.active ? <Badge tone="danger">inactive</Badge> : null}
      {cell.draft ? <Badge>draft</Badge> : null}
    </td>
  );
}
