// Monitoring: the chosen environments side by side (gateway figures over a time range), their
// time series with release markers (charts in a lazy chunk), and the current environment's
// health and watch, with "clear hold". Everything refreshes every 20 s in place.
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { lazy, Suspense, useEffect, useId, useState, type FormEvent } from 'react';
import { api, unwrap } from '../../api/client';
import { keys, useInvalidate } from '../../api/queries';
import { Badge, EnvBadge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { ConfirmDialog } from '../../components/Dialog';
import { EmptyState, ErrorNotice, Notice, Spinner } from '../../components/Feedback';
import { CheckboxField, PageHeader, SelectField, When } from '../../components/Misc';
import { ApiError } from '../../api/client';
import { chainOf, colorOf, useEnv } from '../../context';
import { compact, count, exactTime, millis, percent, type Analytics, type Health, type Watch } from './common';
import './ops.css';

const EnvironmentCharts = lazy(() => import('./Charts'));

const RANGES = [
  { id: '1h', label: 'Last hour', minutes: 60 },
  { id: '6h', label: 'Last 6 hours', minutes: 360 },
  { id: '24h', label: 'Last 24 hours', minutes: 1440 },
  { id: '7d', label: 'Last 7 days', minutes: 10080 },
] as const;
type RangeId = (typeof RANGES)[number]['id'];
const REFRESH_MS = 20_000;

export default function Monitoring() {
  const { ws, env, environment, environments } = useEnv();
  const [range, setRange] = useState<RangeId>('1h');
  const [chosen, setChosen] = useState<string[] | null>(null);
  const [route, setRoute] = useState('');
  const [routeDraft, setRouteDraft] = useState('');
  const [live, setLive] = useState(true);
  const routeId = useId();
  // Another workspace has other environments: start again from its chain.
  useEffect(() => setChosen(null), [ws]);

  const chain = chainOf(environments);
  const ordered = [...chain, ...environments.filter((e) => e.kind === 'branch')];
  const selected = chosen ?? chain.map((e) => e.slug);
  const minutes = RANGES.find((r) => r.id === range)!.minutes;

  const analytics = useQuery({
    queryKey: [ws, 'analytics', chosen?.join(',') ?? '(chain)', range, route],
    queryFn: async () => {
      const to = new Date();
      const from = new Date(to.getTime() - minutes * 60_000);
      const query = compact({ envs: chosen?.join(','), from: from.toISOString(), to: to.toISOString(), route: route || undefined });
      return (await unwrap(api.GET('/api/workspaces/{ws}/analytics', { params: { path: { ws }, query } }))) as Analytics;
    },
    enabled: chosen === null || chosen.length > 0,
    placeholderData: keepPreviousData,
    refetchInterval: live ? REFRESH_MS : false,
  });

  const toggle = (slug: string, on: boolean) => {
    const next = on ? [...selected, slug] : selected.filter((s) => s !== slug);
    setChosen(ordered.map((e) => e.slug).filter((s) => next.includes(s)));
  };
  const applyRoute = (event: FormEvent) => {
    event.preventDefault();
    setRoute(routeDraft.trim());
  };

  const colors = Object.fromEntries(environments.map((e) => [e.slug, colorOf(e, environments)]));
  const names = Object.fromEntries(environments.map((e) => [e.slug, e.name]));
  const data = analytics.data;

  return (
    <>
      <PageHeader
        title="Monitoring"
        description="Gateway traffic of each environment side by side: volume, errors and latency, with releases and rollbacks on the same time axis."
        actions={
          <div className="ops-live">
            <CheckboxField label="Refresh every 20 s" checked={live} onChange={(e) => setLive(e.target.checked)} />
            <span className="muted ops-updated" aria-live="off">
              {analytics.dataUpdatedAt ? `Updated ${new Date(analytics.dataUpdatedAt).toLocaleTimeString()}` : ' '}
              {analytics.isFetching ? <span className="spinner spinner-inline" aria-hidden="true" /> : null}
            </span>
          </div>
        }
      />

      <div className="section ops-filters">
        <SelectField label="Time range" value={range} onChange={(e) => setRange(e.target.value as RangeId)}>
          {RANGES.map((r) => (
            <option key={r.id} value={r.id}>
              {r.label}
            </option>
          ))}
        </SelectField>
        <fieldset className="ops-envs">
          <legend>Environments</legend>
          {ordered.map((e) => (
            <CheckboxField key={e.slug} label={e.name} checked={selected.includes(e.slug)} onChange={(event) => toggle(e.slug, event.target.checked)} />
          ))}
        </fieldset>
        <form className="ops-route" onSubmit={applyRoute}>
          <div className="field">
            <label htmlFor={routeId}>Route</label>
            <input id={routeId} value={routeDraft} onChange={(e) => setRouteDraft(e.target.value)} placeholder="every route" aria-describedby={`${routeId}-hint`} />
            <p className="field-hint" id={`${routeId}-hint`}>
              A gateway route's key, e.g. <code>payments</code>
            </p>
          </div>
          <Button type="submit">Apply</Button>
        </form>
      </div>

      <section className="section" aria-labelledby="ops-side-by-side">
        <h2 id="ops-side-by-side">Side by side{route ? ` — route ${route}` : ''}</h2>
        {selected.length === 0 ? (
          <EmptyState title="No environment chosen">Tick at least one environment above to compare its figures.</EmptyState>
        ) : (
          <div className="ops-table-box">
            {analytics.error ? <ErrorNotice error={analytics.error} /> : null}
            {!data ? <Spinner label="Loading figures" /> : <FiguresTable analytics={data} environments={environments} />}
          </div>
        )}
      </section>

      <section className="section" aria-labelledby="ops-charts">
        <h2 id="ops-charts">Over time</h2>
        <div className="ops-charts-box">
          {!data ? (
            <Spinner label="Loading charts" />
          ) : data.series.every((s) => s.points.every((p) => p.requests === 0)) && data.markers.length === 0 ? (
            <EmptyState title="No traffic in this range">Send requests through the gateway (with the x-stageline-env header) or choose a longer range.</EmptyState>
          ) : (
            <Suspense fallback={<Spinner label="Loading charts" />}>
              <EnvironmentCharts analytics={data} colors={colors} names={names} />
            </Suspense>
          )}
        </div>
      </section>

      <div className="ops-two">
        <HealthPanel ws={ws} env={env} name={environment?.name ?? env} live={live} />
        <WatchPanel ws={ws} env={env} live={live} />
      </div>
      <p className="muted">
        Health and watch are of <EnvBadge environment={environment} environments={environments} slug={env} />; switch environment at the top to see another.
      </p>
    </>
  );
}

function FiguresTable({ analytics, environments }: { analytics: Analytics; environments: ReturnType<typeof useEnv>['environments'] }) {
  if (analytics.data.length === 0) return <EmptyState title="No environments">Create environments on the Environments page.</EmptyState>;
  return (
    <table className="table ops-figures">
      <caption className="visually-hidden">Gateway figures per environment from {exactTime(analytics.from)} to {exactTime(analytics.to)}</caption>
      <thead>
        <tr>
          <th scope="col">Environment</th>
          <th scope="col" className="num">Requests</th>
          <th scope="col" className="num">Per minute</th>
          <th scope="col" className="num">Error rate</th>
          <th scope="col" className="num">Success rate</th>
          <th scope="col" className="num">p50</th>
          <th scope="col" className="num">p95</th>
          <th scope="col" className="num">p99</th>
          <th scope="col" className="num">Upstream errors</th>
        </tr>
      </thead>
      <tbody>
        {analytics.data.map((row) => (
          <tr key={row.environment}>
            <th scope="row">
              <EnvBadge environment={environments.find((e) => e.slug === row.environment)} environments={environments} slug={row.environment} />
            </th>
            <td className="num">{count(row.requests)}</td>
            <td className="num">{count(row.requestsPerMinute, 1)}</td>
            <td className={`num${row.errorRate > 0.05 ? ' ops-bad' : ''}`}>{row.requests ? percent(row.errorRate) : '—'}</td>
            <td className="num">{row.requests ? percent(row.successRate) : '—'}</td>
            <td className="num">{millis(row.p50Ms)}</td>
            <td className="num">{millis(row.p95Ms)}</td>
            <td className="num">{millis(row.p99Ms)}</td>
            <td className="num">{row.requests ? percent(row.upstreamErrorRate) : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function HealthPanel({ ws, env, name, live }: { ws: string; env: string; name: string; live: boolean }) {
  const invalidate = useInvalidate();
  const [clearing, setClearing] = useState(false);
  const health = useQuery({
    queryKey: [...keys.env(ws, env), 'health'],
    queryFn: async () => (await unwrap(api.GET('/api/workspaces/{ws}/environments/{env}/health', { params: { path: { ws, env } } }))) as Health,
    placeholderData: keepPreviousData,
    refetchInterval: live ? REFRESH_MS : false,
  });
  const h = health.data?.environment === env ? health.data : undefined;
  return (
    <section className="section ops-health" aria-labelledby="ops-health">
      <h2 id="ops-health">Health of {name}</h2>
      {health.error ? <ErrorNotice error={health.error} /> : null}
      {!h ? (
        <Spinner label="Loading health" />
      ) : (
        <>
          <div className="ops-badges">
            {h.hold ? <Badge tone="danger">On hold</Badge> : <Badge tone="success">Not on hold</Badge>}
            {h.freeze ? <Badge tone="warning">Frozen</Badge> : null}
            {h.alerts.length > 0 ? <Badge tone="danger">{h.alerts.length} alert{h.alerts.length === 1 ? '' : 's'} firing</Badge> : <Badge tone="success">No alert firing</Badge>}
            {h.drift && h.drift.resources.length > 0 ? <Badge tone="info">{h.drift.resources.length} differ from {h.drift.from}</Badge> : null}
          </div>
          <p>
            {h.release ? (
              <>
                Release <strong>#{h.release.number}</strong> since <When at={h.release.since} />
              </>
            ) : (
              'No release yet: commit in development and promote.'
            )}
          </p>
          {h.hold ? (
            <Notice kind="warning">
              <strong>On hold since {exactTime(h.hold.since)}</strong>
              <span>{h.hold.reason}</span>
              <span>Nothing is promoted here automatically until the hold is cleared.</span>
              <span>
                <Button variant="danger" size="small" onClick={() => setClearing(true)}>
                  Clear hold
                </Button>
              </span>
            </Notice>
          ) : null}
          {h.freeze ? (
            <Notice kind="info">
              Frozen until {exactTime(h.freeze.endsAt)}: {h.freeze.reason}
            </Notice>
          ) : null}
          <table className="table ops-compare">
            <caption>Last hour of the current release vs the previous one</caption>
            <thead>
              <tr>
                <th scope="col">Figure</th>
                <th scope="col" className="num">{h.figures ? `#${h.figures.release}` : 'Current'}</th>
                <th scope="col" className="num">{h.previous ? `#${h.previous.release}` : 'Previous'}</th>
              </tr>
            </thead>
            <tbody>
              <tr>
                <th scope="row">Requests</th>
                <td className="num">{count(h.figures?.requests)}</td>
                <td className="num">{count(h.previous?.requests)}</td>
              </tr>
              <tr>
                <th scope="row">Error rate</th>
                <td className="num">{h.figures?.requests ? percent(h.figures.errorRate) : '—'}</td>
                <td className="num">{h.previous?.requests ? percent(h.previous.errorRate) : '—'}</td>
              </tr>
              <tr>
                <th scope="row">Success rate</th>
                <td className="num">{h.figures?.requests ? percent(h.figures.successRate) : '—'}</td>
                <td className="num">{h.previous?.requests ? percent(h.previous.successRate) : '—'}</td>
              </tr>
              <tr>
                <th scope="row">p95</th>
                <td className="num">{millis(h.figures?.p95Ms)}</td>
                <td className="num">{millis(h.previous?.p95Ms)}</td>
              </tr>
            </tbody>
          </table>
          <dl className="ops-facts">
            <dt>Alerts firing</dt>
            <dd>{h.alerts.length === 0 ? 'none' : h.alerts.map((a) => `${a.rule} (since ${new Date(a.since).toLocaleTimeString()})`).join(', ')}</dd>
            <dt>Gates</dt>
            <dd>{gatesText(h.gates.config)}{h.gates.pending.length > 0 ? ` · ${h.gates.pending.length} request(s) waiting` : ''}</dd>
            <dt>Drift</dt>
            <dd>
              {!h.drift
                ? 'first in the chain'
                : h.drift.resources.length === 0
                  ? `same as ${h.drift.from} #${h.drift.release}`
                  : h.drift.resources
                      .slice(0, 6)
                      .map((r) => `${r.kind}/${r.key} (${r.status})`)
                      .join(', ') + (h.drift.resources.length > 6 ? ` and ${h.drift.resources.length - 6} more` : '')}
            </dd>
          </dl>
        </>
      )}
      <ConfirmDialog
        open={clearing}
        title={`Clear the hold on ${name}`}
        confirmLabel={`Clear hold on ${name}`}
        danger
        onClose={() => setClearing(false)}
        onConfirm={async () => {
          await unwrap(api.DELETE('/api/workspaces/{ws}/environments/{env}/hold', { params: { path: { ws, env } } }));
          invalidate(ws, env);
        }}
      >
        <p>Promotions into {name} go ahead again, including automatic ones. The audit log records who cleared it.</p>
      </ConfirmDialog>
    </section>
  );
}

function gatesText(config: unknown): string {
  const c = (config ?? {}) as { checks?: string[]; checklist?: string[]; soakMinutes?: number };
  const parts = [
    c.checks?.length ? `checks ${c.checks.join(', ')}` : '',
    c.checklist?.length ? `${c.checklist.length} checklist item(s)` : '',
    c.soakMinutes ? `soak ${c.soakMinutes} min` : '',
  ].filter(Boolean);
  return parts.length ? parts.join(' · ') : 'none';
}

function WatchPanel({ ws, env, live }: { ws: string; env: string; live: boolean }) {
  const watch = useQuery({
    queryKey: [...keys.env(ws, env), 'watch'],
    queryFn: async () => (await unwrap(api.GET('/api/workspaces/{ws}/environments/{env}/watch', { params: { path: { ws, env } } }))) as Watch,
    refetchInterval: live ? REFRESH_MS : false,
  });
  const none = watch.error instanceof ApiError && watch.error.status === 404;
  const w = watch.data?.environment === env ? watch.data : undefined;
  const tone = w?.status === 'running' ? 'info' : w?.status === 'breached' ? 'danger' : w?.status === 'passed' ? 'success' : 'neutral';
  return (
    <section className="section ops-watch" aria-labelledby="ops-watch">
      <h2 id="ops-watch">Watch</h2>
      {none ? (
        <EmptyState title="No watch has run here">Promote with a watch (or set a default watch in the gates) to have a promotion rolled back by itself on a breach.</EmptyState>
      ) : watch.error ? (
        <ErrorNotice error={watch.error} />
      ) : !w ? (
        <Spinner label="Loading watch" />
      ) : (
        <>
          <p>
            <Badge tone={tone}>{w.status}</Badge> release <strong>#{w.release}</strong> against #{w.previousRelease}
            {w.status === 'running' ? ` · ${Math.ceil(w.secondsLeft / 60)} min left` : w.endedAt ? ` · ended ` : ''}
            {w.status !== 'running' && w.endedAt ? <When at={w.endedAt} /> : null}
          </p>
          <table className="table ops-compare">
            <caption>Since the promotion vs the baseline</caption>
            <thead>
              <tr>
                <th scope="col">Figure</th>
                <th scope="col" className="num">Now</th>
                <th scope="col" className="num">Baseline</th>
                <th scope="col" className="num">Limit</th>
              </tr>
            </thead>
            <tbody>
              <tr>
                <th scope="row">Requests</th>
                <td className="num">{count(w.figures?.requests)}</td>
                <td className="num">{count(w.baseline?.requests)}</td>
                <td className="num">at least {w.thresholds.minRequests} to judge</td>
              </tr>
              <tr>
                <th scope="row">Error rate</th>
                <td className="num">{percent(w.figures?.errorRate)}</td>
                <td className="num">{percent(w.baseline?.errorRate)}</td>
                <td className="num">{w.thresholds.maxErrorRate !== null ? percent(w.thresholds.maxErrorRate) : w.thresholds.maxRegression ? `${w.thresholds.maxRegression}× baseline` : '—'}</td>
              </tr>
              <tr>
                <th scope="row">p95</th>
                <td className="num">{millis(w.figures?.p95Ms)}</td>
                <td className="num">{millis(w.baseline?.p95Ms)}</td>
                <td className="num">{w.thresholds.maxP95Ms !== null ? millis(w.thresholds.maxP95Ms) : w.thresholds.maxRegression ? `${w.thresholds.maxRegression}× baseline` : '—'}</td>
              </tr>
            </tbody>
          </table>
          {w.breach ? (
            <Notice kind="warning">
              <strong>{w.status === 'running' ? 'Breaching now' : 'Breached'}</strong> {w.breach.message}
              {w.rollbackRelease !== null ? ` — rolled back (release #${w.rollbackRelease}).` : ''}
            </Notice>
          ) : null}
        </>
      )}
    </section>
  );
}
