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
    const result = schema.safeParse(data);
    if (result.success) return { value: result.data };
    const where = PARTS[httpPart ?? 'body'] ?? 'body';
    if (where === 'body' && (data === undefined || data === null)) {
      return { error: invalid([{ field: '', message: 'a JSON body is required', in: 'body' }]) };
    }
    return { error: invalid(zodIssues(result.error, '', where)) };
  };

/** Responses are described for the OpenAPI document, not re-validated on the way out. */
export const serializerCompiler: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data);
