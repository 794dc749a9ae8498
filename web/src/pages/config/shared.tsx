// Pieces the configuration pages share: the shapes they read from the API (typed loosely in
// schema.d.ts until it is regenerated), the roles, per-environment role pickers, a credential
// shown once, and the member names that "updated by" columns show.
import { useId, type ReactNode } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../../api/client';
import type { Environment } from '../../api/queries';
import { Badge, EnvBadge } from '../../components/Badge';
import { Notice } from '../../components/Feedback';
import { CopyButton } from '../../components/Misc';
import { chainOf } from '../../context';

export const ROLES = ['owner', 'admin', 'developer', 'deployer', 'support', 'viewer', 'reporter'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_HINTS: Record<Role, string> = {
  owner: 'everything, including members',
  admin: 'everything, including members',
  developer: 'edit drafts, commit, promote',
  deployer: 'promote and roll back',
  support: 'read everything needed to debug',
  viewer: 'read only',
  reporter: 'report CI checks',
};

export interface Member {
  id: string;
  userId: string;
  email: string;
  name: string;
  role: Role;
  environmentRoles: Record<string, Role>;
  createdAt: string;
}

export interface ServiceToken {
  id: string;
  name: string;
  role: Role;
  environmentRoles: Record<string, Role>;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  status: 'active' | 'expired' | 'revoked';
}

/** Lists answer `{data, next}`; these are the ones schema.d.ts does not type yet. */
export interface List<T> {
  data: T[];
  next: string | null;
}

export const configKeys = {
  members: (ws: string) => [ws, 'members'] as const,
  tokens: (ws: string) => [ws, 'tokens'] as const,
  variables: (ws: string) => [ws, 'variables'] as const,
};

export function useMembers(ws: string, enabled = true) {
  return useQuery({
    queryKey: configKeys.members(ws),
    queryFn: async () => (await unwrap(api.GET('/api/workspaces/{ws}/members', { params: { path: { ws } } }))) as unknown as List<Member>,
    enabled,
  });
}

/** Who changed something: the member's email when the id is a member's, else the id itself (a token). */
export function useActorName(ws: string): (id: string | null | undefined) => string {
  const members = useMembers(ws).data?.data ?? [];
  return (id) => {
    if (!id) return '—';
    return members.find((m) => m.userId === id)?.email ?? id;
  };
}

/** The chain in order, then the branches: the order every per-environment column uses. */
export function orderedEnvironments(environments: Environment[]): Environment[] {
  return [...chainOf(environments), ...environments.filter((e) => e.kind === 'branch')];
}

/** A role per environment on top of the workspace role; "" keeps the workspace role there. */
export function EnvironmentRoleFields({
  environments,
  value,
  onChange,
  errors,
  baseRole,
}: {
  environments: Environment[];
  value: Record<string, Role>;
  onChange: (next: Record<string, Role>) => void;
  errors: Record<string, string>;
  baseRole: Role;
}) {
  const legendId = useId();
  const id = useId();
  return (
    <fieldset className="config-env-roles" aria-describedby={`${legendId}-hint`}>
      <legend>Per-environment roles</legend>
      <p className="field-hint" id={`${legendId}-hint`}>
        Narrow or widen the role in one environment, e.g. developer everywhere but viewer in production.
      </p>
      {orderedEnvironments(environments).map((environment) => {
        const field = `environmentRoles.${environment.slug}`;
        const error = errors[field];
        return (
          <div className="config-env-role" key={environment.slug}>
            <label htmlFor={`${id}-${environment.slug}`}>
              <EnvBadge environment={environment} environments={environments} />
              <span className="visually-hidden"> role</span>
            </label>
            <div>
              <select
                id={`${id}-${environment.slug}`}
                aria-label={`${environment.name} role`}
                value={value[environment.slug] ?? ''}
                aria-invalid={error ? true : undefined}
                aria-describedby={`${id}-${environment.slug}-error`}
                onChange={(event) => {
                  const next = { ...value };
                  if (event.target.value === '') delete next[environment.slug];
                  else next[environment.slug] = event.target.value as Role;
                  onChange(next);
                }}
              >
                <option value="">Same as the workspace role ({baseRole})</option>
                {ROLES.map((role) => (
                  <option key={role} value={role}>
                    {role}
                  </option>
                ))}
              </select>
              <p id={`${id}-${environment.slug}-error`} className="field-error" role={error ? 'alert' : undefined}>
                {error ?? ''}
              </p>
            </div>
          </div>
        );
      })}
    </fieldset>
  );
}

/** The per-environment roles of a member or token as badges ("production: viewer"). */
export function EnvironmentRoles({ roles, environments }: { roles: Record<string, Role>; environments: Environment[] }) {
  const entries = Object.entries(roles);
  if (entries.length === 0) return <span className="muted">none</span>;
  return (
    <ul className="config-role-list">
      {entries.map(([slug, role]) => (
        <li key={slug}>
          <EnvBadge environment={environments.find((e) => e.slug === slug)} environments={environments} slug={slug} />: <strong>{role}</strong>
        </li>
      ))}
    </ul>
  );
}

/** A credential shown once, right after it was made: a copy button and the warning that it will not be shown again. */
export function ShownOnce({ label, value, children }: { label: string; value: string; children?: ReactNode }) {
  const id = useId();
  return (
    <div className="config-shown-once">
      <Notice kind="warning">
        <strong>Copy it now: it is shown only this once.</strong> Stageline keeps only a hash of it; if it is lost, rotate or make a new one.
      </Notice>
      <label htmlFor={id}>{label}</label>
      <div className="config-secret-row">
        <input id={id} className="mono" readOnly value={value} onFocus={(event) => event.currentTarget.select()} spellCheck={false} />
        <CopyButton text={value} label={`Copy ${label.toLowerCase()}`} />
      </div>
      {children}
    </div>
  );
}

/** A `datetime-local` value as the ISO time the API takes (undefined when empty). */
export function isoFromLocal(value: string): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

export function StatusBadge({ status }: { status: 'active' | 'expired' | 'revoked' }) {
  return <Badge tone={status === 'active' ? 'success' : status === 'expired' ? 'warning' : 'neutral'}>{status}</Badge>;
}
