// One promotion request: the same diff as the plan it holds, its gates (checklist items ticked
// here), the approvals so far, and approve / reject. The API refuses the requester's own
// approval; its error is shown at the form. An applied request links to its release.
import { useId, useState } from 'react';
import { Link, useParams } from 'react-router';
import { fieldErrors } from '../../api/client';
import { useInvalidate, useWhoami } from '../../api/queries';
import { EnvBadge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { ErrorNotice, FieldError, Notice, Spinner } from '../../components/Feedback';
import { PageHeader, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { approve, reject, tick, useRequest, type Gate, type PromotionRequest, type Release } from './api';
import { ChangeList, Gates, References, RequestStatusBadge, SummaryLine, requestTitle } from './PlanParts';
import './releases.css';

export default function Request() {
  const { ws } = useEnv();
  const id = useParams().id ?? '';
  const request = useRequest(ws, id);
  if (request.error)
    return (
      <>
        <PageHeader title="Promotion request" />
        <ErrorNotice error={request.error} />
      </>
    );
  if (!request.data)
    return (
      <>
        <PageHeader title="Promotion request" />
        <div className="plan-placeholder">
          <Spinner label="Loading the request" />
        </div>
      </>
    );
  return <RequestView request={request.data} />;
}

function RequestView({ request }: { request: PromotionRequest }) {
  const { ws, environments, envPath } = useEnv();
  const invalidate = useInvalidate();
  const whoami = useWhoami();
  const ids = useId();
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState<'approve' | 'reject' | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [applied, setApplied] = useState<Release | null>(null);
  const [recorded, setRecorded] = useState(false);
  const [tickError, setTickError] = useState<unknown>(null);
  // The box shows what was asked for until the server's answer has been read back.
  const [ticking, setTicking] = useState<{ name: string; done: boolean } | null>(null);
  const target = environments.find((e) => e.slug === request.environment);
  const targetName = target?.name ?? request.environment;
  const pending = request.status === 'pending';
  const mine = whoami.data?.userId === request.requestedBy.id;
  const errors = fieldErrors(error);
  const plan = request.plan;

  async function decide(kind: 'approve' | 'reject') {
    setBusy(kind);
    setError(null);
    setRecorded(false);
    try {
      if (kind === 'approve') {
        const answer = await approve(ws, request.id, { planHash: request.planHash, ...(comment.trim() ? { comment: comment.trim() } : {}) });
        if (answer.release) setApplied(answer.release);
        else if (answer.request.status === 'pending') setRecorded(true);
      } else {
        await reject(ws, request.id, comment.trim());
      }
      setComment('');
      await invalidate(ws);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(null);
    }
  }

  async function toggle(gate: Gate, done: boolean) {
    setTicking({ name: gate.name, done });
    setTickError(null);
    try {
      await tick(ws, request.id, gate.name, done);
      await invalidate(ws);
    } catch (caught) {
      setTickError(caught);
    } finally {
      setTicking(null);
    }
  }

  const fieldMessage = errors.reason ?? errors.comment;
  return (
    <>
      <PageHeader
        title={request.kind === 'rollback' ? `Rollback request: ${requestTitle(request)}` : `Promotion request: ${requestTitle(request)}`}
        description={request.message ?? undefined}
        actions={
          <Link className="btn btn-secondary" to={envPath('requests')}>
            All requests
          </Link>
        }
      />
      {request.status === 'applied' && request.release ? (
        <Notice kind="success">
          <strong>Applied:</strong> {targetName} got {request.release.name}.{' '}
          <Link to={envPath(`releases/${request.release.number}`, request.environment)}>See release #{request.release.number}</Link>
          {applied ? ' (your approval applied it)' : ''}
        </Notice>
      ) : null}
      {request.status === 'rejected' ? (
        <Notice kind="warning">
          <strong>Rejected</strong> by {request.rejectedBy?.name ?? 'a member'} <When at={request.decidedAt} />
          {request.reason ? `: ${request.reason}` : ''}
        </Notice>
      ) : null}
      {request.status === 'stale' ? (
        <Notice kind="warning">
          <strong>Stale:</strong> {targetName} or what the plan resolves changed since this request was made{request.reason ? ` (${request.reason})` : ''}. Promote again to
          make a new request.
        </Notice>
      ) : null}
      <div className="request-layout">
        <div className="plan-main">
          <section className="section" aria-labelledby={`${ids}-changes`}>
            <h2 id={`${ids}-changes`}>
              Changes <span className="muted plan-count">(<SummaryLine summary={plan.summary} />)</span>
            </h2>
            {plan.changes.length === 0 ? (
              <p className="muted">This request changes no resource.</p>
            ) : (
              <ChangeList
                changes={plan.changes}
                beforeLabel={`${targetName} (#${plan.target.release})`}
                afterLabel={request.kind === 'rollback' ? `as #${plan.source.release}` : plan.source.name}
              />
            )}
          </section>
          <section className="section" aria-labelledby={`${ids}-refs`}>
            <h2 id={`${ids}-refs`}>Variables and secrets</h2>
            <References references={plan.references} target={targetName} />
          </section>
        </div>
        <aside className="plan-side">
          <section className="section" aria-labelledby={`${ids}-about`}>
            <h2 id={`${ids}-about`}>Request</h2>
            <dl className="facts">
              <dt>Status</dt>
              <dd>
                <RequestStatusBadge request={request} />
              </dd>
              <dt>Into</dt>
              <dd>
                <EnvBadge environment={target} environments={environments} slug={request.environment} /> #{request.targetRelease}
              </dd>
              <dt>{request.kind === 'rollback' ? 'Back to' : 'From'}</dt>
              <dd>{plan.source.name}</dd>
              <dt>Resources</dt>
              <dd>{request.resources === 'all' ? 'all' : request.resources.join(', ')}</dd>
              <dt>Asked by</dt>
              <dd>
                {request.requestedBy.name} <When at={request.createdAt} />
              </dd>
            </dl>
          </section>
          <section className="section" aria-labelledby={`${ids}-gates`}>
            <h2 id={`${ids}-gates`}>Gates</h2>
            <Gates
              gates={request.gates}
              renderControl={(gate) =>
                gate.type === 'checklist' && pending ? (
                  <label className="gate-tick">
                    <input
                      type="checkbox"
                      checked={ticking?.name === gate.name ? ticking.done : gate.state === 'passed'}
                      disabled={ticking !== null}
                      onChange={(e) => toggle(gate, e.target.checked)}
                    /> Done:{' '}
                    {gate.name}
                  </label>
                ) : null
              }
            />
            <ErrorNotice error={tickError} />
          </section>
          <section className="section" aria-labelledby={`${ids}-approvals`}>
            <h2 id={`${ids}-approvals`}>
              Approvals ({request.approvals.length} of {request.approvalsRequired})
            </h2>
            {request.approvals.length === 0 ? (
              <p className="muted">No approval yet.</p>
            ) : (
              <ul className="approvals">
                {request.approvals.map((a) => (
                  <li key={`${a.actor.id}:${a.at}`}>
                    <strong>{a.actor.name}</strong> approved <When at={a.at} />
                    {a.comment ? <blockquote>{a.comment}</blockquote> : null}
                  </li>
                ))}
              </ul>
            )}
          </section>
          {pending ? (
            <form className="section decide" aria-labelledby={`${ids}-decide`} onSubmit={(e) => e.preventDefault()}>
              <h2 id={`${ids}-decide`}>Decide</h2>
              {mine ? <p className="field-hint">You asked for this: another member must approve it.</p> : null}
              <div className="field">
                <label htmlFor={`${ids}-comment`}>Comment</label>
                <p className="field-hint" id={`${ids}-comment-hint`}>
                  Optional to approve; the reason, to reject.
                </p>
                <textarea
                  id={`${ids}-comment`}
                  value={comment}
                  onChange={(e) => setComment(e.target.value)}
                  aria-invalid={fieldMessage ? true : undefined}
                  aria-describedby={`${ids}-comment-hint ${ids}-comment-error`}
                />
                <FieldError id={`${ids}-comment-error`} message={fieldMessage} />
              </div>
              {recorded ? <Notice kind="success">Your approval is recorded: the request applies once its gates pass (approve again then, if it does not apply by itself).</Notice> : null}
              <ErrorNotice error={fieldMessage ? null : error} />
              <div className="decide-actions">
                <Button variant="primary" busy={busy === 'approve'} disabled={busy !== null} onClick={() => decide('approve')}>
                  Approve
                </Button>
                <Button variant="danger" busy={busy === 'reject'} disabled={busy !== null} onClick={() => decide('reject')}>
                  Reject
                </Button>
              </div>
            </form>
          ) : null}
        </aside>
      </div>
    </>
  );
}
