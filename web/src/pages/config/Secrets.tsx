// Secrets of one environment: write-only. The page lists names, masked hints and who changed
// them when; a value is typed into a password field, sent once and never held or shown again.
// A second table shows which environments have each secret set.
import { useState } from 'react';
import { useMutation, useQueries, useQuery } from '@tanstack/react-query';
import { api, fieldErrors, unwrap } from '../../api/client';
import { keys, useInvalidate, type Environment } from '../../api/queries';
import { Badge, EnvBadge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { ConfirmDialog, Dialog } from '../../components/Dialog';
import { EmptyState, ErrorNotice, Loaded, Notice } from '../../components/Feedback';
import { Masked, PageHeader, TextField, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { orderedEnvironments, useActorName, type List } from './shared';
import './config.css';

export interface SecretMetadata {
  name: string;
  environment: string;
  version: number;
  hint: string;
  updatedBy: string;
  updatedAt: string;
}

const secretsKey = (ws: string, env: string) => [...keys.env(ws, env), 'secrets'] as const;

function fetchSecrets(ws: string, env: string) {
  return async () => (await unwrap(api.GET('/api/workspaces/{ws}/environments/{env}/secrets', { params: { path: { ws, env } } }))) as unknown as List<SecretMetadata>;
}

export function useSecrets(ws: string, env: string) {
  return useQuery({ queryKey: secretsKey(ws, env), queryFn: fetchSecrets(ws, env) });
}

export default function Secrets() {
  const { ws, env, environment, environments } = useEnv();
  const secrets = useSecrets(ws, env);
  const actorName = useActorName(ws);
  const [editing, setEditing] = useState<{ name: string | null } | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const invalidate = useInvalidate();
  const envName = environment?.name ?? env;

  return (
    <>
      <PageHeader
        title="Secrets"
        description={
          <>
            Values of <strong>{envName}</strong> that templates read server-side as <code>{'{{ secrets.NAME }}'}</code>. They are encrypted at rest and write-only:
            once saved, a value is never shown again, only its masked hint.
          </>
        }
        actions={
          <Button variant="primary" onClick={() => setEditing({ name: null })}>
            Set a secret
          </Button>
        }
      />
      <div className="config-status">{saved ? <Notice kind="success">{saved}</Notice> : null}</div>
      <section className="section" aria-labelledby="secrets-here">
        <h2 id="secrets-here">
          In <EnvBadge environment={environment} environments={environments} slug={env} />
        </h2>
        <Loaded query={secrets} label="Loading secrets">
          {(list) =>
            list.data.length === 0 ? (
              <EmptyState
                title={`No secrets in ${envName} yet`}
                action={
                  <Button variant="primary" onClick={() => setEditing({ name: null })}>
                    Set a secret
                  </Button>
                }
              >
                Set one (an API token, a signing key) and reference it as <code>{'{{ secrets.NAME }}'}</code> in a route, tool or channel. A secret missing here is an error at run
                time, never another environment&apos;s value.
              </EmptyState>
            ) : (
              <table className="table">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Value</th>
                    <th scope="col">Version</th>
                    <th scope="col">Updated</th>
                    <th scope="col">By</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.map((secret) => (
                    <tr key={secret.name}>
                      <th scope="row">
                        <code>{secret.name}</code>
                      </th>
                      <td>
                        <Masked hint={secret.hint} />
                      </td>
                      <td>v{secret.version}</td>
                      <td>
                        <When at={secret.updatedAt} />
                      </td>
                      <td>{actorName(secret.updatedBy)}</td>
                      <td className="config-actions">
                        <Button size="small" onClick={() => setEditing({ name: secret.name })} aria-label={`Replace ${secret.name}`}>
                          Replace
                        </Button>
                        <Button size="small" variant="danger" onClick={() => setDeleting(secret.name)} aria-label={`Delete ${secret.name}`}>
                          Delete
                        </Button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </Loaded>
      </section>
      <AcrossEnvironments ws={ws} environments={environments} current={env} />

      <Dialog open={editing !== null} title={editing?.name ? `Replace ${editing.name} in ${envName}` : `Set a secret in ${envName}`} onClose={() => setEditing(null)}>
        {editing ? (
          <SecretForm
            ws={ws}
            env={env}
            name={editing.name}
            onCancel={() => setEditing(null)}
            onSaved={(secret) => {
              setEditing(null);
              setSaved(`${secret.name} is set in ${envName} (version ${secret.version}).`);
              invalidate(ws, env);
            }}
          />
        ) : null}
      </Dialog>
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting ?? ''} from ${envName}?`}
        confirmLabel={`Delete ${deleting ?? ''} from ${envName}`}
        danger
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          const name = deleting!;
          await unwrap(api.DELETE('/api/workspaces/{ws}/environments/{env}/secrets/{name}', { params: { path: { ws, env, name } } }));
          setSaved(`${name} is deleted from ${envName}.`);
          invalidate(ws, env);
        }}
      >
        <p>
          Anything in {envName} that reads <code>{`{{ secrets.${deleting ?? ''} }}`}</code> fails from now on, until the secret is set again. Other environments keep their own value.
        </p>
      </ConfirmDialog>
    </>
  );
}

function SecretForm({ ws, env, name, onSaved, onCancel }: { ws: string; env: string; name: string | null; onSaved: (secret: SecretMetadata) => void; onCancel: () => void }) {
  const [newName, setNewName] = useState('');
  const [value, setValue] = useState('');
  const save = useMutation({
    mutationFn: async () => {
      const target = name ?? newName.trim();
      if (!target) throw Object.assign(new Error('Name the secret.'), { field: 'name' });
      return (await unwrap(
        api.PUT('/api/workspaces/{ws}/environments/{env}/secrets/{name}', { params: { path: { ws, env, name: target } }, body: { value } }),
      )) as unknown as SecretMetadata;
    },
    onSuccess: (secret) => {
      // The value leaves this page's memory as soon as the server has it.
      setValue('');
      onSaved(secret);
    },
  });
  const errors = fieldErrors(save.error);
  const localName = save.error && (save.error as { field?: string }).field === 'name' ? (save.error as Error).message : undefined;
  const others = save.error && !errors.name && !errors.value && !localName ? save.error : null;
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        save.mutate();
      }}
    >
      {name === null ? (
        <TextField
          label="Name"
          value={newName}
          onChange={(event) => setNewName(event.target.value)}
          error={errors.name ?? localName}
          hint="Letters, digits and underscores, e.g. stripe_key."
          autoComplete="off"
          spellCheck={false}
          required
          autoFocus
        />
      ) : null}
      <TextField
        label="Value"
        type="password"
        value={value}
        onChange={(event) => setValue(event.target.value)}
        error={errors.value}
        hint={`Write-only: after saving, the value is never shown again.${name ? ' It replaces the current value.' : ''}`}
        autoComplete="new-password"
        spellCheck={false}
        required
        autoFocus={name !== null}
      />
      <ErrorNotice error={others} />
      <div className="config-form-actions">
        <Button onClick={onCancel} disabled={save.isPending}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" busy={save.isPending}>
          {name ? 'Replace value' : 'Save secret'}
        </Button>
      </div>
    </form>
  );
}

/** Which environments have each secret: a branch without its own value uses its parent's. */
function AcrossEnvironments({ ws, environments, current }: { ws: string; environments: Environment[]; current: string }) {
  const ordered = orderedEnvironments(environments);
  const results = useQueries({ queries: ordered.map((e) => ({ queryKey: secretsKey(ws, e.slug), queryFn: fetchSecrets(ws, e.slug) })) });
  const byEnv = new Map(ordered.map((e, i) => [e.slug, results[i]?.data?.data]));
  const names = [...new Set(results.flatMap((r) => r.data?.data.map((s) => s.name) ?? []))].sort();
  const pending = results.some((r) => r.isPending);
  const failed = results.find((r) => r.error)?.error;
  return (
    <section className="section" aria-labelledby="secrets-across">
      <h2 id="secrets-across">Across environments</h2>
      <p className="muted">Which environments have each secret set. Each environment holds its own value; none is ever copied from another.</p>
      {failed ? <ErrorNotice error={failed} /> : null}
      {pending && names.length === 0 ? (
        <div className="config-placeholder" aria-busy="true" />
      ) : names.length === 0 ? (
        <p className="muted">No environment has a secret yet.</p>
      ) : (
        <div className="config-scroll">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Secret</th>
                {ordered.map((e) => (
                  <th scope="col" key={e.slug} className={e.slug === current ? 'config-current' : undefined}>
                    <EnvBadge environment={e} environments={environments} />
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {names.map((name) => (
                <tr key={name}>
                  <th scope="row">
                    <code>{name}</code>
                  </th>
                  {ordered.map((e) => {
                    const list = byEnv.get(e.slug);
                    const own = list?.find((s) => s.name === name);
                    const inherited = !own && e.kind === 'branch' && e.parent ? byEnv.get(e.parent)?.find((s) => s.name === name) : undefined;
                    return (
                      <td key={e.slug} className={e.slug === current ? 'config-current' : undefined}>
                        {list === undefined ? (
                          <span className="muted">…</span>
                        ) : own ? (
                          <Badge tone="success">✓ set (v{own.version})</Badge>
                        ) : inherited ? (
                          <Badge tone="info">from {e.parent}</Badge>
                        ) : (
                          <Badge tone="warning">✗ not set</Badge>
                        )}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
