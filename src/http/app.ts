// The HTTP server of a node: management API under /api, health, and the OpenAPI document.
// Routes are thin: validate (zod), resolve the caller, call one use case, shape the answer.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../services/context.js';
import { isHealthy } from '../services/health.js';
import { errorBody, handleClientError, handleError, refuseConnect, refuseExpectation, refuseWhileClosing } from './errors.js';
import { serializerCompiler, validatorCompiler } from './validation.js';
import { healthzSchema } from './schemas.js';
import { registerAuth } from './auth.js';
import { workspaceRoutes } from './routes/workspaces.js';
import { environmentRoutes } from './routes/environments.js';
import { resourceRoutes } from './routes/resources.js';
import { resourceViewRoutes } from './routes/resource-views.js';
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
import { feedRoutes, recipientTokenSecretRoutes } from './routes/feeds.js';
import { memberPreferenceRoutes, preferenceRoutes, unsubscribeRoutes } from './routes/preferences.js';
import { toolRoutes } from './routes/tools.js';
import { dataRoutes, runtimeDataRoutes } from './routes/data.js';
import { dataCollectionRoutes } from './routes/data-collections.js';
import { testRunRoutes, workflowRoutes } from './routes/workflows.js';
import { watchRoutes } from './routes/watches.js';
import { alertRoutes } from './routes/alerts.js';
import { eventRoutes } from './routes/events.js';
import type { Runtime } from '../runtime/index.js';
import { VERSION } from '../version.js';
import { requireApiKey } from './key-auth.js';
import { managementCors, runtimePreflight } from './cors.js';
import { gateRoutes } from './routes/gates.js';
import { analyticsRoutes } from './routes/analytics.js';
import { matrixRoutes } from './routes/matrix.js';
import { ofrepRoutes } from './routes/ofrep.js';
import { changeStreamRoutes } from './routes/change-stream.js';
import { validationRoutes } from './routes/validation.js';
import { registerDashboard } from './web.js';

export type App = FastifyInstance;

export interface AppOptions {
  deps: Deps;
  runtime: Runtime;
  /** A pino logger; without one the app does not log. */
  logger?: FastifyBaseLogger;
  bodyLimit?: number;
  version?: string;
  /** Proxies whose x-forwarded-for sets request.ip (STAGELINE_TRUSTED_PROXIES); none by default. */
  trustedProxies?: string[];
  /** Origins the management API answers CORS requests of (STAGELINE_CORS_ORIGINS); none by default. */
  corsOrigins?: string[];
  /** false: no dashboard at / (default: served when built). */
  dashboard?: boolean;
  /** Where the built dashboard is (default dist/web). */
  dashboardRoot?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request ids unique across nodes and restarts: a random prefix per process and a counter. */
const REQUEST_ID_PREFIX = `req_${randomBytes(6).toString('hex')}`;
let requestCounter = 0;
function nextRequestId(): string {
  requestCounter = (requestCounter + 1) % Number.MAX_SAFE_INTEGER;
  return REQUEST_ID_PREFIX + requestCounter.toString(36).padStart(6, '0');
}

export { LOG_REDACT } from '../logger.js';

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  // Set when the app starts closing: later requests get a 503 in the error shape.
  let closing = false;
  // Fastify itself gets no logger: with one, it would set up per-request response listeners and
  // a child logger on every call, the runtime reads included. The management API logs each
  // request itself (below); the runtime API logs warnings and errors only.
  const log = options.logger;
  const app = Fastify({
    logger: false,
    // Fastify's own request logs would print raw requests, headers included: the management
    // API logs its requests itself.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Path parameters as long as the longest id they carry (a recipient id is up to 256 characters).
    maxParamLength: 300,
    requestIdHeader: false,
    // Requests Node's parser refuses (431, malformed framing, an incomplete body) answer in the error shape.
    clientErrorHandler: handleClientError,
    return503OnClosing: false,
    serverFactory: (handler, fastifyOptions) => {
      // Without Host the request is still served (nothing here reads it) rather than refused with an empty 400.
      const server = createServer({ requireHostHeader: false }, (request: IncomingMessage, response: ServerResponse) =>
        closing ? refuseWhileClosing(response) : handler(request, response),
      );
      // What Fastify sets on a server it makes itself.
      const timeouts = fastifyOptions as { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number };
      server.keepAliveTimeout = timeouts.keepAliveTimeout ?? 72_000;
      server.requestTimeout = timeouts.requestTimeout ?? 0;
      server.setTimeout(timeouts.connectionTimeout ?? 0);
      server.on('checkExpectation', refuseExpectation);
      server.on('connect', refuseConnect);
      return server;
    },
    trustProxy: options.trustedProxies && options.trustedProxies.length > 0 ? options.trustedProxies : false,
    // A URL that cannot be decoded still gets the documented error shape.
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      void reply.status(400).send(errorBody('invalid_request', `the request URL is not valid: ${error.message}`));
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : nextRequestId();
    },
  }).withTypeProvider<ZodTypeProvider>();

  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  // The API reads JSON only; text/plain answers 415 like any other type instead of a confusing validation error.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  // The dashboard's client-side routes (/w/…, /login) get its page; anything else unknown is a JSON 404.
  const dashboard = options.dashboard === false ? null : await registerDashboard(app, options.dashboardRoot);
  app.setNotFoundHandler((request, reply) =>
    dashboard?.wants(request)
      ? dashboard.send(reply)
      : reply
          .status(404)
          .header('x-request-id', request.id)
          .send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`)),
  );

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Stageline management API',
        version: options.version ?? VERSION,
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
    if (log) {
      api.setChildLoggerFactory((_logger, bindings) => log.child(bindings));
      api.addHook('onResponse', (request, reply, done) => {
        request.log.info({ method: request.method, url: request.url.split('?')[0], statusCode: reply.statusCode, responseTime: reply.elapsedTime }, 'request completed');
        done();
      });
    }
    api.addHook('onRequest', (request, reply, done) => {
      reply.header('x-request-id', request.id);
      done();
    });
    await managementCors(api, options.corsOrigins ?? []);
    api.get('/healthz', { schema: healthzSchema }, async (_request, reply) => {
      return (await isHealthy(options.deps)) ? { status: 'ok' } : reply.status(503).send({ status: 'unavailable' });
    });
    api.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    registerAuth(api, options.deps);
    workspaceRoutes(api, options.deps);
    environmentRoutes(api, options.deps);
    resourceRoutes(api, options.deps);
    resourceViewRoutes(api, options.deps, options.runtime);
    releaseRoutes(api, options.deps);
    auditRoutes(api, options.deps);
    activityRoutes(api, options.deps);
    variableRoutes(api, options.deps);
    secretRoutes(api, options.deps);
    settingRoutes(api, options.deps);
    apiKeyRoutes(api, options.deps);
    peopleRoutes(api, options.deps, options.runtime.logins);
    freezeRoutes(api, options.deps);
    dataRoutes(api, options.deps);
    dataCollectionRoutes(api, options.deps);
    testRunRoutes(api, options.deps, options.runtime);
    recipientTokenSecretRoutes(api, options.deps);
    memberPreferenceRoutes(api, options.deps);
    watchRoutes(api, options.deps);
    alertRoutes(api, options.deps);
    eventRoutes(api, options.deps);
    gateRoutes(api, options.deps);
    analyticsRoutes(api, options.deps, options.runtime);
    matrixRoutes(api, options.deps);
    changeStreamRoutes(api, options.deps, options.runtime);
    validationRoutes(api, options.deps);
  });
  // The runtime API: every /v1 route behind one API key hook (src/http/key-auth.ts).
  await app.register(async (v1) => {
    if (log) {
      // Warnings and errors only, through one child made once (no per-request logger).
      const quiet = log.child({ scope: 'runtime' }, { level: quieter(log.level, 'warn') });
      v1.setChildLoggerFactory(() => quiet);
    }
    requireApiKey(v1, options.runtime);
    await v1.register(async (x) => deliveryRoutes(x, options.runtime));
    await v1.register(async (x) => feedRoutes(x, options.runtime, options.deps));
    await v1.register(async (x) => preferenceRoutes(x, options.runtime, options.deps));
    await v1.register(async (x) => toolRoutes(x, options.runtime, options.deps));
    await v1.register(async (x) => runtimeDataRoutes(x, options.deps));
    await v1.register(async (x) => workflowRoutes(x, options.runtime, options.deps));
    await v1.register(async (x) => ofrepRoutes(x, options.runtime, options.deps));
  });
  // One-click unsubscribe: no API key, its own signed link (RFC 8058), its own form parsers.
  await app.register(async (x) => {
    if (log) {
      const quiet = log.child({ scope: 'unsubscribe' }, { level: quieter(log.level, 'warn') });
      x.setChildLoggerFactory(() => quiet);
    }
    unsubscribeRoutes(x, options.deps);
  });
  await app.register(runtimePreflight, { prefix: '/v1' });
  await app.register(runtimePreflight, { prefix: '/ofrep' });

  return app;
}

/** The less verbose of two pino levels. */
function quieter(level: string, floor: string): string {
  const order = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  return order.indexOf(level) > order.indexOf(floor) ? level : floor;
}
