// The uncommitted drafts of the current environment with their per-field diff; commit some or
// all of them with a message into a new release, and go to it.
import { useEffect, useId, useRef, useState } from 'react';
import { Link } from 'react-router';
import { fieldErrors } from '../../api/client';
import { useInvalidate } from '../../api/queries';
import { Badge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { Diff } from '../../components/Diff';
import { EmptyState, ErrorNotice, Notice, Spinner } from '../../components/Feedback';
import { PageHeader, TextField, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { useChanges, writes, type Change, type CommitAnswer } from './api';
import { editableReason } from './shared';
import './resources.css';

const STATUS: Record<Change['status'], { label: string; tone: 'info' | 'warning' | 'danger' }> = {
  added: { label: 'new', tone: 'info' },
  changed: { label: 'changed', tone: 'warning' },
  removed: { label: 'deletion', tone: 'danger' },
};

export default function Changes() {
  const { ws, env, environment, environments, envPath } = useEnv();
  const readOnly = editableReason(environment, environments);
  const changes = useChanges(ws, env);
  const invalidate = useInvalidate();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [committed, setCommitted] = useState<CommitAnswer | null>(null);
  const allId = useId();
  const rows = changes.data?.data ?? [];
  const ids = rows.map((c) => `${c.kind}/${c.key}`);

  // Everything is selected at first, and drafts that appear later join the selection.
  const known = ids.join('\n');
  const seen = useRef(new Set<string>());
  useEffect(() => {
    const fresh = new Set(ids.filter((id) => !seen.current.has(id)));
    for (const id of ids) seen.current.add(id);
    setSelected((previous) => new Set(ids.filter((id) => previous.has(id) || fresh.has(id))));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [known]);

  const byField = fieldErrors(error);
  const all = ids.length > 0 && ids.every((id) => selected.has(id));

  async function commit() {
    setBusy(true);
    setError(null);
    setCommitted(null);
    try {
      const chosen = ids.filter((id) => selected.has(id));
      const release = await writes.commit(ws, env, message.trim(), all ? undefined : chosen);
      setCommitted(release);
      setMessage('');
      invalidate(ws);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <PageHeader title="Changes" description={<>Uncommitted drafts of {environment?.name ?? env}. A commit turns the ones you select into a new release.</>} />
      {committed ? (
        <Notice kind="success">
          Committed release{' '}
          <Link to={envPath(`releases/${committed.number}`)}>
            <strong>{committed.name}</strong>
          </Link>{' '}
          ({committed.resourceCount} resource{committed.resourceCount === 1 ? '' : 's'}). Promote it to the next environment from the{' '}
          <Link to={envPath('promote')}>Promote</Link> page.
        </Notice>
      ) : null}
      {readOnly ? (
        <EmptyState title={`${environment?.name ?? env} has no drafts`} action={<Link to={envPath('promote')}>Go to Promote</Link>}>
          <p>{readOnly}</p>
        </EmptyState>
      ) : changes.error ? (
        <ErrorNotice error={changes.error} />
      ) : changes.isPending ? (
        <div className="resources-placeholder">
          <Spinner label="Loading changes" />
        </div>
      ) : rows.length === 0 ? (
        <EmptyState title="Nothing to commit" action={<Link to={envPath('resources')}>Go to the resources</Link>}>
          <p>Edit a resource and save its draft: it shows up here, ready to commit.</p>
        </EmptyState>
      ) : (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void commit();
          }}
        >
          <div className="changes-select-all field-checkbox">
            <input
              id={allId}
              type="checkbox"
              checked={all}
              ref={(el) => {
                if (el) el.indeterminate = !all && selected.size > 0;
              }}
              onChange={() => setSelected(all ? new Set() : new Set(ids))}
            />
            <label htmlFor={allId}>
              Select all ({selected.size} of {ids.length} selected)
            </label>
          </div>
          <ul className="changes-list">
            {rows.map((change) => {
              const id = `${change.kind}/${change.key}`;
              return (
                <li key={id} className="section change">
                  <div className="change-head">
                    <input
                      type="checkbox"
                      id={`change-${id}`}
                      checked={selected.has(id)}
                      onChange={() =>
                        setSelected((prev) => {
                          const next = new Set(prev);
                          if (next.has(id)) next.delete(id);
                          else next.add(id);
                          return next;
                        })
                      }
                    />
                    <label htmlFor={`change-${id}`} className="change-title">
                      <code>{id}</code>
                    </label>
                    <Badge tone={STATUS[change.status].tone}>{STATUS[change.status].label}</Badge>
                    {change.stale ? (
                      <Badge tone="danger" title="The committed content moved after this draft was started">
                        stale: committed since
                      </Badge>
                    ) : null}
                    <span className="muted change-when">
                      edited <When at={change.updatedAt} />
                    </span>
                    <Link to={envPath(`resources/${change.kind}/${encodeURIComponent(change.key)}`)} className="change-open">
                      Open {id}
                    </Link>
                  </div>
                  {change.app ? (
                    <p className="muted">
                      App: {change.app.before ?? 'none'} → {change.app.after ?? 'none'}
                    </p>
                  ) : null}
                  {change.fields.length === 0 && change.status === 'changed' ? <p className="muted">Only the app label changes.</p> : <Diff changes={change.fields} beforeLabel="Committed" afterLabel="Draft" caption={`Fields of ${id}`} />}
                </li>
              );
            })}
          </ul>
          <div className="section commit-box">
            <TextField label="Commit message" value={message} onChange={(e) => setMessage(e.target.value)} error={byField.message} placeholder="What changes and why" required maxLength={2000} />
            <ErrorNotice error={byField.message ? null : error} />
            <Button variant="primary" type="submit" busy={busy} disabled={selected.size === 0 || message.trim() === ''}>
              {all ? `Commit all ${ids.length}` : `Commit ${selected.size} selected`}
            </Button>
          </div>
        </form>
      )}
    </>
  );
}
