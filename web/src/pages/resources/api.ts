// What the resource pages read and write, with the shapes they rely on (the generated types
// describe some of these answers loosely; each query casts once, here).
import { useQueries, useQuery } from '@tanstack/react-query';
import type { Client } from 'openapi-fetch';
import { api, ApiError, unwrap } from '../../api/client';
import { keys } from '../../api/queries';
import type { FieldChange } from '../../components/Diff';

export const KINDS = ['workflow', 'layout', 'route', 'tool', 'config'] as const;
export type Kind = (typeof KINDS)[number];

export interface ResourceRow {
  kind: Kind;
  key: string;
  app: string | null;
  committedHash: string | null;
  draft: 'created' | 'modified' | 'deleted' | null;
  active: boolean;
}

export interface ResourceView {
  kind: Kind;
  key: string;
  app: string | null;
  committed: { content: unknown; hash: string; release: number } | null;
  draft: { content: unknown; deleted: boolean; hash: string | null; updatedAt: string; updatedBy: string } | null;
  override: unknown;
  active: boolean;
}

export interface ResolvedView {
  kind: string;
  key: string;
  environment: string;
  release: number;
  status: 'resolved' | 'missing' | 'inactive' | 'invalid' | 'unresolved';
  content: unknown;
  hash: string | null;
  message: string | null;
  issues: { field: string; message: string }[];
}

export interface Change {
  kind: Kind;
  key: string;
  status: 'added' | 'changed' | 'removed';
  fromHash: string | null;
  toHash: string | null;
  app?: { before: string | null; after: string | null };
  fields: FieldChange[];
  updatedAt: string;
  updatedBy: string;
  stale: boolean;
}

export interface Changes {
  environment: string;
  release: number;
  data: Change[];
}

export interface CommitAnswer {
  environment: string;
  number: number;
  name: string;
  message: string;
  resourceCount: number;
}

export interface TestRunMessage {
  step: number;
  recipient: string;
  type: string;
  status: string;
  message: unknown;
  messageIds: string[];
  detail: string | null;
  error: string | null;
}

export interface TestRunAnswer {
  version: 'draft' | 'committed';
  hash: string;
  masked: boolean;
  run: { id: string; status: string; error: string | null };
  messages: TestRunMessage[];
}

/**
 * Endpoints newer than the generated schema (src/http/routes/resource-views.ts); once
 * web/src/api/schema.d.ts is regenerated they are in `paths` and this goes.
 */
interface ViewPaths {
  '/api/kinds': {
    get: { parameters: { query?: never; header?: never; path?: never; cookie?: never }; responses: { 200: { headers: Record<string, unknown>; content: { 'application/json': { data: { kind: Kind; schema: Record<string, unknown> }[] } } } } };
  };
  '/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}/resolved': {
    get: {
      parameters: { query?: never; header?: never; path: { ws: string; env: string; kind: string; key: string }; cookie?: never };
      responses: { 200: { headers: Record<string, unknown>; content: { 'application/json': ResolvedView } } };
    };
  };
  '/api/workspaces/{ws}/environments/{env}/overrides': {
    get: {
      parameters: { query?: never; header?: never; path: { ws: string; env: string }; cookie?: never };
      responses: { 200: { headers: Record<string, unknown>; content: { 'application/json': { environment: string; data: { kind: string; key: string; override: unknown }[] } } } };
    };
  };
}
const views = api as unknown as Client<ViewPaths>;

export const resourceKey = (ws: string, env: string, kind: string, key: string) => [...keys.env(ws, env), 'resource', kind, key] as const;
const resolvedKey = (ws: string, env: string, kind: string, key: string) => [...keys.env(ws, env), 'resolved', kind, key] as const;

export function useResourceList(ws: string, env: string) {
  return useQuery({
    queryKey: [...keys.env(ws, env), 'resources'],
    queryFn: async () => {
      // Every page: a dashboard list is filtered here, and environments hold hundreds, not millions.
      const rows: ResourceRow[] = [];
      let cursor: string | undefined;
      do {
        const page = (await unwrap(
          api.GET('/api/workspaces/{ws}/environments/{env}/resources', { params: { path: { ws, env }, query: { limit: 500, ...(cursor ? { cursor } : {}) } } }),
        )) as unknown as { data: ResourceRow[]; next: string | null };
        rows.push(...page.data);
        cursor = page.next ?? undefined;
      } while (cursor);
      return rows;
    },
  });
}

/** The environment's overrides by resource id (`kind/key`). */
export function useOverrides(ws: string, env: string) {
  return useQuery({
    queryKey: [...keys.env(ws, env), 'overrides'],
    queryFn: async () => {
      const answer = await unwrap(views.GET('/api/workspaces/{ws}/environments/{env}/overrides', { params: { path: { ws, env } } }));
      return new Map(answer.data.map((o) => [`${o.kind}/${o.key}`, o.override]));
    },
  });
}

async function readResource(ws: string, env: string, kind: string, key: string): Promise<ResourceView | null> {
  try {
    return (await unwrap(api.GET('/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}', { params: { path: { ws, env, kind, key } } }))) as ResourceView;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

export function useResource(ws: string, env: string, kind: string, key: string) {
  return useQuery({ queryKey: resourceKey(ws, env, kind, key), queryFn: () => readResource(ws, env, kind, key) });
}

/** The resource and its resolved view in each of `envs`, in order. */
export function useAcrossEnvironments(ws: string, envs: string[], kind: string, key: string) {
  const resources = useQueries({ queries: envs.map((env) => ({ queryKey: resourceKey(ws, env, kind, key), queryFn: () => readResource(ws, env, kind, key) })) });
  const resolved = useQueries({
    queries: envs.map((env) => ({
      queryKey: resolvedKey(ws, env, kind, key),
      queryFn: async () => unwrap(views.GET('/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}/resolved', { params: { path: { ws, env, kind, key } } })) as Promise<ResolvedView>,
    })),
  });
  return { resources, resolved };
}

export function useKindSchemas() {
  return useQuery({
    queryKey: ['kinds'],
    queryFn: async () => {
      const answer = await unwrap(views.GET('/api/kinds'));
      return new Map(answer.data.map((k) => [k.kind, k.schema]));
    },
    staleTime: Infinity,
  });
}

export function useChanges(ws: string, env: string) {
  return useQuery({
    queryKey: [...keys.env(ws, env), 'changes'],
    queryFn: async () => (await unwrap(api.GET('/api/workspaces/{ws}/environments/{env}/changes', { params: { path: { ws, env } } }))) as Changes,
  });
}

type Path = { ws: string; env: string; kind: string; key: string };

export const writes = {
  saveDraft: (p: Path, content: unknown, app?: string | null) =>
    unwrap(api.PUT('/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}', { params: { path: p }, body: { content, ...(app !== undefined ? { app } : {}) } })),
  deleteResource: (p: Path) => unwrap(api.DELETE('/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}', { params: { path: p } })),
  setActive: (p: Path, active: boolean) => unwrap(api.PUT('/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}/active', { params: { path: p }, body: { active } })),
  putOverride: (p: Path, override: unknown) =>
    unwrap(api.PUT('/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}/override', { params: { path: p }, body: { override: override as Record<string, unknown> } })),
  deleteOverride: (p: Path) => unwrap(api.DELETE('/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}/override', { params: { path: p } })),
  commit: async (ws: string, env: string, message: string, resources?: string[]) =>
    (await unwrap(api.POST('/api/workspaces/{ws}/environments/{env}/commits', { params: { path: { ws, env } }, body: { message, ...(resources ? { resources } : {}) } }))) as CommitAnswer,
  testRun: async (ws: string, env: string, body: { workflow: string; recipients?: unknown[]; data?: Record<string, unknown> }) =>
    (await unwrap(api.POST('/api/workspaces/{ws}/environments/{env}/test-runs', { params: { path: { ws, env } }, body: body as never }))) as TestRunAnswer,
};

/** Example content for a new resource of each kind: valid, so a first save succeeds. */
export const STARTERS: Record<Kind, unknown> = {
  workflow: { name: 'New workflow', steps: [{ type: 'channel', channel: 'in_app', template: { body: 'Hello {{ recipient.name }}' } }] },
  layout: { html: '<html><body>{{ content }}</body></html>', text: '{{ content }}' },
  route: { match: { pathPrefix: '/example' }, upstream: { url: 'http://localhost:3000' } },
  tool: { method: 'POST', url: 'https://example.com/api', body: { id: '{{ input.id }}' }, timeoutMs: 10000 },
  config: { value: {} },
};
