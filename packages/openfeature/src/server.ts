// `@stageline/openfeature/server`: an OpenFeature server provider that reads an environment's
// configs as flags through @stageline/client and evaluates them in process.
import {
  OpenFeatureEventEmitter,
  ProviderEvents,
  type EvaluationContext,
  type JsonValue,
  type Provider,
  type ProviderMetadata,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import { FlagSource, type FlagType, type StagelineProviderOptions } from './flag-source.js';

export type { StagelineProviderOptions } from './flag-source.js';

/**
 * Flags are `config` resources of the API key's environment (the mapping is in
 * docs/openfeature.md). Every change of the environment emits ConfigurationChanged with the
 * flags that changed; while Stageline is unreachable the provider answers its last-known-good
 * values with reason STALE and emits Stale, then Ready when it answers again.
 */
export class StagelineProvider implements Provider {
  readonly metadata: ProviderMetadata = { name: 'Stageline' };
  readonly runsOn = 'server';
  readonly events = new OpenFeatureEventEmitter();
  private readonly source: FlagSource;

  constructor(options: StagelineProviderOptions) {
    this.source = new FlagSource(options, {
      changed: (flagsChanged) => this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged }),
      stale: (message) => this.events.emit(ProviderEvents.Stale, { message }),
      ready: () => this.events.emit(ProviderEvents.Ready, { message: 'Stageline answers again' }),
      error: (message) => this.events.emit(ProviderEvents.Error, { message }),
    });
  }

  initialize(): Promise<void> {
    return this.source.start();
  }

  async onClose(): Promise<void> {
    this.source.close();
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    return this.resolve(flagKey, 'boolean', defaultValue, context);
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>> {
    return this.resolve(flagKey, 'string', defaultValue, context);
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): Promise<ResolutionDetails<number>> {
    return this.resolve(flagKey, 'number', defaultValue, context);
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): Promise<ResolutionDetails<T>> {
    return this.resolve(flagKey, 'object', defaultValue, context);
  }

  private async resolve<T>(flagKey: string, type: FlagType, defaultValue: T, context: EvaluationContext): Promise<ResolutionDetails<T>> {
    return this.source.resolve(flagKey, type, defaultValue, context) as ResolutionDetails<T>;
  }
}
