// Request validation with zod: one schema per request part drives the check, the types of the
// handler and the OpenAPI document. A failure names every bad field.
import type { FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import type { ZodType } from 'zod';
import { invalid, type FieldIssue } from '../domain/errors.js';
import { zodIssues } from '../domain/resources/kinds.js';

const PARTS: Record<string, FieldIssue['in']> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

export const validatorCompiler: FastifySchemaCompiler<ZodType> =
  ({ schema, httpPart }) =>
  (data) => {
    const where = PARTS[httpPart ?? 'body'] ?? 'body';
    // PostgreSQL text cannot hold NUL; refuse it up front rather than fail at the database.
    const nul = findNul(data, []);
    if (nul) return { error: invalid([{ field: nul, message: 'must not contain the NUL character', in: where }]) };
    const result = schema.safeParse(data);
    if (result.success) return { value: result.data };
    if (where === 'body' && (data === undefined || data === null)) {
      return { error: invalid([{ field: '', message: 'a JSON body is required', in: 'body' }]) };
    }
    return { error: invalid(zodIssues(result.error, '', where)) };
  };

/** The dotted path of the first string (or object key) holding U+0000, or null. */
function findNul(value: unknown, path: string[]): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path.join('.') || '(value)' : null;
  if (typeof value !== 'object' || value === null) return null;
  for (const [key, item] of Object.entries(value)) {
    if (key.includes('\u0000')) return [...path, key.replaceAll('\u0000', '\\0')].join('.');
    const found = findNul(item, [...path, key]);
    if (found) return found;
  }
  return null;
}

/** Responses are described for the OpenAPI document, not re-validated on the way out. */
export const serializerCompiler: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data);
