// Members of the workspace and their roles, narrowed or widened per environment. The server
// keeps the last owner from being removed or demoted; its answer is shown where it happened.
import { useState } from 'react';
import { useMutation } from '@tanstack/react-query';
import { api, fieldErrors, unwrap } from '../../api/client';
import { useInvalidate, useWhoami, type Environment } from '../../api/queries';
import { Badge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { ConfirmDialog, Dialog } from '../../components/Dialog';
import { EmptyState, ErrorNotice, Loaded, Notice } from '../../components/Feedback';
import { PageHeader, SelectField, TextField, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { EnvironmentRoleFields, EnvironmentRoles, ROLE_HINTS, ROLES, useMembers, type Member, type Role } from './shared';
import './config.css';

export default function Members() {
  const { ws, environments } = useEnv();
  const members = useMembers(ws);
  const whoami = useWhoami();
  const invalidate = useInvalidate();
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<Member | null>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const [done, setDone] = useState<string | null>(null);

  return (
    <>
      <PageHeader
        title="Members & roles"
        description="People of this workspace. A role applies everywhere unless a per-environment role replaces it there."
        actions={
          <Button variant="primary" onClick={() => setAdding(true)}>
            Add member
          </Button>
        }
      />
      <div className="config-status">{done ? <Notice kind="success">{done}</Notice> : null}</div>
      <Loaded query={members} label="Loading members">
        {({ data }) =>
          data.length === 0 ? (
            <EmptyState
              title="No members yet"
              action={
                <Button variant="primary" onClick={() => setAdding(true)}>
                  Add member
                </Button>
              }
            >
              Add the people who work on this workspace and give each a role.
            </EmptyState>
          ) : (
            <table className="table">
              <caption className="visually-hidden">Members</caption>
              <thead>
                <tr>
                  <th scope="col">Member</th>
                  <th scope="col">Role</th>
                  <th scope="col">Per-environment roles</th>
                  <th scope="col">Added</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.map((member) => (
                  <tr key={member.id}>
                    <th scope="row">
                      {member.email} {member.userId === whoami.data?.userId ? <Badge tone="info">you</Badge> : null}
                    </th>
                    <td>
                      <strong>{member.role}</strong>
                    </td>
                    <td>
                      <EnvironmentRoles roles={member.environmentRoles} environments={environments} />
                    </td>
                    <td>
                      <When at={member.createdAt} />
                    </td>
                    <td className="config-actions">
                      <Button size="small" onClick={() => setEditing(member)} aria-label={`Change roles of ${member.email}`}>
                        Change roles
                      </Button>
                      <Button size="small" variant="danger" onClick={() => setRemoving(member)} aria-label={`Remove ${member.email}`}>
                        Remove
                      </Button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loaded>

      <Dialog open={adding} title="Add a member" onClose={() => setAdding(false)} wide>
        {adding ? (
          <MemberForm
            ws={ws}
            environments={environments}
            onCancel={() => setAdding(false)}
            onSaved={(member) => {
              setAdding(false);
              setDone(`${member.email} is a member, as ${member.role}.`);
              invalidate(ws);
            }}
          />
        ) : null}
      </Dialog>
      <Dialog open={editing !== null} title={`Roles of ${editing?.email ?? ''}`} onClose={() => setEditing(null)} wide>
        {editing ? (
          <MemberForm
            ws={ws}
            environments={environments}
            member={editing}
            onCancel={() => setEditing(null)}
            onSaved={(member) => {
              setEditing(null);
              setDone(`${member.email} is now ${member.role}.`);
              invalidate(ws);
            }}
          />
        ) : null}
      </Dialog>
      <ConfirmDialog
        open={removing !== null}
        title={`Remove ${removing?.email ?? ''}?`}
        confirmLabel={`Remove ${removing?.email ?? ''}`}
        danger
        onClose={() => setRemoving(null)}
        onConfirm={async () => {
          const member = removing!;
          await unwrap(api.DELETE('/api/workspaces/{ws}/members/{id}', { params: { path: { ws, id: member.id } } }));
          setDone(`${member.email} is no longer a member.`);
          invalidate(ws);
        }}
      >
        <p>
          {removing?.email} loses access to every environment of this workspace at once. Their account stays, so they can be added again.
        </p>
      </ConfirmDialog>
    </>
  );
}

function MemberForm({
  ws,
  environments,
  member,
  onSaved,
  onCancel,
}: {
  ws: string;
  environments: Environment[];
  member?: Member;
  onSaved: (member: Member) => void;
  onCancel: () => void;
}) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>(member?.role ?? 'developer');
  const [environmentRoles, setEnvironmentRoles] = useState<Record<string, Role>>(member?.environmentRoles ?? {});
  const save = useMutation({
    mutationFn: async () => {
      if (member) {
        return (await unwrap(api.PATCH('/api/workspaces/{ws}/members/{id}', { params: { path: { ws, id: member.id } }, body: { role, environmentRoles } }))) as unknown as Member;
      }
      const body = { email: email.trim(), role, environmentRoles, ...(password ? { password } : {}) };
      return (await unwrap(api.POST('/api/workspaces/{ws}/members', { params: { path: { ws } }, body }))) as unknown as Member;
    },
    onSuccess: onSaved,
  });
  const errors = fieldErrors(save.error);
  const shown = ['email', 'password', 'role', ...Object.keys(errors).filter((f) => f.startsWith('environmentRoles.'))];
  const other = save.error && !shown.some((f) => errors[f]) ? save.error : null;
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        save.mutate();
      }}
    >
      {member ? null : (
        <div className="config-form-grid">
          <TextField label="Email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} error={errors.email} required autoFocus autoComplete="off" />
          <TextField
            label="Password (optional)"
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            error={errors.password}
            hint="For a new account that signs in with email and password. Leave empty for someone who already has an account."
            autoComplete="new-password"
          />
        </div>
      )}
      <SelectField label="Workspace role" value={role} onChange={(e) => setRole(e.target.value as Role)} error={errors.role} autoFocus={member !== undefined}>
        {ROLES.map((r) => (
          <option key={r} value={r}>
            {r} — {ROLE_HINTS[r]}
          </option>
        ))}
      </SelectField>
      <EnvironmentRoleFields environments={environments} value={environmentRoles} onChange={setEnvironmentRoles} errors={errors} baseRole={role} />
      <ErrorNotice error={other} />
      <div className="config-form-actions">
        <Button onClick={onCancel} disabled={save.isPending}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" busy={save.isPending}>
          {member ? 'Save roles' : 'Add member'}
        </Button>
      </div>
    </form>
  );
}
