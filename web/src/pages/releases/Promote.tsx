// Promote: the plan of taking the source's release into the target (what changes per resource
// and field, the variables and secrets it resolves, missing references, gates), then promote it
// (201, a release) or, into a protected or gated target, request it (202, a promotion request).
import { useEffect, useId, useMemo, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { ApiError, fieldErrors } from '../../api/client';
import { useInvalidate, type Environment } from '../../api/queries';
import { EnvBadge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { EmptyState, ErrorNotice, Notice, Spinner } from '../../components/Feedback';
import { CheckboxField, PageHeader, SelectField, TextField, When } from '../../components/Misc';
import { chainOf, useEnv } from '../../context';
import { promote, resourceId, usePromotionPlan, useReleases, type Plan, type PromotionBody, type PromotionResult } from './api';
import { ChangeList, Gates, References, SummaryLine } from './PlanParts';
import './releases.css';

/** The target a page opened in `env` promotes into: itself, the next one for the first of the chain, the parent for a branch. */
function defaultTarget(env: string, environments: Environment[]): string | undefined {
  const chain = chainOf(environments);
  const here = environments.find((e) => e.slug === env);
  if (here?.kind === 'branch') return here.parent ?? undefined;
  const index = chain.findIndex((e) => e.slug === env);
  if (index > 0) return env;
  return chain[1]?.slug;
}

/** Where a target may take releases from: its predecessor in the chain, and its branches (a merge). */
function sourcesOf(target: string, environments: Environment[]): Environment[] {
  const chain = chainOf(environments);
  const index = chain.findIndex((e) => e.slug === target);
  const predecessor = index > 0 ? [chain[index - 1]!] : [];
  return [...predecessor, ...environments.filter((e) => e.kind === 'branch' && e.parent === target)];
}

export default function Promote() {
  const { ws, env, environments } = useEnv();
  const chain = chainOf(environments);
  const initialTarget = defaultTarget(env, environments);
  const [target, setTarget] = useState<string | undefined>(initialTarget);
  // A switch of environment (or the chain arriving) re-aims the page.
  useEffect(() => setTarget(initialTarget), [initialTarget]);

  if (environments.length === 0) return <Spinner label="Loading environments" />;
  if (chain.length < 2 || !target) {
    return (
      <>
        <PageHeader title="Promote" />
        <EmptyState title="Nothing to promote into">Create a second environment on the Environments page: promotion takes a release from one environment to the next.</EmptyState>
      </>
    );
  }
  const here = environments.find((e) => e.slug === env);
  const branchSource = here?.kind === 'branch' && here.parent === target ? here.slug : undefined;
  return <PromoteInto key={target} ws={ws} target={target} setTarget={setTarget} environments={environments} initialSource={branchSource} />;
}

interface PromoteIntoProps {
  ws: string;
  target: string;
  setTarget: (slug: string) => void;
  environments: Environment[];
  initialSource: string | undefined;
}

function PromoteInto({ ws, target, setTarget, environments, initialSource }: PromoteIntoProps) {
  const { envPath } = useEnv();
  const invalidate = useInvalidate();
  const chain = chainOf(environments);
  const targets = chain.slice(1);
  const sources = sourcesOf(target, environments);
  const targetEnv = environments.find((e) => e.slug === target);
  const [source, setSource] = useState(initialSource ?? sources[0]?.slug ?? '');
  const sourceEnv = environments.find((e) => e.slug === source);
  const [sourceRelease, setSourceRelease] = useState('');
  const [excluded, setExcluded] = useState<Set<string>>(new Set());
  const [message, setMessage] = useState('');
  const [force, setForce] = useState(false);
  const [watchOn, setWatchOn] = useState(false);
  const [watch, setWatch] = useState({ minutes: '15', maxErrorRate: '', maxP95Ms: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<PromotionResult | null>(null);
  const formId = useId();

  const base: PromotionBody = useMemo(() => ({ from: source, ...(sourceRelease ? { release: Number(sourceRelease) } : {}) }), [source, sourceRelease]);
  const full = usePromotionPlan(ws, target, base, source !== '');
  const allIds = useMemo(() => (full.data?.changes ?? []).map(resourceId), [full.data]);
  const chosen = allIds.filter((id) => !excluded.has(id));
  const subset = excluded.size > 0 && chosen.length > 0;
  const partial = usePromotionPlan(ws, target, { ...base, resources: chosen }, subset);
  const plan: Plan | undefined = subset ? partial.data : full.data;
  const planQuery = subset ? partial : full;
  const releases = useReleases(ws, source);

  useEffect(() => {
    setExcluded(new Set());
    setError(null);
  }, [source, sourceRelease]);

  const errors = fieldErrors(error);
  const conflict = error instanceof ApiError && error.code === 'release_conflict';
  const asRequest = Boolean(plan?.request || plan?.target.protected);
  const targetName = targetEnv?.name ?? target;
  const nothing = plan !== undefined && plan.changes.length === 0;
  const stalePlan = planQuery.isFetching || (subset && partial.isPlaceholderData);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!plan) return;
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const body: PromotionBody = {
        ...base,
        ...(subset ? { resources: chosen } : {}),
        ...(message.trim() ? { message: message.trim() } : {}),
        expectedRelease: plan.target.release,
        ...(force ? { force: true } : {}),
        ...(watchOn
          ? {
              watch: {
                minutes: Number(watch.minutes),
                ...(watch.maxErrorRate !== '' ? { maxErrorRate: Number(watch.maxErrorRate) / 100 } : {}),
                ...(watch.maxP95Ms !== '' ? { maxP95Ms: Number(watch.maxP95Ms) } : {}),
              },
            }
          : {}),
      };
      const answer = await promote(ws, target, body);
      setResult(answer);
      setMessage('');
      setExcluded(new Set());
      await invalidate(ws);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <PageHeader
        title="Promote"
        description={
          <>
            Take a release of <strong>{sourceEnv?.name ?? source}</strong> into <strong>{targetName}</strong>: review what changes, then{' '}
            {asRequest ? 'request the promotion' : 'promote'}.
          </>
        }
      />
      <div className="toolbar promote-toolbar">
        <SelectField label="Target environment" value={target} onChange={(e) => setTarget(e.target.value)}>
          {targets.map((e) => (
            <option key={e.slug} value={e.slug}>
              {e.name}
              {e.protected ? ' (protected)' : ''}
            </option>
          ))}
        </SelectField>
        <SelectField label="From" value={source} onChange={(e) => setSource(e.target.value)}>
          {sources.map((e) => (
            <option key={e.slug} value={e.slug}>
              {e.kind === 'branch' ? `${e.name} (branch: merge)` : e.name}
            </option>
          ))}
        </SelectField>
        <SelectField label="Source release" value={sourceRelease} onChange={(e) => setSourceRelease(e.target.value)}>
          <option value="">Its current release</option>
          {(releases.data?.pages[0]?.data ?? [])
            .filter((r) => !r.current)
            .map((r) => (
              <option key={r.number} value={String(r.number)}>
                {r.name} — {r.message || r.cause}
              </option>
            ))}
        </SelectField>
        <div className="promote-route" aria-label="Promotion route">
          <EnvBadge environment={sourceEnv} environments={environments} slug={source} />
          <span aria-hidden="true">→</span>
          <span className="visually-hidden">into</span>
          <EnvBadge environment={targetEnv} environments={environments} slug={target} />
        </div>
      </div>

      {result ? <PromotionDone result={result} target={target} targetName={targetName} envPath={envPath} /> : null}

      {full.error ? (
        <ErrorNotice error={full.error} />
      ) : !plan ? (
        <div className="plan-placeholder">
          <Spinner label="Computing the plan" />
        </div>
      ) : nothing && !subset ? (
        <EmptyState
          title={`${targetName} already runs what ${sourceEnv?.name ?? source} has`}
          action={
            <Link className="btn btn-secondary" to={envPath('changes', source)}>
              Commit changes in {sourceEnv?.name ?? source}
            </Link>
          }
        >
          {plan.source.name} makes no difference to {target}#{plan.target.release}. Commit changes in {sourceEnv?.name ?? source} first, then promote them.
        </EmptyState>
      ) : (
        <div className="plan-layout">
          <div className="plan-main">
            <section className="section" aria-labelledby={`${formId}-changes`}>
              <h2 id={`${formId}-changes`}>
                Changes <span className="muted plan-count">({chosen.length} of {allIds.length} resources taken)</span>
              </h2>
              <p className="muted">Untick a resource to leave it out of this promotion.</p>
              <ChangeList
                changes={full.data?.changes ?? []}
                beforeLabel={`${targetName} (#${plan.target.release})`}
                afterLabel={plan.source.name}
                selected={new Set(chosen)}
                onToggle={(id, on) =>
                  setExcluded((current) => {
                    const next = new Set(current);
                    if (on) next.delete(id);
                    else next.add(id);
                    return next;
                  })
                }
              />
            </section>
            <section className="section" aria-labelledby={`${formId}-refs`}>
              <h2 id={`${formId}-refs`}>Variables and secrets</h2>
              <References references={plan.references} target={targetName} />
            </section>
          </div>
          <aside className="plan-side">
            <section className="section" aria-labelledby={`${formId}-summary`}>
              <h2 id={`${formId}-summary`}>Plan</h2>
              <dl className="facts">
                <dt>From</dt>
                <dd>{plan.source.name}</dd>
                <dt>Into</dt>
                <dd>
                  {target}#{plan.target.release} → #{plan.target.release + 1}
                </dd>
                <dt>Changes</dt>
                <dd>
                  <SummaryLine summary={plan.summary} />
                </dd>
              </dl>
              <p className="muted plan-status" aria-live="polite">
                {stalePlan ? 'Updating the plan…' : ' '}
              </p>
              {plan.hold ? (
                <Notice kind="warning">
                  {targetName} is on hold since <When at={plan.hold.since} />: {plan.hold.reason}. Nothing applies into it until a member clears the hold.
                </Notice>
              ) : null}
              {plan.missingReferences.length > 0 ? (
                <div className="notice notice-warning">
                  <strong>Missing in {targetName}</strong>
                  <ul className="notice-details">
                    {plan.missingReferences.map((m) => (
                      <li key={m.reference}>
                        <code>{m.reference}</code> used by {m.resources.join(', ')}
                      </li>
                    ))}
                  </ul>
                  <span>Set them in {targetName} first, or promote anyway.</span>
                </div>
              ) : null}
            </section>
            {plan.gates ? (
              <section className="section" aria-labelledby={`${formId}-gates`}>
                <h2 id={`${formId}-gates`}>Gates</h2>
                {plan.approvalsRequired ? (
                  <p className="muted">
                    {targetName} is protected: {plan.approvalsRequired} approval{plan.approvalsRequired === 1 ? '' : 's'} from members other than you.
                  </p>
                ) : null}
                <Gates gates={plan.gates} />
              </section>
            ) : null}
            <form className="section promote-form" onSubmit={submit} aria-labelledby={`${formId}-go`} noValidate>
              <h2 id={`${formId}-go`}>{asRequest ? 'Request promotion' : 'Promote'}</h2>
              <TextField label="Message" value={message} onChange={(e) => setMessage(e.target.value)} error={errors.message} placeholder={`Promote ${plan.source.name}`} />
              {plan.missingReferences.length > 0 ? (
                <CheckboxField label={`Promote even though ${targetName} lacks ${plan.missingReferences.length === 1 ? 'a reference' : 'references'}`} checked={force} onChange={(e) => setForce(e.target.checked)} />
              ) : null}
              <CheckboxField label="Watch after it applies (roll back on a breach)" checked={watchOn} onChange={(e) => setWatchOn(e.target.checked)} />
              {watchOn ? (
                <fieldset className="watch-fields">
                  <legend className="visually-hidden">Watch thresholds</legend>
                  <TextField label="Watch minutes" type="number" min={1} max={1440} value={watch.minutes} onChange={(e) => setWatch({ ...watch, minutes: e.target.value })} error={errors['watch.minutes']} />
                  <TextField label="Max error rate (%)" type="number" min={0} max={100} step="0.1" value={watch.maxErrorRate} onChange={(e) => setWatch({ ...watch, maxErrorRate: e.target.value })} error={errors['watch.maxErrorRate']} />
                  <TextField label="Max p95 (ms)" type="number" min={1} value={watch.maxP95Ms} onChange={(e) => setWatch({ ...watch, maxP95Ms: e.target.value })} error={errors['watch.maxP95Ms']} />
                </fieldset>
              ) : null}
              {conflict ? (
                <div className="notice notice-error" role="alert">
                  <strong>The plan is out of date</strong>
                  <span className="notice-message">{(error as ApiError).message}</span>
                  <span>
                    <Button
                      size="small"
                      onClick={async () => {
                        setError(null);
                        await invalidate(ws, target);
                      }}
                    >
                      Refresh the plan
                    </Button>
                  </span>
                </div>
              ) : (
                <ErrorNotice error={error} showDetails={!errors.message && !Object.keys(errors).some((k) => k.startsWith('watch.'))} />
              )}
              <Button type="submit" variant={asRequest ? 'primary' : 'primary'} busy={busy} disabled={chosen.length === 0 || Boolean(stalePlan)}>
                {asRequest ? `Request promotion to ${targetName}` : `Promote to ${targetName}`}
              </Button>
              {chosen.length === 0 ? <p className="field-hint">Tick at least one resource to promote.</p> : null}
            </form>
          </aside>
        </div>
      )}
    </>
  );
}

function PromotionDone({ result, target, targetName, envPath }: { result: PromotionResult; target: string; targetName: string; envPath: (page: string, env?: string) => string }) {
  if (result.kind === 'release') {
    return (
      <Notice kind="success">
        <strong>
          {targetName} now runs {result.release.name}.
        </strong>{' '}
        <Link to={envPath(`releases/${result.release.number}`, target)}>See release #{result.release.number}</Link>
      </Notice>
    );
  }
  const { request } = result;
  return (
    <Notice kind="success">
      <strong>Promotion requested.</strong> It applies once its gates pass
      {request.approvalsRequired ? ` and ${request.approvalsRequired} other member${request.approvalsRequired === 1 ? '' : 's'} approve` : ''}.{' '}
      <Link to={envPath(`requests/${request.id}`, target)}>Open the request</Link>
    </Notice>
  );
}
