// Feature flags for the OpenFeature Remote Evaluation Protocol: the `config` resources a runtime
// key sees, read from its delivery view (plus the switched-off ones), evaluated with the SDK's flag model.
import { evaluateFlag, type FlagJson, type FlagReason } from '@stageline/client';
import { StaleKeyError, type StagelineError } from '../domain/errors.js';
import { deliveredEntry, resolveResource } from '../domain/resolution/resolve.js';
import type { EnvironmentView, ViewScope } from '../runtime/delivery-cache.js';
import type { Resolver } from '../runtime/resolver.js';
import { getContents } from '../store/releases.js';
import type { Deps } from './context.js';

/** A flag as the key's environment holds it: resolved content, or why it cannot be resolved now. */
export type Flag =
  | { key: string; content: unknown; hash: string; disabled: boolean }
  | { key: string; error: StagelineError };

export type FlagAnswer =
  | { status: 200; body: { key: string; value: FlagJson; reason: FlagReason; variant: string; metadata: { hash: string } } }
  | { status: 400 | 404; body: { key: string; errorCode: 'FLAG_NOT_FOUND' | 'INVALID_CONTEXT' | 'PARSE_ERROR' | 'GENERAL'; errorDetails: string } };

const CONFIG = 'config/';

/** The flags of each delivery view, made once per view: a change event drops the view and them with it. */
export class FlagSets {
  private readonly sets = new WeakMap<EnvironmentView, Promise<Map<string, Flag>>>();

  constructor(
    private readonly deps: Deps,
    private readonly resolver: Resolver,
  ) {}

  of(view: EnvironmentView, scope: ViewScope): Promise<Map<string, Flag>> {
    let set = this.sets.get(view);
    if (!set) {
      set = this.build(view, scope);
      this.sets.set(view, set);
      set.catch(() => this.sets.delete(view));
    }
    return set;
  }

  private async build(view: EnvironmentView, scope: ViewScope): Promise<Map<string, Flag>> {
    const flags = new Map<string, Flag>();
    for (const [id, entry] of view.resources) {
      if (!id.startsWith(CONFIG)) continue;
      const key = id.slice(CONFIG.length);
      if ('body' in entry) {
        const resource = JSON.parse(entry.body.toString()) as { content: unknown; hash: string };
        flags.set(key, { key, content: resource.content, hash: resource.hash, disabled: false });
      } else {
        flags.set(key, { key, error: entry });
      }
    }
    for (const flag of await this.switchedOff(scope)) flags.set(flag.key, flag);
    return new Map([...flags].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /**
   * The delivery view leaves switched-off resources out; a switched-off flag still answers (its
   * default, reason DISABLED), so these are resolved as if on, through the same rule and with
   * the same visibility (a publishable key sees public configs only).
   */
  private async switchedOff(scope: ViewScope): Promise<Flag[]> {
    const state = await this.resolver.environment(scope.workspaceId, scope.environmentId);
    if (!state) throw new StaleKeyError('environment');
    const ids = state.committed.ids().filter((id) => id.startsWith(CONFIG) && !state.isActive('config', id.slice(CONFIG.length)));
    if (ids.length === 0) return [];
    const hashes = ids.map((id) => state.committed.hashOf('config', id.slice(CONFIG.length))!);
    const [contents, renderScope] = await Promise.all([getContents(this.deps.store.db, scope.workspaceId, hashes), state.scope(scope.kind === 'secret')]);
    const place = { environment: state.environment.slug, version: state.committed.version };
    const flags: Flag[] = [];
    ids.forEach((id, i) => {
      const key = id.slice(CONFIG.length);
      const resolution = resolveResource('config', key, { hash: hashes[i], content: contents.get(hashes[i]!), override: state.stateOf('config', key).override, active: true }, place);
      const entry = deliveredEntry(resolution, scope.kind, renderScope);
      if (!entry) return;
      flags.push(entry.ok ? { key, content: entry.resource.content, hash: entry.resource.hash, disabled: true } : { key, error: entry.error });
    });
    return flags;
  }
}

/** One flag's OFREP answer for `context`; `flag` undefined when the key sees no such config. */
export function evaluate(key: string, flag: Flag | undefined, context: unknown): FlagAnswer {
  if (!flag) return { status: 404, body: { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `no flag ${key} in this environment` } };
  if ('error' in flag) return { status: 400, body: { key, errorCode: 'GENERAL', errorDetails: flag.error.message } };
  const result = evaluateFlag(key, flag.content, context, { disabled: flag.disabled });
  if (!result.ok) return { status: 400, body: { key, errorCode: result.errorCode, errorDetails: result.message } };
  return { status: 200, body: { key, value: result.value, reason: result.reason, variant: result.variant, metadata: { hash: flag.hash } } };
}
