// Settings over HTTP: unversioned per-environment documents (channels, branding, egress, CORS,
// feeds) that apply at once.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../services/context.js';
import { deleteSetting, getSetting, listSettings, putSetting } from '../../services/settings.js';
import { contextOf } from '../auth.js';
import { anyJson, envParams, errors, noContent, page, settingParams, settingWrite } from '../schemas.js';

const setting = z
  .object({
    name: z.string(),
    environment: z.string(),
    value: anyJson('the setting document; its shape depends on the name'),
    updatedBy: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Setting' });

export function settingRoutes(app: FastifyInstance, deps: Deps) {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['settings'];
  const base = '/api/workspaces/:ws/environments/:env/settings';
  const failures = errors(400, 401, 403, 404);

  api.get(
    base,
    { schema: { tags, operationId: 'listSettings', summary: "List the environment's settings", params: envParams, response: { 200: page(setting), ...failures } } },
    async (request) => listSettings(deps, await contextOf(deps, request), request.params.env),
  );

  api.get(
    `${base}/:name`,
    { schema: { tags, operationId: 'getSetting', summary: 'Read a setting', params: settingParams, response: { 200: setting, ...failures } } },
    async (request) => getSetting(deps, await contextOf(deps, request), request.params.env, request.params.name),
  );

  api.put(
    `${base}/:name`,
    {
      schema: {
        tags,
        operationId: 'setSetting',
        summary: 'Write a setting; it applies to the environment at once',
        description: '`channel.email`, `channel.webhook`, `channel.in_app`, `branding`, `egress`, `cors` and `feeds` are validated; other names take any object.',
        params: settingParams,
        body: settingWrite,
        response: { 200: setting, ...failures },
      },
    },
    async (request) => putSetting(deps, await contextOf(deps, request), request.params.env, request.params.name, request.body.value),
  );

  api.delete(
    `${base}/:name`,
    { schema: { tags, operationId: 'deleteSetting', summary: 'Delete a setting', params: settingParams, response: { 204: noContent, ...failures } } },
    async (request, reply) => {
      await deleteSetting(deps, await contextOf(deps, request), request.params.env, request.params.name);
      return reply.status(204).send();
    },
  );
}
