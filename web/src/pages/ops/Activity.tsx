// Activity: runtime writes made with API keys (data records, feed read marks, workflow
// triggers), newest first, filtered by environment, key, action and time, paginated.
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, fieldErrors, unwrap } from '../../api/client';
import { EnvBadge } from '../../components/Badge';
import { EmptyState, ErrorNotice, Spinner } from '../../components/Feedback';
import { PageHeader, SelectField, TextField, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { compact, isoOf, Pager, useCursor, type ActivityEntry, type Page } from './common';
import { FilterForm, useUrlFilters } from './Filters';
import './ops.css';

const ACTIONS = [
  { id: '', label: 'every action' },
  { id: 'data.*', label: 'data (any)' },
  { id: 'data.put', label: 'data.put' },
  { id: 'data.delete', label: 'data.delete' },
  { id: 'feed.*', label: 'feed (any)' },
  { id: 'feed.read', label: 'feed.read' },
  { id: 'feed.read_all', label: 'feed.read_all' },
  { id: 'workflow.trigger', label: 'workflow.trigger' },
];
const FILTERS = ['environment', 'key', 'action', 'since', 'until'] as const;

interface ApiKeyView {
  id: string;
  name: string;
  kind: string;
  prefix: string;
}

export default function Activity() {
  const { ws, env, environments } = useEnv();
  const { applied, apply, key } = useUrlFilters(FILTERS);
  // The switcher's environment unless the filter says otherwise ("all" for every one).
  const environment = applied.environment === 'all' ? '' : applied.environment || env;
  const paging = useCursor(`${ws}|${environment}|${key}`);
  const apiKeys = useQuery({
    queryKey: [ws, 'env', environment, 'api-keys'],
    queryFn: async () => ((await unwrap(api.GET('/api/workspaces/{ws}/environments/{env}/api-keys', { params: { path: { ws, env: environment } } }))) as unknown as Page<ApiKeyView>).data,
    enabled: environment !== '',
  });
  const activity = useQuery({
    queryKey: [ws, 'activity', environment, applied.key, applied.action, applied.since, applied.until, paging.cursor ?? ''],
    queryFn: async () => {
      const query = compact({ environment, actor: applied.key, action: applied.action, since: isoOf(applied.since), until: isoOf(applied.until), cursor: paging.cursor, limit: 50 });
      return (await unwrap(api.GET('/api/workspaces/{ws}/activity', { params: { path: { ws }, query } }))) as Page<ActivityEntry>;
    },
    placeholderData: keepPreviousData,
  });
  const errors = fieldErrors(activity.error);
  const keyName = new Map((apiKeys.data ?? []).map((k) => [k.id, `${k.name} (${k.prefix}…)`]));

  return (
    <>
      <PageHeader title="Activity" description="Runtime writes made with API keys: data records, feed read marks and workflow triggers. Members' changes are in the audit log." />
      <FilterForm applied={{ ...applied, environment: applied.environment || env }} onApply={(next) => apply({ ...next, environment: next.environment === env ? '' : next.environment })} label="Activity filters">
        {(draft, set) => (
          <>
            <SelectField label="Environment" value={draft.environment} onChange={(e) => set('environment', e.target.value)} error={errors.environment}>
              <option value="all">every environment</option>
              {environments.map((e) => (
                <option key={e.slug} value={e.slug}>
                  {e.name}
                </option>
              ))}
            </SelectField>
            <SelectField label="API key" value={draft.key} onChange={(e) => set('key', e.target.value)} error={errors.actor} disabled={environment === ''}>
              <option value="">every key</option>
              {(apiKeys.data ?? []).map((k) => (
                <option key={k.id} value={k.id}>
                  {k.name} ({k.prefix}…)
                </option>
              ))}
            </SelectField>
            <SelectField label="Action" value={draft.action} onChange={(e) => set('action', e.target.value)} error={errors.action}>
              {ACTIONS.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.label}
                </option>
              ))}
            </SelectField>
            <TextField label="Since" type="datetime-local" value={draft.since} onChange={(e) => set('since', e.target.value)} error={errors.since} />
            <TextField label="Until" type="datetime-local" value={draft.until} onChange={(e) => set('until', e.target.value)} error={errors.until} />
          </>
        )}
      </FilterForm>

      <section className="section" aria-label="Activity entries">
        <div className="ops-list-box">
          {activity.error ? (
            <ErrorNotice error={activity.error} />
          ) : !activity.data ? (
            <Spinner label="Loading activity" />
          ) : activity.data.data.length === 0 && paging.page === 1 ? (
            <EmptyState title="No runtime writes match">
              Writes appear here when an application stores data, marks feed messages read or triggers a workflow with an API key. Widen the filters or choose another environment.
            </EmptyState>
          ) : (
            <>
              <table className="table">
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Environment</th>
                    <th scope="col">API key</th>
                    <th scope="col">Action</th>
                    <th scope="col">Target</th>
                    <th scope="col">Details</th>
                  </tr>
                </thead>
                <tbody>
                  {activity.data.data.map((a) => (
                    <tr key={a.id}>
                      <td className="ops-nowrap">
                        <When at={a.at} />
                      </td>
                      <td>
                        <EnvBadge environment={environments.find((e) => e.slug === a.environment)} environments={environments} slug={a.environment} />
                      </td>
                      <td>{a.actor.name ?? keyName.get(a.actor.id) ?? a.actor.id}</td>
                      <td>
                        <code>{a.action}</code>
                      </td>
                      <td className="ops-target">{a.target}</td>
                      <td className="ops-details">{detailsText(a.details)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager paging={paging} next={activity.data.next} label="Activity" />
            </>
          )}
        </div>
      </section>
    </>
  );
}

function detailsText(details: Record<string, unknown>): string {
  return Object.entries(details)
    .filter(([k]) => k !== 'collection' && k !== 'id')
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' · ');
}
