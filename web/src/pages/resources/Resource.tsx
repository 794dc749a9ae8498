// One resource: its draft editor (editable environments), the resource compared across every
// environment of the chain, its override and kill switch per environment, and for workflows
// the test runner.
import { useParams, useSearchParams, Link } from 'react-router';
import { Badge } from '../../components/Badge';
import { ErrorNotice, Spinner } from '../../components/Feedback';
import { PageHeader, Tabs } from '../../components/Misc';
import { useEnv } from '../../context';
import { KINDS, useResource, type Kind } from './api';
import { Compare } from './Compare';
import { Controls } from './Controls';
import { DraftEditor } from './DraftEditor';
import { DraftBadge } from './shared';
import { TestRunner } from './TestRunner';
import './resources.css';

type TabId = 'edit' | 'compare' | 'controls' | 'test';

export default function Resource() {
  const params = useParams();
  const kind = params.kind as Kind;
  const key = params.key ?? '';
  const { ws, env, environment, envPath } = useEnv();
  const [search, setSearch] = useSearchParams();
  const resource = useResource(ws, env, kind, key);
  const editable = environment?.editable ?? false;

  if (!(KINDS as readonly string[]).includes(kind)) {
    return (
      <>
        <PageHeader title="Unknown kind" />
        <ErrorNotice error={new Error(`"${params.kind}" is not a resource kind: use one of ${KINDS.join(', ')}.`)} title="Unknown kind" />
        <Link to={envPath('resources')}>Back to the resources</Link>
      </>
    );
  }

  const tabs: { id: TabId; label: string }[] = [
    { id: 'edit', label: editable ? 'Edit draft' : 'Content' },
    { id: 'compare', label: 'Compare environments' },
    { id: 'controls', label: 'Overrides & kill switch' },
    ...(kind === 'workflow' ? [{ id: 'test' as const, label: 'Test run' }] : []),
  ];
  const requested = search.get('tab') as TabId | null;
  const tab: TabId = requested && tabs.some((t) => t.id === requested) ? requested : 'edit';
  const view = resource.data;

  return (
    <>
      <PageHeader
        title={`${kind}/${key}`}
        description={
          <span className="resource-meta">
            <Link to={envPath('resources')}>Resources</Link>
            <span aria-hidden="true"> · </span>
            {view?.app ? <Badge>app {view.app}</Badge> : null}
            {view?.committed ? <Badge tone="neutral">committed in release {view.committed.release}</Badge> : null}
            {view?.draft ? <DraftBadge state={view.draft.deleted ? 'deleted' : view.committed ? 'modified' : 'created'} /> : null}
            {view ? view.active ? <Badge tone="success">active here</Badge> : <Badge tone="danger">switched off here</Badge> : null}
          </span>
        }
      />
      <Tabs
        label="Resource views"
        tabs={tabs}
        value={tab}
        onChange={(id) => {
          const next = new URLSearchParams(search);
          next.set('tab', id);
          setSearch(next, { replace: true });
        }}
      />
      <div role="tabpanel" aria-labelledby={`tab-${tab}`} className="resource-panel">
        {resource.error ? (
          <ErrorNotice error={resource.error} />
        ) : resource.isPending ? (
          <div className="panel-placeholder">
            <Spinner label="Loading the resource" />
          </div>
        ) : tab === 'edit' ? (
          <DraftEditor kind={kind} resourceKey={key} resource={view ?? null} />
        ) : tab === 'compare' ? (
          <Compare kind={kind} resourceKey={key} />
        ) : tab === 'controls' ? (
          <Controls kind={kind} resourceKey={key} />
        ) : (
          <TestRunner workflow={key} />
        )}
      </div>
    </>
  );
}
