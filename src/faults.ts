// Fault injection for the reliability battery (reliability/): named points inside commit,
// promotion, rollback, branch merge, snapshot GC, job claims and the audit write, where a test
// build can make the process die (SIGKILL, as `kill -9` would) or the operation fail.
//
// `STAGELINE_FAULTS` names the points, comma-separated: `point[:mode][@hit]`, mode `kill` (the
// default) or `throw`, hit the 1-based pass through the point that fires (default the first).
// It is honoured only when NODE_ENV is `test`: a production process ignores it, and a point costs
// one comparison against null when no fault is armed.
import { writeSync } from 'node:fs';

export type FaultMode = 'kill' | 'throw';

interface ArmedFault {
  mode: FaultMode;
  hit: number;
  seen: number;
}

/** Thrown at a point armed with `throw`: an ordinary error, so the operation fails as a bug would make it. */
export class InjectedFault extends Error {
  constructor(readonly point: string) {
    super(`injected fault at ${point}`);
    this.name = 'InjectedFault';
  }
}

let armed: Map<string, ArmedFault> | null = null;

/** Parses a STAGELINE_FAULTS value; throws on a malformed entry (a test that names a point wrong should not pass). */
export function parseFaults(spec: string): Map<string, ArmedFault> {
  const faults = new Map<string, ArmedFault>();
  for (const raw of spec.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const match = /^([a-z0-9][a-z0-9.-]*)(?::(kill|throw))?(?:@([1-9][0-9]*))?$/.exec(entry);
    if (!match) throw new Error(`STAGELINE_FAULTS: "${entry}" is not point[:kill|throw][@hit]`);
    faults.set(match[1]!, { mode: (match[2] as FaultMode | undefined) ?? 'kill', hit: match[3] ? Number(match[3]) : 1, seen: 0 });
  }
  return faults;
}

/** Arms the faults a spec names (replacing any armed before); null or '' disarms. For in-process tests. */
export function setFaults(spec: string | null): void {
  const parsed = spec ? parseFaults(spec) : null;
  armed = parsed && parsed.size > 0 ? parsed : null;
}

/** Arms STAGELINE_FAULTS when NODE_ENV is `test`; returns the armed point names (for a start-up warning). */
export function armFaultsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.NODE_ENV !== 'test' || !env.STAGELINE_FAULTS) return [];
  setFaults(env.STAGELINE_FAULTS);
  return armed ? [...armed.keys()] : [];
}

/** A named fault point: nothing unless armed; armed, it kills the process or throws at its hit. */
export function faultPoint(point: string): void {
  if (armed === null) return;
  const fault = armed.get(point);
  if (!fault) return;
  fault.seen += 1;
  if (fault.seen !== fault.hit) return;
  if (fault.mode === 'throw') throw new InjectedFault(point);
  // Written straight to the descriptor: the reliability runner reads it to know the point was reached.
  try {
    writeSync(2, `stageline: fault point ${point} reached, killing the process\n`);
  } catch {
    // stderr may be closed; the kill is what matters.
  }
  process.kill(process.pid, 'SIGKILL');
}
