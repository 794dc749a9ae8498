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
    const problem = jsonProblem(data);
    if (problem) return { error: invalid([{ ...problem, in: where }]) };
    const result = schema.safeParse(data);
    if (result.success) return { value: result.data };
    if (where === 'body' && (data === undefined || data === null)) {
      return { error: invalid([{ field: '', message: 'a JSON body is required', in: 'body' }]) };
    }
    return { error: invalid(zodIssues(result.error, '', where)) };
  };

/** Deeper JSON than this is refused before any recursive check sees it. */
export const MAX_JSON_DEPTH = 64;

/**
 * The first problem of a parsed JSON value: a string or key holding U+0000, or nesting deeper
 * than MAX_JSON_DEPTH. Iterative, so no input can exhaust the stack.
 */
function jsonProblem(root: unknown): { field: string; message: string } | null {
  const stack: { value: unknown; path: string[] }[] = [{ value: root, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return { field: path.join('.') || '(value)', message: 'must not contain the NUL character' };
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (path.length >= MAX_JSON_DEPTH) return { field: path.slice(0, 3).join('.') + '…', message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` };
    const entries = Object.entries(value);
    // Pushed in reverse so the first key is looked at first.
    for (let i = entries.length - 1; i >= 0; i -= 1) {
      const [key, item] = entries[i]!;
      if (key.includes('\u0000')) return { field: [...path, key.replaceAll('\u0000', '\\0')].join('.'), message: 'must not contain the NUL character' };
      stack.push({ value: item, path: [...path, key] });
    }
  }
  return null;
}

/**
 * Responses are serialized as they are: their schemas describe them for the OpenAPI document.
 * With STAGELINE_CHECK_RESPONSES=1 (the test suite) each answer is checked against the schema of
 * its status first, as the caller will read it (after JSON), and a field the schema does not
 * declare counts as a mismatch too: the generated client would not know of it.
 */
export const serializerCompiler: FastifySerializerCompiler<ZodType> = ({ schema, method, url, httpStatus }) => {
  if (process.env.STAGELINE_CHECK_RESPONSES !== '1') return (data) => JSON.stringify(data);
  return (data) => {
    const text = JSON.stringify(data);
    const problems = responseProblems(schema, text === undefined ? undefined : JSON.parse(text));
    if (problems.length === 0) return text;
    const message = `the ${httpStatus} response of ${method} ${url} does not match its schema: ${problems.join('; ')}`;
    // The error handler answers a bare 500: say why where the test run shows it.
    process.stderr.write(`${message}\n`);
    throw new Error(message);
  };
};

/** What is wrong with a response body: zod's issues, else the paths of fields it does not declare. */
export function responseProblems(schema: ZodType, body: unknown): string[] {
  const result = schema.safeParse(body);
  if (!result.success) return result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
  return undeclared(body, result.data, []).map((path) => `${path}: not declared by the schema`);
}

/** Paths of keys of `given` that parsing dropped (an object schema strips keys it does not name). */
function undeclared(given: unknown, parsed: unknown, path: string[]): string[] {
  if (typeof given !== 'object' || given === null || typeof parsed !== 'object' || parsed === null) return [];
  if (Array.isArray(given)) {
    if (!Array.isArray(parsed)) return [];
    return given.flatMap((item, i) => undeclared(item, parsed[i], [...path, String(i)]));
  }
  const out = parsed as Record<string, unknown>;
  return Object.entries(given).flatMap(([key, value]) =>
    Object.hasOwn(out, key) ? undeclared(value, out[key], [...path, key]) : [[...path, key].join('.')],
  );
}
