// Who may decide on a promotion request, and when an approval completes it: pending requests
// only, never by their requester, once per member, and only for the plan the request holds.
import { conflict, StagelineError } from '../errors.js';

export interface RequestState {
  id: string;
  status: 'pending' | 'applied' | 'rejected' | 'stale';
  reason: string | null;
  requestedBy: string;
  planHash: string;
  approvalsRequired: number;
  /** Ids of the members who approved it so far. */
  approvedBy: string[];
}

/** A decision is taken on a pending request only. */
export function assertPending(request: Pick<RequestState, 'id' | 'status' | 'reason'>): void {
  if (request.status !== 'pending') {
    throw conflict('request_not_pending', `promotion request ${request.id} is ${request.status}`, [{ status: request.status, reason: request.reason }]);
  }
}

/**
 * Checks one member's approval of a request (with the plan hash they saw, when they name one)
 * and answers how many approvals it then has and whether that applies the request.
 */
export function approve(request: RequestState, approver: string, planHash: string | undefined): { approvals: number; complete: boolean } {
  assertPending(request);
  if (approver === request.requestedBy) {
    throw new StagelineError(403, 'forbidden', 'the requester of a promotion cannot approve it: another member allowed to promote there must', [{ reason: 'requester' }]);
  }
  if (planHash !== undefined && planHash !== request.planHash) {
    throw conflict('plan_mismatch', `promotion request ${request.id} holds plan ${request.planHash}, not ${planHash}`, [{ field: 'planHash', expected: request.planHash }]);
  }
  if (request.approvedBy.includes(approver)) throw conflict('already_approved', `you have already approved promotion request ${request.id}`);
  const approvals = request.approvedBy.length + 1;
  return { approvals, complete: approvals >= request.approvalsRequired };
}
