// How a channel finds its configuration: the environment's `channel.*` setting, and the value of
// a secret it names in that same environment (never another environment's value).
import type { z } from 'zod';
import type { Environment } from '../../domain/environments/chain.js';
import { KNOWN_SETTINGS } from '../../domain/settings/settings.js';
import type { Deps } from '../../services/context.js';
import { secretValues } from '../../services/secrets.js';
import { findSetting } from '../../store/settings.js';
import { ChannelError, type ChannelName } from './types.js';

const SETTING_OF = { email: 'channel.email', webhook: 'channel.webhook', in_app: 'channel.in_app' } as const;
type SettingOf<C extends ChannelName> = z.infer<(typeof KNOWN_SETTINGS)[(typeof SETTING_OF)[C]]>;

/** The channel's setting in this environment, or undefined when it has none. */
export async function channelSetting<C extends ChannelName>(deps: Deps, env: Environment, channel: C): Promise<SettingOf<C> | undefined> {
  const name = SETTING_OF[channel];
  const row = await findSetting(deps.store.db, { workspaceId: env.workspaceId, environmentId: env.id }, name);
  if (!row) return undefined;
  // Settings are checked when written; a value stored before a schema change is re-checked here.
  const parsed = KNOWN_SETTINGS[name].safeParse(row.value);
  if (!parsed.success) {
    throw new ChannelError(channel, 'channel_misconfigured', `the ${name} setting of ${env.slug} is not valid: ${parsed.error.issues[0]?.message ?? 'invalid'}`, false, {
      setting: name,
    });
  }
  return parsed.data as SettingOf<C>;
}

/** The channel's setting in this environment; a permanent error naming it when there is none. */
export async function requiredChannelSetting<C extends ChannelName>(deps: Deps, env: Environment, channel: C): Promise<SettingOf<C>> {
  const setting = await channelSetting(deps, env, channel);
  if (setting === undefined) {
    const name = SETTING_OF[channel];
    throw new ChannelError(channel, 'channel_not_configured', `the ${channel} channel is not configured in ${env.slug}: set the ${name} setting`, false, { setting: name });
  }
  return setting;
}

/** The plaintext of one secret of this environment; a permanent error naming it when it has no value. */
export async function channelSecret(deps: Deps, env: Environment, channel: ChannelName, name: string): Promise<string> {
  const values = await secretValues(deps, deps.store.db, env);
  if (!Object.prototype.hasOwnProperty.call(values, name)) {
    throw new ChannelError(channel, 'secret_missing', `secret ${name} has no value in ${env.slug} (named by the ${SETTING_OF[channel]} setting)`, false, {
      secret: name,
      setting: SETTING_OF[channel],
    });
  }
  return values[name]!;
}
