// What the environment pages read besides the chain itself: each environment's health (release,
// drift from its predecessor, freeze, hold), a branch's pending changes against its parent,
// every resource of an environment, and its overrides. The API types these loosely for now, so
// the shapes relied on are declared here and cast once.
import { useQueries } from '@tanstack/react-query';
import { api, unwrap } from '../../api/client';
import { keys, type Environment } from '../../api/queries';

export interface Health {
  environment: string;
  release: { number: number; since: string } | null;
  drift: { from: string; release: number; resources: { kind: string; key: string; status: string }[] } | null;
  freeze: { id: string; startsAt: string; endsAt: string | null; reason: string | null } | null;
  hold: { since: string; reason: string; release: number | null } | null;
}

export interface PendingChanges {
  /** The environment compared with (the predecessor in the chain, or a branch's parent). */
  from: string;
  count: number;
}

export interface ResourceRow {
  kind: string;
  key: string;
  app: string | null;
  committedHash: string | null;
  draft: 'created' | 'modified' | 'deleted' | null;
  active: boolean;
}

export const healthKey = (ws: string, env: string) => [...keys.env(ws, env), 'health'] as const;

export async function fetchHealth(ws: string, env: string): Promise<Health> {
  const data = await unwrap(api.GET('/api/workspaces/{ws}/environments/{env}/health', { params: { path: { ws, env } } }));
  return data as unknown as Health;
}

/** How many resources a branch differs from its parent in (what merging it would bring). */
export async function fetchBranchChanges(ws: string, branch: string, parent: string): Promise<PendingChanges> {
  const data = (await unwrap(api.GET('/api/workspaces/{ws}/diff', { params: { path: { ws }, query: { from: parent, to: branch } } }))) as unknown as {
    changes: unknown[];
  };
  return { from: parent, count: data.changes.length };
}

export interface MatrixColumn {
  environment: string;
  release: number;
  resources: (ResourceRow & { override: boolean })[];
}

/** Every resource of the named environments, side by side (GET /api/workspaces/:ws/matrix). */
export async function fetchMatrix(ws: string, environments: string[], signal?: AbortSignal): Promise<MatrixColumn[]> {
  // The matrix read is new (src/http/routes/matrix.ts); until the generated types know it, the
  // path is cast here once.
  const get = api.GET as unknown as (path: string, init: unknown) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
  const init = { params: { path: { ws }, query: { environments: environments.join(',') } }, ...(signal ? { signal } : {}) };
  return ((await unwrap(get('/api/workspaces/{ws}/matrix', init))) as { data: MatrixColumn[] }).data;
}

/** Health of every environment, by slug (undefined while it loads). */
export function useHealthOf(ws: string, environments: Environment[]) {
  const results = useQueries({
    queries: environments.map((e) => ({ queryKey: healthKey(ws, e.slug), queryFn: () => fetchHealth(ws, e.slug), staleTime: 15_000 })),
  });
  const out = new Map<string, { data: Health | undefined; error: unknown }>();
  environments.forEach((e, i) => out.set(e.slug, { data: results[i]?.data, error: results[i]?.error }));
  return out;
}

/** Pending changes of each branch against its parent, by branch slug. */
export function useBranchChanges(ws: string, branches: Environment[]) {
  const results = useQueries({
    queries: branches.map((b) => ({
      queryKey: [...keys.env(ws, b.slug), 'pending', b.parent ?? ''] as const,
      queryFn: () => fetchBranchChanges(ws, b.slug, b.parent ?? ''),
      enabled: Boolean(b.parent),
      staleTime: 15_000,
    })),
  });
  const out = new Map<string, PendingChanges | undefined>();
  branches.forEach((b, i) => out.set(b.slug, results[i]?.data));
  return out;
}
