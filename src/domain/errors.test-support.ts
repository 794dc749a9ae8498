// Shared by the domain's unit tests; not part of the build.
import { StagelineError } from './errors.js';

/** Runs `action`, expecting a StagelineError, and returns it. */
export function caught(action: () => unknown): StagelineError {
  try {
    action();
  } catch (error) {
    if (error instanceof StagelineError) return error;
    throw error;
  }
  throw new Error('expected a StagelineError, nothing was thrown');
}
