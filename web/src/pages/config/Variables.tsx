// Workspace variables: one row per variable, one column per environment with the value that
// environment sees (its own, a branch's parent's, else the default), its own values marked.
// Changes apply at once to every environment whose value they change.
import { useState } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { api, fieldErrors, unwrap } from '../../api/client';
import { useInvalidate, type Environment } from '../../api/queries';
import { Badge, EnvBadge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { ConfirmDialog, Dialog } from '../../components/Dialog';
import { EmptyState, ErrorNotice, Loaded, Notice } from '../../components/Feedback';
import { CheckboxField, PageHeader, SelectField, TextField, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { configKeys, orderedEnvironments, useActorName, type List } from './shared';
import './config.css';

export interface Variable {
  name: string;
  /** Absent: no default (an environment without its own value has none). */
  value?: unknown;
  description: string | null;
  overrides: Record<string, unknown>;
  updatedBy: string;
  updatedAt: string;
}

type Effective = { kind: 'own'; value: unknown } | { kind: 'parent'; value: unknown; from: string } | { kind: 'default'; value: unknown } | { kind: 'none' };

/** What an environment sees: its own value, else (a branch) its parent's, else the default. */
export function effectiveValue(variable: Variable, environment: Environment): Effective {
  if (Object.hasOwn(variable.overrides, environment.slug)) return { kind: 'own', value: variable.overrides[environment.slug] };
  if (environment.kind === 'branch' && environment.parent && Object.hasOwn(variable.overrides, environment.parent)) {
    return { kind: 'parent', value: variable.overrides[environment.parent], from: environment.parent };
  }
  if ('value' in variable) return { kind: 'default', value: variable.value };
  return { kind: 'none' };
}

function display(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export default function Variables() {
  const { ws, env, environments } = useEnv();
  const invalidate = useInvalidate();
  const actorName = useActorName(ws);
  const variables = useQuery({
    queryKey: configKeys.variables(ws),
    queryFn: async () => (await unwrap(api.GET('/api/workspaces/{ws}/variables', { params: { path: { ws } } }))) as unknown as List<Variable>,
  });
  const [editing, setEditing] = useState<{ variable: Variable | null } | null>(null);
  const [deleting, setDeleting] = useState<Variable | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const ordered = orderedEnvironments(environments);

  return (
    <>
      <PageHeader
        title="Variables"
        description={
          <>
            Workspace-wide values that templates read as <code>{'{{ vars.NAME }}'}</code>: a default, and a value of its own in any environment. Changes apply at once,
            without a commit.
          </>
        }
        actions={
          <Button variant="primary" onClick={() => setEditing({ variable: null })}>
            Add variable
          </Button>
        }
      />
      <div className="config-status">{done ? <Notice kind="success">{done}</Notice> : null}</div>
      <Loaded query={variables} label="Loading variables">
        {({ data }) =>
          data.length === 0 ? (
            <EmptyState
              title="No variables yet"
              action={
                <Button variant="primary" onClick={() => setEditing({ variable: null })}>
                  Add variable
                </Button>
              }
            >
              Add one (e.g. <code>app_url</code>) with a default and a value per environment, then use <code>{'{{ vars.app_url }}'}</code> in a template.
            </EmptyState>
          ) : (
            <div className="config-scroll">
              <table className="table">
                <caption className="visually-hidden">Variables and the value each environment sees</caption>
                <thead>
                  <tr>
                    <th scope="col">Variable</th>
                    <th scope="col">Default</th>
                    {ordered.map((e) => (
                      <th scope="col" key={e.slug} className={e.slug === env ? 'config-current' : undefined}>
                        <EnvBadge environment={e} environments={environments} />
                      </th>
                    ))}
                    <th scope="col">Updated</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.map((variable) => (
                    <tr key={variable.name}>
                      <th scope="row">
                        <code>{variable.name}</code>
                        {variable.description ? <span className="config-cell-note">{variable.description}</span> : null}
                      </th>
                      <td>{'value' in variable ? <span className="config-value" title={display(variable.value)}>{display(variable.value)}</span> : <span className="muted">none</span>}</td>
                      {ordered.map((e) => {
                        const effective = effectiveValue(variable, e);
                        return (
                          <td key={e.slug} className={[effective.kind === 'own' ? 'config-cell-override' : '', e.slug === env ? 'config-current' : ''].join(' ').trim() || undefined}>
                            {effective.kind === 'none' ? (
                              <Badge tone="warning">no value</Badge>
                            ) : (
                              <>
                                <span className="config-value" title={display(effective.value)}>
                                  {display(effective.value)}
                                </span>
                                <span className="config-cell-note">
                                  {effective.kind === 'own' ? <Badge tone="info">override</Badge> : effective.kind === 'parent' ? `from ${effective.from}` : 'default'}
                                </span>
                              </>
                            )}
                          </td>
                        );
                      })}
                      <td>
                        <When at={variable.updatedAt} />
                        <span className="config-cell-note">by {actorName(variable.updatedBy)}</span>
                      </td>
                      <td className="config-actions">
                        <Button size="small" onClick={() => setEditing({ variable })} aria-label={`Edit ${variable.name}`}>
                          Edit
                        </Button>
                        <Button size="small" variant="danger" onClick={() => setDeleting(variable)} aria-label={`Delete ${variable.name}`}>
                          Delete
                        </Button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>

      <Dialog open={editing !== null} title={editing?.variable ? `Edit ${editing.variable.name}` : 'Add a variable'} onClose={() => setEditing(null)} wide>
        {editing ? (
          <VariableForm
            ws={ws}
            environments={ordered}
            all={environments}
            variable={editing.variable}
            onCancel={() => setEditing(null)}
            onSaved={(variable) => {
              setEditing(null);
              setDone(`${variable.name} is saved; it applies at once.`);
              invalidate(ws);
            }}
          />
        ) : null}
      </Dialog>
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting?.name ?? ''}?`}
        confirmLabel={`Delete ${deleting?.name ?? ''} everywhere`}
        danger
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          const variable = deleting!;
          await unwrap(api.DELETE('/api/workspaces/{ws}/variables/{name}', { params: { path: { ws, name: variable.name } } }));
          setDone(`${variable.name} is deleted.`);
          invalidate(ws);
        }}
      >
        <p>
          The default and every environment&apos;s value go at once; templates that read <code>{`{{ vars.${deleting?.name ?? ''} }}`}</code> get nothing from now on.
        </p>
      </ConfirmDialog>
    </>
  );
}

type ValueType = 'text' | 'json';

function toInput(value: unknown, type: ValueType): string {
  if (value === undefined) return '';
  return type === 'text' && typeof value === 'string' ? value : JSON.stringify(value);
}

function VariableForm({
  ws,
  environments,
  all,
  variable,
  onSaved,
  onCancel,
}: {
  ws: string;
  environments: Environment[];
  all: Environment[];
  variable: Variable | null;
  onSaved: (variable: Variable) => void;
  onCancel: () => void;
}) {
  const initialType: ValueType =
    variable && [...('value' in variable ? [variable.value] : []), ...Object.values(variable.overrides)].some((v) => typeof v !== 'string') ? 'json' : 'text';
  const [type, setType] = useState<ValueType>(initialType);
  const [name, setName] = useState(variable?.name ?? '');
  const [description, setDescription] = useState(variable?.description ?? '');
  const [hasDefault, setHasDefault] = useState(variable ? 'value' in variable : true);
  const [value, setValue] = useState(toInput(variable?.value, initialType));
  const [overrides, setOverrides] = useState<Record<string, string>>(
    Object.fromEntries(Object.entries(variable?.overrides ?? {}).map(([slug, v]) => [slug, toInput(v, initialType)])),
  );
  const [local, setLocal] = useState<Record<string, string>>({});

  const save = useMutation({
    mutationFn: async () => {
      const problems: Record<string, string> = {};
      const parse = (text: string, field: string): unknown => {
        if (type === 'text') return text;
        try {
          return JSON.parse(text);
        } catch {
          problems[field] = 'is not valid JSON (a string needs quotes: "text")';
          return undefined;
        }
      };
      const target = name.trim();
      if (!target) problems.name = 'is required';
      const body = {
        ...(hasDefault ? { value: parse(value, 'value') } : {}),
        description: description.trim() || null,
        overrides: Object.fromEntries(Object.entries(overrides).map(([slug, text]) => [slug, parse(text, `overrides.${slug}`)])),
      };
      setLocal(problems);
      if (Object.keys(problems).length > 0) throw new Error('Correct the fields marked below.');
      return (await unwrap(api.PUT('/api/workspaces/{ws}/variables/{name}', { params: { path: { ws, name: target } }, body }))) as unknown as Variable;
    },
    onSuccess: onSaved,
  });
  const errors = { ...fieldErrors(save.error), ...local };
  const shown = ['name', 'value', 'description', ...environments.map((e) => `overrides.${e.slug}`)];
  const other = save.error && !shown.some((f) => errors[f]) ? save.error : null;

  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        save.mutate();
      }}
    >
      <div className="config-form-grid">
        <TextField
          label="Name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={errors.name}
          disabled={variable !== null}
          hint="Letters, digits and underscores; templates read it as {{ vars.name }}."
          required
          autoFocus={variable === null}
          autoComplete="off"
          spellCheck={false}
        />
        <SelectField label="Value type" value={type} onChange={(e) => setType(e.target.value as ValueType)} hint="Text is taken as typed; JSON for numbers, booleans, lists and objects.">
          <option value="text">Text</option>
          <option value="json">JSON</option>
        </SelectField>
      </div>
      <TextField label="Description (optional)" value={description} onChange={(e) => setDescription(e.target.value)} error={errors.description} autoComplete="off" />
      <div className="config-override-row">
        <div className="config-override-toggle">
          <CheckboxField label="Default value" checked={hasDefault} onChange={(e) => setHasDefault(e.target.checked)} />
        </div>
        <TextField
          label="Default"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          error={errors.value}
          disabled={!hasDefault}
          hint="Used by every environment without a value of its own."
          autoComplete="off"
          spellCheck={false}
        />
      </div>
      <h3>Per environment</h3>
      {environments.map((environment) => {
        const on = Object.hasOwn(overrides, environment.slug);
        return (
          <div className="config-override-row" key={environment.slug}>
            <div className="config-override-toggle">
              <CheckboxField
                label={
                  <>
                    Override in <EnvBadge environment={environment} environments={all} />
                  </>
                }
                aria-label={`Override in ${environment.name}`}
                checked={on}
                onChange={(e) => {
                  const next = { ...overrides };
                  if (e.target.checked) next[environment.slug] = hasDefault ? value : '';
                  else delete next[environment.slug];
                  setOverrides(next);
                }}
              />
            </div>
            {on ? (
              <TextField
                label={`Value in ${environment.name}`}
                value={overrides[environment.slug] ?? ''}
                onChange={(e) => setOverrides({ ...overrides, [environment.slug]: e.target.value })}
                error={errors[`overrides.${environment.slug}`]}
                autoComplete="off"
                spellCheck={false}
              />
            ) : (
              <p className="muted config-override-toggle">{hasDefault ? 'Uses the default.' : environment.kind === 'branch' ? `Uses ${environment.parent ?? 'its parent'}'s value.` : 'No value.'}</p>
            )}
          </div>
        );
      })}
      <ErrorNotice error={other} />
      <div className="config-form-actions">
        <Button onClick={onCancel} disabled={save.isPending}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" busy={save.isPending}>
          {variable ? 'Save variable' : 'Add variable'}
        </Button>
      </div>
    </form>
  );
}
