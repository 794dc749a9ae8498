// requests, approve, reject and checks: deciding promotion requests (approving the plan that was
// read, never a newer one) and the CI checks that gate promotions. A request still waiting after a
// decision, or blocked by its gates, ends with exit 3 and says what it waits for.
import type { Command } from 'commander';
import { send, connect } from '../api.js';
import type { Context } from '../context.js';
import { EXIT, usageError } from '../errors.js';
import { parseNumber, requestLines, waitingFor, type PromotionRequest } from '../plans.js';
import { action, examples } from '../program.js';
import { envOf } from './releases.js';

const STATUSES = ['pending', 'applied', 'rejected', 'stale'] as const;
const CHECK_STATUSES = ['pending', 'success', 'failure'] as const;

export function registerApprovals(program: Command): void {
  const requests = examples(
    program
      .command('requests')
      .description('list promotion requests, newest first (`requests show <id>` for one with its plan and gates)')
      .option('-e, --env <env>', 'only requests into this environment')
      .option('--status <status>', `only requests in this state (${STATUSES.join(', ')}); default pending, "all" for every one`, 'pending')
      .option('--limit <n>', 'how many (1-200)', parseNumber('--limit'), 50)
      .action(action(listRequests)),
    ['stageline requests', 'stageline requests --env production --status all', 'stageline requests show pr_3f2a… --json'],
  );
  examples(
    requests
      .command('show <id>')
      .description('one promotion request: its plan, approvals and gates')
      .option('--verbose', 'every resource and field of the plan')
      .action(action(showRequest)),
    ['stageline requests show pr_3f2a…', 'stageline requests show pr_3f2a… --verbose'],
  );

  examples(
    program
      .command('approve <id>')
      .description('approve a pending promotion request as it was read (its plan hash is sent: a changed plan is refused); exit 3 while it still waits')
      .option('--comment <text>', 'a comment kept with the approval')
      .option('--break-glass <reason>', 'apply into a frozen environment (owner or admin)')
      .action(action(approve)),
    ['stageline approve pr_3f2a…', 'stageline approve pr_3f2a… --comment "checked the diff with Ada"'],
  );

  examples(
    program
      .command('reject <id>')
      .description('reject a pending promotion request, with a reason')
      .requiredOption('--reason <text>', 'why (kept on the request and in the audit log)')
      .action(action(reject)),
    ['stageline reject pr_3f2a… --reason "wrong PSP URL"'],
  );

  const checks = program.command('checks').description("CI checks on a release: what an environment's check gates wait for");
  examples(
    checks
      .command('report')
      .description('report a CI check on a release (the latest report of a name is its state); a success can apply the requests waiting for it')
      .option('-e, --env <env>', 'the environment of the release (the source of the promotion it gates; default: stageline.json "env", else development)')
      .requiredOption('--release <n>', 'the release number', parseNumber('--release'))
      .requiredOption('--name <check>', "the check's name, as the gates list it")
      .requiredOption('--status <status>', CHECK_STATUSES.join(' | '))
      .option('--details-url <url>', "the CI run's page (sent as the check's url)")
      .option('--summary <text>', 'one line on the outcome')
      .action(action(reportCheck)),
    [
      'stageline checks report --env development --release 42 --name ci --status pending --details-url "$RUN_URL"',
      'stageline checks report --env development --release 42 --name ci --status success --summary "312 tests passed"',
    ],
  );
  examples(
    checks
      .command('list')
      .description('the checks reported on a release: the latest of each name')
      .option('-e, --env <env>', 'the environment of the release (default: stageline.json "env", else development)')
      .requiredOption('--release <n>', 'the release number', parseNumber('--release'))
      .action(action(listChecks)),
    ['stageline checks list --env development --release 42'],
  );
}

interface ListOptions {
  env?: string;
  status: string;
  limit: number;
}

async function listRequests(ctx: Context, options: ListOptions): Promise<void> {
  if (options.status !== 'all' && !(STATUSES as readonly string[]).includes(options.status)) throw usageError(`--status: one of ${STATUSES.join(', ')}, all`);
  if (options.limit > 200) throw usageError('--limit: at most 200');
  const conn = connect(ctx);
  const query = {
    limit: options.limit,
    ...(options.status !== 'all' ? { status: options.status as (typeof STATUSES)[number] } : {}),
    ...(options.env ? { environment: options.env } : {}),
  };
  const page = await send(ctx, conn.api.GET('/api/workspaces/{ws}/promotion-requests', { params: { path: conn.ws(), query } }));
  ctx.out.result(page, (p) =>
    p.data.length === 0
      ? `no ${options.status === 'all' ? '' : `${options.status} `}promotion requests${options.env ? ` into ${options.env}` : ''}`
      : ctx.out.table(p.data, [
          { header: 'ID', value: (r) => r.id },
          { header: 'KIND', value: (r) => r.kind },
          { header: 'FROM', value: (r) => r.source.name },
          { header: 'TO', value: (r) => `${r.environment}#${r.targetRelease}` },
          { header: 'STATUS', value: (r) => (r.status === 'pending' && r.blocked ? 'blocked' : r.status) },
          { header: 'APPROVALS', value: (r) => `${r.approvals.length}/${r.approvalsRequired}` },
          { header: 'WAITS FOR', value: (r) => (r.status === 'pending' ? waitingFor(r) : '') },
          { header: 'BY', value: (r) => r.requestedBy.name },
        ]),
  );
}

async function readRequest(ctx: Context, id: string): Promise<PromotionRequest> {
  const conn = connect(ctx);
  return send(ctx, conn.api.GET('/api/workspaces/{ws}/promotion-requests/{id}', { params: { path: conn.ws({ id }) } }));
}

async function showRequest(ctx: Context, id: string, options: { verbose?: boolean }): Promise<void> {
  const request = await readRequest(ctx, id);
  ctx.out.result(request, (r) => requestLines(ctx.out, r, options.verbose === true));
}

async function approve(ctx: Context, id: string, options: { comment?: string; breakGlass?: string }): Promise<void> {
  // The plan approved is the plan read: the server refuses the approval if the request moved on.
  const seen = await readRequest(ctx, id);
  const conn = connect(ctx);
  const body = {
    planHash: seen.planHash,
    ...(options.comment ? { comment: options.comment } : {}),
    ...(options.breakGlass ? { breakGlass: { reason: options.breakGlass } } : {}),
  };
  const result = await send(ctx, conn.api.POST('/api/workspaces/{ws}/promotion-requests/{id}/approve', { params: { path: conn.ws({ id }) }, body }));
  const { request, release } = result;
  if (release) {
    ctx.out.result(result, () => `${ctx.out.style('green', '✓')} approved ${request.id}: applied as ${ctx.out.style('bold', release.name)}`);
    return;
  }
  ctx.out.result(result, () => [
    `${ctx.out.style('yellow', '…')} approved ${request.id} (${request.approvals.length}/${request.approvalsRequired}); it still waits for: ${waitingFor(request)}`,
    ...(request.blocked ? [`  blocked: a gate failed; it applies only once that gate passes again`] : []),
  ]);
  process.exitCode = EXIT.conflict;
}

async function reject(ctx: Context, id: string, options: { reason: string }): Promise<void> {
  const conn = connect(ctx);
  const request = await send(ctx, conn.api.POST('/api/workspaces/{ws}/promotion-requests/{id}/reject', { params: { path: conn.ws({ id }) }, body: { reason: options.reason } }));
  ctx.out.result(request, (r) => `${ctx.out.style('red', '✗')} rejected ${r.id} (${r.source.name} → ${r.environment})`);
}

interface ReportOptions {
  env?: string;
  release: number;
  name: string;
  status: string;
  detailsUrl?: string;
  summary?: string;
}

async function reportCheck(ctx: Context, options: ReportOptions): Promise<void> {
  if (!(CHECK_STATUSES as readonly string[]).includes(options.status)) throw usageError(`--status: one of ${CHECK_STATUSES.join(', ')}`);
  const conn = connect(ctx);
  const env = envOf(ctx, options.env);
  const body = {
    name: options.name,
    status: options.status as (typeof CHECK_STATUSES)[number],
    ...(options.detailsUrl ? { url: options.detailsUrl } : {}),
    ...(options.summary ? { summary: options.summary } : {}),
  };
  const check = await send(ctx, conn.api.POST('/api/workspaces/{ws}/environments/{env}/releases/{number}/checks', { params: { path: conn.ws({ env, number: options.release }) }, body }));
  const mark = check.status === 'success' ? ctx.out.style('green', '✓') : check.status === 'failure' ? ctx.out.style('red', '✗') : ctx.out.style('yellow', '…');
  ctx.out.result(check, (c) => [
    `${mark} check ${c.name} ${c.status} on ${c.environment}#${c.release}`,
    ...c.applied.map((a) => `  applied promotion request ${a.request} as ${a.release}`),
  ]);
}

async function listChecks(ctx: Context, options: { env?: string; release: number }): Promise<void> {
  const conn = connect(ctx);
  const env = envOf(ctx, options.env);
  const checks = await send(ctx, conn.api.GET('/api/workspaces/{ws}/environments/{env}/releases/{number}/checks', { params: { path: conn.ws({ env, number: options.release }) } }));
  ctx.out.result(checks, (c) =>
    c.data.length === 0
      ? `no checks reported on ${env}#${options.release}`
      : ctx.out.table(c.data, [
          { header: 'CHECK', value: (r) => r.name },
          { header: 'STATUS', value: (r) => r.status },
          { header: 'BY', value: (r) => r.reportedBy.name },
          { header: 'AT', value: (r) => r.at.replace('T', ' ').slice(0, 19) },
          { header: 'URL', value: (r) => r.url },
          { header: 'SUMMARY', value: (r) => r.summary },
        ]),
  );
}
