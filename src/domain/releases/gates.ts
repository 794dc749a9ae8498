// The rules of promotion gates: what state each gate of a promotion request is in (approvals,
// CI checks of the source release, checklist items, soak time, a hold), and what that means.
// Names are any strings (`__proto__` included): everything here keys by Map, never by object.

export type CheckStatus = 'pending' | 'success' | 'failure';
export type GateState = 'pending' | 'passed' | 'failed';

export interface Gate {
  type: 'approvals' | 'check' | 'checklist' | 'soak' | 'hold';
  name: string;
  state: GateState;
  detail: string;
}

/** What an environment's gates ask of a promotion into it. */
export interface GateRules {
  checks: string[];
  checklist: string[];
  soakMinutes: number;
}

/** One CI report on a release; `seq` orders the reports of a release. */
export interface CheckReport {
  name: string;
  status: CheckStatus;
  seq: number;
  url: string | null;
  summary: string | null;
}

/** How long the source release has run in the source environment, and whether an alert fired there. */
export interface SoakFacts {
  /** When the release became the source's head. */
  since: string;
  /** When a later release replaced it there, or null while it is the head. */
  replacedAt: string | null;
  /** An alert of the source environment fired (or is firing) since `since`. */
  alerted: boolean;
}

export interface GateFacts {
  approvals: { required: number; given: number };
  /** Every report on the source release, in any order. */
  checks: CheckReport[];
  /** The latest tick of each checklist item by item text. */
  ticks: ReadonlyMap<string, { done: boolean; by: string }>;
  soak: SoakFacts | null;
  hold: { reason: string } | null;
  now: Date;
}

/** An environment with no checks, no checklist and no soak time promotes as it did before gates. */
export function isGated(rules: GateRules | null): boolean {
  return rules !== null && (rules.checks.length > 0 || rules.checklist.length > 0 || rules.soakMinutes > 0);
}

/** The state of each check name: its report with the highest seq. */
export function latestChecks<T extends CheckReport>(reports: T[]): Map<string, T> {
  const latest = new Map<string, T>();
  for (const report of reports) {
    const seen = latest.get(report.name);
    if (!seen || report.seq > seen.seq) latest.set(report.name, report);
  }
  return latest;
}

/**
 * Soak passes once the release has run `minutes` in the source with no alert there; it fails
 * when an alert fired meanwhile or a later release replaced it before its time was up.
 */
export function soakGate(minutes: number, facts: SoakFacts, now: Date): Gate {
  const name = `${minutes} min`;
  if (facts.alerted) return { type: 'soak', name, state: 'failed', detail: 'an alert fired in the source environment since the release went there' };
  const start = Date.parse(facts.since);
  const end = facts.replacedAt !== null ? Date.parse(facts.replacedAt) : now.getTime();
  const ran = Math.max(0, end - start);
  if (ran >= minutes * 60_000) return { type: 'soak', name, state: 'passed', detail: `ran ${Math.floor(ran / 60_000)} min in the source with no alert` };
  if (facts.replacedAt !== null) return { type: 'soak', name, state: 'failed', detail: `replaced in the source after ${Math.floor(ran / 60_000)} min, before its soak time` };
  const left = Math.ceil((minutes * 60_000 - ran) / 1000);
  return { type: 'soak', name, state: 'pending', detail: `${left} s of soak time left (until ${new Date(start + minutes * 60_000).toISOString()})` };
}

/** Every gate of a request in a fixed order: approvals, checks, checklist, soak, hold. */
export function evaluateGates(rules: GateRules | null, facts: GateFacts): Gate[] {
  const gates: Gate[] = [];
  const { required, given } = facts.approvals;
  if (required > 0) {
    gates.push({ type: 'approvals', name: 'approvals', state: given >= required ? 'passed' : 'pending', detail: `${Math.min(given, required)} of ${required}` });
  }
  if (rules) {
    const latest = latestChecks(facts.checks);
    for (const name of rules.checks) {
      const report = latest.get(name);
      if (!report) gates.push({ type: 'check', name, state: 'pending', detail: 'not reported' });
      else gates.push({ type: 'check', name, state: report.status === 'success' ? 'passed' : report.status === 'failure' ? 'failed' : 'pending', detail: report.summary ?? report.status });
    }
    for (const item of rules.checklist) {
      const tick = facts.ticks.get(item);
      gates.push({ type: 'checklist', name: item, state: tick?.done ? 'passed' : 'pending', detail: tick?.done ? `ticked by ${tick.by}` : 'not ticked' });
    }
    if (rules.soakMinutes > 0 && facts.soak) gates.push(soakGate(rules.soakMinutes, facts.soak, facts.now));
  }
  if (facts.hold) gates.push({ type: 'hold', name: 'hold', state: 'pending', detail: `the environment is on hold: ${facts.hold.reason}` });
  return gates;
}

/** failed when any gate failed, passed when every gate passed (none at all passes), else pending. */
export function verdict(gates: Gate[]): GateState {
  if (gates.some((g) => g.state === 'failed')) return 'failed';
  return gates.every((g) => g.state === 'passed') ? 'passed' : 'pending';
}
