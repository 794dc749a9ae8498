// Query keys and the few queries every page shares. Keys start with the workspace so that a
// workspace switch never shows another workspace's cached data.
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap, type components } from './client';

export type Environment = components['schemas']['Environment'];
export type Workspace = components['schemas']['Workspace'];

export const keys = {
  whoami: ['whoami'] as const,
  workspaces: ['workspaces'] as const,
  environments: (ws: string) => [ws, 'environments'] as const,
  /** Everything of one environment (resources, releases, secrets, …) starts with this. */
  env: (ws: string, env: string) => [ws, 'env', env] as const,
};

export function useWhoami() {
  return useQuery({ queryKey: keys.whoami, queryFn: () => unwrap(api.GET('/api/auth/whoami')), staleTime: 5 * 60_000 });
}

export function useWorkspaces() {
  return useQuery({ queryKey: keys.workspaces, queryFn: () => unwrap(api.GET('/api/workspaces')), staleTime: 60_000 });
}

export function useEnvironments(ws: string) {
  return useQuery({
    queryKey: keys.environments(ws),
    queryFn: async () => (await unwrap(api.GET('/api/workspaces/{ws}/environments', { params: { path: { ws } } }))).data as Environment[],
  });
}

/** After a mutation: refetch what it may have changed in this workspace (cheap, and never stale). */
export function useInvalidate() {
  const client = useQueryClient();
  return (ws: string, env?: string) =>
    client.invalidateQueries({ predicate: (query) => query.queryKey[0] === ws && (env === undefined || query.queryKey[1] !== 'env' || query.queryKey[2] === env) });
}
