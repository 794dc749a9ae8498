// The resources of the current environment: what is committed, drafted, switched off or
// overridden, filtered by kind, app and text; a new resource starts as a draft in the editor.
import { useId, useMemo, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { Badge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { Dialog } from '../../components/Dialog';
import { EmptyState, ErrorNotice, Notice, Spinner } from '../../components/Feedback';
import { PageHeader, SelectField, TextField } from '../../components/Misc';
import { useEnv } from '../../context';
import { KINDS, useOverrides, useResourceList, type Kind, type ResourceRow } from './api';
import { DraftBadge, editableReason } from './shared';
import './resources.css';

const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const APP_PATTERN = /^[a-z][a-z0-9-]{0,40}$/;

export default function Resources() {
  const { ws, env, environment, environments, envPath } = useEnv();
  const list = useResourceList(ws, env);
  const overrides = useOverrides(ws, env);
  const [kind, setKind] = useState('');
  const [app, setApp] = useState('');
  const [text, setText] = useState('');
  const [creating, setCreating] = useState(false);
  const readOnly = editableReason(environment, environments);

  const apps = useMemo(() => [...new Set((list.data ?? []).map((r) => r.app).filter((a): a is string => !!a))].sort(), [list.data]);
  const rows = useMemo(() => {
    const needle = text.trim().toLowerCase();
    return (list.data ?? []).filter(
      (r) => (!kind || r.kind === kind) && (!app || r.app === app) && (!needle || `${r.kind}/${r.key} ${r.app ?? ''}`.toLowerCase().includes(needle)),
    );
  }, [list.data, kind, app, text]);

  return (
    <>
      <PageHeader
        title="Resources"
        description={<>Workflows, layouts, routes, tools and config of {environment?.name ?? env}: what is committed, drafted, switched off or overridden here.</>}
        actions={
          <Button variant="primary" onClick={() => setCreating(true)} disabled={readOnly !== null} title={readOnly ?? undefined} aria-describedby={readOnly ? 'new-resource-why' : undefined}>
            New resource
          </Button>
        }
      />
      {readOnly ? (
        <p className="muted" id="new-resource-why">
          {readOnly}
        </p>
      ) : null}
      <div className="toolbar" role="search" aria-label="Filter resources">
        <SelectField label="Kind" value={kind} onChange={(e) => setKind(e.target.value)}>
          <option value="">All kinds</option>
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </SelectField>
        <SelectField label="App" value={app} onChange={(e) => setApp(e.target.value)}>
          <option value="">All apps</option>
          {apps.map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </SelectField>
        <TextField label="Search" type="search" placeholder="kind/key or app" value={text} onChange={(e) => setText(e.target.value)} />
      </div>
      {list.error ? <ErrorNotice error={list.error} /> : null}
      {list.isPending ? (
        <div className="resources-placeholder">
          <Spinner label="Loading resources" />
        </div>
      ) : list.data && list.data.length === 0 ? (
        <EmptyState
          title={`No resources in ${environment?.name ?? env} yet`}
          action={
            readOnly ? (
              <Link to={envPath('resources', environments.find((e) => e.editable)?.slug ?? 'development')}>Create them in development, then promote</Link>
            ) : (
              <Button variant="primary" onClick={() => setCreating(true)}>
                New resource
              </Button>
            )
          }
        >
          {readOnly ? <p>{readOnly}</p> : <p>Create a workflow, route, tool, layout or config: it starts as a draft you commit on the Changes page.</p>}
        </EmptyState>
      ) : list.data ? (
        rows.length === 0 ? (
          <EmptyState title="No resource matches these filters">
            <p>Clear the search or pick another kind or app.</p>
          </EmptyState>
        ) : (
          <ResourceTable rows={rows} overrides={overrides.data} linkOf={(r) => envPath(`resources/${r.kind}/${encodeURIComponent(r.key)}`)} />
        )
      ) : null}
      <NewResourceDialog open={creating} onClose={() => setCreating(false)} apps={apps} />
    </>
  );
}

function ResourceTable({ rows, overrides, linkOf }: { rows: ResourceRow[]; overrides: Map<string, unknown> | undefined; linkOf: (r: ResourceRow) => string }) {
  return (
    <table className="table resources-table">
      <caption className="visually-hidden">Resources</caption>
      <thead>
        <tr>
          <th scope="col">Resource</th>
          <th scope="col">Kind</th>
          <th scope="col">App</th>
          <th scope="col">Committed</th>
          <th scope="col">Draft</th>
          <th scope="col">Status</th>
          <th scope="col">Override</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => {
          const override = overrides?.get(`${r.kind}/${r.key}`);
          return (
            <tr key={`${r.kind}/${r.key}`}>
              <th scope="row">
                <Link to={linkOf(r)}>
                  <code>
                    {r.kind}/{r.key}
                  </code>
                </Link>
              </th>
              <td>{r.kind}</td>
              <td>{r.app ?? <span className="muted">—</span>}</td>
              <td>{r.committedHash ? <code title={r.committedHash}>{r.committedHash.slice(0, 10)}</code> : <span className="muted">not committed</span>}</td>
              <td>{r.draft ? <DraftBadge state={r.draft} /> : <span className="muted">—</span>}</td>
              <td>{r.active ? <Badge tone="success">active</Badge> : <Badge tone="danger">switched off</Badge>}</td>
              <td>{override !== undefined && override !== null ? <Badge tone="warning">overridden</Badge> : <span className="muted">—</span>}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function NewResourceDialog({ open, onClose, apps }: { open: boolean; onClose: () => void; apps: string[] }) {
  const { envPath } = useEnv();
  const navigate = useNavigate();
  const [kind, setKind] = useState<Kind>('workflow');
  const [key, setKey] = useState('');
  const [app, setApp] = useState('');
  const [errors, setErrors] = useState<{ key?: string; app?: string }>({});
  const formId = useId();
  const appsList = useId();

  function submit() {
    const found: { key?: string; app?: string } = {};
    if (!KEY_PATTERN.test(key)) found.key = 'must be 1-128 letters, digits, dots, underscores or hyphens, starting with a letter or digit';
    if (app && !APP_PATTERN.test(app)) found.app = 'must be a lowercase label of letters, digits and hyphens';
    setErrors(found);
    if (found.key || found.app) return;
    const query = app ? `?new=1&app=${encodeURIComponent(app)}` : '?new=1';
    onClose();
    navigate(envPath(`resources/${kind}/${encodeURIComponent(key)}`) + query);
  }

  return (
    <Dialog
      open={open}
      title="New resource"
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button variant="primary" type="submit" form={formId}>
            Open the editor
          </Button>
        </>
      }
    >
      <form
        id={formId}
        onSubmit={(event) => {
          event.preventDefault();
          submit();
        }}
      >
        <SelectField label="Kind" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </SelectField>
        <TextField label="Key" value={key} onChange={(e) => setKey(e.target.value)} error={errors.key} hint="e.g. welcome, payments, checkout.v2" autoComplete="off" spellCheck={false} required />
        <TextField label="App (optional)" value={app} onChange={(e) => setApp(e.target.value)} error={errors.app} hint="a label that filters views and selective promotions" list={appsList} autoComplete="off" />
        <datalist id={appsList}>
          {apps.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <Notice>The editor opens on a draft with example content; nothing is saved until you save the draft.</Notice>
      </form>
    </Dialog>
  );
}
