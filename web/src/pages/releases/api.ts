// What the release pages read and write: releases, promotion plans, promotion requests and
// rollbacks. The generated types still answer `unknown` for these responses, so the shapes the
// pages rely on are declared here (see docs/api.md, "Releases") and cast once per call.
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../../api/client';
import { keys } from '../../api/queries';
import type { FieldChange } from '../../components/Diff';

export type ReleaseCause = 'commit' | 'promotion' | 'rollback' | 'merge' | 'fork';

export interface Release {
  environment: string;
  number: number;
  name: string;
  cause: ReleaseCause;
  source: string | null;
  rolledBackTo: number | null;
  message: string;
  author: { id: string; name: string };
  createdAt: string;
  resourceCount: number;
  snapshot: string;
  current: boolean;
  changes?: { added: number; changed: number; removed: number };
}

export interface ReleaseDetail extends Release {
  resources: { kind: string; key: string; hash: string; app: string | null }[];
}

export type ChangeStatus = 'added' | 'changed' | 'removed';

export interface ResourceChange {
  kind: string;
  key: string;
  status: ChangeStatus;
  fromHash: string | null;
  toHash: string | null;
  fields: FieldChange[];
}

export interface Reference {
  reference: string;
  resources: string[];
  value?: unknown;
  secret?: { hint: string; version: number; inheritedFrom: string | null };
  missing?: boolean;
  unchecked?: boolean;
}

export type GateState = 'pending' | 'passed' | 'failed';

export interface Gate {
  type: 'approvals' | 'check' | 'checklist' | 'soak' | 'hold' | string;
  name: string;
  state: GateState;
  detail: string;
}

export interface Hold {
  since: string;
  reason: string;
  release: number | null;
}

export interface Plan {
  dryRun?: true;
  kind: 'promotion' | 'merge' | 'rollback';
  source: { environment: string; release: number; name: string };
  target: { environment: string; release: number; protected: boolean };
  summary: { added: number; changed: number; removed: number };
  changes: ResourceChange[];
  references: Reference[];
  missingReferences: { reference: string; resources: string[] }[];
  planHash: string;
  /** Only where the promotion would become a request (or the target is held). */
  request?: boolean;
  approvalsRequired?: number;
  gates?: Gate[];
  hold?: Hold | null;
}

export type RequestStatus = 'pending' | 'applied' | 'rejected' | 'stale';

export interface PromotionRequest {
  id: string;
  kind: 'promotion' | 'rollback';
  environment: string;
  status: RequestStatus;
  source: { environment: string; release: number; name: string };
  targetRelease: number;
  resources: 'all' | string[];
  message: string | null;
  planHash: string;
  plan: Plan;
  approvalsRequired: number;
  approvals: { actor: { id: string; name: string }; comment: string | null; at: string }[];
  rejectedBy: { id: string; name: string } | null;
  requestedBy: { id: string; name: string };
  createdAt: string;
  decidedAt: string | null;
  reason: string | null;
  release: { number: number; name: string } | null;
  gates: Gate[];
  gateState: GateState;
  blocked: boolean;
  autoApply: boolean;
  hold: Hold | null;
}

export interface Diff {
  from: { ref: string; environment: string; release: number };
  to: { ref: string; environment: string; release: number };
  changes: ResourceChange[];
}

export interface Watch {
  minutes: number;
  maxErrorRate?: number;
  maxP95Ms?: number;
}

export interface PromotionBody {
  from?: string;
  release?: number;
  resources?: string[];
  message?: string;
  expectedRelease?: number;
  force?: boolean;
  watch?: Watch | null;
}

/** 201 a release, 202 a request still waiting (protected or gated target). */
export type PromotionResult = { kind: 'release'; release: Release } | { kind: 'request'; request: PromotionRequest };

interface Page<T> {
  data: T[];
  next: string | null;
}

export const releaseKeys = {
  releases: (ws: string, env: string) => [...keys.env(ws, env), 'releases'] as const,
  release: (ws: string, env: string, number: number) => [...keys.env(ws, env), 'releases', number] as const,
  plan: (ws: string, target: string, body: PromotionBody) => [...keys.env(ws, target), 'promotion-plan', body] as const,
  rollbackPlan: (ws: string, env: string, release: number) => [...keys.env(ws, env), 'rollback-plan', release] as const,
  diff: (ws: string, env: string, from: string, to: string) => [...keys.env(ws, env), 'diff', from, to] as const,
  requests: (ws: string, filter: { status?: RequestStatus; environment?: string }) => [ws, 'promotion-requests', filter] as const,
  request: (ws: string, id: string) => [ws, 'promotion-requests', id] as const,
};

export const resourceId = (change: { kind: string; key: string }) => `${change.kind}/${change.key}`;

export function useReleases(ws: string, env: string) {
  return useInfiniteQuery({
    queryKey: releaseKeys.releases(ws, env),
    initialPageParam: undefined as string | undefined,
    queryFn: async ({ pageParam }) =>
      (await unwrap(
        api.GET('/api/workspaces/{ws}/environments/{env}/releases', {
          params: { path: { ws, env }, query: { limit: 25, ...(pageParam ? { cursor: pageParam } : {}) } },
        }),
      )) as unknown as Page<Release>,
    getNextPageParam: (last) => last.next ?? undefined,
  });
}

export function useRelease(ws: string, env: string, number: number) {
  return useQuery({
    queryKey: releaseKeys.release(ws, env, number),
    queryFn: async () =>
      (await unwrap(api.GET('/api/workspaces/{ws}/environments/{env}/releases/{number}', { params: { path: { ws, env, number } } }))) as unknown as ReleaseDetail,
    enabled: Number.isInteger(number) && number > 0,
  });
}

/** The per-resource changes between two refs (`env#N`, `env`, `env~draft`). */
export async function fetchDiff(ws: string, from: string, to: string): Promise<Diff> {
  return (await unwrap(api.GET('/api/workspaces/{ws}/diff', { params: { path: { ws }, query: { from, to } } }))) as unknown as Diff;
}

/** What release N of an environment changed against release N-1 (the first release adds everything). */
export function useReleaseChanges(ws: string, env: string, number: number, enabled = true) {
  return useQuery({
    queryKey: releaseKeys.diff(ws, env, `${env}#${number - 1}`, `${env}#${number}`),
    queryFn: () => fetchDiff(ws, `${env}#${number - 1}`, `${env}#${number}`),
    enabled: enabled && number > 1,
    staleTime: Infinity, // two releases never change
  });
}

export function usePromotionPlan(ws: string, target: string, body: PromotionBody, enabled: boolean) {
  return useQuery({
    queryKey: releaseKeys.plan(ws, target, body),
    queryFn: async () =>
      (await unwrap(
        api.POST('/api/workspaces/{ws}/environments/{env}/promotions', { params: { path: { ws, env: target } }, body: { ...body, dryRun: true } }),
      )) as unknown as Plan,
    enabled,
    placeholderData: (previous) => previous,
  });
}

export async function promote(ws: string, target: string, body: PromotionBody): Promise<PromotionResult> {
  const answer = (await unwrap(api.POST('/api/workspaces/{ws}/environments/{env}/promotions', { params: { path: { ws, env: target } }, body }))) as unknown as
    | Release
    | { request: PromotionRequest; release?: Release };
  if ('request' in answer) return answer.release ? { kind: 'release', release: answer.release } : { kind: 'request', request: answer.request };
  return { kind: 'release', release: answer };
}

export function useRollbackPlan(ws: string, env: string, release: number, enabled: boolean) {
  return useQuery({
    queryKey: releaseKeys.rollbackPlan(ws, env, release),
    queryFn: async () =>
      (await unwrap(
        api.POST('/api/workspaces/{ws}/environments/{env}/rollbacks', { params: { path: { ws, env } }, body: { release, dryRun: true } }),
      )) as unknown as Plan,
    enabled,
    staleTime: 0,
  });
}

export async function rollback(ws: string, env: string, body: { release: number; message?: string; expectedRelease?: number }): Promise<PromotionResult> {
  const answer = (await unwrap(api.POST('/api/workspaces/{ws}/environments/{env}/rollbacks', { params: { path: { ws, env } }, body }))) as unknown as
    | Release
    | { request: PromotionRequest };
  return 'request' in answer ? { kind: 'request', request: answer.request } : { kind: 'release', release: answer };
}

export function useRequests(ws: string, filter: { status?: RequestStatus; environment?: string }) {
  return useInfiniteQuery({
    queryKey: releaseKeys.requests(ws, filter),
    initialPageParam: undefined as string | undefined,
    queryFn: async ({ pageParam }) =>
      (await unwrap(
        api.GET('/api/workspaces/{ws}/promotion-requests', {
          params: { path: { ws }, query: { limit: 25, ...filter, ...(pageParam ? { cursor: pageParam } : {}) } },
        }),
      )) as unknown as Page<PromotionRequest>,
    getNextPageParam: (last) => last.next ?? undefined,
  });
}

export function useRequest(ws: string, id: string) {
  return useQuery({
    queryKey: releaseKeys.request(ws, id),
    queryFn: async () => (await unwrap(api.GET('/api/workspaces/{ws}/promotion-requests/{id}', { params: { path: { ws, id } } }))) as unknown as PromotionRequest,
  });
}

type Decision = { request: PromotionRequest; release?: Release };

export async function approve(ws: string, id: string, body: { comment?: string; planHash?: string }): Promise<Decision> {
  const answer = (await unwrap(api.POST('/api/workspaces/{ws}/promotion-requests/{id}/approve', { params: { path: { ws, id } }, body }))) as unknown as
    | Decision
    | PromotionRequest;
  return 'request' in answer ? answer : { request: answer };
}

export async function reject(ws: string, id: string, reason: string): Promise<PromotionRequest> {
  const answer = (await unwrap(api.POST('/api/workspaces/{ws}/promotion-requests/{id}/reject', { params: { path: { ws, id } }, body: { reason } }))) as unknown as
    | Decision
    | PromotionRequest;
  return 'request' in answer ? answer.request : answer;
}

export async function tick(ws: string, id: string, item: string, done: boolean): Promise<PromotionRequest> {
  const answer = (await unwrap(
    api.POST('/api/workspaces/{ws}/promotion-requests/{id}/checklist', { params: { path: { ws, id } }, body: { item, done } }),
  )) as unknown as Decision;
  return answer.request;
}
