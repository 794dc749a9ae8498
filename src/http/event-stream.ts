// Serving the change stream to one caller: the `Last-Event-ID` a client resumes from (header, or
// `?lastEventId=` for clients that cannot set it) and the hand-over of the raw response to the
// runtime's stream hub — shared by the runtime API's `/v1/stream` and the members' stream.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { invalid } from '../domain/errors.js';
import type { Runtime } from '../runtime/index.js';

export const streamQuery = z.strictObject({ lastEventId: z.string().max(20).optional().describe('the Last-Event-ID header, for clients that cannot set it') });

/** The id of the last event the client received, or null to start now; anything else is a 400. */
export function lastEventIdOf(request: Pick<FastifyRequest, 'headers'> & { query: z.infer<typeof streamQuery> }): number | null {
  const given = request.headers['last-event-id'] ?? request.query.lastEventId;
  if (given === undefined) return null;
  if (typeof given !== 'string' || !/^\d{1,10}$/.test(given.trim())) {
    throw invalid([{ field: 'Last-Event-ID', message: 'must be the id of an event this stream sent', in: 'header' }]);
  }
  return Number(given.trim());
}

/** Hands the response to the stream hub, which writes its own head with the headers set so far (request id, CORS). */
export async function serveStream(runtime: Runtime, reply: FastifyReply, principal: Parameters<Runtime['streams']['open']>[0], lastEventId: number | null): Promise<void> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) if (typeof value === 'string') headers[name] = value;
  reply.hijack();
  await runtime.streams.open(principal, reply.raw, lastEventId, headers);
}
