// Promotion (and rollback) requests of the workspace, newest first: what goes where, its state,
// who asked and when, and how many approvals it has of the ones it needs.
import { useState } from 'react';
import { Link } from 'react-router';
import { EnvBadge } from '../../components/Badge';
import { Button } from '../../components/Button';
import { EmptyState, ErrorNotice, Spinner } from '../../components/Feedback';
import { PageHeader, SelectField, When } from '../../components/Misc';
import { useEnv } from '../../context';
import { useRequests, type RequestStatus } from './api';
import { RequestStatusBadge, requestTitle } from './PlanParts';
import './releases.css';

export default function Requests() {
  const { ws, environments, envPath } = useEnv();
  const [status, setStatus] = useState<RequestStatus | ''>('');
  const [environment, setEnvironment] = useState('');
  const requests = useRequests(ws, { ...(status ? { status } : {}), ...(environment ? { environment } : {}) });
  const rows = requests.data?.pages.flatMap((p) => p.data) ?? [];
  const filtered = status !== '' || environment !== '';

  return (
    <>
      <PageHeader
        title="Promotion requests"
        description="Promotions and rollbacks into protected or gated environments wait here for their approvals and gates."
        actions={
          <Link className="btn btn-secondary" to={envPath('promote')}>
            Promote
          </Link>
        }
      />
      <div className="toolbar">
        <SelectField label="Status" value={status} onChange={(e) => setStatus(e.target.value as RequestStatus | '')}>
          <option value="">Any status</option>
          <option value="pending">Pending</option>
          <option value="applied">Applied</option>
          <option value="rejected">Rejected</option>
          <option value="stale">Stale</option>
        </SelectField>
        <SelectField label="Into" value={environment} onChange={(e) => setEnvironment(e.target.value)}>
          <option value="">Any environment</option>
          {environments.map((e) => (
            <option key={e.slug} value={e.slug}>
              {e.name}
            </option>
          ))}
        </SelectField>
      </div>
      <div className="table-wrap">
        {requests.error ? (
          <ErrorNotice error={requests.error} />
        ) : requests.isPending ? (
          <Spinner label="Loading requests" />
        ) : rows.length === 0 ? (
          <EmptyState
            title={filtered ? 'No request matches' : 'No promotion requests yet'}
            action={
              filtered ? (
                <Button
                  onClick={() => {
                    setStatus('');
                    setEnvironment('');
                  }}
                >
                  Show every request
                </Button>
              ) : (
                <Link className="btn btn-primary" to={envPath('promote')}>
                  Promote into a protected environment
                </Link>
              )
            }
          >
            {filtered
              ? 'Change the filters above to see other requests.'
              : 'A promotion into a protected or gated environment becomes a request here; mark an environment protected on the Environments page.'}
          </EmptyState>
        ) : (
          <table className="table requests">
            <caption className="visually-hidden">Promotion requests</caption>
            <thead>
              <tr>
                <th scope="col">Request</th>
                <th scope="col">Into</th>
                <th scope="col">Status</th>
                <th scope="col">Requested by</th>
                <th scope="col">When</th>
                <th scope="col">Approvals</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((request) => (
                <tr key={request.id}>
                  <th scope="row">
                    <Link to={envPath(`requests/${encodeURIComponent(request.id)}`)}>{requestTitle(request)}</Link>
                    {request.message ? <div className="muted">{request.message}</div> : null}
                  </th>
                  <td>
                    <EnvBadge environment={environments.find((e) => e.slug === request.environment)} environments={environments} slug={request.environment} />
                  </td>
                  <td>
                    <RequestStatusBadge request={request} />
                  </td>
                  <td>{request.requestedBy.name}</td>
                  <td>
                    <When at={request.createdAt} />
                  </td>
                  <td>
                    {request.approvals.length} of {request.approvalsRequired}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      <div className="list-more">
        {requests.hasNextPage ? (
          <Button busy={requests.isFetchingNextPage} onClick={() => requests.fetchNextPage()}>
            Show older requests
          </Button>
        ) : null}
      </div>
    </>
  );
}
