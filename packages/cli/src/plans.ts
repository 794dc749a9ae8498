// What the release commands share: parsing their arguments (resource lists, release numbers,
// durations), calling the API without losing a conflict's details, and rendering plans, gates
// and promotion requests as lines a person reads.
import type { components } from './api.js';
import { usageError } from './errors.js';
import { plural, type Output } from './output.js';

export type Release = components['schemas']['Release'];
/** A plan as a dry run answers it (requests hold the bare plan, without the extra fields). */
export type DryRun = components['schemas']['DryRunPlan'];
export type Plan = components['schemas']['PromotionPlan'] & Partial<Omit<DryRun, keyof components['schemas']['PromotionPlan']>>;
export type Gate = components['schemas']['Gate'];
export type Hold = components['schemas']['Hold'];
export type PromotionRequest = components['schemas']['PromotionRequest'];
export type RequestResult = components['schemas']['PromotionRequestResult'];

/** How many resource lines a plan prints before it only counts (all of them with --verbose). */
export const PLAN_LINES = 50;

/** `config/a,route/b` (repeatable) → ["config/a", "route/b"]. */
export function parseResources(value: string, previous: string[] = []): string[] {
  const ids = value.split(',').map((id) => id.trim()).filter((id) => id !== '');
  for (const id of ids) if (!/^[a-z][a-z0-9_-]*\/.+$/.test(id)) throw usageError(`--resources: "${id}" is not kind/key (for example config/payments)`);
  return [...previous, ...ids];
}

export function parseNumber(name: string, min = 1) {
  return (value: string): number => {
    const n = Number(value.replace(/^#/, ''));
    if (!Number.isInteger(n) || n < min || n > 2_147_483_647) throw usageError(`${name}: "${value}" is not a release number`);
    return n;
  };
}

/** `10m`, `1h`, `1h30m`, `90` (minutes) → whole minutes; a watch runs 1 minute to 24 hours. */
export function parseMinutes(value: string): number {
  const text = value.trim().toLowerCase();
  let minutes: number;
  if (/^\d+$/.test(text)) minutes = Number(text);
  else {
    const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
    if (!match || text === '') throw usageError(`--watch: "${value}" is not a duration (for example 10m, 1h, 1h30m)`);
    const seconds = Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
    if (seconds % 60 !== 0) throw usageError(`--watch: "${value}" must be whole minutes`);
    minutes = seconds / 60;
  }
  if (minutes < 1 || minutes > 24 * 60) throw usageError(`--watch: "${value}" must be between 1m and 24h`);
  return minutes;
}

/** "3m05s" */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m${rest}s` : `${m}m${rest}s`;
}

/**
 * Like Connection.call, but a conflict keeps what the server said about it (the gates still
 * pending, the references missing, the hold): its details become the error's details, named.
 */
const MARK = { added: ['green', '+'], changed: ['yellow', '~'], removed: ['red', '-'] } as const;

/** "2 added, 1 changed, 0 removed" */
export function counts(summary: { added: number; changed: number; removed: number }): string {
  return `${summary.added} added, ${summary.changed} changed, ${summary.removed} removed`;
}

/** The plan of a promotion, merge or rollback: summary, resources (capped), references, gates. */
export function planLines(out: Output, plan: Plan, verbose: boolean): string[] {
  const verb = plan.kind === 'rollback' ? 'roll back' : plan.kind === 'merge' ? 'merge' : 'promote';
  const lines = [
    `${out.style('bold', `plan: ${verb} ${plan.source.name} into ${plan.target.environment}`)} (now #${plan.target.release}${plan.target.protected ? ', protected' : ''}): ${counts(plan.summary)}`,
  ];
  const shown = verbose ? plan.changes : plan.changes.slice(0, PLAN_LINES);
  for (const change of shown) {
    const [style, mark] = MARK[change.status];
    const fields = change.status === 'changed' && change.fields.length > 0 ? out.style('dim', ` (${plural(change.fields.length, 'field')})`) : '';
    lines.push(`  ${out.style(style, mark)} ${change.kind}/${change.key}${fields}`);
    if (verbose) for (const field of change.fields) lines.push(out.style('dim', `      ${field.path || '(whole document)'}`));
  }
  if (shown.length < plan.changes.length) lines.push(out.style('dim', `  … and ${plural(plan.changes.length - shown.length, 'more resource')} (--verbose lists every one)`));
  if (plan.changes.length === 0) lines.push(out.style('dim', '  no resource changes'));
  for (const missing of plan.missingReferences) {
    lines.push(`  ${out.style('red', 'missing')} ${missing.reference} (used by ${missing.resources.join(', ')})`);
  }
  if (plan.merge?.resolved.length) lines.push(`  resolutions: ${plan.merge.resolved.map((r) => `${r.resource}→${r.take}`).join(', ')}`);
  if (plan.hold) lines.push(`  ${out.style('red', 'on hold')} since ${plan.hold.since}: ${plan.hold.reason}`);
  if (plan.gates?.length) lines.push(...gateLines(out, plan.gates));
  if (plan.request) lines.push(`applying it opens a promotion request${plan.approvalsRequired ? ` needing ${plural(plan.approvalsRequired, 'approval')}` : ''}`);
  lines.push(out.style('dim', `plan ${plan.planHash}`));
  return lines;
}

const GATE_MARK = { passed: ['green', '✓'], pending: ['yellow', '…'], failed: ['red', '✗'] } as const;

/** "check ci", "checklist Smoke test done", "approvals" (not "approvals approvals"). */
function gateName(gate: Gate): string {
  return gate.type === gate.name ? gate.name : `${gate.type} ${gate.name}`;
}

export function gateLines(out: Output, gates: readonly Gate[]): string[] {
  return gates.map((gate) => {
    const [style, mark] = GATE_MARK[gate.state];
    return `  ${out.style(style, mark)} ${gateName(gate)}: ${gate.detail}`;
  });
}

/** The gates a pending request still waits for, in one phrase: "approvals 0/1, check ci pending". */
export function waitingFor(request: Pick<PromotionRequest, 'gates'>): string {
  const open = request.gates.filter((gate) => gate.state !== 'passed');
  return open.length === 0 ? 'nothing (an approval applies it)' : open.map((gate) => `${gateName(gate)} ${gate.state}`).join(', ');
}

export function requestLines(out: Output, request: PromotionRequest, verbose: boolean): string[] {
  const status = request.status === 'pending' ? out.style('yellow', request.blocked ? 'pending, blocked' : 'pending') : request.status === 'applied' ? out.style('green', 'applied') : out.style('red', request.status);
  const lines = [
    `${out.style('bold', request.id)}  ${request.kind} ${request.source.name} → ${request.environment} (#${request.targetRelease})  ${status}`,
    `requested by ${request.requestedBy.name} at ${request.createdAt}${request.message ? `: ${request.message}` : ''}`,
    `approvals ${request.approvals.length}/${request.approvalsRequired}${request.approvals.length ? ` (${request.approvals.map((a) => a.actor.name).join(', ')})` : ''}`,
  ];
  if (request.release) lines.push(`made ${request.release.name}`);
  if (request.reason) lines.push(`reason: ${request.reason}`);
  if (request.gates.length) lines.push('gates:', ...gateLines(out, request.gates));
  lines.push(...planLines(out, request.plan as Plan, verbose));
  return lines;
}
