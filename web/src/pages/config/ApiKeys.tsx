// API keys of one environment: a key determines its environment. A new or rotated key is shown
// once, with a copy button, and then only its prefix; revoking asks first.
import { useState } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { api, fieldErrors, unwrap } from '../../api/client';
import { keys, useInvalidate } from '../../api/queries';
import { Badge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { ConfirmDialog, Dialog } from '../../components/Dialog';
import { EmptyState, ErrorNotice, Loaded, Notice } from '../../components/Feedback';
import { PageHeader, SelectField, TextField, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { isoFromLocal, ShownOnce, StatusBadge, useActorName, type List } from './shared';
import './config.css';

export interface ApiKey {
  id: string;
  name: string;
  kind: 'secret' | 'publishable';
  prefix: string;
  environment: string;
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  status: 'active' | 'expired' | 'revoked';
  key?: string;
}

const GRACE = [
  { seconds: 0, label: 'Stops at once' },
  { seconds: 3600, label: 'Keeps working for 1 hour' },
  { seconds: 86_400, label: 'Keeps working for 1 day' },
  { seconds: 7 * 86_400, label: 'Keeps working for 7 days' },
];

export default function ApiKeys() {
  const { ws, env, environment } = useEnv();
  const envName = environment?.name ?? env;
  const invalidate = useInvalidate();
  const actorName = useActorName(ws);
  const list = useQuery({
    queryKey: [...keys.env(ws, env), 'api-keys'],
    queryFn: async () => (await unwrap(api.GET('/api/workspaces/{ws}/environments/{env}/api-keys', { params: { path: { ws, env } } }))) as unknown as List<ApiKey>,
  });
  const [creating, setCreating] = useState(false);
  // The key itself lives only here, until this dialog closes.
  const [shown, setShown] = useState<{ key: ApiKey; rotated: boolean } | null>(null);
  const [rotating, setRotating] = useState<ApiKey | null>(null);
  const [grace, setGrace] = useState(86_400);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [done, setDone] = useState<string | null>(null);

  return (
    <>
      <PageHeader
        title="API keys"
        description={
          <>
            Keys of <strong>{envName}</strong>: a key always reads {envName}, whatever the request says. <code>sk_</code> secret keys are for servers and may receive secrets;{' '}
            <code>pk_</code> publishable keys may ship to browsers and never receive secrets.
          </>
        }
        actions={
          <Button variant="primary" onClick={() => setCreating(true)}>
            Create API key
          </Button>
        }
      />
      <div className="config-status">{done ? <Notice kind="success">{done}</Notice> : null}</div>
      <Loaded query={list} label="Loading API keys">
        {({ data }) =>
          data.length === 0 ? (
            <EmptyState
              title={`No API keys in ${envName} yet`}
              action={
                <Button variant="primary" onClick={() => setCreating(true)}>
                  Create API key
                </Button>
              }
            >
              Create a secret key for your server or a publishable key for a browser app, then pass it to the SDK as <code>Authorization: Bearer …</code>.
            </EmptyState>
          ) : (
            <table className="table">
              <caption className="visually-hidden">API keys of {envName}</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Key</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {[...data]
                  .sort((a, b) => Number(a.status !== 'active') - Number(b.status !== 'active') || b.createdAt.localeCompare(a.createdAt))
                  .map((key) => (
                    <tr key={key.id}>
                      <th scope="row">{key.name}</th>
                      <td>{key.kind === 'secret' ? <Badge tone="danger">sk · secret</Badge> : <Badge tone="info">pk · publishable</Badge>}</td>
                      <td>
                        <code>{key.prefix}…</code>
                      </td>
                      <td>
                        <When at={key.createdAt} /> <span className="config-cell-note">by {actorName(key.createdBy)}</span>
                      </td>
                      <td>{key.lastUsedAt ? <When at={key.lastUsedAt} /> : <span className="muted">never</span>}</td>
                      <td>{key.expiresAt ? <When at={key.expiresAt} /> : <span className="muted">never</span>}</td>
                      <td>
                        <StatusBadge status={key.status} />
                      </td>
                      <td className="config-actions">
                        {key.status === 'active' ? (
                          <>
                            <Button size="small" onClick={() => setRotating(key)} aria-label={`Rotate ${key.name}`}>
                              Rotate
                            </Button>
                            <Button size="small" variant="danger" onClick={() => setRevoking(key)} aria-label={`Revoke ${key.name}`}>
                              Revoke
                            </Button>
                          </>
                        ) : null}
                      </td>
                    </tr>
                  ))}
              </tbody>
            </table>
          )
        }
      </Loaded>

      <Dialog open={creating} title={`Create an API key in ${envName}`} onClose={() => setCreating(false)}>
        {creating ? (
          <CreateKeyForm
            ws={ws}
            env={env}
            onCancel={() => setCreating(false)}
            onCreated={(key) => {
              setCreating(false);
              setShown({ key, rotated: false });
              setDone(null);
              invalidate(ws, env);
            }}
          />
        ) : null}
      </Dialog>

      <Dialog
        open={shown !== null}
        title={shown?.rotated ? `New key for ${shown.key.name}` : `API key ${shown?.key.name ?? ''} created`}
        onClose={() => setShown(null)}
        footer={
          <Button variant="primary" onClick={() => setShown(null)}>
            I have copied the key
          </Button>
        }
      >
        {shown?.key.key ? (
          <ShownOnce label={shown.key.kind === 'secret' ? 'Secret key' : 'Publishable key'} value={shown.key.key}>
            <p className="muted">
              It works in <strong>{envName}</strong> only{shown.key.expiresAt ? <> and expires <When at={shown.key.expiresAt} /></> : null}.
            </p>
          </ShownOnce>
        ) : null}
      </Dialog>

      <ConfirmDialog
        open={rotating !== null}
        title={`Rotate ${rotating?.name ?? ''}?`}
        confirmLabel="Rotate key"
        onClose={() => setRotating(null)}
        onConfirm={async () => {
          const key = rotating!;
          const rotated = (await unwrap(
            api.POST('/api/workspaces/{ws}/environments/{env}/api-keys/{id}/rotate', { params: { path: { ws, env, id: key.id } }, body: { graceSeconds: grace } }),
          )) as unknown as ApiKey;
          setShown({ key: rotated, rotated: true });
          invalidate(ws, env);
        }}
      >
        <p>A new key replaces {rotating?.name}; it is shown once. Deploy it, then let the old one go.</p>
        <SelectField label="The old key" value={String(grace)} onChange={(event) => setGrace(Number(event.target.value))}>
          {GRACE.map((g) => (
            <option key={g.seconds} value={g.seconds}>
              {g.label}
            </option>
          ))}
        </SelectField>
      </ConfirmDialog>

      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke ${revoking?.name ?? ''}?`}
        confirmLabel={`Revoke ${revoking?.name ?? ''}`}
        danger
        onClose={() => setRevoking(null)}
        onConfirm={async () => {
          const key = revoking!;
          await unwrap(api.DELETE('/api/workspaces/{ws}/environments/{env}/api-keys/{id}', { params: { path: { ws, env, id: key.id } } }));
          setDone(`${key.name} is revoked: calls with it are refused from now on.`);
          invalidate(ws, env);
        }}
      >
        <p>
          Every call with <code>{revoking?.prefix}…</code> to {envName} is refused from now on. This cannot be undone.
        </p>
      </ConfirmDialog>
    </>
  );
}

function CreateKeyForm({ ws, env, onCreated, onCancel }: { ws: string; env: string; onCreated: (key: ApiKey) => void; onCancel: () => void }) {
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'secret' | 'publishable'>('secret');
  const [expires, setExpires] = useState('');
  const create = useMutation({
    mutationFn: async () => {
      const expiresAt = isoFromLocal(expires);
      return (await unwrap(
        api.POST('/api/workspaces/{ws}/environments/{env}/api-keys', { params: { path: { ws, env } }, body: { name, kind, ...(expiresAt ? { expiresAt } : {}) } }),
      )) as unknown as ApiKey;
    },
    onSuccess: onCreated,
  });
  const errors = fieldErrors(create.error);
  const known = ['name', 'kind', 'expiresAt'];
  const other = create.error && !known.some((f) => errors[f]) ? create.error : null;
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        create.mutate();
      }}
    >
      <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} error={errors.name} hint="What uses it, e.g. checkout-server." required autoFocus autoComplete="off" />
      <SelectField label="Kind" value={kind} onChange={(e) => setKind(e.target.value as 'secret' | 'publishable')} error={errors.kind}>
        <option value="secret">Secret (sk_…): server-side, may receive secrets</option>
        <option value="publishable">Publishable (pk_…): safe in a browser, never receives secrets</option>
      </SelectField>
      <TextField label="Expires (optional)" type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} error={errors.expiresAt} hint="Leave empty for a key that does not expire." />
      <ErrorNotice error={other} />
      <div className="config-form-actions">
        <Button onClick={onCancel} disabled={create.isPending}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" busy={create.isPending}>
          Create key
        </Button>
      </div>
    </form>
  );
}
