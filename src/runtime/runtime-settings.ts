// The settings that runtime calls consult (`cors`, `feeds`), read once per environment and kept
// in memory until a change event says the setting changed or the environment went.
import type { Deps } from '../services/context.js';
import { knownSetting, type KnownSetting } from '../services/settings.js';
import type { ChangeFeed } from './change-feed.js';

export type RuntimeSettingName = 'cors' | 'feeds';
type Value<N extends RuntimeSettingName> = KnownSetting<N>;

interface Scope {
  workspaceId: string;
  environmentId: string;
}

export class RuntimeSettings {
  private readonly values = new Map<string, Promise<unknown>>();

  constructor(
    private readonly deps: Deps,
    feed: ChangeFeed,
  ) {
    feed.subscribe((event) => {
      if (event.type === 'setting' && typeof event.payload.name === 'string') this.values.delete(`${event.environmentId}/${event.payload.name}`);
      else if (event.type === 'environment' && event.payload.deleted === true) for (const key of this.values.keys()) if (key.startsWith(`${event.environmentId}/`)) this.values.delete(key);
    });
  }

  /**
   * The environment's setting, or undefined when it has none (or holds a value stored before
   * its schema, which is treated as none). The caller follows the workspace's change feed.
   */
  get<N extends RuntimeSettingName>(scope: Scope, name: N): Promise<Value<N> | undefined> {
    const key = `${scope.environmentId}/${name}`;
    let value = this.values.get(key);
    if (!value) {
      value = knownSetting(this.deps.store.db, scope, name);
      value.catch(() => this.values.get(key) === value && this.values.delete(key));
      this.values.set(key, value);
    }
    return value as Promise<Value<N> | undefined>;
  }
}
