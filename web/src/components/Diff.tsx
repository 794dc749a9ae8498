// Per-field differences of one resource's content: JSON Pointer, the value before and after.
// Takes the API's field changes ({path, before?, after?}) or two values to compare.
import { fieldChanges, type FieldChange } from '../../../src/domain/releases/field-changes';

// The server's own field diff (one rule, one place), bundled as is: it uses no Node API.
export { fieldChanges, type FieldChange };

export function formatValue(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return JSON.stringify(value);
  return JSON.stringify(value, null, 2) ?? String(value);
}

export interface DiffProps {
  changes?: FieldChange[];
  before?: unknown;
  after?: unknown;
  /** Column titles, e.g. "staging (release 3)" and "development". */
  beforeLabel?: string;
  afterLabel?: string;
  caption?: string;
}

export function Diff({ changes, before, after, beforeLabel = 'Before', afterLabel = 'After', caption }: DiffProps) {
  const rows = changes ?? fieldChanges(before, after);
  if (rows.length === 0) return <p className="muted">No differences.</p>;
  return (
    <table className="table diff">
      {caption ? <caption>{caption}</caption> : null}
      <thead>
        <tr>
          <th scope="col">Field</th>
          <th scope="col">{beforeLabel}</th>
          <th scope="col">{afterLabel}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row, index) => {
          const kind = !('before' in row) || row.before === undefined ? 'added' : !('after' in row) || row.after === undefined ? 'removed' : 'changed';
          return (
            <tr key={`${row.path}:${index}`} className={`diff-${kind}`}>
              <th scope="row">
                <code>{row.path || '(whole value)'}</code>
                <span className="visually-hidden"> {kind}</span>
              </th>
              <td className="diff-before">
                {row.before === undefined ? <span className="muted">—</span> : <pre>{formatValue(row.before)}</pre>}
              </td>
              <td className="diff-after">{row.after === undefined ? <span className="muted">—</span> : <pre>{formatValue(row.after)}</pre>}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
