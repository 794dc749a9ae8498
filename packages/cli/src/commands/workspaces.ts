// workspaces list|create: the workspaces the credential belongs to, and new ones (the creator
// becomes their owner; each starts with development and production).
import type { Command } from 'commander';
import { connect } from '../api.js';
import type { Context } from '../context.js';
import { action, examples } from '../program.js';

export function registerWorkspaces(program: Command): void {
  const workspaces = examples(program.command('workspaces').description('workspaces: each with its own environments, members, keys and audit log'), [
    'stageline workspaces list',
    'stageline workspaces create shop --name "Shop"',
  ]);

  examples(workspaces.command('list').description('the workspaces you are a member of, with your role').action(action(listWorkspaces)), ['stageline workspaces list --json']);

  examples(
    workspaces
      .command('create')
      .description('create a workspace (with development and production); you become its owner')
      .argument('<slug>', 'the new workspace slug (a letter, then a-z, 0-9, -)')
      .option('--name <name>', 'display name (default: the slug)')
      .action(action(createWorkspace)),
    ['stageline workspaces create shop --name "Shop" && export STAGELINE_WORKSPACE=shop'],
  );
}

async function listWorkspaces(ctx: Context): Promise<void> {
  const conn = connect(ctx);
  const page = await conn.call(conn.api.GET('/api/workspaces'));
  ctx.out.result({ data: page.data }, ({ data: rows }) =>
    rows.length === 0
      ? 'no workspaces'
      : ctx.out.table(rows, [
          { header: 'WORKSPACE', value: (w) => `${w.slug === ctx.workspace ? '*' : ' '}${w.slug}` },
          { header: 'NAME', value: (w) => w.name },
          { header: 'ROLE', value: (w) => w.role },
        ]),
  );
}

async function createWorkspace(ctx: Context, slug: string, options: { name?: string }): Promise<void> {
  const conn = connect(ctx);
  const created = await conn.call(conn.api.POST('/api/workspaces', { body: { slug, ...(options.name ? { name: options.name } : {}) } }));
  ctx.out.result(created, (w) => `${ctx.out.style('green', '✓')} created workspace ${w.slug} (development → production); use it with -w ${w.slug} or STAGELINE_WORKSPACE=${w.slug}`);
}
