// The history of one environment's releases, newest first: number, kind (commit, promotion,
// rollback, merge), message, who, when and what it changed; roll back to any earlier release.
import { useState } from 'react';
import { Link } from 'react-router';
import { Badge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { EmptyState, ErrorNotice, Spinner } from '../../components/Feedback';
import { PageHeader, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { resourceId, useReleaseChanges, useReleases, type PromotionResult, type Release } from './api';
import { CauseBadge, origin } from './PlanParts';
import { RollbackDialog, RollbackDone } from './RollbackDialog';
import './releases.css';

function WhatChanged({ ws, release }: { ws: string; release: Release }) {
  const diff = useReleaseChanges(ws, release.environment, release.number);
  if (release.number === 1) return <span className="release-changes">first release: {release.resourceCount} resources</span>;
  if (diff.error) return <span className="release-changes">—</span>;
  if (!diff.data) return <span className="release-changes muted">…</span>;
  const changes = diff.data.changes;
  if (changes.length === 0) return <span className="release-changes">no content changes</span>;
  const shown = changes.slice(0, 3);
  return (
    <span className="release-changes">
      {shown.map((c, i) => (
        <span key={resourceId(c)}>
          {i > 0 ? ', ' : ''}
          <code>{resourceId(c)}</code> {c.status}
        </span>
      ))}
      {changes.length > shown.length ? ` and ${changes.length - shown.length} more` : ''}
    </span>
  );
}

export default function Releases() {
  const { ws, env, environment, environments, envPath } = useEnv();
  const releases = useReleases(ws, env);
  const [target, setTarget] = useState<number | null>(null);
  const [done, setDone] = useState<PromotionResult | null>(null);
  const rows = releases.data?.pages.flatMap((p) => p.data) ?? [];
  const name = environment?.name ?? env;

  return (
    <>
      <PageHeader
        title="Releases"
        description={
          <>
            Every release of <strong>{name}</strong>, newest first. Rolling back makes a new release that points at an earlier one's snapshot.
          </>
        }
        actions={
          environment?.editable ? (
            <Link className="btn btn-secondary" to={envPath('changes')}>
              Commit changes
            </Link>
          ) : (
            <Link className="btn btn-secondary" to={envPath('promote')}>
              Promote into {name}
            </Link>
          )
        }
      />
      {done && environment ? <RollbackDone result={done} environment={environment} envPath={envPath} /> : null}
      <div className="table-wrap">
        {releases.error ? (
          <ErrorNotice error={releases.error} />
        ) : releases.isPending ? (
          <Spinner label="Loading releases" />
        ) : rows.length === 0 ? (
          <EmptyState
            title={`${name} has no release yet`}
            action={
              environment?.editable ? (
                <Link className="btn btn-primary" to={envPath('changes')}>
                  Commit the drafts of {name}
                </Link>
              ) : (
                <Link className="btn btn-primary" to={envPath('promote')}>
                  Promote into {name}
                </Link>
              )
            }
          >
            {environment?.editable ? 'Edit resources and commit them: each commit is a release.' : 'It gets releases by promotion from the environment before it.'}
          </EmptyState>
        ) : (
          <table className="table releases">
            <caption className="visually-hidden">Releases of {name}</caption>
            <thead>
              <tr>
                <th scope="col">Release</th>
                <th scope="col">Kind</th>
                <th scope="col">Message</th>
                <th scope="col">What it changed</th>
                <th scope="col">By</th>
                <th scope="col">When</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((release) => (
                <tr key={release.number}>
                  <th scope="row">
                    <Link to={envPath(`releases/${release.number}`)} aria-label={`Release ${release.name}`}>
                      #{release.number}
                    </Link>{' '}
                    {release.current ? <Badge tone="success">current</Badge> : null}
                  </th>
                  <td>
                    <CauseBadge release={release} /> <span className="muted">{origin(release)}</span>
                  </td>
                  <td>{release.message || <span className="muted">—</span>}</td>
                  <td>
                    <WhatChanged ws={ws} release={release} />
                  </td>
                  <td>{release.author.name}</td>
                  <td>
                    <When at={release.createdAt} />
                  </td>
                  <td className="table-actions">
                    {release.current ? null : (
                      <Button size="small" onClick={() => setTarget(release.number)} aria-label={`Roll back to #${release.number}`}>
                        Roll back to #{release.number}
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      <div className="list-more">
        {releases.hasNextPage ? (
          <Button busy={releases.isFetchingNextPage} onClick={() => releases.fetchNextPage()}>
            Show older releases
          </Button>
        ) : null}
      </div>
      {environment ? (
        <RollbackDialog
          open={target !== null}
          onClose={() => setTarget(null)}
          environment={environment}
          environments={environments}
          release={target ?? 0}
          onDone={(result) => setDone(result)}
        />
      ) : null}
    </>
  );
}
