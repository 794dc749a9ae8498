// One resource in every environment of the chain side by side: committed, draft, override,
// kill switch and what each delivers (resolved, secrets masked). A cell that differs from the
// environment before it is marked and names the fields; two environments diff field by field.
import { useMemo, useState } from 'react';
import { Badge, EnvBadge } from '../../components/Badge';
import { Diff, fieldChanges } from '../../components/Diff';
import { ErrorNotice } from '../../components/Feedback';
import { SelectField } from '../../components/Misc';
import { chainOf, useEnv } from '../../context';
import type { Environment } from '../../api/queries';
import { useAcrossEnvironments, type Kind, type ResolvedView, type ResourceView } from './api';
import { JsonBlock } from './shared';

type RowId = 'committed' | 'draft' | 'override' | 'active' | 'resolved';

const ROWS: { id: RowId; label: string; hint: string }[] = [
  { id: 'committed', label: 'Committed', hint: 'the content of the current release' },
  { id: 'draft', label: 'Draft', hint: 'uncommitted edits (editable environments only)' },
  { id: 'override', label: 'Override', hint: 'merged over the committed content here, not promoted' },
  { id: 'active', label: 'Kill switch', hint: 'whether it runs here' },
  { id: 'resolved', label: 'Resolved', hint: 'what this environment delivers: override merged, variables rendered, secrets masked' },
];

interface Column {
  environment: Environment;
  resource: ResourceView | null | undefined;
  resolved: ResolvedView | undefined;
  error: unknown;
}

/** The value a row compares: undefined while loading. */
function valueOf(column: Column, row: RowId): unknown {
  const r = column.resource;
  if (r === undefined) return undefined;
  switch (row) {
    case 'committed':
      return r?.committed?.content ?? null;
    case 'draft':
      return r?.draft ? (r.draft.deleted ? '(deletion drafted)' : r.draft.content) : null;
    case 'override':
      return r?.override ?? null;
    case 'active':
      return r ? r.active : null;
    case 'resolved':
      return column.resolved ? (column.resolved.status === 'resolved' ? column.resolved.content : `(${column.resolved.status})`) : undefined;
  }
}

export function Compare({ kind, resourceKey }: { kind: Kind; resourceKey: string }) {
  const { ws, env, environments } = useEnv();
  const envs = useMemo(() => {
    const chain = chainOf(environments);
    const current = environments.find((e) => e.slug === env);
    return current && current.kind === 'branch' ? [...chain, current] : chain;
  }, [environments, env]);
  const { resources, resolved } = useAcrossEnvironments(
    ws,
    envs.map((e) => e.slug),
    kind,
    resourceKey,
  );
  const columns: Column[] = envs.map((environment, i) => ({
    environment,
    resource: resources[i]?.data,
    resolved: resolved[i]?.data,
    error: resources[i]?.error ?? resolved[i]?.error,
  }));

  // Default pair: the first two neighbours whose delivered content differs.
  const differing = columns.findIndex((c, i) => i > 0 && JSON.stringify(valueOf(columns[i - 1]!, 'resolved')) !== JSON.stringify(valueOf(c, 'resolved')));
  const [from, setFrom] = useState<string | null>(null);
  const [to, setTo] = useState<string | null>(null);
  const [what, setWhat] = useState<'resolved' | 'committed'>('resolved');
  const fromSlug = from ?? columns[Math.max(0, differing - 1)]?.environment.slug ?? '';
  const toSlug = to ?? columns[Math.max(1, differing)]?.environment.slug ?? fromSlug;
  const fromColumn = columns.find((c) => c.environment.slug === fromSlug);
  const toColumn = columns.find((c) => c.environment.slug === toSlug);

  return (
    <>
      {columns.map((c) => (c.error ? <ErrorNotice key={c.environment.slug} error={c.error} title={`Could not read ${c.environment.name}`} /> : null))}
      <div className="compare-scroll">
        <table className="table compare-table">
          <caption>
            {kind}/{resourceKey} in every environment. A marked cell differs from the environment to its left.
          </caption>
          <thead>
            <tr>
              <th scope="col">
                <span className="visually-hidden">What</span>
              </th>
              {columns.map((c) => (
                <th scope="col" key={c.environment.slug}>
                  <EnvBadge environment={c.environment} environments={environments} />
                  <span className="compare-release">{c.environment.release > 0 ? `release ${c.environment.release}` : 'no release yet'}</span>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {ROWS.map((row) => (
              <tr key={row.id}>
                <th scope="row">
                  {row.label}
                  <span className="compare-hint">{row.hint}</span>
                </th>
                {columns.map((c, i) => (
                  <Cell key={c.environment.slug} row={row.id} column={c} previous={i > 0 ? columns[i - 1] : undefined} />
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <section className="section compare-pair" aria-labelledby="pair-title">
        <h2 id="pair-title">Field by field</h2>
        <div className="toolbar">
          <SelectField label="From" value={fromSlug} onChange={(e) => setFrom(e.target.value)}>
            {columns.map((c) => (
              <option key={c.environment.slug} value={c.environment.slug}>
                {c.environment.name}
              </option>
            ))}
          </SelectField>
          <SelectField label="To" value={toSlug} onChange={(e) => setTo(e.target.value)}>
            {columns.map((c) => (
              <option key={c.environment.slug} value={c.environment.slug}>
                {c.environment.name}
              </option>
            ))}
          </SelectField>
          <SelectField label="Compare" value={what} onChange={(e) => setWhat(e.target.value as 'resolved' | 'committed')}>
            <option value="resolved">what each delivers (resolved)</option>
            <option value="committed">committed content</option>
          </SelectField>
        </div>
        {fromColumn && toColumn && valueOf(fromColumn, what) !== undefined && valueOf(toColumn, what) !== undefined ? (
          <Diff
            before={valueOf(fromColumn, what)}
            after={valueOf(toColumn, what)}
            beforeLabel={fromColumn.environment.name}
            afterLabel={toColumn.environment.name}
            caption={`${what === 'resolved' ? 'Delivered' : 'Committed'} content: ${fromColumn.environment.name} → ${toColumn.environment.name}`}
          />
        ) : (
          <p className="muted">Loading…</p>
        )}
      </section>
    </>
  );
}

function Cell({ row, column, previous }: { row: RowId; column: Column; previous: Column | undefined }) {
  const value = valueOf(column, row);
  if (value === undefined) return <td className="compare-cell muted">…</td>;
  const before = previous ? valueOf(previous, row) : undefined;
  const changes = before === undefined ? [] : fieldChanges(before, value);
  const differs = changes.length > 0;
  return (
    <td className={`compare-cell${differs ? ' cell-differs' : ''}`}>
      {differs ? (
        <p className="differs-note">
          <Badge tone="warning">differs</Badge> from {previous!.environment.name}
          {changes[0]!.path ? (
            <>
              {' at '}
              {changes.slice(0, 4).map((c, i) => (
                <code key={i} className="differs-path">
                  {c.path}
                </code>
              ))}
              {changes.length > 4 ? ` and ${changes.length - 4} more` : ''}
            </>
          ) : null}
        </p>
      ) : null}
      <CellValue row={row} column={column} value={value} />
    </td>
  );
}

function CellValue({ row, column, value }: { row: RowId; column: Column; value: unknown }) {
  if (column.resource === null && row !== 'resolved') return <span className="muted">not in {column.environment.name}</span>;
  if (row === 'active') return value ? <Badge tone="success">active</Badge> : <Badge tone="danger">switched off</Badge>;
  if (row === 'resolved' && column.resolved && column.resolved.status !== 'resolved') {
    return (
      <>
        <Badge tone={column.resolved.status === 'missing' ? 'neutral' : 'danger'}>{column.resolved.status}</Badge>
        <p className="cell-message">{column.resolved.message}</p>
      </>
    );
  }
  if (value === null) return <span className="muted">{row === 'override' ? 'none: inherits' : row === 'draft' ? 'no draft' : 'none'}</span>;
  return <JsonBlock value={value} />;
}
