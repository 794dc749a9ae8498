// The HTTP server of a node: management API under /api, health, and the OpenAPI document.
// Routes are thin: validate (zod), resolve the caller, call one use case, shape the answer.
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../services/context.js';
import { isHealthy } from '../services/health.js';
import { errorBody, handleError } from './errors.js';
import { serializerCompiler, validatorCompiler } from './validation.js';
import { registerAuth } from './auth.js';
import { workspaceRoutes } from './routes/workspaces.js';
import { environmentRoutes } from './routes/environments.js';
import { resourceRoutes } from './routes/resources.js';
import { releaseRoutes } from './routes/releases.js';
import { auditRoutes } from './routes/audit.js';
import { activityRoutes } from './routes/activity.js';
import { variableRoutes } from './routes/variables.js';
import { secretRoutes } from './routes/secrets.js';
import { settingRoutes } from './routes/settings.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { peopleRoutes } from './routes/people.js';
import { freezeRoutes } from './routes/freezes.js';
import { deliveryRoutes } from './routes/delivery.js';
import { feedRoutes } from './routes/feeds.js';
import { toolRoutes } from './routes/tools.js';
import { dataRoutes, runtimeDataRoutes } from './routes/data.js';
import { testRunRoutes, workflowRoutes } from './routes/workflows.js';
import type { Runtime } from '../runtime/index.js';

export type App = FastifyInstance;

export interface AppOptions {
  deps: Deps;
  runtime: Runtime;
  /** A pino logger; without one the app does not log. */
  logger?: FastifyBaseLogger;
  bodyLimit?: number;
  version?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request ids unique across nodes and restarts: a random prefix per process and a counter. */
const REQUEST_ID_PREFIX = `req_${randomBytes(6).toString('hex')}`;
let requestCounter = 0;
function nextRequestId(): string {
  requestCounter = (requestCounter + 1) % Number.MAX_SAFE_INTEGER;
  return REQUEST_ID_PREFIX + requestCounter.toString(36).padStart(6, '0');
}

export const LOG_REDACT = ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-stageline-key"]'];

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    requestIdHeader: false,
    // A URL that cannot be decoded still gets the documented error shape.
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      void reply.status(400).send(errorBody('invalid_request', `the request URL is not valid: ${error.message}`));
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : nextRequestId();
    },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .header('x-request-id', request.id)
      .send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`)),
  );

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Stageline management API',
        version: options.version ?? '0.1.0',
        description:
          'Management API (environments, versioned resources, commits, promotions, rollbacks, overrides, kill switches, variables, secrets, settings, API keys, audit log) and the runtime delivery API.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'a member or service token (management API)' },
          apiKey: { type: 'http', scheme: 'bearer', description: 'an environment API key, sk_… or pk_… (runtime API)' },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });

  await app.register(async (api) => {
    // Delivery routes set this header themselves, sparing their hot path a hook.
    api.addHook('onRequest', (request, reply, done) => {
      reply.header('x-request-id', request.id);
      done();
    });
    api.get('/healthz', { schema: { hide: true } }, async (_request, reply) => {
      return (await isHealthy(options.deps)) ? { status: 'ok' } : reply.status(503).send({ status: 'unavailable' });
    });
    api.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    registerAuth(api, options.deps);
    workspaceRoutes(api, options.deps);
    environmentRoutes(api, options.deps);
    resourceRoutes(api, options.deps);
    releaseRoutes(api, options.deps);
    auditRoutes(api, options.deps);
    activityRoutes(api, options.deps);
    variableRoutes(api, options.deps);
    secretRoutes(api, options.deps);
    settingRoutes(api, options.deps);
    apiKeyRoutes(api, options.deps);
    peopleRoutes(api, options.deps);
    freezeRoutes(api, options.deps);
    dataRoutes(api, options.deps);
    testRunRoutes(api, options.deps, options.runtime);
  });
  await app.register(async (runtimeApi) => deliveryRoutes(runtimeApi, options.runtime));
  await app.register(async (x) => feedRoutes(x, options.runtime, options.deps));
  await app.register(async (x) => toolRoutes(x, options.runtime, options.deps));
  await app.register(async (x) => runtimeDataRoutes(x, options.runtime, options.deps));
  await app.register(async (x) => workflowRoutes(x, options.runtime, options.deps));

  return app;
}
