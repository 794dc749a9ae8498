// The OpenAPI document is complete: every operation named, summarised and answered with a
// schema the dashboard's generated client can use; and the committed client is current.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { staleApiFiles } from '../scripts/gen-api.js';
import { deliveredResource, deliveredResources } from '../src/http/routes/delivery.js';
import { responseProblems } from '../src/http/validation.js';
import { commitDrafts, config, createApiKey, runtimeCall, startHarness, type Harness } from './support.js';

type Schema = Record<string, any>;
interface Operation {
  method: string;
  path: string;
  operationId?: string;
  summary?: string;
  tags?: string[];
  parameters?: { name: string; in: string; required?: boolean }[];
  responses: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];

/** Answers with `data` that are not pages of a list, and why. */
const NOT_LISTS: Record<string, string> = {
  readAnalytics: 'a report: figures per environment next to series and markers',
  listReleaseChecks: 'the latest check per name and the full history, both whole',
  readResourceMatrix: 'a report: every resource of each chosen environment, whole, for the what-runs-where page',
  listKindSchemas: 'a fixed set: one JSON Schema per resource kind',
  listOverrides: "one environment's overrides, whole (at most one per resource)",
};

/** Error statuses answered in another shape than Error: /healthz's 503 is `{status}` by contract. */
const OTHER_ERROR_SHAPES: Record<string, string[]> = { getHealth: ['503'], ofrepEvaluateFlag: ['400', '404'], ofrepEvaluateFlags: ['400'] };

let h: Harness;
let doc: Record<string, any>;
let operations: Operation[];

beforeAll(async () => {
  h = await startHarness();
  const res = await h.call('GET', '/api/openapi.json', undefined, null);
  expect(res.status).toBe(200);
  doc = res.body;
  operations = Object.entries(doc.paths as Record<string, Record<string, Omit<Operation, 'method' | 'path'>>>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => ({ ...operation, method, path })),
  );
});

afterAll(async () => {
  await h?.close();
});

const name = (o: Operation) => `${o.method.toUpperCase()} ${o.path}`;

/** A schema with its $ref followed into components. */
function resolved(schema: Schema | undefined): Schema | undefined {
  let current = schema;
  for (let i = 0; current?.$ref && i < 10; i += 1) {
    const id = String(current.$ref).replace('#/components/schemas/', '');
    current = doc.components.schemas[id];
  }
  return current;
}

function successes(o: Operation) {
  return Object.entries(o.responses).filter(([status]) => /^2\d\d$/.test(status));
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with a title and the server version', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info.title).toEqual(expect.any(String));
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(operations.length).toBeGreaterThan(100);
    const named = Object.keys(doc.components.schemas).filter((id) => !id.endsWith('Input'));
    console.log(`OpenAPI: ${operations.length} operations, ${named.length} named schemas`);
  });

  it('names every operation with a unique camelCase operationId and a summary, under a tag', () => {
    const problems = operations.flatMap((o) => [
      ...(typeof o.operationId === 'string' && /^[a-z][a-zA-Z0-9]+$/.test(o.operationId) ? [] : [`${name(o)}: operationId ${o.operationId}`]),
      ...(typeof o.summary === 'string' && o.summary.trim().length > 0 ? [] : [`${name(o)}: no summary`]),
      ...((o.tags?.length ?? 0) > 0 ? [] : [`${name(o)}: no tag`]),
    ]);
    expect(problems).toEqual([]);
    const ids = operations.map((o) => o.operationId);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });

  it('gives every operation a success answer, each described by a schema (a 204 by none)', () => {
    const problems = operations.flatMap((o) => {
      const answers = successes(o);
      if (answers.length === 0) return [`${name(o)}: no 2xx response`];
      return answers.flatMap(([status, response]) => {
        if (status === '204') return response.content ? [`${name(o)} 204: has content`] : [];
        const media = Object.entries(response.content ?? {});
        if (media.length === 0) return [`${name(o)} ${status}: no content`];
        return media.flatMap(([type, { schema }]) => {
          const target = resolved(schema);
          if (!target || Object.keys(target).filter((k) => !['description', '$schema', '$id'].includes(k)).length === 0) return [`${name(o)} ${status} ${type}: empty schema`];
          if (schema?.$ref && String(schema.$ref).endsWith('Input')) return [`${name(o)} ${status}: answers an input schema`];
          return [];
        });
      });
    });
    expect(problems).toEqual([]);
  });

  it('answers errors in the shared Error shape', () => {
    const problems = operations.flatMap((o) =>
      Object.entries(o.responses)
        .filter(([status]) => /^[45]\d\d$/.test(status) && !OTHER_ERROR_SHAPES[o.operationId ?? '']?.includes(status))
        .flatMap(([status, response]) => (response.content?.['application/json']?.schema?.$ref === '#/components/schemas/Error' ? [] : [`${name(o)} ${status}`])),
    );
    expect(problems).toEqual([]);
  });

  it('answers lists as {data, next}', () => {
    const lists = operations.filter((o) => {
      const schema = resolved(o.responses['200']?.content?.['application/json']?.schema);
      return o.operationId?.startsWith('list') || schema?.properties?.data?.type === 'array';
    });
    expect(lists.length).toBeGreaterThan(20);
    const problems = lists
      .filter((o) => !(o.operationId! in NOT_LISTS))
      .flatMap((o) => {
        const schema = resolved(o.responses['200']?.content?.['application/json']?.schema);
        const data = schema?.properties?.data;
        const next = schema?.properties?.next;
        return data?.type === 'array' && schema?.required?.includes('data') && next && schema.required.includes('next') ? [] : [name(o)];
      });
    expect(problems).toEqual([]);
  });

  it('declares every path parameter', () => {
    const problems = operations.flatMap((o) =>
      [...o.path.matchAll(/\{([^}]+)\}/g)]
        .map((m) => m[1]!)
        .filter((param) => !o.parameters?.some((p) => p.in === 'path' && p.name === param && p.required))
        .map((param) => `${name(o)}: {${param}}`),
    );
    expect(problems).toEqual([]);
  });
});

describe('the response check of the test suite', () => {
  const shape = z.object({ id: z.string(), tags: z.array(z.object({ name: z.string() })) });

  it('names a field of the wrong type, and a field the schema does not declare', () => {
    expect(responseProblems(shape, { id: 1, tags: [] })).toEqual(['id: Invalid input: expected string, received number']);
    expect(responseProblems(shape, { id: 'a', tags: [{ name: 'x', colour: 'red' }], extra: true })).toEqual([
      'tags.0.colour: not declared by the schema',
      'extra: not declared by the schema',
    ]);
    expect(responseProblems(shape, { id: 'a', tags: [{ name: 'x' }] })).toEqual([]);
  });
});

describe('answers the server writes itself', () => {
  // Delivery bodies are built ahead and sent as text: the serializer's check never sees them.
  it('delivery answers match their schemas', async () => {
    await commitDrafts(h, { 'config/banner': config({ text: 'hi' }) });
    expect((await h.call('POST', '/api/workspaces/default/environments/production/promotions', {})).status).toBe(201);
    const key = await createApiKey(h, 'production');
    const list = await runtimeCall(h, key, '/v1/resources');
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(responseProblems(deliveredResources, list.body)).toEqual([]);
    const one = await runtimeCall(h, key, '/v1/resources/config/banner');
    expect(one.status).toBe(200);
    expect(responseProblems(deliveredResource, one.body)).toEqual([]);
  });
});

describe('the generated dashboard client', () => {
  it('web/src/api/openapi.json and schema.d.ts are what the server describes (npm run gen:api)', async () => {
    expect(await staleApiFiles()).toEqual([]);
  });
});
