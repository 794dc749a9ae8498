// One release: where it came from, its snapshot (every resource and its content hash), and the
// per-resource, per-field diff to the release before it; roll back to it.
import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { Badge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { EmptyState, ErrorNotice, Spinner } from '../../components/Feedback';
import { PageHeader, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { resourceId, useRelease, useReleaseChanges, type PromotionResult } from './api';
import { CauseBadge, ChangeList, origin } from './PlanParts';
import { RollbackDialog, RollbackDone } from './RollbackDialog';
import './releases.css';

export default function Release() {
  const { ws, env, environment, environments, envPath } = useEnv();
  const number = Number(useParams().number);
  const release = useRelease(ws, env, number);
  const changes = useReleaseChanges(ws, env, number, release.isSuccess);
  const [rolling, setRolling] = useState(false);
  const [done, setDone] = useState<PromotionResult | null>(null);
  const name = environment?.name ?? env;

  if (!Number.isInteger(number) || number < 1)
    return (
      <>
        <PageHeader title="Release" />
        <EmptyState title="No such release" action={<Link to={envPath('releases')}>See the releases of {name}</Link>} />
      </>
    );

  const r = release.data;
  return (
    <>
      <PageHeader
        title={`Release ${env}#${number}`}
        description={r?.message || undefined}
        actions={
          <>
            <Link className="btn btn-secondary" to={envPath('releases')}>
              All releases
            </Link>
            {r && !r.current ? (
              <Button variant="danger" onClick={() => setRolling(true)}>
                Roll back to #{number}
              </Button>
            ) : null}
          </>
        }
      />
      {done && environment ? <RollbackDone result={done} environment={environment} envPath={envPath} /> : null}
      {release.error ? (
        <ErrorNotice error={release.error} />
      ) : !r ? (
        <div className="plan-placeholder">
          <Spinner label="Loading the release" />
        </div>
      ) : (
        <>
          <section className="section" aria-label="About this release">
            <dl className="facts">
              <dt>Kind</dt>
              <dd>
                <CauseBadge release={r} /> {origin(r)}
                {r.current ? (
                  <>
                    {' '}
                    <Badge tone="success">current</Badge>
                  </>
                ) : null}
              </dd>
              <dt>By</dt>
              <dd>{r.author.name}</dd>
              <dt>When</dt>
              <dd>
                <When at={r.createdAt} />
              </dd>
              <dt>Snapshot</dt>
              <dd>
                <span className="hash" title={r.snapshot}>
                  {r.snapshot.slice(0, 12)}
                </span>{' '}
                · {r.resourceCount} resource{r.resourceCount === 1 ? '' : 's'}
              </dd>
            </dl>
          </section>
          <section className="section" aria-labelledby="release-diff">
            <h2 id="release-diff">{number === 1 ? 'What it changed' : `Changes from #${number - 1}`}</h2>
            {number === 1 ? (
              <p className="muted">The first release of {name}: every resource below is new.</p>
            ) : changes.error ? (
              <ErrorNotice error={changes.error} />
            ) : !changes.data ? (
              <Spinner label="Comparing with the release before" />
            ) : changes.data.changes.length === 0 ? (
              <p className="muted">The same content as #{number - 1}.</p>
            ) : (
              <ChangeList changes={changes.data.changes} beforeLabel={`#${number - 1}`} afterLabel={`#${number}`} />
            )}
          </section>
          <section className="section" aria-labelledby="release-snapshot">
            <h2 id="release-snapshot">Snapshot</h2>
            {r.resources.length === 0 ? (
              <p className="muted">This release holds no resources.</p>
            ) : (
              <table className="table">
                <caption className="visually-hidden">Resources of {r.name}</caption>
                <thead>
                  <tr>
                    <th scope="col">Resource</th>
                    <th scope="col">App</th>
                    <th scope="col">Content hash</th>
                  </tr>
                </thead>
                <tbody>
                  {r.resources.map((res) => (
                    <tr key={resourceId(res)}>
                      <th scope="row">
                        <Link to={envPath(`resources/${encodeURIComponent(res.kind)}/${encodeURIComponent(res.key)}`)}>{resourceId(res)}</Link>
                      </th>
                      <td>{res.app ?? <span className="muted">—</span>}</td>
                      <td>
                        <span className="hash" title={res.hash}>
                          {res.hash.slice(0, 12)}
                        </span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        </>
      )}
      {environment && r ? (
        <RollbackDialog open={rolling} onClose={() => setRolling(false)} environment={environment} environments={environments} release={number} onDone={setDone} />
      ) : null}
    </>
  );
}
