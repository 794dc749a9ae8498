// The rollback confirmation: names the environment, shows the per-resource and per-field diff
// the rollback will apply (the server's dry run), asks production to be typed, then rolls back.
// A protected environment that needs approvals for rollbacks answers with a request instead.
import { useEffect, useState } from 'react';
import { Link } from 'react-router';
import type { Environment } from '../../api/queries';
import { EnvBadge } from '../../components/Badge';
import { ConfirmDialog } from '../../components/Dialog';
import { ErrorNotice, Notice, Spinner } from '../../components/Feedback';
import { TextField } from '../../components/Misc';
import { isProduction, useEnv } from '../../context';
import { useInvalidate } from '../../api/queries';
import { rollback, useRollbackPlan, type PromotionResult } from './api';
import { ChangeList, SummaryLine } from './PlanParts';

export interface RollbackDialogProps {
  open: boolean;
  onClose: () => void;
  environment: Environment;
  environments: Environment[];
  /** The release whose snapshot the environment goes back to. */
  release: number;
  onDone: (result: PromotionResult) => void;
}

export function RollbackDialog({ open, onClose, environment, environments, release, onDone }: RollbackDialogProps) {
  const { ws } = useEnv();
  const invalidate = useInvalidate();
  const [message, setMessage] = useState('');
  const plan = useRollbackPlan(ws, environment.slug, release, open);
  const production = isProduction(environment, environments);
  const needsApproval = environment.protected && environment.approvalsForRollback;
  useEffect(() => {
    if (open) setMessage('');
  }, [open]);

  const verb = needsApproval ? 'Request rollback of' : 'Roll back';
  return (
    <ConfirmDialog
      open={open}
      onClose={onClose}
      wide
      danger
      title={`Roll back ${environment.name} to release #${release}`}
      confirmLabel={`${verb} ${environment.name} to #${release}`}
      {...(production ? { typeToConfirm: environment.slug } : {})}
      onConfirm={async () => {
        const result = await rollback(ws, environment.slug, {
          release,
          ...(message.trim() ? { message: message.trim() } : {}),
          ...(plan.data ? { expectedRelease: plan.data.target.release } : {}),
        });
        await invalidate(ws, environment.slug);
        onDone(result);
      }}
    >
      <div className="rollback-env">
        <EnvBadge environment={environment} environments={environments} />
        <span>
          goes from release #{environment.release} back to the snapshot of release #{release}, as a new release.
        </span>
      </div>
      {needsApproval ? (
        <Notice kind="warning">
          {environment.name} needs {environment.approvalsRequired} approval{environment.approvalsRequired === 1 ? '' : 's'} for a rollback: this makes a request that other members approve.
        </Notice>
      ) : null}
      <div className="rollback-plan">
        {plan.error ? (
          <ErrorNotice error={plan.error} />
        ) : !plan.data ? (
          <Spinner label="Computing what the rollback changes" />
        ) : (
          <>
            <h3>
              What changes in {environment.name}: <SummaryLine summary={plan.data.summary} />
            </h3>
            {plan.data.changes.length === 0 ? (
              <p className="muted">Release #{release} has the same content as the current release: the rollback changes nothing but the release number.</p>
            ) : (
              <ChangeList changes={plan.data.changes} beforeLabel={`Now (#${plan.data.target.release})`} afterLabel={`After (as #${release})`} />
            )}
          </>
        )}
      </div>
      <TextField label="Rollback message" value={message} onChange={(e) => setMessage(e.target.value)} placeholder={`Roll back to #${release}`} />
    </ConfirmDialog>
  );
}

/** What a rollback did: a release, or a request waiting for approvals. */
export function RollbackDone({ result, environment, envPath }: { result: PromotionResult; environment: Environment; envPath: (page: string, env?: string) => string }) {
  if (result.kind === 'release')
    return (
      <Notice kind="success">
        <strong>
          {environment.name} now runs {result.release.name}
          {result.release.rolledBackTo ? `, the snapshot of #${result.release.rolledBackTo}` : ''}.
        </strong>{' '}
        <Link to={envPath(`releases/${result.release.number}`, environment.slug)}>See release #{result.release.number}</Link>
      </Notice>
    );
  return (
    <Notice kind="success">
      <strong>A rollback request was made.</strong> {environment.name} is protected: it rolls back once {result.request.approvalsRequired} other member
      {result.request.approvalsRequired === 1 ? '' : 's'} approve. <Link to={envPath(`requests/${result.request.id}`, environment.slug)}>Open the request</Link>
    </Notice>
  );
}
