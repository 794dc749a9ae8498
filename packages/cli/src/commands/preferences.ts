// `stageline preferences`: a recipient's preference set in one environment, as members read it
// (data.read) and edit it (preferences.write): the whole set, or one rule opted in or out.
import { Option, type Command } from 'commander';
import { connect, type components } from '../api.js';
import type { Context } from '../context.js';
import { usageError } from '../errors.js';
import { action, examples } from '../program.js';
import { environmentOf, envOption, settingDocument } from './config.js';

type PreferenceSet = components['schemas']['PreferenceSet'];
const CHANNELS = ['email', 'in_app', 'webhook'] as const;
type Channel = (typeof CHANNELS)[number];

export function registerPreferences(program: Command): void {
  const preferences = examples(
    program.command('preferences').description("a recipient's preferences in an environment: per channel, per workflow, per workflow × channel; the most specific rule wins"),
    [
      'stageline preferences get u_123 --env production',
      'stageline preferences opt-out u_123 --channel email --env production',
      'stageline preferences opt-out u_123 --workflow weekly-digest --channel email --env production',
      'stageline preferences set u_123 \'{"workflows":{"weekly-digest":false}}\' --env production',
    ],
  );
  const channel = () => new Option('--channel <type>', 'a channel type').choices([...CHANNELS]);

  examples(
    preferences.command('get').description("the recipient's rules and the environment's defaults beneath them").argument('<recipient>', 'recipient id').addOption(envOption()).action(action(getPreferences)),
    ['stageline preferences get u_123 --env production --json'],
  );
  examples(
    preferences
      .command('set')
      .description('replace the whole set: JSON as an argument, from --file, or from stdin with "-"')
      .argument('<recipient>', 'recipient id')
      .argument('[json]', 'the preference set as JSON, or - to read it from stdin')
      .addOption(envOption())
      .option('--file <path>', 'read the set from a file')
      .action(action(setPreferences)),
    ['stageline preferences set u_123 \'{"channels":{"email":false}}\' --env production', 'stageline preferences set u_123 \'{}\' --env staging   # no rules: the defaults apply'],
  );
  for (const [name, value] of [
    ['opt-out', false],
    ['opt-in', true],
  ] as const) {
    examples(
      preferences
        .command(name)
        .description(`${name === 'opt-out' ? 'turn off' : 'turn on'} one rule: a channel, a workflow, or a workflow's channel (other rules are kept)`)
        .argument('<recipient>', 'recipient id')
        .addOption(envOption())
        .option('--workflow <key>', 'a workflow key')
        .addOption(channel())
        .action(action((ctx: Context, recipient: string, options: { env?: string; workflow?: string; channel?: Channel }) => changeRule(ctx, recipient, options, value))),
      [`stageline preferences ${name} u_123 --channel email --env production`, `stageline preferences ${name} u_123 --workflow weekly-digest --env production`],
    );
  }
}

const path = (ctx: Context, env: string, recipient: string) => ({ params: { path: connect(ctx).ws({ env, recipient }) } });

/** Each rule of a set as a line: where it applies and whether it opts in. */
function rules(set: PreferenceSet, source: string): { rule: string; value: boolean; source: string }[] {
  const out: { rule: string; value: boolean; source: string }[] = [];
  for (const [type, value] of Object.entries(set.channels ?? {})) if (typeof value === 'boolean') out.push({ rule: `channel ${type}`, value, source });
  for (const [workflow, rule] of Object.entries(set.workflows ?? {})) {
    if (typeof rule === 'boolean') out.push({ rule: `workflow ${workflow}`, value: rule, source });
    else for (const [type, value] of Object.entries(rule.channels ?? {})) if (typeof value === 'boolean') out.push({ rule: `workflow ${workflow} × ${type}`, value, source });
  }
  return out;
}

async function getPreferences(ctx: Context, recipient: string, options: { env?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  const conn = connect(ctx);
  const found = await conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}/recipients/{recipient}/preferences', path(ctx, env, recipient)));
  ctx.out.result(found, (p) => {
    const lines = [...rules(p.preferences, 'recipient'), ...rules(p.defaults ?? {}, 'default')];
    if (lines.length === 0) return `no rules for ${recipient} in ${env}: every channel of every workflow reaches them`;
    return ctx.out.table(lines, [
      { header: 'RULE', value: (l) => l.rule },
      { header: 'VALUE', value: (l) => (l.value ? 'opted in' : 'opted out') },
      { header: 'SOURCE', value: (l) => l.source },
    ]);
  });
}

async function setPreferences(ctx: Context, recipient: string, json: string | undefined, options: { env?: string; file?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  const body = (await settingDocument(json, options.file)) as PreferenceSet;
  const conn = connect(ctx);
  const written = await conn.call(conn.api.PUT('/api/workspaces/{ws}/environments/{env}/recipients/{recipient}/preferences', { ...path(ctx, env, recipient), body }));
  ctx.out.result(written, (p) => `${ctx.out.style('green', '✓')} set the preferences of ${p.recipient} in ${p.environment} (version ${p.version})`);
}

/** The set with one rule set to `value`; the rest as it was. */
export function withRule(set: PreferenceSet, rule: { workflow?: string; channel?: Channel }, value: boolean): PreferenceSet {
  const next: PreferenceSet = { ...set, ...(set.workflows ? { workflows: { ...set.workflows } } : {}) };
  if (rule.workflow === undefined) {
    next.channels = { ...set.channels, [rule.channel!]: value };
    return next;
  }
  const workflows = (next.workflows ??= {});
  if (rule.channel === undefined) {
    Object.defineProperty(workflows, rule.workflow, { value, enumerable: true, writable: true, configurable: true });
    return next;
  }
  const current = Object.prototype.hasOwnProperty.call(workflows, rule.workflow) ? workflows[rule.workflow] : undefined;
  const channels = typeof current === 'object' ? current.channels : typeof current === 'boolean' ? { email: current, in_app: current, webhook: current } : {};
  Object.defineProperty(workflows, rule.workflow, { value: { channels: { ...channels, [rule.channel]: value } }, enumerable: true, writable: true, configurable: true });
  return next;
}

async function changeRule(ctx: Context, recipient: string, options: { env?: string; workflow?: string; channel?: Channel }, value: boolean): Promise<void> {
  const env = environmentOf(ctx, options.env);
  if (options.workflow === undefined && options.channel === undefined) throw usageError('which rule? pass --channel <type>, --workflow <key>, or both');
  const conn = connect(ctx);
  const route = '/api/workspaces/{ws}/environments/{env}/recipients/{recipient}/preferences' as const;
  const current = await conn.call(conn.api.GET(route, path(ctx, env, recipient)));
  const body = withRule(current.preferences, options, value);
  // If-Match: a change made between the read and the write (a one-click unsubscribe) is not overwritten; exit 3.
  const written = await conn.call(conn.api.PUT(route, { ...path(ctx, env, recipient), body, headers: { 'if-match': `"${current.version}"` } }));
  const what = [options.workflow && `workflow ${options.workflow}`, options.channel && `channel ${options.channel}`].filter(Boolean).join(' × ');
  ctx.out.result(written, (p) => `${ctx.out.style('green', '✓')} ${p.recipient} ${value ? 'opted in to' : 'opted out of'} ${what} in ${p.environment}`);
}
