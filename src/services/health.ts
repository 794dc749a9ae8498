// Readiness of a node: it serves only while its database answers.
import { ping } from '../store/database.js';
import type { Deps } from './context.js';

export async function isHealthy(deps: Deps): Promise<boolean> {
  try {
    await ping(deps.store);
    return true;
  } catch {
    return false;
  }
}
