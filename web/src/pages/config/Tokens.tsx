// Service tokens: workspace credentials for CI and scripts, with a role like a member's. A new
// token is shown once; revoking asks first.
import { useState } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { api, fieldErrors, unwrap } from '../../api/client';
import { useInvalidate, type Environment } from '../../api/queries';
import { Button } from '../../components/Button';
import { ConfirmDialog, Dialog } from '../../components/Dialog';
import { EmptyState, ErrorNotice, Loaded, Notice } from '../../components/Feedback';
import { PageHeader, SelectField, TextField, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { configKeys, EnvironmentRoleFields, EnvironmentRoles, isoFromLocal, ROLE_HINTS, ROLES, ShownOnce, StatusBadge, type List, type Role, type ServiceToken } from './shared';
import './config.css';

export default function Tokens() {
  const { ws, environments } = useEnv();
  const invalidate = useInvalidate();
  const tokens = useQuery({
    queryKey: configKeys.tokens(ws),
    queryFn: async () => (await unwrap(api.GET('/api/workspaces/{ws}/tokens', { params: { path: { ws } } }))) as unknown as List<ServiceToken>,
  });
  const [creating, setCreating] = useState(false);
  const [shown, setShown] = useState<(ServiceToken & { token: string }) | null>(null);
  const [revoking, setRevoking] = useState<ServiceToken | null>(null);
  const [done, setDone] = useState<string | null>(null);

  return (
    <>
      <PageHeader
        title="Service tokens"
        description={
          <>
            Credentials for CI and scripts (<code>STAGELINE_TOKEN</code>), each with a role like a member&apos;s, optionally different per environment.
          </>
        }
        actions={
          <Button variant="primary" onClick={() => setCreating(true)}>
            Create service token
          </Button>
        }
      />
      <div className="config-status">{done ? <Notice kind="success">{done}</Notice> : null}</div>
      <Loaded query={tokens} label="Loading service tokens">
        {({ data }) =>
          data.length === 0 ? (
            <EmptyState
              title="No service tokens yet"
              action={
                <Button variant="primary" onClick={() => setCreating(true)}>
                  Create service token
                </Button>
              }
            >
              Create one for your CI, e.g. a deployer that may promote to staging, and set it as <code>STAGELINE_TOKEN</code> there.
            </EmptyState>
          ) : (
            <table className="table">
              <caption className="visually-hidden">Service tokens</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Per-environment roles</th>
                  <th scope="col">Token</th>
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
                  .map((token) => (
                    <tr key={token.id}>
                      <th scope="row">{token.name}</th>
                      <td>
                        <strong>{token.role}</strong>
                      </td>
                      <td>
                        <EnvironmentRoles roles={token.environmentRoles} environments={environments} />
                      </td>
                      <td>
                        <code>{token.prefix}…</code>
                      </td>
                      <td>
                        <When at={token.createdAt} />
                      </td>
                      <td>{token.lastUsedAt ? <When at={token.lastUsedAt} /> : <span className="muted">never</span>}</td>
                      <td>{token.expiresAt ? <When at={token.expiresAt} /> : <span className="muted">never</span>}</td>
                      <td>
                        <StatusBadge status={token.status} />
                      </td>
                      <td className="config-actions">
                        {token.status === 'active' ? (
                          <Button size="small" variant="danger" onClick={() => setRevoking(token)} aria-label={`Revoke ${token.name}`}>
                            Revoke
                          </Button>
                        ) : null}
                      </td>
                    </tr>
                  ))}
              </tbody>
            </table>
          )
        }
      </Loaded>

      <Dialog open={creating} title="Create a service token" onClose={() => setCreating(false)} wide>
        {creating ? (
          <TokenForm
            ws={ws}
            environments={environments}
            onCancel={() => setCreating(false)}
            onCreated={(token) => {
              setCreating(false);
              setShown(token);
              setDone(null);
              invalidate(ws);
            }}
          />
        ) : null}
      </Dialog>
      <Dialog
        open={shown !== null}
        title={`Service token ${shown?.name ?? ''} created`}
        onClose={() => setShown(null)}
        footer={
          <Button variant="primary" onClick={() => setShown(null)}>
            I have copied the token
          </Button>
        }
      >
        {shown ? <ShownOnce label="Service token" value={shown.token} /> : null}
      </Dialog>
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke ${revoking?.name ?? ''}?`}
        confirmLabel={`Revoke ${revoking?.name ?? ''}`}
        danger
        onClose={() => setRevoking(null)}
        onConfirm={async () => {
          const token = revoking!;
          await unwrap(api.DELETE('/api/workspaces/{ws}/tokens/{id}', { params: { path: { ws, id: token.id } } }));
          setDone(`${token.name} is revoked.`);
          invalidate(ws);
        }}
      >
        <p>
          Everything that uses <code>{revoking?.prefix}…</code> (CI jobs, scripts) is refused from now on. This cannot be undone.
        </p>
      </ConfirmDialog>
    </>
  );
}

function TokenForm({
  ws,
  environments,
  onCreated,
  onCancel,
}: {
  ws: string;
  environments: Environment[];
  onCreated: (token: ServiceToken & { token: string }) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('deployer');
  const [environmentRoles, setEnvironmentRoles] = useState<Record<string, Role>>({});
  const [expires, setExpires] = useState('');
  const create = useMutation({
    mutationFn: async () => {
      const expiresAt = isoFromLocal(expires);
      const body = { name, role, environmentRoles, ...(expiresAt ? { expiresAt } : {}) };
      return (await unwrap(api.POST('/api/workspaces/{ws}/tokens', { params: { path: { ws } }, body }))) as unknown as ServiceToken & { token: string };
    },
    onSuccess: onCreated,
  });
  const errors = fieldErrors(create.error);
  const shown = ['name', 'role', 'expiresAt', ...Object.keys(errors).filter((f) => f.startsWith('environmentRoles.'))];
  const other = create.error && !shown.some((f) => errors[f]) ? create.error : null;
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        create.mutate();
      }}
    >
      <div className="config-form-grid">
        <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} error={errors.name} hint="What uses it, e.g. github-actions." required autoFocus autoComplete="off" />
        <TextField label="Expires (optional)" type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} error={errors.expiresAt} hint="Leave empty for no expiry." />
      </div>
      <SelectField label="Role" value={role} onChange={(e) => setRole(e.target.value as Role)} error={errors.role}>
        {ROLES.map((r) => (
          <option key={r} value={r}>
            {r} — {ROLE_HINTS[r]}
          </option>
        ))}
      </SelectField>
      <EnvironmentRoleFields environments={environments} value={environmentRoles} onChange={setEnvironmentRoles} errors={errors} baseRole={role} />
      <ErrorNotice error={other} />
      <div className="config-form-actions">
        <Button onClick={onCancel} disabled={create.isPending}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" busy={create.isPending}>
          Create token
        </Button>
      </div>
    </form>
  );
}
