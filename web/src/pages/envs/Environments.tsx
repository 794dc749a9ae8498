// The environments of the workspace: the chain drawn left to right as cards joined by arrows,
// each branch under the environment it forked from; create, branch, edit flags, delete.
import { useState } from 'react';
import { Link } from 'react-router';
import { api, unwrap } from '../../api/client';
import { useEnvironments, useInvalidate, type Environment } from '../../api/queries';
import { Badge, EnvBadge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { ConfirmDialog } from '../../components/Dialog';
import { EmptyState, ErrorNotice } from '../../components/Feedback';
import { PageHeader, When } from '../../components/Misc';
import { chainOf, colorOf, isProduction, useEnv } from '../../context';
import { useBranchChanges, useHealthOf, type Health, type PendingChanges } from './data';
import { CreateEnvironmentDialog, EditEnvironmentDialog } from './EnvironmentForms';
import './envs.css';

type Open = { kind: 'create'; branchFrom?: string } | { kind: 'edit'; env: Environment } | { kind: 'delete'; env: Environment } | null;

export default function Environments() {
  const { ws } = useEnv();
  const query = useEnvironments(ws);
  const all = query.data ?? [];
  const chain = chainOf(all);
  const branches = all.filter((e) => e.kind === 'branch');
  const health = useHealthOf(ws, all);
  const branchChanges = useBranchChanges(ws, branches);
  const invalidate = useInvalidate();
  const [open, setOpen] = useState<Open>(null);
  const close = () => setOpen(null);

  const orphans = branches.filter((b) => !chain.some((c) => c.slug === b.parent));

  return (
    <>
      <PageHeader
        title="Environments"
        description="The chain, from where you edit to what your users get: a release moves one step right at a time. Branches sit under the environment they forked from."
        actions={
          <Button variant="primary" onClick={() => setOpen({ kind: 'create' })}>
            Create environment
          </Button>
        }
      />
      <ErrorNotice error={query.error} />
      {query.isPending ? (
        <div className="env-chain env-chain-loading" aria-busy="true" aria-label="Loading the environments">
          {[0, 1, 2].map((i) => (
            <div className="env-step" key={i}>
              <div className="env-card env-card-placeholder" />
            </div>
          ))}
        </div>
      ) : chain.length === 0 ? (
        <EmptyState title="No environments yet" action={<Button onClick={() => setOpen({ kind: 'create' })}>Create environment</Button>}>
          Create the first environment of the chain.
        </EmptyState>
      ) : (
        <div className="env-chain-scroll" role="region" aria-label="Environment chain" tabIndex={0}>
          <ol className="env-chain" aria-label="Chain, first to last">
            {chain.map((env, index) => {
              const own = branches.filter((b) => b.parent === env.slug);
              const previous = index > 0 ? chain[index - 1] : undefined;
              const deletable = index > 0 && index < chain.length - 1;
              return (
                <li className="env-step" key={env.id}>
                  {index > 0 ? (
                    <span className="env-arrow" aria-hidden="true">
                      →
                    </span>
                  ) : null}
                  <div className="env-column">
                    <EnvCard
                      env={env}
                      all={all}
                      health={health.get(env.slug)?.data}
                      healthError={health.get(env.slug)?.error}
                      pending={pendingOf(health.get(env.slug)?.data, previous)}
                      onBranch={() => setOpen({ kind: 'create', branchFrom: env.slug })}
                      onEdit={() => setOpen({ kind: 'edit', env })}
                      onDelete={deletable ? () => setOpen({ kind: 'delete', env }) : undefined}
                    />
                    {own.length > 0 ? (
                      <ul className="env-branches" aria-label={`Branches of ${env.name}`}>
                        {own.map((branch) => (
                          <li key={branch.id}>
                            <EnvCard
                              env={branch}
                              all={all}
                              health={health.get(branch.slug)?.data}
                              healthError={health.get(branch.slug)?.error}
                              pending={branchChanges.get(branch.slug)}
                              onEdit={() => setOpen({ kind: 'edit', env: branch })}
                              onDelete={() => setOpen({ kind: 'delete', env: branch })}
                            />
                          </li>
                        ))}
                      </ul>
                    ) : null}
                  </div>
                </li>
              );
            })}
          </ol>
        </div>
      )}
      {orphans.length > 0 ? (
        <section className="section" aria-label="Other branches">
          <h2>Other branches</h2>
          <ul className="env-branches env-branches-flat">
            {orphans.map((branch) => (
              <li key={branch.id}>
                <EnvCard
                  env={branch}
                  all={all}
                  health={health.get(branch.slug)?.data}
                  healthError={health.get(branch.slug)?.error}
                  pending={undefined}
                  onEdit={() => setOpen({ kind: 'edit', env: branch })}
                  onDelete={() => setOpen({ kind: 'delete', env: branch })}
                />
              </li>
            ))}
          </ul>
        </section>
      ) : null}

      <CreateEnvironmentDialog
        open={open?.kind === 'create'}
        ws={ws}
        environments={all}
        branchFrom={open?.kind === 'create' ? open.branchFrom : undefined}
        onClose={close}
        onCreated={() => invalidate(ws)}
      />
      {open?.kind === 'edit' ? <EditEnvironmentDialog ws={ws} env={open.env} onClose={close} onSaved={() => invalidate(ws)} /> : null}
      <ConfirmDialog
        open={open?.kind === 'delete'}
        title={open?.kind === 'delete' ? `Delete ${open.env.name}?` : 'Delete'}
        confirmLabel={open?.kind === 'delete' ? `Delete ${open.env.slug}` : 'Delete'}
        danger
        onClose={close}
        onConfirm={async () => {
          if (open?.kind !== 'delete') return;
          await unwrap(api.DELETE('/api/workspaces/{ws}/environments/{env}', { params: { path: { ws, env: open.env.slug } } }));
          await invalidate(ws);
        }}
      >
        {open?.kind === 'delete' ? (
          open.env.kind === 'branch' ? (
            <p>
              The branch <strong>{open.env.slug}</strong> is deleted with everything it holds: drafts, releases, API keys, overrides, secrets, variable values,
              settings and data. Changes not merged into {open.env.parent ?? 'its parent'} are lost.
            </p>
          ) : (
            <p>
              The environment <strong>{open.env.slug}</strong> leaves the chain, with its keys, secrets and settings. Only a middle environment with no releases
              and no drafts can be deleted; the server says what stands in the way otherwise.
            </p>
          )
        ) : null}
      </ConfirmDialog>
    </>
  );
}

/** A chain environment's pending changes: how many resources differ from its predecessor. */
function pendingOf(health: Health | undefined, previous: Environment | undefined): PendingChanges | undefined {
  if (!previous || !health?.drift) return undefined;
  return { from: health.drift.from, count: health.drift.resources.length };
}

interface EnvCardProps {
  env: Environment;
  all: Environment[];
  health: Health | undefined;
  healthError: unknown;
  pending: PendingChanges | undefined;
  onBranch?: (() => void) | undefined;
  onEdit: () => void;
  onDelete?: (() => void) | undefined;
}

function EnvCard({ env, all, health, healthError, pending, onBranch, onEdit, onDelete }: EnvCardProps) {
  const { envPath } = useEnv();
  const production = isProduction(env, all);
  const titleId = `env-card-${env.slug}`;
  const chain = chainOf(all);
  const first = env.kind === 'chain' && chain[0]?.id === env.id;
  return (
    <article className={`env-card${production ? ' env-card-production' : ''}${env.kind === 'branch' ? ' env-card-branch' : ''}`} aria-labelledby={titleId}>
      <div className="env-card-strip" style={{ backgroundColor: colorOf(env, all) }} aria-hidden="true" />
      <header className="env-card-header">
        <h2 id={titleId} className="env-card-title">
          <EnvBadge environment={env} environments={all} />
        </h2>
        <code className="env-card-slug">{env.slug}</code>
      </header>
      <div className="env-card-badges">
        {env.kind === 'branch' ? <Badge tone="info">branch of {env.parent ?? '?'}</Badge> : null}
        {env.default ? <Badge title="runtime calls that name no environment use it">default</Badge> : null}
        {env.editable ? <Badge tone="success">editable</Badge> : null}
        {env.protected ? <Badge tone="warning">protected</Badge> : null}
        {health?.freeze ? (
          <Badge tone="danger" title={health.freeze.reason ?? undefined}>
            frozen
          </Badge>
        ) : null}
        {health?.hold ? (
          <Badge tone="danger" title={health.hold.reason}>
            on hold
          </Badge>
        ) : null}
      </div>
      <dl className="env-card-facts">
        <dt>Release</dt>
        <dd>
          {env.release > 0 ? (
            <Link to={envPath('releases', env.slug)} aria-label={`${env.name} release ${env.release}: its releases`}>
              #{env.release}
            </Link>
          ) : (
            <span className="muted">none yet</span>
          )}
          {health?.release ? (
            <span className="muted">
              {' '}
              · <When at={health.release.since} />
            </span>
          ) : null}
        </dd>
        <dt>Pending</dt>
        <dd className="env-card-pending">
          {first ? (
            <span className="muted">first in the chain</span>
          ) : pending === undefined ? (
            healthError ? (
              <span className="muted">unknown</span>
            ) : (
              <span className="muted">…</span>
            )
          ) : pending.count === 0 ? (
            <span>in step with {pending.from}</span>
          ) : (
            <Link to={envPath('promote', env.slug)}>
              {pending.count} {pending.count === 1 ? 'resource differs' : 'resources differ'} from {pending.from}
            </Link>
          )}
        </dd>
        <dt>Region</dt>
        <dd>{env.region ?? <span className="muted">every region</span>}</dd>
        <dt>Approvals</dt>
        <dd>
          {env.protected ? `${env.approvalsRequired} required${env.approvalsForRollback ? ', rollbacks too' : ''}` : <span className="muted">not needed</span>}
        </dd>
        {env.kind === 'branch' ? (
          <>
            <dt>Forked at</dt>
            <dd>
              {env.parent ?? '?'}#{env.forkRelease ?? 0}
            </dd>
            <dt>Expires</dt>
            <dd>{env.expiresAt ? <When at={env.expiresAt} /> : <span className="muted">never (no TTL)</span>}</dd>
          </>
        ) : null}
        {health?.freeze ? (
          <>
            <dt>Frozen</dt>
            <dd>{health.freeze.endsAt ? <>until <When at={health.freeze.endsAt} /></> : 'until lifted'}</dd>
          </>
        ) : null}
        {health?.hold ? (
          <>
            <dt>On hold</dt>
            <dd>{health.hold.reason}</dd>
          </>
        ) : null}
      </dl>
      <div className="env-card-actions">
        {onBranch ? (
          <Button size="small" onClick={onBranch} aria-label={`Branch from ${env.name}`}>
            Branch
          </Button>
        ) : null}
        <Button size="small" onClick={onEdit} aria-label={`Edit ${env.name}`}>
          Edit
        </Button>
        {onDelete ? (
          <Button size="small" variant="ghost" className="env-delete" onClick={onDelete} aria-label={`Delete ${env.name}`}>
            Delete
          </Button>
        ) : null}
      </div>
    </article>
  );
}
