// `@stageline/openfeature/web`: an OpenFeature web provider that loads the environment's public
// configs once (a publishable key) and evaluates them synchronously for the page's context.
import {
  OpenFeatureEventEmitter,
  ProviderEvents,
  type EvaluationContext,
  type JsonValue,
  type Provider,
  type ProviderMetadata,
  type ResolutionDetails,
} from '@openfeature/web-sdk';
import { FlagSource, type FlagType, type StagelineProviderOptions } from './flag-source.js';

export type { StagelineProviderOptions } from './flag-source.js';

/**
 * The flags' content is read at initialize and kept current by the change stream, so a new
 * context (onContextChange) needs no request: evaluation is local and synchronous. Events and
 * the STALE reason as in the server provider.
 */
export class StagelineWebProvider implements Provider {
  readonly metadata: ProviderMetadata = { name: 'Stageline' };
  readonly runsOn = 'client';
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

  /** Evaluation is local: a new context is answered from the flags already loaded. */
  onContextChange(): void {}

  async onClose(): Promise<void> {
    this.source.close();
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): ResolutionDetails<boolean> {
    return this.resolve(flagKey, 'boolean', defaultValue, context);
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): ResolutionDetails<string> {
    return this.resolve(flagKey, 'string', defaultValue, context);
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): ResolutionDetails<number> {
    return this.resolve(flagKey, 'number', defaultValue, context);
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): ResolutionDetails<T> {
    return this.resolve(flagKey, 'object', defaultValue, context);
  }

  private resolve<T>(flagKey: string, type: FlagType, defaultValue: T, context: EvaluationContext): ResolutionDetails<T> {
    return this.source.resolve(flagKey, type, defaultValue, context) as ResolutionDetails<T>;
  }
}
