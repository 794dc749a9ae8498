// commit, promote, rollback and releases: making an environment's releases and reading them. A
// promotion waiting for approval, and every conflict the server reports, end with exit 3.
import type { Command } from 'commander';
import { send, connect, type components } from '../api.js';
import type { Context } from '../context.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { plural } from '../output.js';
import { counts, duration, parseMinutes, parseNumber, parseResources, planLines, waitingFor, type DryRun, type Plan, type Release, type RequestResult } from '../plans.js';
import { action, examples } from '../program.js';
import { promptLine } from '../prompt.js';

type Watch = components['schemas']['Watch'];
type ReleaseDetail = components['schemas']['ReleaseDetail'];
/** How a watch ended; a later release replacing ours before we read its end is `superseded` too. */
type Verdict = Watch | { environment: string; release: number; status: 'superseded'; reason: string; figures?: undefined };

const DEFAULT_ENV = 'development';
/** How often `--watch` reads the watch (STAGELINE_WATCH_POLL_MS overrides, for tests). */
const WATCH_POLL_MS = 5_000;

/** The environment of commands whose `--env` defaults to stageline.json's `env`, then development. */
export function envOf(ctx: Context, flag: string | undefined): string {
  return flag ?? ctx.project.env ?? DEFAULT_ENV;
}

export function registerReleases(program: Command): void {
  examples(
    program
      .command('commit')
      .description("commit an editable environment's drafts (all, or the ones named) into a new release")
      .option('-e, --env <env>', 'the editable environment (default: stageline.json "env", else development)')
      .requiredOption('-m, --message <message>', 'what the release changes')
      .option('--resources <ids>', 'commit only these drafts: kind/key, comma-separated or repeated', parseResources)
      .action(action(commit)),
    ['stageline commit -m "Checkout URL for the new PSP"', 'stageline commit --env feature-psp -m "Retry policy" --resources config/payments,route/payments', 'stageline commit -m "…" --json | jq .number'],
  );

  examples(
    program
      .command('promote')
      .description('promote a release along the chain into --to (or merge a branch into its parent); exit 3 when it waits for approval or conflicts')
      .requiredOption('--to <env>', 'the target environment')
      .option('--from <env>', 'the source (default: the environment before --to in the chain, or the branch being merged)')
      .option('--release <n>', "the source's release to promote (default: its current one)", parseNumber('--release'))
      .option('--resources <ids>', 'promote only these resources: kind/key, comma-separated or repeated', parseResources)
      .option('--dry-run', 'print the plan (per resource added, changed, removed; references; gates) and write nothing')
      .option('-m, --message <message>', 'the release message')
      .option('--watch <duration>', "after it applies, watch the target's figures for this long (10m, 1h) and roll back on a breach; waits for the verdict", parseMinutes)
      .option('--expected-release <n>', 'refuse (exit 3) unless the target is still at this release', parseNumber('--expected-release', 0))
      .option('--force', 'promote even when the target lacks variables or secrets the resources use')
      .option('--break-glass <reason>', 'promote into a frozen environment (owner or admin), with the reason recorded')
      .option('--verbose', 'list every resource of the plan and its fields (by default the plan stops after 50 resources)')
      .action(action(promote)),
    [
      'stageline promote --to staging',
      'stageline promote --to production --dry-run',
      'stageline promote --to production -m "v2.3" --watch 10m',
      'stageline promote --to staging --resources config/payments --expected-release 41',
      'stageline promote --from feature-psp --to development   # merge a branch',
    ],
  );

  examples(
    program
      .command('rollback')
      .description("roll an environment back to an earlier release (a new release pointing at that release's snapshot; nothing is copied)")
      .requiredOption('-e, --env <env>', 'the environment to roll back')
      .requiredOption('--to <release>', 'the earlier release number', parseNumber('--to'))
      .option('--dry-run', 'print the per-resource diff the rollback would apply and write nothing')
      .option('-m, --message <message>', 'why')
      .option('--expected-release <n>', 'refuse (exit 3) unless the environment is still at this release', parseNumber('--expected-release', 0))
      .option('-y, --yes', 'do not ask for confirmation (a protected environment asks on a terminal, and refuses without one)')
      .option('--break-glass <reason>', 'roll back a frozen environment (owner or admin)')
      .option('--verbose', 'list every resource and field of the diff')
      .action(action(rollback)),
    ['stageline rollback --env production --to 41 --dry-run', 'stageline rollback --env production --to 41 -m "checkout errors" --yes', 'stageline rollback --env staging --to 7'],
  );

  const releases = examples(
    program
      .command('releases')
      .description("list an environment's releases, newest first (`releases show <n>` for one with its snapshot)")
      .option('-e, --env <env>', 'the environment (default: stageline.json "env", else development)')
      .option('--limit <n>', 'how many (1-200)', parseNumber('--limit'), 20)
      .action(action(listReleases)),
    ['stageline releases --env production', 'stageline releases --env staging --limit 5 --json', 'stageline releases show 42 --env production'],
  );
  examples(
    releases
      .command('show <number>')
      .description('one release: cause, author, message and its snapshot (every resource and hash)')
      .option('-e, --env <env>', 'the environment (default: stageline.json "env", else development)')
      // `releases` takes --env too and parses it wherever it stands: read both.
      .action((number: string, options: { env?: string }, command: Command) => action(showRelease).call(command, number, { ...command.parent!.opts(), ...options }, command)),
    ['stageline releases show 42 --env production', 'stageline releases show 7 --json'],
  );
}

interface CommitOptions {
  env?: string;
  message: string;
  resources?: string[];
}

async function commit(ctx: Context, options: CommitOptions): Promise<void> {
  const conn = connect(ctx);
  const env = envOf(ctx, options.env);
  const release = await send(
    ctx,
    conn.api.POST('/api/workspaces/{ws}/environments/{env}/commits', {
      params: { path: conn.ws({ env }) },
      body: { message: options.message, ...(options.resources ? { resources: options.resources } : {}) },
    }),
  );
  ctx.out.result(release, (r) => `${ctx.out.style('green', '✓')} committed ${ctx.out.style('bold', r.name)}: ${r.changes ? counts(r.changes) : ''} (${plural(r.resourceCount, 'resource')})`);
}

interface PromoteOptions {
  to: string;
  from?: string;
  release?: number;
  resources?: string[];
  dryRun?: boolean;
  message?: string;
  watch?: number;
  expectedRelease?: number;
  force?: boolean;
  breakGlass?: string;
  verbose?: boolean;
}

async function promote(ctx: Context, options: PromoteOptions): Promise<void> {
  const conn = connect(ctx);
  const body = {
    ...(options.from ? { from: options.from } : {}),
    ...(options.release !== undefined ? { release: options.release } : {}),
    ...(options.resources ? { resources: options.resources } : {}),
    ...(options.message ? { message: options.message } : {}),
    ...(options.expectedRelease !== undefined ? { expectedRelease: options.expectedRelease } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.force ? { force: true } : {}),
    ...(options.breakGlass ? { breakGlass: { reason: options.breakGlass } } : {}),
    ...(options.watch !== undefined ? { watch: { minutes: options.watch } } : {}),
  };
  const result = (await send(ctx, conn.api.POST('/api/workspaces/{ws}/environments/{env}/promotions', { params: { path: conn.ws({ env: options.to }) }, body }))) as
    | DryRun
    | Release
    | RequestResult;

  if ('dryRun' in result) {
    ctx.out.result(result, (plan) => planLines(ctx.out, plan, options.verbose === true));
    return;
  }
  if ('request' in result && !result.release) {
    const request = result.request;
    ctx.out.result(result, () => [
      `${ctx.out.style('yellow', '…')} promotion request ${ctx.out.style('bold', request.id)} (${request.source.name} → ${request.environment}) waits for: ${waitingFor(request)}`,
      `  see it:     stageline requests show ${request.id}`,
      `  approve it: stageline approve ${request.id}${options.watch !== undefined ? '   (the watch starts when it applies)' : ''}`,
    ]);
    process.exitCode = EXIT.conflict;
    return;
  }
  const release = 'request' in result ? result.release! : result;
  if (options.watch === undefined) {
    ctx.out.result(result, () => `${ctx.out.style('green', '✓')} promoted into ${ctx.out.style('bold', release.name)} from ${release.source ?? '?'}${release.changes ? `: ${counts(release.changes)}` : ''}`);
    return;
  }
  if (!ctx.out.json) ctx.out.note(`${ctx.out.style('green', '✓')} promoted into ${release.name} from ${release.source ?? '?'}; watching it for ${options.watch}m`);
  const watch = await follow(ctx, release);
  ctx.out.result({ ...result, watch }, () => watchLines(ctx, watch));
  process.exitCode = watch.status === 'passed' ? EXIT.ok : watch.status === 'breached' ? EXIT.failure : EXIT.conflict;
}

/** Reads the target's watch until it ends; a line of time left and figures on a terminal. */
async function follow(ctx: Context, release: Release): Promise<Verdict> {
  const conn = connect(ctx);
  const poll = Number(ctx.env.STAGELINE_WATCH_POLL_MS) > 0 ? Number(ctx.env.STAGELINE_WATCH_POLL_MS) : WATCH_POLL_MS;
  const live = !ctx.out.json && ctx.out.stderr.isTTY === true;
  let failures = 0;
  for (;;) {
    let watch: Watch;
    try {
      watch = await send(ctx, conn.api.GET('/api/workspaces/{ws}/environments/{env}/watch', { params: { path: conn.ws({ env: release.environment }) } }));
      failures = 0;
    } catch (error) {
      // A node restarting mid-watch is not the watch's verdict: keep asking for a while.
      if (!(error instanceof CliError) || error.code !== 'unreachable' || ++failures > 12) throw error;
      await sleep(poll);
      continue;
    }
    // A later release's watch means ours ended superseded before we read it.
    if ((watch.release === release.number && watch.status !== 'running') || watch.release > release.number) {
      if (live) ctx.out.stderr.write('\r\u001b[2K');
      return watch.release === release.number ? watch : { environment: release.environment, release: release.number, status: 'superseded', reason: `${release.environment} moved to #${watch.release}` };
    }
    if (live && watch.release === release.number) {
      const f = watch.figures;
      const figures = f ? ` · ${f.requests.toLocaleString('en-US')} requests · errors ${(f.errorRate * 100).toFixed(2)}%${f.p95Ms !== null ? ` · p95 ${Math.round(f.p95Ms)}ms` : ''}` : ' · no figures yet';
      ctx.out.stderr.write(`\r\u001b[2Kwatching ${release.name}: ${duration(watch.secondsLeft)} left${figures}`);
    }
    await sleep(poll);
  }
}

function watchLines(ctx: Context, watch: Verdict): string[] {
  if (!('id' in watch)) return [`${ctx.out.style('yellow', '!')} watch of ${watch.environment}#${watch.release} ended superseded: ${watch.reason}`];
  const f = watch.figures;
  const figures = f ? `${f.requests.toLocaleString('en-US')} requests, errors ${(f.errorRate * 100).toFixed(2)}%${f.p95Ms !== null ? `, p95 ${Math.round(f.p95Ms)}ms` : ''}` : 'no figures';
  const name = `${watch.environment}#${watch.release}`;
  if (watch.status === 'passed') return [`${ctx.out.style('green', '✓')} watch of ${name} passed (${figures})`];
  if (watch.status === 'breached') {
    return [
      `${ctx.out.style('red', '✗')} watch of ${name} breached: ${watch.breach?.message ?? watch.reason ?? 'thresholds exceeded'} (${figures})`,
      `  rolled back${watch.rollbackRelease ? ` to ${watch.environment}#${watch.rollbackRelease}` : ''}; ${watch.environment} is on hold until a member clears it`,
    ];
  }
  return [`${ctx.out.style('yellow', '!')} watch of ${name} ended ${watch.status}${watch.reason ? `: ${watch.reason}` : ''}`];
}

interface RollbackOptions {
  env: string;
  to: number;
  dryRun?: boolean;
  message?: string;
  expectedRelease?: number;
  yes?: boolean;
  breakGlass?: string;
  verbose?: boolean;
}

async function rollback(ctx: Context, options: RollbackOptions): Promise<void> {
  const conn = connect(ctx);
  const path = { params: { path: conn.ws({ env: options.env }) } };
  const body = {
    release: options.to,
    ...(options.message ? { message: options.message } : {}),
    ...(options.expectedRelease !== undefined ? { expectedRelease: options.expectedRelease } : {}),
    ...(options.breakGlass ? { breakGlass: { reason: options.breakGlass } } : {}),
  };
  const rollbacks = '/api/workspaces/{ws}/environments/{env}/rollbacks' as const;
  if (options.dryRun) {
    const plan = (await send(ctx, conn.api.POST(rollbacks, { ...path, body: { ...body, dryRun: true } }))) as Plan;
    ctx.out.result(plan, (p) => planLines(ctx.out, p, options.verbose === true));
    return;
  }
  if (!options.yes) {
    const env = await send(ctx, conn.api.GET('/api/workspaces/{ws}/environments/{env}', path));
    if (env.protected) await confirm(ctx, `roll ${env.slug} back from #${env.release} to #${options.to}?`);
  }
  const result = (await send(ctx, conn.api.POST(rollbacks, { ...path, body }))) as Release | RequestResult;
  if ('request' in result) {
    const request = result.request;
    ctx.out.result(result, () => [
      `${ctx.out.style('yellow', '…')} rollback request ${ctx.out.style('bold', request.id)} (${request.environment} to #${options.to}) waits for: ${waitingFor(request)}`,
      `  approve it: stageline approve ${request.id}`,
    ]);
    process.exitCode = EXIT.conflict;
    return;
  }
  ctx.out.result(result, (r) => `${ctx.out.style('green', '✓')} rolled ${r.environment} back to #${r.rolledBackTo ?? options.to}: now ${ctx.out.style('bold', r.name)}`);
}

/** A yes on a terminal; without one the caller must say --yes (exit 2). */
async function confirm(ctx: Context, question: string): Promise<void> {
  if (!process.stdin.isTTY) throw usageError(`${question.replace(/\?$/, '')}: a protected environment; no terminal to confirm on, so pass --yes`);
  const answer = (await promptLine(`${question} [y/N] `)).toLowerCase();
  if (answer !== 'y' && answer !== 'yes') throw new CliError('cancelled: nothing was rolled back');
}

interface ListOptions {
  env?: string;
  limit: number;
}

async function listReleases(ctx: Context, options: ListOptions): Promise<void> {
  const conn = connect(ctx);
  const env = envOf(ctx, options.env);
  if (options.limit > 200) throw usageError('--limit: at most 200');
  const page = await send(
    ctx,
    conn.api.GET('/api/workspaces/{ws}/environments/{env}/releases', { params: { path: conn.ws({ env }), query: { limit: options.limit } } }),
  );
  ctx.out.result(page, (p) =>
    p.data.length === 0
      ? `${env} has no release yet`
      : ctx.out.table(p.data, [
          { header: 'RELEASE', value: (r) => `${r.current ? '*' : ' '}${r.name}` },
          { header: 'CAUSE', value: (r) => (r.cause === 'rollback' ? `rollback to #${r.rolledBackTo}` : r.source ? `${r.cause} of ${r.source}` : r.cause) },
          { header: 'RESOURCES', value: (r) => r.resourceCount, right: true },
          { header: 'BY', value: (r) => r.author.name },
          { header: 'AT', value: (r) => r.createdAt.replace('T', ' ').slice(0, 19) },
          { header: 'MESSAGE', value: (r) => r.message },
        ]),
  );
}

async function showRelease(ctx: Context, number: string, options: { env?: string }): Promise<void> {
  const conn = connect(ctx);
  const env = envOf(ctx, options.env);
  const n = parseNumber('release')(number);
  const release: ReleaseDetail = await send(ctx, conn.api.GET('/api/workspaces/{ws}/environments/{env}/releases/{number}', { params: { path: conn.ws({ env, number: n }) } }));
  ctx.out.result(release, (r) => [
    `${ctx.out.style('bold', r.name)}${r.current ? ctx.out.style('green', ' (current)') : ''}  ${r.cause === 'rollback' ? `rollback to #${r.rolledBackTo}` : r.source ? `${r.cause} of ${r.source}` : r.cause}`,
    `by ${r.author.name} at ${r.createdAt}: ${r.message}`,
    `${plural(r.resourceCount, 'resource')}:`,
    ...r.resources.map((e) => `  ${e.kind}/${e.key}  ${ctx.out.style('dim', e.hash.slice(0, 12))}${e.app ? `  app ${e.app}` : ''}`),
  ]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
