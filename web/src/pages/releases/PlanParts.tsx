// The pieces of a promotion or rollback plan, shown the same way on Promote, on a request and in
// the rollback confirmation: per-resource and per-field changes, the variables and secrets the
// changed resources use (secrets masked), missing references, and the gates with their state.
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { Badge, type BadgeTone } from '../../components/Badge';
import { Diff, fieldChanges, formatValue, type FieldChange } from '../../components/Diff';
import { Masked } from '../../components/Misc';
import type { ChangeStatus, Gate, GateState, Plan, PromotionRequest, Reference, Release, ReleaseCause, RequestStatus, ResourceChange } from './api';
import { resourceId } from './api';

const STATUS_TONE: Record<ChangeStatus, BadgeTone> = { added: 'success', changed: 'warning', removed: 'danger' };

export function ChangeBadge({ status }: { status: ChangeStatus }) {
  return <Badge tone={STATUS_TONE[status]}>{status}</Badge>;
}

/** Field rows of one resource change: an added or removed resource lists its top-level fields. */
function rowsOf(change: ResourceChange): FieldChange[] {
  const whole = change.fields.length === 1 && change.fields[0]!.path === '' ? change.fields[0]! : null;
  if (whole && change.status === 'added') return fieldChanges({}, whole.after);
  if (whole && change.status === 'removed') return fieldChanges(whole.before, {});
  return change.fields;
}

export function SummaryLine({ summary }: { summary: Plan['summary'] }) {
  const parts = [
    summary.added ? `${summary.added} added` : null,
    summary.changed ? `${summary.changed} changed` : null,
    summary.removed ? `${summary.removed} removed` : null,
  ].filter(Boolean);
  return <span>{parts.length ? parts.join(', ') : 'no changes'}</span>;
}

export interface ChangeListProps {
  changes: ResourceChange[];
  beforeLabel: string;
  afterLabel: string;
  /** Promote: tick the resources to take. */
  selected?: Set<string>;
  onToggle?: (id: string, on: boolean) => void;
  /** Builds the link to a resource's page (in the environment it now lives in). */
  linkTo?: (change: ResourceChange) => string;
}

export function ChangeList({ changes, beforeLabel, afterLabel, selected, onToggle, linkTo }: ChangeListProps) {
  const open = changes.length <= 8;
  return (
    <ul className="change-list">
      {changes.map((change) => {
        const id = resourceId(change);
        const checkboxId = `take-${id}`;
        const rows = rowsOf(change);
        return (
          <li key={id} className={`change change-${change.status}`}>
            <details open={open}>
              <summary>
                <span className="change-title">
                  <code>{id}</code> <ChangeBadge status={change.status} />
                </span>
                <span className="muted change-fields">
                  {rows.length} field{rows.length === 1 ? '' : 's'}
                </span>
              </summary>
              <div className="change-body">
                <Diff changes={rows} beforeLabel={beforeLabel} afterLabel={afterLabel} caption={`${id}: ${change.status}`} />
                {linkTo ? (
                  <p className="change-link">
                    <Link to={linkTo(change)}>Open {id}</Link>
                  </p>
                ) : null}
              </div>
            </details>
            {selected && onToggle ? (
              <div className="change-take">
                <input id={checkboxId} type="checkbox" checked={selected.has(id)} onChange={(e) => onToggle(id, e.target.checked)} />
                <label htmlFor={checkboxId}>
                  Take <span className="visually-hidden">{id}</span>
                </label>
              </div>
            ) : null}
          </li>
        );
      })}
    </ul>
  );
}

function ReferenceValue({ reference }: { reference: Reference }) {
  if (reference.missing) return <Badge tone="danger">missing</Badge>;
  if (reference.unchecked) return <Badge tone="warning">computed when it renders: not checked</Badge>;
  if (reference.secret)
    return (
      <span className="reference-secret">
        <Masked hint={reference.secret.hint} /> <span className="muted">version {reference.secret.version}</span>
        {reference.secret.inheritedFrom ? <span className="muted"> · inherited from {reference.secret.inheritedFrom}</span> : null}
      </span>
    );
  return <code>{formatValue(reference.value)}</code>;
}

export function References({ references, target }: { references: Reference[]; target: string }) {
  if (references.length === 0) return <p className="muted">The changed resources use no variables or secrets.</p>;
  return (
    <table className="table references">
      <caption className="visually-hidden">Variables and secrets as {target} resolves them</caption>
      <thead>
        <tr>
          <th scope="col">Reference</th>
          <th scope="col">Used by</th>
          <th scope="col">Value in {target}</th>
        </tr>
      </thead>
      <tbody>
        {references.map((reference) => (
          <tr key={reference.reference} className={reference.missing ? 'reference-missing' : undefined}>
            <th scope="row">
              <code>{reference.reference}</code>
            </th>
            <td>{reference.resources.join(', ')}</td>
            <td>
              <ReferenceValue reference={reference} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const GATE_TONE: Record<GateState, BadgeTone> = { passed: 'success', pending: 'warning', failed: 'danger' };
const GATE_TYPE: Record<string, string> = { approvals: 'Approvals', check: 'Check', checklist: 'Checklist', soak: 'Soak time', hold: 'Hold' };

/** Gates with their state in words and colour; `renderControl` adds e.g. a checklist tick box. */
export function Gates({ gates, renderControl }: { gates: Gate[]; renderControl?: (gate: Gate) => ReactNode }) {
  if (gates.length === 0) return <p className="muted">No gates: it applies at once.</p>;
  return (
    <ul className="gates">
      {gates.map((gate) => (
        <li key={`${gate.type}:${gate.name}`} className={`gate gate-${gate.type} gate-${gate.state}`}>
          <Badge tone={GATE_TONE[gate.state]}>{gate.state}</Badge>
          <span className="gate-type">{GATE_TYPE[gate.type] ?? gate.type}</span>
          <span className="gate-name">{gate.type === 'approvals' ? '' : gate.name}</span>
          <span className="muted gate-detail">{gate.detail}</span>
          {renderControl ? <span className="gate-control">{renderControl(gate)}</span> : null}
        </li>
      ))}
    </ul>
  );
}

const CAUSE_TONE: Record<ReleaseCause, BadgeTone> = { commit: 'info', promotion: 'success', rollback: 'warning', merge: 'info', fork: 'neutral' };

export function CauseBadge({ release }: { release: Release }) {
  return <Badge tone={CAUSE_TONE[release.cause]}>{release.cause}</Badge>;
}

/** Where a release came from, in words. */
export function origin(release: Release): string {
  if (release.cause === 'promotion' || release.cause === 'merge') return release.source ? `from ${release.source}` : '';
  if (release.cause === 'rollback') return release.rolledBackTo ? `to the snapshot of #${release.rolledBackTo}` : '';
  if (release.cause === 'fork') return release.source ? `forked at ${release.source}` : '';
  return '';
}


const REQUEST_TONE: Record<RequestStatus, BadgeTone> = { pending: 'warning', applied: 'success', rejected: 'danger', stale: 'neutral' };

export function RequestStatusBadge({ request }: { request: PromotionRequest }) {
  return (
    <>
      <Badge tone={REQUEST_TONE[request.status]}>{request.status}</Badge>
      {request.status === 'pending' && request.blocked ? (
        <>
          {' '}
          <Badge tone="danger">blocked</Badge>
        </>
      ) : null}
    </>
  );
}

/** "development#3 → production" or "production back to #2". */
export function requestTitle(request: PromotionRequest): string {
  return request.kind === 'rollback' ? `Roll back ${request.environment} to #${request.source.release}` : `${request.source.name} → ${request.environment}`;
}
