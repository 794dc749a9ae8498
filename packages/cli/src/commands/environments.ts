// env list|show|create|set|delete|freeze|unfreeze and branch create|list|merge|delete: the
// environments of a workspace, their flags and freezes, and feature branches named after git's.
import { Option, type Command } from 'commander';
import { apiError, connect, unreachable, type Connection, type components } from '../api.js';
import { confirmDeletion } from '../confirm.js';
import type { Context } from '../context.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { branchEnvironment, branchSlug, gitHead } from '../git.js';
import { plural } from '../output.js';
import { action, examples } from '../program.js';
import { timeArgument, wholeNumber } from '../arguments.js';

type Environment = components['schemas']['Environment'];
type Freeze = components['schemas']['Freeze'];
type Release = components['schemas']['Release'];
type PromotionPlan = components['schemas']['DryRunPlan'];
type PromotionRequestResult = components['schemas']['PromotionRequestResult'];

/** A freeze with no `--until` lasts until `unfreeze`: the window the server needs is a year. */
const OPEN_FREEZE = '365d';

export function registerEnvironments(program: Command): void {
  registerEnv(program);
  registerBranch(program);
}

function registerEnv(program: Command): void {
  const env = examples(program.command('env').description('environments: the chain (development → … → production) and branches, their flags and freezes'), [
    'stageline env list',
    'stageline env create staging --name Staging',
    'stageline env set production --protected --approvals 2',
    'stageline env freeze production --until 2026-12-27T09:00:00Z --reason "holiday freeze"',
  ]);

  examples(
    env.command('list').description('every environment: the chain in promotion order, then branches, with release, protection, region and freeze').action(action(listEnvironments)),
    ['stageline env list', 'stageline env list --json'],
  );

  examples(env.command('show').description("one environment's flags, release and freezes").argument('<env>', 'environment slug').action(action(showEnvironment)), [
    'stageline env show production',
  ]);

  examples(
    flagOptions(
      env
        .command('create')
        .description('create a chain environment (inserted before production) or, with --kind branch, a branch')
        .argument('<slug>', 'the new environment slug (a letter, then 1 to 40 of a-z, 0-9, -)')
        .option('--name <name>', 'display name (default: the slug)')
        .addOption(new Option('--kind <kind>', 'chain or branch').choices(['chain', 'branch']).default('chain'))
        .option('--from <env>', 'branches: the chain environment to fork from (default development)')
        .option('--ttl-hours <n>', 'branches: delete it after this many hours', wholeNumber('--ttl-hours', 1)),
    ).action(action(createEnvironment)),
    ['stageline env create staging', 'stageline env create qa --name "QA" --region eu', 'stageline env create spike --kind branch --ttl-hours 48'],
  );

  examples(
    flagOptions(env.command('set').description("change an environment's name or flags").argument('<env>', 'environment slug').option('--name <name>', 'display name')).action(
      action(setEnvironment),
    ),
    ['stageline env set production --protected --approvals 2', 'stageline env set staging --no-protected', 'stageline env set production --region none --color "#d33"'],
  );

  examples(
    env
      .command('delete')
      .description('delete a branch (with everything it holds) or an empty middle environment; asks on a terminal, else needs --yes')
      .argument('<env>', 'environment slug')
      .option('-y, --yes', 'do not ask')
      .action(action(deleteEnvironment)),
    ['stageline env delete qa', 'stageline env delete qa --yes'],
  );

  examples(
    env
      .command('freeze')
      .description('freeze an environment: promotions and rollbacks into it are refused (owners and admins can break glass)')
      .argument('<env>', 'environment slug')
      .option('--reason <text>', 'why (shown to whoever is refused)', 'frozen with stageline env freeze')
      .option('--until <when>', 'end: an ISO date-time or a duration (2h, 3d); default: until unfreeze')
      .option('--from <when>', 'start: an ISO date-time or a duration from now; default: now')
      .action(action(freezeEnvironment)),
    ['stageline env freeze production --reason "release night"', 'stageline env freeze production --until 3d', 'stageline env freeze production --from 2026-12-24T00:00:00Z --until 2026-12-27T00:00:00Z'],
  );

  examples(
    env.command('unfreeze').description('end the freezes in effect now (--all: the scheduled ones too)').argument('<env>', 'environment slug').option('--all', 'also remove freezes that have not started').action(
      action(unfreezeEnvironment),
    ),
    ['stageline env unfreeze production'],
  );
}

function registerBranch(program: Command): void {
  const branch = examples(
    program.command('branch').description('branch environments: forked from a chain environment, named after the current git branch, merged back by promotion'),
    ['git checkout -b feature/Login-Form && stageline branch create', 'stageline branch merge --dry-run', 'stageline branch delete --yes'],
  );
  branch.addHelpText(
    'after',
    '\nA git branch name becomes a slug this way: lowercase; each run of characters other than a-z and 0-9 becomes one hyphen;\nhyphens at either end go; a leading digit gets "b-" in front; at most 41 characters (feature/Login-Form → feature-login-form).\n',
  );

  examples(
    branch
      .command('create')
      .description('fork a branch environment at the current release of its parent')
      .argument('[name]', 'branch name (default: the current git branch, made a slug)')
      .option('--from <env>', 'the chain environment to fork from', 'development')
      .option('--ttl-hours <n>', 'delete the branch after this many hours', wholeNumber('--ttl-hours', 1))
      .option('--name <display>', 'display name (default: the git branch name)')
      .action(action(createBranch)),
    ['stageline branch create', 'stageline branch create checkout-v2 --ttl-hours 72', 'stageline branch create --from staging'],
  );

  examples(branch.command('list').description('the branch environments, their parent, fork point and expiry (* marks the current git branch)').action(action(listBranches)), [
    'stageline branch list',
  ]);

  examples(
    branch
      .command('merge')
      .description("merge a branch into its parent (a three-way promotion); a conflict or a wait for approval exits 3")
      .argument('[name]', 'branch (default: the current git branch)')
      .option('--into <env>', "the environment to merge into (default: the branch's parent)")
      .option('-m, --message <text>', 'the release message')
      .option('--dry-run', 'show what the merge would change; write nothing')
      .option('--take <resource=side...>', 'resolve a conflict: kind/key=branch or kind/key=parent (repeatable)')
      .action(action(mergeBranch)),
    ['stageline branch merge --dry-run', 'stageline branch merge -m "login form"', 'stageline branch merge --take config/checkout=branch'],
  );

  examples(
    branch
      .command('delete')
      .description('delete a branch environment with everything it holds; asks on a terminal, else needs --yes')
      .argument('[name]', 'branch (default: the current git branch)')
      .option('-y, --yes', 'do not ask')
      .action(action(deleteBranch)),
    ['stageline branch delete --yes', 'stageline branch delete checkout-v2'],
  );
}

interface FlagOptions {
  protected?: boolean;
  approvals?: number;
  approvalsForRollback?: boolean;
  obfuscateData?: boolean;
  region?: string;
  color?: string;
  name?: string;
}

/** The flags `create` and `set` share; `none` clears region and colour. */
function flagOptions(command: Command): Command {
  return command
    .option('--protected', 'promotions into it need approvals')
    .option('--no-protected', 'promotions into it apply at once')
    .option('--approvals <n>', 'approvals a promotion into it needs (members other than the requester)', wholeNumber('--approvals', 0))
    .option('--approvals-for-rollback', 'a rollback waits for approvals like a promotion')
    .option('--no-approvals-for-rollback', 'a rollback applies at once')
    .option('--obfuscate-data', 'mask data records for members without the reveal permission')
    .option('--no-obfuscate-data', 'show data records unmasked')
    .option('--region <region>', 'region label a gateway node serves ("none" clears it)')
    .option('--color <#rrggbb>', 'colour in the dashboard ("none" clears it)');
}

function flagsBody(options: FlagOptions) {
  const clear = (value: string | undefined) => (value === undefined ? undefined : value === 'none' ? null : value);
  const body = {
    name: options.name,
    protected: options.protected,
    approvalsRequired: options.approvals,
    approvalsForRollback: options.approvalsForRollback,
    obfuscateData: options.obfuscateData,
    region: clear(options.region),
    color: clear(options.color),
  };
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined)) as Partial<typeof body>;
}

// ── env ──────────────────────────────────────────────────────────────────────────────────────

async function environments(conn: Connection): Promise<Environment[]> {
  return (await conn.call(conn.api.GET('/api/workspaces/{ws}/environments', { params: { path: conn.ws() } }))).data;
}

async function freezesOf(conn: Connection, env: string): Promise<Freeze[]> {
  return (await conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}/freezes', { params: { path: conn.ws({ env }) } }))).data;
}

type Listed = Environment & { freeze: Freeze | null };

async function listEnvironments(ctx: Context): Promise<void> {
  const conn = connect(ctx);
  const all = await environments(conn);
  // Freezes are per environment on the API: one read each, in parallel.
  const freezes = await Promise.all(all.map((e) => freezesOf(conn, e.slug)));
  const data: Listed[] = all.map((e, i) => ({ ...e, freeze: freezes[i]!.find((f) => f.active) ?? null }));
  ctx.out.result({ data }, ({ data: rows }) =>
    ctx.out.table(rows, [
      { header: 'ENVIRONMENT', value: (e) => (e.kind === 'branch' ? `  ${e.slug}` : e.slug) },
      { header: 'KIND', value: (e) => (e.kind === 'branch' ? `branch of ${e.parent}` : e.default ? 'chain (default)' : 'chain') },
      { header: 'RELEASE', value: (e) => (e.release > 0 ? `#${e.release}` : '-'), right: true },
      { header: 'PROTECTED', value: (e) => (e.protected ? `yes (${plural(e.approvalsRequired, 'approval')})` : 'no') },
      { header: 'REGION', value: (e) => e.region },
      { header: 'FREEZE', value: (e) => (e.freeze ? ctx.out.style('yellow', `frozen until ${e.freeze.endsAt}`) : e.expiresAt ? `expires ${e.expiresAt}` : '') },
    ]),
  );
}

async function showEnvironment(ctx: Context, slug: string): Promise<void> {
  const conn = connect(ctx);
  const [env, freezes] = await Promise.all([conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}', { params: { path: conn.ws({ env: slug }) } })), freezesOf(conn, slug)]);
  ctx.out.result({ ...env, freezes }, (e) => describeEnvironment(ctx, e, e.freezes));
}

function describeEnvironment(ctx: Context, e: Environment, freezes: Freeze[] = []): string[] {
  const yes = (value: boolean) => (value ? 'yes' : 'no');
  const lines = [
    `${ctx.out.style('bold', e.slug)}  ${e.name}${e.default ? ctx.out.style('dim', '  (default)') : ''}`,
    `kind        ${e.kind === 'branch' ? `branch of ${e.parent} at #${e.forkRelease}` : `chain, position ${e.position + 1}`}`,
    `release     ${e.release > 0 ? `#${e.release}` : 'none yet'}`,
    `editable    ${yes(e.editable)}`,
    `protected   ${e.protected ? `yes, ${plural(e.approvalsRequired, 'approval')}${e.approvalsForRollback ? ', rollbacks too' : ''}` : 'no'}`,
    `obfuscate   ${yes(e.obfuscateData)}`,
    `region      ${e.region ?? '-'}`,
    `color       ${e.color ?? '-'}`,
  ];
  if (e.expiresAt) lines.push(`expires     ${e.expiresAt}`);
  for (const f of freezes) lines.push(`${f.active ? ctx.out.style('yellow', 'frozen') : 'scheduled'}      ${f.startsAt} → ${f.endsAt}: ${f.reason} (${f.id})`);
  return lines;
}

async function createEnvironment(ctx: Context, slug: string, options: FlagOptions & { kind: 'chain' | 'branch'; from?: string; ttlHours?: number }): Promise<void> {
  if (options.kind === 'chain' && (options.from !== undefined || options.ttlHours !== undefined)) throw usageError('--from and --ttl-hours apply only with --kind branch');
  const conn = connect(ctx);
  const created = await conn.call(
    conn.api.POST('/api/workspaces/{ws}/environments', {
      params: { path: conn.ws() },
      body: {
        slug,
        kind: options.kind,
        ...(options.from !== undefined ? { from: options.from } : {}),
        ...(options.ttlHours !== undefined ? { ttlHours: options.ttlHours } : {}),
        ...flagsBody(options),
      },
    }),
  );
  ctx.out.result(created, (e) =>
    e.kind === 'branch'
      ? `${ctx.out.style('green', '✓')} created branch ${e.slug} from ${e.parent}#${e.forkRelease}`
      : `${ctx.out.style('green', '✓')} created ${e.slug} (position ${e.position + 1} of the chain)`,
  );
}

async function setEnvironment(ctx: Context, slug: string, options: FlagOptions): Promise<void> {
  const body = flagsBody(options);
  if (Object.keys(body).length === 0) throw usageError('nothing to change: pass --name, --protected, --approvals, --obfuscate-data, --region or --color');
  const conn = connect(ctx);
  const updated = await conn.call(conn.api.PATCH('/api/workspaces/{ws}/environments/{env}', { params: { path: conn.ws({ env: slug }) }, body }));
  ctx.out.result(updated, (e) => [`${ctx.out.style('green', '✓')} updated ${e.slug}`, ...describeEnvironment(ctx, e).slice(1)]);
}

async function deleteEnvironment(ctx: Context, slug: string, options: { yes?: boolean }): Promise<void> {
  const conn = connect(ctx);
  // Read it first: a missing environment is "not found", not a question.
  const env = await conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}', { params: { path: conn.ws({ env: slug }) } }));
  await confirmDeletion(env.kind === 'branch' ? 'branch' : 'environment', slug, options.yes);
  await conn.call(conn.api.DELETE('/api/workspaces/{ws}/environments/{env}', { params: { path: conn.ws({ env: slug }) } }));
  ctx.out.result({ deleted: slug, kind: env.kind }, (r) => `${ctx.out.style('green', '✓')} deleted ${r.kind === 'branch' ? 'branch' : 'environment'} ${r.deleted}`);
}

async function freezeEnvironment(ctx: Context, slug: string, options: { reason: string; until?: string; from?: string }): Promise<void> {
  const now = new Date();
  const startsAt = options.from !== undefined ? timeArgument('--from', options.from, 1, now) : now.toISOString();
  const endsAt = timeArgument('--until', options.until ?? OPEN_FREEZE, 1, options.until === undefined ? new Date(startsAt) : now);
  const conn = connect(ctx);
  const freeze = await conn.call(
    conn.api.POST('/api/workspaces/{ws}/environments/{env}/freezes', { params: { path: conn.ws({ env: slug }) }, body: { startsAt, endsAt, reason: options.reason } }),
  );
  ctx.out.result({ environment: slug, ...freeze }, (f) =>
    f.active
      ? `${ctx.out.style('yellow', '❄')} ${slug} is frozen ${options.until === undefined ? 'until stageline env unfreeze' : `until ${f.endsAt}`} (${f.reason})`
      : `${ctx.out.style('yellow', '❄')} ${slug} will be frozen from ${f.startsAt} until ${f.endsAt} (${f.reason})`,
  );
}

async function unfreezeEnvironment(ctx: Context, slug: string, options: { all?: boolean }): Promise<void> {
  const conn = connect(ctx);
  const freezes = (await freezesOf(conn, slug)).filter((f) => options.all || f.active);
  for (const f of freezes) {
    await conn.call(conn.api.DELETE('/api/workspaces/{ws}/environments/{env}/freezes/{id}', { params: { path: conn.ws({ env: slug, id: f.id }) } }));
  }
  ctx.out.result({ environment: slug, removed: freezes }, (r) =>
    r.removed.length === 0 ? `${slug} was not frozen` : `${ctx.out.style('green', '✓')} ${slug} is no longer frozen (${plural(r.removed.length, 'freeze')} removed)`,
  );
}

// ── branch ───────────────────────────────────────────────────────────────────────────────────

async function createBranch(ctx: Context, name: string | undefined, options: { from: string; ttlHours?: number; name?: string }): Promise<void> {
  const { slug, gitBranch } = branchEnvironment(name, ctx.cwd, ctx.env);
  const display = options.name ?? gitBranch ?? (name !== undefined && name !== slug ? name : undefined);
  const conn = connect(ctx);
  const created = await conn.call(
    conn.api.POST('/api/workspaces/{ws}/environments', {
      params: { path: conn.ws() },
      body: { slug, kind: 'branch', from: options.from, ...(options.ttlHours !== undefined ? { ttlHours: options.ttlHours } : {}), ...(display ? { name: display.slice(0, 200) } : {}) },
    }),
  );
  ctx.out.result({ ...created, gitBranch }, (e) => [
    `${ctx.out.style('green', '✓')} created branch ${ctx.out.style('bold', e.slug)} from ${e.parent}#${e.forkRelease}${gitBranch ? ctx.out.style('dim', ` (git branch ${gitBranch})`) : ''}`,
    ...(e.expiresAt ? [`expires ${e.expiresAt}`] : []),
  ]);
}

async function listBranches(ctx: Context): Promise<void> {
  const conn = connect(ctx);
  const head = gitHead(ctx.cwd);
  const current = head.kind === 'branch' ? branchSlug(head.name) : undefined;
  const data = (await environments(conn)).filter((e) => e.kind === 'branch').map((e) => ({ ...e, current: e.slug === current }));
  ctx.out.result({ data }, ({ data: rows }) =>
    rows.length === 0
      ? 'no branches: stageline branch create'
      : ctx.out.table(rows, [
          { header: '', value: (e) => (e.current ? '*' : '') },
          { header: 'BRANCH', value: (e) => (e.current ? ctx.out.style('green', e.slug) : e.slug) },
          { header: 'PARENT', value: (e) => `${e.parent}#${e.forkRelease}` },
          { header: 'RELEASE', value: (e) => `#${e.release}`, right: true },
          { header: 'EXPIRES', value: (e) => e.expiresAt },
        ]),
  );
}

/** A call whose status matters (201 applied, 202 waiting), failures as `call` makes them. */
async function send<T>(ctx: Context, request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<{ data: T; status: number }> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch (cause) {
    throw unreachable(ctx.url, cause);
  }
  if (result.response.ok) return { data: result.data as T, status: result.response.status };
  const body = result.error as { error?: { code?: string; details?: unknown[] } } | undefined;
  if (result.response.status === 409 && body?.error?.code === 'merge_conflict' && Array.isArray(body.error.details)) {
    const conflicts = body.error.details as { resource: string; branch: string; parent: string }[];
    throw new CliError(
      `merge conflict in ${plural(conflicts.length, 'resource')}: ${conflicts.map((c) => `${c.resource} (${c.branch} on the branch, ${c.parent} on the parent)`).join(', ')}; resolve each with --take <resource>=branch|parent`,
      { exitCode: EXIT.conflict, code: 'merge_conflict', status: 409, details: conflicts.map((c) => ({ field: c.resource, message: `${c.branch} on the branch, ${c.parent} on the parent` })) },
    );
  }
  throw apiError(ctx, result.response.status, result.error);
}

function resolutions(takes: string[] | undefined) {
  return (takes ?? []).map((take) => {
    const match = /^(.+)=(branch|parent)$/.exec(take);
    if (!match) throw usageError(`--take "${take}": write kind/key=branch or kind/key=parent`);
    return { resource: match[1]!, take: match[2] as 'branch' | 'parent' };
  });
}

async function mergeBranch(ctx: Context, name: string | undefined, options: { into?: string; message?: string; dryRun?: boolean; take?: string[] }): Promise<void> {
  const { slug } = branchEnvironment(name, ctx.cwd, ctx.env);
  const take = resolutions(options.take);
  const conn = connect(ctx);
  const branch = await conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}', { params: { path: conn.ws({ env: slug }) } }));
  if (branch.kind !== 'branch') throw usageError(`${slug} is not a branch: promote chain environments with stageline promote`);
  const into = options.into ?? branch.parent;
  if (!into) throw new CliError(`${slug} has no parent to merge into: pass --into`);
  const { data, status } = await send(
    ctx,
    conn.api.POST('/api/workspaces/{ws}/environments/{env}/promotions', {
      params: { path: conn.ws({ env: into }) },
      body: {
        from: slug,
        ...(options.message !== undefined ? { message: options.message } : {}),
        ...(options.dryRun ? { dryRun: true } : {}),
        ...(take.length > 0 ? { resolutions: take } : {}),
      },
    }),
  );
  if (status === 200) {
    const plan = data as PromotionPlan;
    ctx.out.result({ branch: slug, into, ...plan }, (p) => [
      `merging ${slug} into ${into} would ${p.request ? 'open a promotion request and ' : ''}change ${plural(p.changes.length, 'resource')} (${p.summary.added} added, ${p.summary.changed} changed, ${p.summary.removed} removed):`,
      ...p.changes.map((c) => `  ${c.status === 'added' ? ctx.out.style('green', '+') : c.status === 'removed' ? ctx.out.style('red', '-') : ctx.out.style('yellow', '~')} ${c.kind}/${c.key}`),
      ...(p.missingReferences.length > 0 ? [ctx.out.style('yellow', `missing in ${into}: ${p.missingReferences.map((r) => r.reference).join(', ')}`)] : []),
    ]);
    return;
  }
  if (status === 202) {
    const { request } = data as PromotionRequestResult;
    ctx.out.result({ branch: slug, into, status: 'waiting', request }, (r) => [
      `${ctx.out.style('yellow', '…')} merging ${slug} into ${into} waits for ${plural(r.request.approvalsRequired, 'approval')}: request ${r.request.id}`,
      `approve it with: stageline approve ${r.request.id}`,
    ]);
    process.exitCode = EXIT.conflict;
    return;
  }
  const release = 'request' in (data as object) ? (data as PromotionRequestResult).release! : (data as Release);
  ctx.out.result({ branch: slug, into, status: 'merged', release }, (r) => `${ctx.out.style('green', '✓')} merged ${slug} into ${into}: ${r.release.name}${r.release.changes ? ` (${r.release.changes.added} added, ${r.release.changes.changed} changed, ${r.release.changes.removed} removed)` : ''}`);
}

async function deleteBranch(ctx: Context, name: string | undefined, options: { yes?: boolean }): Promise<void> {
  const { slug } = branchEnvironment(name, ctx.cwd, ctx.env);
  const conn = connect(ctx);
  const env = await conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}', { params: { path: conn.ws({ env: slug }) } }));
  if (env.kind !== 'branch') throw usageError(`${slug} is not a branch: chain environments are deleted with stageline env delete`);
  await confirmDeletion('branch', slug, options.yes);
  await conn.call(conn.api.DELETE('/api/workspaces/{ws}/environments/{env}', { params: { path: conn.ws({ env: slug }) } }));
  ctx.out.result({ deleted: slug, kind: 'branch' }, (r) => `${ctx.out.style('green', '✓')} deleted branch ${r.deleted}`);
}
