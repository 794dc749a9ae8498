// The workspace and environment every page works in. Both come from the URL (/w/:ws/:env/…),
// so a link, a reload or a second tab shows the same thing; the last choice of each user is
// remembered for `/`.
import { useParams } from 'react-router';
import { useEnvironments, type Environment } from './api/queries';

export interface EnvContext {
  ws: string;
  env: string;
  /** The current environment, once the chain has loaded (undefined while it loads or if unknown). */
  environment: Environment | undefined;
  environments: Environment[];
  /** Builds a link to a page of the current workspace, in `env` (default: the current one). */
  envPath: (page: string, env?: string) => string;
}

export function useEnv(): EnvContext {
  const params = useParams();
  const ws = params.ws ?? 'default';
  const env = params.env ?? 'development';
  const environments = useEnvironments(ws).data ?? [];
  return {
    ws,
    env,
    environment: environments.find((e) => e.slug === env),
    environments,
    envPath: (page, other = env) => `/w/${encodeURIComponent(ws)}/${encodeURIComponent(other)}/${page.replace(/^\//, '')}`,
  };
}

/** The chain in order (development first), without branches. */
export function chainOf(environments: Environment[]): Environment[] {
  return environments.filter((e) => e.kind === 'chain').sort((a, b) => a.position - b.position);
}

/** Production is the last environment of the chain: what promotion ends in. */
export function isProduction(environment: Environment | undefined, environments: Environment[]): boolean {
  if (!environment || environment.kind !== 'chain') return false;
  const chain = chainOf(environments);
  return chain.length > 1 && chain[chain.length - 1]!.id === environment.id;
}

const DEFAULT_COLORS = ['#2f9e6b', '#d08a12', '#7b5cd6', '#2b7bd1', '#c0392b'];

/** The environment's colour: its own, else red for production, else one by chain position. */
export function colorOf(environment: Environment | undefined, environments: Environment[]): string {
  if (!environment) return '#6b7280';
  if (environment.color) return environment.color;
  if (isProduction(environment, environments)) return '#c0392b';
  if (environment.kind === 'branch') return '#6b7280';
  const index = chainOf(environments).findIndex((e) => e.id === environment.id);
  return DEFAULT_COLORS[Math.max(0, index) % (DEFAULT_COLORS.length - 1)]!;
}

const LAST_KEY = 'stageline.last';

/** Remembers the workspace and environment a user last worked in (per user, per browser). */
export function rememberPlace(user: string, ws: string, env: string) {
  try {
    const all = JSON.parse(localStorage.getItem(LAST_KEY) ?? '{}') as Record<string, { ws: string; env: string }>;
    all[user] = { ws, env };
    localStorage.setItem(LAST_KEY, JSON.stringify(all));
  } catch {
    localStorage.removeItem(LAST_KEY);
  }
}

export function lastPlace(user: string): { ws: string; env: string } | null {
  try {
    const all = JSON.parse(localStorage.getItem(LAST_KEY) ?? '{}') as Record<string, { ws: string; env: string } | undefined>;
    return Object.hasOwn(all, user) ? (all[user] ?? null) : null;
  } catch {
    return null;
  }
}
