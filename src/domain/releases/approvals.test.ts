import { describe, expect, it } from 'vitest';
import { StagelineError } from '../errors.js';
import { approve, assertPending, type RequestState } from './approvals.js';

const request = (over: Partial<RequestState> = {}): RequestState => ({
  id: 'prq_1',
  status: 'pending',
  reason: null,
  requestedBy: 'ana',
  planHash: 'h1',
  approvalsRequired: 2,
  approvedBy: [],
  ...over,
});

function outcome(run: () => unknown): unknown {
  try {
    return run();
  } catch (error) {
    if (error instanceof StagelineError) return `${error.status} ${error.code}`;
    throw error;
  }
}

describe('approve', () => {
  it.each<[string, Partial<RequestState>, string, string | undefined, unknown]>([
    ['a first approval of two', {}, 'bob', undefined, { approvals: 1, complete: false }],
    ['the approval that reaches the count', { approvedBy: ['bob'] }, 'cy', undefined, { approvals: 2, complete: true }],
    ['one approval where one is required', { approvalsRequired: 1 }, 'bob', 'h1', { approvals: 1, complete: true }],
    ['the matching plan hash', {}, 'bob', 'h1', { approvals: 1, complete: false }],
    ['the requester', {}, 'ana', undefined, '403 forbidden'],
    ['the requester, even with the right hash', { approvalsRequired: 1 }, 'ana', 'h1', '403 forbidden'],
    ['a second approval by the same member', { approvedBy: ['bob'] }, 'bob', undefined, '409 already_approved'],
    ['another plan hash', {}, 'bob', 'h2', '409 plan_mismatch'],
    ['another plan hash from someone who approved', { approvedBy: ['bob'] }, 'bob', 'h2', '409 plan_mismatch'],
    ['an applied request', { status: 'applied' }, 'bob', undefined, '409 request_not_pending'],
    ['a rejected request', { status: 'rejected' }, 'bob', undefined, '409 request_not_pending'],
    ['a stale request, by its requester', { status: 'stale' }, 'ana', undefined, '409 request_not_pending'],
  ])('%s', (_case, over, approver, planHash, expected) => {
    expect(outcome(() => approve(request(over), approver, planHash))).toEqual(expected);
  });

  it('names the request and its state when it is no longer pending', () => {
    expect(() => assertPending(request({ status: 'stale', reason: 'moved' }))).toThrow('promotion request prq_1 is stale');
  });
});
