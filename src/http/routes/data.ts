// Data records over HTTP: the runtime API (`/v1/data`, an environment's secret API key) and
// the members' read path of the management API (masked where the environment obfuscates data).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_PAGE_SIZE, MAX_RECORD_BYTES, MAX_RECORD_ID_LENGTH } from '../../domain/data/records.js';
import type { Deps } from '../../services/context.js';
import { deleteRecordByKey, getRecord, getRecordByKey, listRecords, listRecordsByKey, putRecordByKey, type KeyCall } from '../../services/data.js';
import { contextOf } from '../auth.js';
import { envParams, errors, noContent, page } from '../schemas.js';
import { validatorCompiler } from '../validation.js';
import { apiKeyOf } from '../key-auth.js';

// Names and ids are checked by the domain rules (one message per rule, naming the field).
const collection = z.string().describe('collection name: 1-64 of a-z, 0-9, "_", "-", starting with a letter');
const id = z.string().describe(`record id: 1-${MAX_RECORD_ID_LENGTH} printable characters, no "/" (URL-encode it)`);
const pageQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional().describe(`page size, default 50, at most ${MAX_PAGE_SIZE}`),
  cursor: z.string().max(2000).optional().describe('`next` of the previous page'),
};

const dataRecord = z
  .object({
    collection: z.string(),
    id: z.string(),
    value: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'DataRecord' });
const dataPage = page(dataRecord).meta({ id: 'DataRecordPage' });
const masked = z.boolean().describe('whether values are masked (the environment obfuscates data and nothing was revealed)');
const memberDataPage = dataPage.extend({ masked }).meta({ id: 'MemberDataRecordPage' });
const memberDataRecord = dataRecord.extend({ masked }).meta({ id: 'MemberDataRecord' });
const revealQuery = z
  .enum(['true', 'false'])
  .optional()
  .transform((v) => v === 'true')
  .describe('show real values in an environment that obfuscates data (needs data.reveal; audited)');
// The body is the record itself; its rules (a JSON object, size, depth) are the domain's.
const recordBody = z
  .unknown()
  .meta({ type: 'object', additionalProperties: true, description: `the record: any JSON object of at most ${MAX_RECORD_BYTES} bytes` });
/**
 * Record bodies are checked by the record rules alone, which bound their depth before anything
 * walks them recursively (the shared body check would overflow the stack on deep nesting).
 * A NUL character needs no refusing here: values are stored as JSON text, which escapes it.
 */
const recordValidator: typeof validatorCompiler = (route) => (route.httpPart === 'body' ? (data) => ({ value: data }) : validatorCompiler(route));

/**
 * Record routes are registered twice: with `:id` for the OpenAPI document, and as a hidden `*`
 * twin that the router falls back to for ids longer than its 100-character parameter limit or
 * holding a "/" (which the rules then refuse by name instead of a bare 404).
 */
function recordId(params: { id?: string; '*'?: string }): string {
  return params.id ?? params['*'] ?? '';
}

export function dataRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['data'];
  const base = '/api/workspaces/:ws/environments/:env/data/:collection';
  const failures = errors(400, 401, 403, 404);
  const collectionParams = envParams.extend({ collection });

  api.get(
    base,
    {
      schema: {
        tags,
        operationId: 'listDataRecords',
        summary: 'List a collection of the environment as members see it (masked where it obfuscates data)',
        params: collectionParams,
        querystring: z.strictObject({ ...pageQuery, reveal: revealQuery }),
        response: { 200: memberDataPage, ...failures },
      },
    },
    async (request) => {
      const { limit, cursor, reveal } = request.query;
      return listRecords(deps, await contextOf(deps, request), request.params.env, request.params.collection, { limit, cursor, reveal });
    },
  );

  const readOne = async (
    request: Pick<FastifyRequest, 'id' | 'principal'> & { params: { ws: string; env: string; collection: string; id?: string; '*'?: string }; query: { reveal: boolean } },
  ) =>
    getRecord(deps, await contextOf(deps, request), request.params.env, request.params.collection, recordId(request.params), { reveal: request.query.reveal });
  const oneQuery = z.strictObject({ reveal: revealQuery });
  const oneResponse = { 200: memberDataRecord, ...failures };
  api.get(
    `${base}/:id`,
    {
      schema: {
        tags,
        operationId: 'getDataRecord',
        summary: 'Read a record of the environment as members see it (masked where it obfuscates data)',
        params: collectionParams.extend({ id }),
        querystring: oneQuery,
        response: oneResponse,
      },
    },
    readOne,
  );
  api.get(`${base}/*`, { schema: { hide: true, params: collectionParams.extend({ '*': z.string() }), querystring: oneQuery, response: oneResponse } }, readOne);
}

/** Registers into `app`'s own plugin context: it sets that context's validator and hook. */
export function runtimeDataRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['data'];
  const security = [{ apiKey: [] }];
  const failures = errors(400, 401, 403, 404);
  const collectionParams = z.strictObject({ collection });
  const recordParams = collectionParams.extend({ id });
  const twinParams = collectionParams.extend({ '*': z.string() });

  api.setValidatorCompiler(recordValidator);

  function callOf(request: FastifyRequest): KeyCall {
    return { key: apiKeyOf(request), requestId: request.id };
  }

  type RecordRequest = FastifyRequest & { params: { collection: string; id?: string; '*'?: string }; body?: unknown };

  api.get(
    '/v1/data/:collection',
    {
      schema: {
        tags,
        security,
        operationId: 'listRecords',
        summary: 'List a collection of the key’s environment',
        params: collectionParams,
        querystring: z.strictObject(pageQuery),
        response: { 200: dataPage, ...failures },
      },
    },
    async (request) => listRecordsByKey(deps, callOf(request), request.params.collection, request.query),
  );

  const read = async (request: RecordRequest) => getRecordByKey(deps, callOf(request), request.params.collection, recordId(request.params));
  api.get('/v1/data/:collection/:id', { schema: { tags, security, operationId: 'getRecord', summary: 'Read a record', params: recordParams, response: { 200: dataRecord, ...failures } } }, read);
  api.get('/v1/data/:collection/*', { schema: { hide: true, params: twinParams, response: { 200: dataRecord, ...failures } } }, read);

  const writeResponse = { 200: dataRecord.describe('the replaced record'), 201: dataRecord.describe('the created record'), ...errors(400, 401, 403, 404, 413) };
  const write = async (request: RecordRequest, reply: FastifyReply) => {
    const { created, record } = await putRecordByKey(deps, callOf(request), request.params.collection, recordId(request.params), request.body);
    return reply.status(created ? 201 : 200).send(record);
  };
  api.put(
    '/v1/data/:collection/:id',
    {
      schema: {
        tags,
        security,
        operationId: 'putRecord',
        summary: 'Create or replace a record; the body is the record',
        params: recordParams,
        body: recordBody,
        response: { ...writeResponse },
      },
    },
    write,
  );
  api.put('/v1/data/:collection/*', { schema: { hide: true, params: twinParams, body: recordBody, response: writeResponse } }, write);

  const remove = async (request: RecordRequest, reply: FastifyReply) => {
    await deleteRecordByKey(deps, callOf(request), request.params.collection, recordId(request.params));
    return reply.status(204).send();
  };
  api.delete('/v1/data/:collection/:id', { schema: { tags, security, operationId: 'deleteRecord', summary: 'Delete a record', params: recordParams, response: { 204: noContent, ...failures } } }, remove);
  api.delete('/v1/data/:collection/*', { schema: { hide: true, params: twinParams, response: { 204: noContent, ...failures } } }, remove);
}
