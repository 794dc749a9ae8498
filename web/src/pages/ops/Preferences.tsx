// Recipient preferences: one recipient's rules in the current environment beside the
// environment's defaults, edited rule by rule (members with preferences.write) and saved whole.
// Preferences are booleans keyed by workflow and channel: masking leaves them as they are.
import { useMutation, useQuery } from '@tanstack/react-query';
import { useEffect, useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router';
import { api, fieldErrors, unwrap, type components } from '../../api/client';
import { keys } from '../../api/queries';
import { Badge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { EmptyState, ErrorNotice, Notice, Spinner } from '../../components/Feedback';
import { PageHeader, TextField, When } from '../../components/Misc';
import { useEnv } from '../../context';
import './ops.css';

type PreferenceSet = components['schemas']['PreferenceSet'];
const CHANNELS = ['email', 'in_app', 'webhook'] as const;
type Channel = (typeof CHANNELS)[number];
type Choice = 'inherit' | 'in' | 'out';
/** A rule's place: a channel of every workflow, a whole workflow, or one channel of one workflow. */
type Place = { workflow: null; channel: Channel } | { workflow: string; channel: null } | { workflow: string; channel: Channel };

const own = <T,>(record: Record<string, T> | undefined, key: string): T | undefined => (record && Object.hasOwn(record, key) ? record[key] : undefined);

function ruleAt(set: PreferenceSet | undefined, place: Place): boolean | undefined {
  if (place.workflow === null) return own(set?.channels as Record<string, boolean> | undefined, place.channel);
  const rule = own(set?.workflows, place.workflow);
  if (place.channel === null) return typeof rule === 'boolean' ? rule : undefined;
  return typeof rule === 'object' ? own(rule.channels as Record<string, boolean> | undefined, place.channel) : undefined;
}

/** The set with one place set to a choice (`inherit` removes the rule); others kept. */
function withChoice(set: PreferenceSet, place: Place, choice: Choice): PreferenceSet {
  const value = choice === 'inherit' ? undefined : choice === 'in';
  if (place.workflow === null) {
    const channels: Record<string, boolean> = { ...(set.channels as Record<string, boolean> | undefined) };
    if (value === undefined) delete channels[place.channel];
    else channels[place.channel] = value;
    return { ...set, channels };
  }
  const workflows = { ...set.workflows };
  const current = own(workflows, place.workflow);
  let next: NonNullable<PreferenceSet['workflows']>[string] | undefined;
  if (place.channel === null) next = value === undefined ? (typeof current === 'object' ? current : undefined) : value;
  else {
    // A workflow on or off whole becomes the same per channel, then this one channel changes.
    const channels: Record<string, boolean> =
      typeof current === 'object' ? { ...(current.channels as Record<string, boolean> | undefined) } : typeof current === 'boolean' ? { email: current, in_app: current, webhook: current } : {};
    if (value === undefined) delete channels[place.channel];
    else channels[place.channel] = value;
    next = { channels };
  }
  if (next === undefined) delete workflows[place.workflow];
  else Object.defineProperty(workflows, place.workflow, { value: next, enumerable: true, writable: true, configurable: true });
  return { ...set, workflows };
}

const label = (place: Place) => (place.workflow === null ? `All workflows · ${place.channel}` : place.channel === null ? `${place.workflow} · every channel` : `${place.workflow} · ${place.channel}`);
const shown = (value: boolean | undefined) => (value === undefined ? '—' : value ? 'opted in' : 'opted out');

export default function Preferences() {
  const { ws, env, environment } = useEnv();
  const name = environment?.name ?? env;
  const [search, setSearch] = useSearchParams();
  const recipient = search.get('recipient') ?? '';
  const [typed, setTyped] = useState(recipient);
  useEffect(() => setTyped(recipient), [recipient]);

  const lookUp = (event: FormEvent) => {
    event.preventDefault();
    if (typed.trim()) setSearch({ recipient: typed.trim() });
  };

  return (
    <>
      <PageHeader
        title="Recipient preferences"
        description={`What a recipient has opted into in ${name}: per channel, per workflow, and per workflow × channel. The most specific rule wins; the recipient's own rule before the environment's default.`}
      />
      <form className="section" onSubmit={lookUp} aria-label="Find a recipient">
        <TextField label="Recipient id" value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="u_123" autoComplete="off" />
        <Button type="submit" variant="primary">
          Look up
        </Button>
      </form>
      {recipient ? <RecipientPreferences key={`${env}/${recipient}`} ws={ws} env={env} name={name} recipient={recipient} /> : null}
    </>
  );
}

function RecipientPreferences({ ws, env, name, recipient }: { ws: string; env: string; name: string; recipient: string }) {
  const path = { ws, env, recipient };
  const found = useQuery({
    queryKey: [...keys.env(ws, env), 'preferences', recipient],
    queryFn: () => unwrap(api.GET('/api/workspaces/{ws}/environments/{env}/recipients/{recipient}/preferences', { params: { path } })),
  });
  const [draft, setDraft] = useState<PreferenceSet | null>(null);
  const [workflow, setWorkflow] = useState('');
  const [saved, setSaved] = useState(false);
  const save = useMutation({
    // If-Match: a change made since the read (a one-click unsubscribe) is not overwritten (409).
    mutationFn: (body: PreferenceSet) =>
      unwrap(api.PUT('/api/workspaces/{ws}/environments/{env}/recipients/{recipient}/preferences', { params: { path }, body, headers: { 'if-match': `"${found.data?.version ?? 0}"` } })),
    onSuccess: async () => {
      setDraft(null);
      setSaved(true);
      await found.refetch();
    },
  });

  if (found.error) return <ErrorNotice error={found.error} />;
  if (!found.data) return <Spinner label="Loading preferences" />;
  const current = draft ?? found.data.preferences;
  const defaults = found.data.defaults ?? {};
  const workflows = [...new Set([...Object.keys(defaults.workflows ?? {}), ...Object.keys(current.workflows ?? {})])].sort();
  const places: Place[] = [
    ...CHANNELS.map((channel) => ({ workflow: null, channel }) as const),
    ...workflows.flatMap((w) => [{ workflow: w, channel: null } as const, ...CHANNELS.map((channel) => ({ workflow: w, channel }) as const)]),
  ];
  const change = (place: Place, choice: Choice) => {
    setSaved(false);
    setDraft(withChoice(current, place, choice));
  };
  const errors = save.error ? fieldErrors(save.error) : {};

  return (
    <section className="section" aria-labelledby="prefs-title">
      <div className="page-header">
        <h2 id="prefs-title">
          {recipient} <span className="muted">in {name}</span>
        </h2>
        <div className="page-actions">
          {found.data.version === 0 ? <Badge>No own rules yet</Badge> : <Badge>Version {found.data.version}</Badge>}
          {found.data.updatedAt ? <When at={found.data.updatedAt} /> : null}
        </div>
      </div>
      {saved ? <Notice kind="success">Saved. The next step of every run reads these preferences.</Notice> : null}
      {save.error ? <ErrorNotice error={save.error} /> : null}
      {places.length === 0 ? (
        <EmptyState title="No rules">Every channel of every workflow reaches {recipient}.</EmptyState>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Rule</th>
              <th scope="col">Recipient</th>
              <th scope="col">Default in {name}</th>
            </tr>
          </thead>
          <tbody>
            {places.map((place) => {
              const mine = ruleAt(current, place);
              const choice: Choice = mine === undefined ? 'inherit' : mine ? 'in' : 'out';
              // A workflow with per-channel rules is set channel by channel (a whole-workflow rule would replace them).
              const perChannel = place.workflow !== null && place.channel === null && typeof own(current.workflows, place.workflow) === 'object';
              return (
                <tr key={label(place)}>
                  <th scope="row">{label(place)}</th>
                  <td>
                    <select
                      aria-label={`${label(place)} for ${recipient}`}
                      value={choice}
                      disabled={perChannel}
                      title={perChannel ? 'set per channel below' : undefined}
                      onChange={(e) => change(place, e.target.value as Choice)}
                    >
                      <option value="inherit">No rule</option>
                      <option value="in">Opted in</option>
                      <option value="out">Opted out</option>
                    </select>
                  </td>
                  <td className="muted">{shown(ruleAt(defaults, place))}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <form
        className="prefs-add"
        onSubmit={(event) => {
          event.preventDefault();
          if (workflow.trim()) change({ workflow: workflow.trim(), channel: null }, 'out');
          setWorkflow('');
        }}
      >
        <TextField label="Opt out of a workflow" value={workflow} onChange={(e) => setWorkflow(e.target.value)} placeholder="weekly-digest" error={errors.workflows} />
        <Button type="submit">Add rule</Button>
      </form>
      <div className="page-actions">
        <Button variant="primary" busy={save.isPending} disabled={draft === null} onClick={() => draft && save.mutate(draft)}>
          Save preferences
        </Button>
        {draft ? (
          <Button onClick={() => setDraft(null)} disabled={save.isPending}>
            Discard changes
          </Button>
        ) : null}
      </div>
    </section>
  );
}
