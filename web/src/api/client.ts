// The dashboard's one way to call the management API: openapi-fetch over the types generated
// from /api/openapi.json (schema.d.ts, `npm run gen:api`), the session's bearer token on every
// call, and API errors turned into ApiError with their field details.
import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';
import { session } from '../session';

export type { paths, components } from './schema';

export interface FieldDetail {
  field: string;
  message: string;
  in?: string;
}

/** An error answer of the API: `{error: {code, message, details}}` and its status. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: FieldDetail[];

  constructor(status: number, body: unknown) {
    const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
    const message = typeof error?.message === 'string' ? error.message : `the server answered ${status}`;
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = typeof error?.code === 'string' ? error.code : status === 0 ? 'network_error' : 'http_error';
    this.details = Array.isArray(error?.details)
      ? error.details.filter((d): d is FieldDetail => typeof d === 'object' && d !== null && typeof (d as FieldDetail).field === 'string')
      : [];
  }
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = session.token();
    if (token) request.headers.set('authorization', `Bearer ${token}`);
    return request;
  },
  onResponse({ response, request }) {
    // A session that ended (expired, logged out elsewhere, revoked) sends the user back to log in.
    if (response.status === 401 && !new URL(request.url).pathname.startsWith('/api/auth/login')) session.expire();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(auth);

/** The data of an openapi-fetch call, or an ApiError thrown for an error answer or a network failure. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (cause) {
    throw new ApiError(0, { error: { code: 'network_error', message: `the server could not be reached (${(cause as Error).message})` } });
  }
  if (!result.response.ok) throw new ApiError(result.response.status, result.error);
  return result.data as T;
}

/** Field errors of an API error by field path ('' for the body as a whole). */
export function fieldErrors(error: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (error instanceof ApiError) for (const d of error.details) out[d.field] ??= d.message;
  return out;
}
