// Alerts of the current environment: its rules (create, edit, delete; receivers shown masked
// as the API answers them), its silences, and the history of firings and resolutions.
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, fieldErrors, unwrap } from '../../api/client';
import { keys, useInvalidate } from '../../api/queries';
import { Badge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { ConfirmDialog, Dialog } from '../../components/Dialog';
import { EmptyState, ErrorNotice, Spinner } from '../../components/Feedback';
import { PageHeader, SelectField, TextField, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { exactTime, Pager, useCursor, type AlertEvent, type AlertRule, type ChannelView, type Page, type Silence } from './common';
import './ops.css';

const METRICS = [
  { id: 'error_rate', label: 'Error rate (5xx)', rate: true },
  { id: 'upstream_error_rate', label: 'Upstream error rate', rate: true },
  { id: 'p95_latency_ms', label: 'p95 latency (ms)', rate: false },
  { id: 'p99_latency_ms', label: 'p99 latency (ms)', rate: false },
  { id: 'request_rate', label: 'Requests per minute', rate: false },
  { id: 'workflow_failure_rate', label: 'Workflow failure rate', rate: true },
] as const;
const metricOf = (id: string) => METRICS.find((m) => m.id === id);

function thresholdText(rule: Pick<AlertRule, 'metric' | 'threshold'>): string {
  return metricOf(rule.metric)?.rate ? `${+(rule.threshold * 100).toFixed(3)} %` : String(rule.threshold);
}

export default function Alerts() {
  const { ws, env, environment } = useEnv();
  const name = environment?.name ?? env;
  const [editing, setEditing] = useState<AlertRule | 'new' | null>(null);
  const [deleting, setDeleting] = useState<AlertRule | null>(null);
  const invalidate = useInvalidate();

  const rules = useQuery({
    queryKey: [...keys.env(ws, env), 'alert-rules'],
    queryFn: async () => ((await unwrap(api.GET('/api/workspaces/{ws}/alert-rules', { params: { path: { ws }, query: { environment: env } } }))) as Page<AlertRule>).data,
    refetchInterval: 30_000,
  });

  return (
    <>
      <PageHeader
        title="Alerts"
        description={`Rules watch one gateway or workflow figure of ${name} over a sliding window and notify their channels when it crosses the threshold.`}
        actions={
          <Button variant="primary" onClick={() => setEditing('new')}>
            New alert rule
          </Button>
        }
      />

      <section className="section" aria-labelledby="ops-rules">
        <h2 id="ops-rules">Rules in {name}</h2>
        <div className="ops-list-box">
          {rules.error ? (
            <ErrorNotice error={rules.error} />
          ) : !rules.data ? (
            <Spinner label="Loading rules" />
          ) : rules.data.length === 0 ? (
            <EmptyState title={`No alert rules in ${name}`} action={<Button onClick={() => setEditing('new')}>New alert rule</Button>}>
              Create one, e.g. error rate above 0.05 over 5 minutes, notifying Slack.
            </EmptyState>
          ) : (
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Rule</th>
                  <th scope="col">Condition</th>
                  <th scope="col">Channels</th>
                  <th scope="col">State</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rules.data.map((rule) => (
                  <tr key={rule.id}>
                    <th scope="row">{rule.name}</th>
                    <td>
                      {metricOf(rule.metric)?.label ?? rule.metric} {rule.comparison} {thresholdText(rule)} over {rule.windowMinutes} min
                      <div className="muted">quiet under {rule.minRequests} events</div>
                    </td>
                    <td>
                      <ChannelList channels={rule.channels} />
                    </td>
                    <td>
                      {rule.state === 'firing' ? <Badge tone="danger">Firing</Badge> : <Badge tone="success">OK</Badge>}
                      <div className="muted">
                        since <When at={rule.stateSince} />
                      </div>
                    </td>
                    <td className="ops-nowrap">
                      <Button size="small" onClick={() => setEditing(rule)} aria-label={`Edit ${rule.name}`}>
                        Edit
                      </Button>{' '}
                      <Button size="small" variant="ghost" onClick={() => setDeleting(rule)} aria-label={`Delete ${rule.name}`}>
                        Delete
                      </Button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </section>

      <Silences ws={ws} env={env} name={name} rules={rules.data ?? []} />
      <History ws={ws} env={env} name={name} />

      {editing ? <RuleDialog ws={ws} env={env} name={name} rule={editing === 'new' ? null : editing} onClose={() => setEditing(null)} /> : null}
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete alert rule ${deleting?.name ?? ''}`}
        confirmLabel={`Delete ${deleting?.name ?? 'rule'}`}
        danger
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          await unwrap(api.DELETE('/api/workspaces/{ws}/alert-rules/{id}', { params: { path: { ws, id: deleting!.id } } }));
          invalidate(ws, env);
        }}
      >
        <p>
          The rule stops watching {name}. Its history stays in the list below.
        </p>
      </ConfirmDialog>
    </>
  );
}

function ChannelList({ channels }: { channels: ChannelView[] }) {
  if (channels.length === 0) return <span className="muted">none (history only)</span>;
  return (
    <ul className="ops-channel-list">
      {channels.map((c, i) => (
        <li key={i}>
          <strong>{c.type}</strong> <span className="masked">{c.to ?? c.url ?? c.routingKey ?? ''}</span>
        </li>
      ))}
    </ul>
  );
}

interface ChannelDraft {
  type: 'slack' | 'pagerduty' | 'email' | 'webhook';
  url: string;
  routingKey: string;
  to: string;
  secret: string;
}
const emptyChannel = (): ChannelDraft => ({ type: 'slack', url: '', routingKey: '', to: '', secret: '' });

function channelBody(c: ChannelDraft) {
  if (c.type === 'slack') return { type: c.type, url: c.url };
  if (c.type === 'pagerduty') return { type: c.type, routingKey: c.routingKey, ...(c.url ? { url: c.url } : {}) };
  if (c.type === 'email') return { type: c.type, to: c.to };
  return { type: c.type, url: c.url, secret: c.secret };
}

function RuleDialog({ ws, env, name, rule, onClose }: { ws: string; env: string; name: string; rule: AlertRule | null; onClose: () => void }) {
  const invalidate = useInvalidate();
  const [form, setForm] = useState({
    name: rule?.name ?? '',
    metric: rule?.metric ?? 'error_rate',
    comparison: rule?.comparison ?? '>',
    threshold: rule ? String(rule.threshold) : '0.05',
    windowMinutes: rule ? String(rule.windowMinutes) : '5',
    minRequests: rule ? String(rule.minRequests) : '50',
  });
  // Receivers are secrets the API answers masked: an edit keeps them unless they are replaced.
  const [replaceChannels, setReplaceChannels] = useState(rule === null);
  const [channels, setChannels] = useState<ChannelDraft[]>(rule === null ? [emptyChannel()] : []);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const errors = fieldErrors(error);
  const set = (field: keyof typeof form) => (event: { target: { value: string } }) => setForm((f) => ({ ...f, [field]: event.target.value }));
  const setChannel = (index: number, patch: Partial<ChannelDraft>) => setChannels((list) => list.map((c, i) => (i === index ? { ...c, ...patch } : c)));
  const rate = metricOf(form.metric)?.rate ?? false;
  const number = (text: string) => (text.trim() === '' ? Number.NaN : Number(text));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const definition = {
      name: form.name,
      metric: form.metric,
      comparison: form.comparison,
      threshold: number(form.threshold),
      windowMinutes: number(form.windowMinutes),
      minRequests: number(form.minRequests),
      ...(replaceChannels ? { channels: channels.map(channelBody) } : {}),
    };
    try {
      if (rule) {
        await unwrap(api.PATCH('/api/workspaces/{ws}/alert-rules/{id}', { params: { path: { ws, id: rule.id } }, body: definition as never }));
      } else {
        await unwrap(api.POST('/api/workspaces/{ws}/alert-rules', { params: { path: { ws } }, body: { environment: env, channels: [], ...definition } as never }));
      }
      invalidate(ws, env);
      onClose();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const known = new Set(['name', 'metric', 'comparison', 'threshold', 'windowMinutes', 'minRequests']);
  const other = error && Object.keys(errors).every((f) => known.has(f) || f.startsWith('channels')) && Object.keys(errors).length > 0 ? null : error;

  return (
    <Dialog open title={rule ? `Edit alert rule ${rule.name}` : `New alert rule in ${name}`} onClose={onClose} wide>
      <form onSubmit={submit} noValidate>
        <TextField label="Name" value={form.name} onChange={set('name')} error={errors.name} required />
        <div className="ops-form-row">
          <SelectField label="Metric" value={form.metric} onChange={set('metric')} error={errors.metric}>
            {METRICS.map((m) => (
              <option key={m.id} value={m.id}>
                {m.label}
              </option>
            ))}
          </SelectField>
          <SelectField label="Comparison" value={form.comparison} onChange={set('comparison')} error={errors.comparison}>
            {['>', '>=', '<', '<='].map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </SelectField>
          <TextField
            label="Threshold"
            inputMode="decimal"
            value={form.threshold}
            onChange={set('threshold')}
            error={errors.threshold}
            hint={rate ? `a fraction 0–1: ${Number.isFinite(number(form.threshold)) ? `${+(number(form.threshold) * 100).toFixed(3)} %` : '0.05 is 5 %'}` : form.metric === 'request_rate' ? 'requests per minute' : 'milliseconds'}
          />
        </div>
        <div className="ops-form-row">
          <TextField label="Window (minutes)" inputMode="numeric" value={form.windowMinutes} onChange={set('windowMinutes')} error={errors.windowMinutes} />
          <TextField label="Minimum requests" inputMode="numeric" value={form.minRequests} onChange={set('minRequests')} error={errors.minRequests} hint="fewer events in the window keep the rule quiet" />
        </div>

        <fieldset className="ops-channels">
          <legend>
            <strong>Channels</strong>
          </legend>
          {!replaceChannels ? (
            <>
              <ChannelList channels={rule?.channels ?? []} />
              <p className="muted">Receivers are secrets: they are kept as they are unless you replace them all.</p>
              <div>
                <Button size="small" onClick={() => setReplaceChannels(true)}>
                  Replace channels
                </Button>
              </div>
            </>
          ) : (
            <>
              {channels.length === 0 ? <p className="muted">No channel: firings are only recorded in the history.</p> : null}
              {channels.map((c, i) => (
                <div key={i} className="ops-channel">
                  <SelectField label={`Channel ${i + 1} type`} value={c.type} onChange={(e) => setChannel(i, { type: e.target.value as ChannelDraft['type'] })} error={errors[`channels.${i}.type`]}>
                    <option value="slack">Slack</option>
                    <option value="pagerduty">PagerDuty</option>
                    <option value="email">Email</option>
                    <option value="webhook">Webhook</option>
                  </SelectField>
                  <div>
                    {c.type === 'email' ? (
                      <TextField label={`Channel ${i + 1} address`} type="email" value={c.to} onChange={(e) => setChannel(i, { to: e.target.value })} error={errors[`channels.${i}.to`]} />
                    ) : c.type === 'pagerduty' ? (
                      <TextField label={`Channel ${i + 1} routing key`} value={c.routingKey} onChange={(e) => setChannel(i, { routingKey: e.target.value })} error={errors[`channels.${i}.routingKey`]} autoComplete="off" />
                    ) : (
                      <TextField label={`Channel ${i + 1} URL`} type="url" value={c.url} onChange={(e) => setChannel(i, { url: e.target.value })} error={errors[`channels.${i}.url`]} autoComplete="off" />
                    )}
                    {c.type === 'webhook' ? (
                      <TextField label={`Channel ${i + 1} signing secret`} type="password" value={c.secret} onChange={(e) => setChannel(i, { secret: e.target.value })} error={errors[`channels.${i}.secret`]} hint="at least 16 characters" autoComplete="new-password" />
                    ) : null}
                  </div>
                  <Button size="small" variant="ghost" className="ops-channel-remove" onClick={() => setChannels((list) => list.filter((_, j) => j !== i))} aria-label={`Remove channel ${i + 1}`}>
                    Remove
                  </Button>
                </div>
              ))}
              {errors.channels ? <p className="field-error" role="alert">{errors.channels}</p> : null}
              <div>
                <Button size="small" onClick={() => setChannels((list) => [...list, emptyChannel()])}>
                  Add channel
                </Button>
              </div>
            </>
          )}
        </fieldset>

        <ErrorNotice error={other} />
        <div className="dialog-footer">
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant="primary" busy={busy}>
            {rule ? 'Save rule' : 'Create rule'}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

const SILENCE_FOR = [
  { id: '60', label: '1 hour' },
  { id: '240', label: '4 hours' },
  { id: '1440', label: '1 day' },
  { id: '10080', label: '7 days' },
];

function Silences({ ws, env, name, rules }: { ws: string; env: string; name: string; rules: AlertRule[] }) {
  const invalidate = useInvalidate();
  const [rule, setRule] = useState('');
  const [minutes, setMinutes] = useState('60');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const errors = fieldErrors(error);
  const silences = useQuery({
    queryKey: [...keys.env(ws, env), 'alert-silences'],
    queryFn: async () => ((await unwrap(api.GET('/api/workspaces/{ws}/alert-silences', { params: { path: { ws }, query: { environment: env } } }))) as Page<Silence>).data,
  });
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const endsAt = new Date(Date.now() + Number(minutes) * 60_000).toISOString();
      await unwrap(api.POST('/api/workspaces/{ws}/alert-silences', { params: { path: { ws } }, body: { environment: env, ...(rule ? { rule } : {}), endsAt, reason } as never }));
      setReason('');
      invalidate(ws, env);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const end = async (id: string) => {
    await unwrap(api.DELETE('/api/workspaces/{ws}/alert-silences/{id}', { params: { path: { ws, id } } })).catch(setError);
    invalidate(ws, env);
  };
  return (
    <section className="section" aria-labelledby="ops-silences">
      <h2 id="ops-silences">Silences</h2>
      <p className="muted">A silenced rule still changes state and is recorded, but sends nothing.</p>
      <form className="ops-toolbar" onSubmit={submit}>
        <SelectField label="Silence" value={rule} onChange={(e) => setRule(e.target.value)} error={errors.rule}>
          <option value="">every rule of {name}</option>
          {rules.map((r) => (
            <option key={r.id} value={r.id}>
              {r.name}
            </option>
          ))}
        </SelectField>
        <SelectField label="For" value={minutes} onChange={(e) => setMinutes(e.target.value)} error={errors.endsAt}>
          {SILENCE_FOR.map((s) => (
            <option key={s.id} value={s.id}>
              {s.label}
            </option>
          ))}
        </SelectField>
        <TextField label="Reason" value={reason} onChange={(e) => setReason(e.target.value)} error={errors.reason} placeholder="maintenance window" />
        <Button type="submit" busy={busy}>
          Silence
        </Button>
      </form>
      <ErrorNotice error={error && Object.keys(errors).length === 0 ? error : null} />
      {silences.error ? <ErrorNotice error={silences.error} /> : null}
      {silences.data && silences.data.length > 0 ? (
        <table className="table ops-silence-list">
          <thead>
            <tr>
              <th scope="col">Silenced</th>
              <th scope="col">Until</th>
              <th scope="col">Reason</th>
              <th scope="col">By</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {silences.data.map((s) => (
              <tr key={s.id}>
                <th scope="row">{s.rule ?? `every rule of ${name}`}</th>
                <td>{exactTime(s.endsAt)}</td>
                <td>{s.reason}</td>
                <td>{s.createdBy}</td>
                <td>
                  <Button size="small" onClick={() => end(s.id)} aria-label={`End silence of ${s.rule ?? 'every rule'}`}>
                    End now
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : silences.data ? (
        <p className="muted">Nothing is silenced in {name}.</p>
      ) : null}
    </section>
  );
}

function History({ ws, env, name }: { ws: string; env: string; name: string }) {
  const paging = useCursor(`${ws}/${env}`);
  const history = useQuery({
    queryKey: [...keys.env(ws, env), 'alerts', paging.cursor ?? ''],
    queryFn: async () =>
      (await unwrap(api.GET('/api/workspaces/{ws}/alerts', { params: { path: { ws }, query: { environment: env, limit: 25, ...(paging.cursor ? { cursor: paging.cursor } : {}) } } }))) as Page<AlertEvent>,
    placeholderData: keepPreviousData,
    refetchInterval: 30_000,
  });
  return (
    <section className="section" aria-labelledby="ops-history">
      <h2 id="ops-history">History</h2>
      <div className="ops-list-box">
        {history.error ? (
          <ErrorNotice error={history.error} />
        ) : !history.data ? (
          <Spinner label="Loading history" />
        ) : history.data.data.length === 0 && paging.page === 1 ? (
          <EmptyState title={`No alert has fired in ${name}`}>When a rule fires or resolves, it is listed here with what each channel was sent.</EmptyState>
        ) : (
          <>
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Rule</th>
                  <th scope="col">State</th>
                  <th scope="col" className="num">Value</th>
                  <th scope="col">Notifications</th>
                </tr>
              </thead>
              <tbody>
                {history.data.data.map((a) => (
                  <tr key={a.id}>
                    <td className="ops-nowrap">
                      <When at={a.at} />
                    </td>
                    <th scope="row">{a.rule}</th>
                    <td>
                      {a.state === 'firing' ? <Badge tone="danger">Firing</Badge> : <Badge tone="success">Resolved</Badge>} {a.silenced ? <Badge>silenced</Badge> : null}
                    </td>
                    <td className="num">{a.value === null ? '—' : +a.value.toFixed(4)}</td>
                    <td>
                      {a.notifications.length === 0
                        ? '—'
                        : a.notifications.map((n, i) => (
                            <div key={i}>
                              {n.type}: {n.status}
                              {n.attempts > 1 ? ` after ${n.attempts} attempts` : ''}
                              {n.error ? <span className="muted"> ({n.error})</span> : null}
                            </div>
                          ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager paging={paging} next={history.data.next} label="Alert history" />
          </>
        )}
      </div>
    </section>
  );
}
