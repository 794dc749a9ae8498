// Settings of one environment: channels, branding, egress, CORS, feeds and any custom ones.
// Unversioned and immediate. Known settings are forms whose fields show the API's errors under
// them; any setting can also be edited as JSON.
import { useId, useState } from 'react';
import { useSearchParams } from 'react-router';
import { useMutation, useQuery } from '@tanstack/react-query';
import { api, ApiError, unwrap } from '../../api/client';
import { keys, useInvalidate } from '../../api/queries';
import { Badge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { ConfirmDialog } from '../../components/Dialog';
import { ErrorNotice, Loaded, Notice } from '../../components/Feedback';
import { PageHeader, SelectField, TextAreaField, TextField, Tabs, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { errorsByField, fromForm, SETTING_FORMS, toForm, type FormState, type SettingField, type SettingForm } from './settingForms';
import { useActorName, type List } from './shared';
import { useSecrets } from './Secrets';
import './config.css';

export interface Setting {
  name: string;
  value: unknown;
  environment: string;
  updatedBy: string;
  updatedAt: string;
}

/** Every field error of an API answer by path (fieldErrors keeps one per path, as here). */
function apiErrors(error: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (error instanceof ApiError) for (const d of error.details) out[d.field] = out[d.field] ? `${out[d.field]}; ${d.message}` : d.message;
  return out;
}

export default function Settings() {
  const { ws, env, environment } = useEnv();
  const envName = environment?.name ?? env;
  const [params, setParams] = useSearchParams();
  const settings = useQuery({
    queryKey: [...keys.env(ws, env), 'settings'],
    queryFn: async () => (await unwrap(api.GET('/api/workspaces/{ws}/environments/{env}/settings', { params: { path: { ws, env } } }))) as unknown as List<Setting>,
  });
  const [newName, setNewName] = useState('');
  const selected = params.get('setting') ?? SETTING_FORMS[0]!.name;
  const select = (name: string) => setParams({ setting: name }, { replace: true });

  return (
    <>
      <PageHeader
        title="Settings"
        description={
          <>
            Channels, branding and policies of <strong>{envName}</strong>. Settings are not versioned: a saved change applies to {envName} at once, and to no other environment.
          </>
        }
      />
      <Loaded query={settings} label="Loading settings">
        {({ data }) => {
          const custom = data.filter((s) => !SETTING_FORMS.some((f) => f.name === s.name)).map((s) => s.name);
          const isNew = !SETTING_FORMS.some((f) => f.name === selected) && !custom.includes(selected);
          const names = [...SETTING_FORMS.map((f) => ({ name: f.name, title: f.title })), ...custom.map((name) => ({ name, title: name })), ...(isNew ? [{ name: selected, title: selected }] : [])];
          const current = data.find((s) => s.name === selected);
          const form = SETTING_FORMS.find((f) => f.name === selected);
          return (
            <>
            {data.length === 0 ? (
              <Notice kind="info">Nothing is set in {envName} yet: it uses the defaults. Pick a setting, fill it in and save it.</Notice>
            ) : null}
            <div className="config-settings">
              <nav className="config-settings-nav" aria-label="Settings">
                <ul>
                  {names.map(({ name, title }) => {
                    const set = data.some((s) => s.name === name);
                    return (
                      <li key={name}>
                        <button type="button" aria-current={name === selected ? 'true' : undefined} onClick={() => select(name)}>
                          <span>{title}</span>
                          {set ? <Badge tone="success">set</Badge> : <Badge>not set</Badge>}
                        </button>
                      </li>
                    );
                  })}
                </ul>
                <form
                  className="config-new-setting"
                  onSubmit={(event) => {
                    event.preventDefault();
                    if (newName.trim()) select(newName.trim());
                    setNewName('');
                  }}
                >
                  <TextField label="Custom setting" value={newName} onChange={(e) => setNewName(e.target.value)} hint="A name such as app.limits; its value is a JSON object." autoComplete="off" />
                  <Button type="submit" size="small">
                    Open
                  </Button>
                </form>
              </nav>
              <section className="section" aria-labelledby="setting-title">
                <SettingEditor key={`${env}:${selected}`} ws={ws} env={env} envName={envName} name={selected} form={form} current={current} />
              </section>
            </div>
            </>
          );
        }}
      </Loaded>
    </>
  );
}

function SettingEditor({ ws, env, envName, name, form, current }: { ws: string; env: string; envName: string; name: string; form: SettingForm | undefined; current: Setting | undefined }) {
  const invalidate = useInvalidate();
  const actorName = useActorName(ws);
  const [mode, setMode] = useState<'form' | 'json'>(form ? 'form' : 'json');
  const [state, setState] = useState<FormState>(() => (form ? toForm(form, current?.value) : {}));
  const [json, setJson] = useState(() => JSON.stringify(current?.value ?? {}, null, 2));
  const [local, setLocal] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState(false);
  const [removing, setRemoving] = useState(false);
  const secrets = useSecrets(ws, env).data?.data ?? [];
  const listId = useId();

  const save = useMutation({
    mutationFn: async () => {
      setSaved(false);
      let value: unknown;
      if (mode === 'form' && form) {
        const built = fromForm(form, state);
        setLocal(built.problems);
        if (Object.keys(built.problems).length > 0) throw new Error('Correct the fields marked below.');
        value = built.value;
      } else {
        try {
          value = JSON.parse(json);
          setLocal({});
        } catch (cause) {
          setLocal({ json: `is not valid JSON (${(cause as Error).message})` });
          throw new Error('Correct the JSON below.');
        }
      }
      return (await unwrap(api.PUT('/api/workspaces/{ws}/environments/{env}/settings/{name}', { params: { path: { ws, env, name } }, body: { value } }))) as unknown as Setting;
    },
    onSuccess: (setting) => {
      setSaved(true);
      setJson(JSON.stringify(setting.value, null, 2));
      if (form) setState(toForm(form, setting.value));
      invalidate(ws, env);
    },
  });

  const errors = apiErrors(save.error);
  const mapped = form && mode === 'form' ? errorsByField(form, errors) : { byField: {}, rest: errors };
  const fieldMessages: Record<string, string> = { ...mapped.byField, ...local };
  const restEntries = Object.entries(mapped.rest);
  const jsonError = local.json ?? (mode === 'json' && restEntries.length > 0 ? restEntries.map(([path, message]) => `${path || 'value'}: ${message}`).join('; ') : undefined);
  // A failure that no field shows (a 403, a network error, an unknown field) goes in the notice.
  const unshown = save.error && Object.keys(fieldMessages).length === 0 && !jsonError ? save.error : mode === 'form' && restEntries.length > 0 ? save.error : null;

  return (
    <>
      <div className="page-header">
        <div>
          <h2 id="setting-title">
            {form?.title ?? name} <code className="muted">{name}</code>
          </h2>
          <p className="config-setting-meta">
            {form?.description ?? 'A custom setting: any JSON object.'}{' '}
            {current ? (
              <>
                Last changed <When at={current.updatedAt} /> by {actorName(current.updatedBy)}.
              </>
            ) : (
              <>Not set in {envName}.</>
            )}
          </p>
        </div>
        {current ? (
          <Button variant="danger" size="small" onClick={() => setRemoving(true)}>
            Remove setting
          </Button>
        ) : null}
      </div>
      {form ? (
        <Tabs
          label="Edit as"
          value={mode}
          onChange={(next) => {
            // Switching carries the edits over, as far as they parse.
            if (next === 'json') setJson(JSON.stringify(fromForm(form, state).value, null, 2));
            else {
              try {
                setState(toForm(form, JSON.parse(json)));
              } catch {
                /* keep the form as it was */
              }
            }
            setLocal({});
            save.reset();
            setMode(next);
          }}
          tabs={[
            { id: 'form', label: 'Form' },
            { id: 'json', label: 'JSON' },
          ]}
        />
      ) : null}
      <form
        aria-label={`${form?.title ?? name} in ${envName}`}
        onSubmit={(event) => {
          event.preventDefault();
          save.mutate();
        }}
      >
        {mode === 'form' && form ? (
          <div className="config-form-grid">
            {form.fields.map((field) => (
              <SettingInput
                key={field.path}
                field={field}
                value={state[field.path] ?? ''}
                onChange={(text) => setState({ ...state, [field.path]: text })}
                error={fieldMessages[field.path]}
                secretList={listId}
              />
            ))}
            <datalist id={listId}>
              {secrets.map((s) => (
                <option key={s.name} value={s.name} />
              ))}
            </datalist>
          </div>
        ) : (
          <TextAreaField label="Value (JSON)" value={json} onChange={(e) => setJson(e.target.value)} error={jsonError} rows={12} spellCheck={false} />
        )}
        <ErrorNotice error={unshown} />
        <div className="config-status">{saved ? <Notice kind="success">Saved: {envName} uses it from now on.</Notice> : null}</div>
        <div className="config-form-actions">
          <Button type="submit" variant="primary" busy={save.isPending}>
            Save {form?.title ?? name}
          </Button>
        </div>
      </form>
      <ConfirmDialog
        open={removing}
        title={`Remove ${name} from ${envName}?`}
        confirmLabel={`Remove ${name}`}
        danger
        onClose={() => setRemoving(false)}
        onConfirm={async () => {
          await unwrap(api.DELETE('/api/workspaces/{ws}/environments/{env}/settings/{name}', { params: { path: { ws, env, name } } }));
          invalidate(ws, env);
        }}
      >
        <p>{envName} goes back to the defaults for {form?.title ?? name} at once. Other environments keep theirs.</p>
      </ConfirmDialog>
    </>
  );
}

function SettingInput({ field, value, onChange, error, secretList }: { field: SettingField; value: string; onChange: (text: string) => void; error: string | undefined; secretList: string }) {
  const wide = field.type === 'list' || field.type === 'json';
  const common = { label: field.label, error, hint: field.hint, placeholder: field.placeholder };
  const input =
    field.type === 'boolean' ? (
      <SelectField {...common} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">Not set (the default)</option>
        <option value="true">Yes</option>
        <option value="false">No</option>
      </SelectField>
    ) : field.type === 'list' || field.type === 'json' ? (
      <TextAreaField {...common} value={value} onChange={(e) => onChange(e.target.value)} rows={field.type === 'list' ? 5 : 4} spellCheck={false} />
    ) : (
      <TextField
        {...common}
        type={field.type === 'number' ? 'number' : 'text'}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        list={field.type === 'secret-name' ? secretList : undefined}
        autoComplete="off"
        spellCheck={false}
      />
    );
  return <div className={wide ? 'field-wide' : undefined}>{input}</div>;
}
