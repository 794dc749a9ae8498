// `stageline run -- cmd` and `stageline export`: an environment's configuration and secrets as
// environment variables, for a command the CLI supervises or for a file.
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { PROJECT_FILE, type Context } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { plural } from '../output.js';
import { action, examples } from '../program.js';
import { FORMATS, formatVariables, type Format } from '../runtime/formats.js';
import { checkKeyEnvironment } from '../runtime/key-environment.js';
import { ConfigSource, secretKeyOf, type Resolution } from '../runtime/resolution.js';
import { FORWARDED_SIGNALS, parseDuration, signalExitCode, Supervisor } from '../runtime/supervisor.js';
import { keysUsed, rulesOf, variablesOf, type VariableRules, type Variables } from '../runtime/variables.js';
import { watchChanges } from '../runtime/watch.js';

interface SourceOptions {
  env?: string;
  key?: string;
  prefix?: string;
  only?: string;
}

interface RunOptions extends SourceOptions {
  watch?: boolean;
  grace: string;
  override: boolean;
}

interface ExportOptions extends SourceOptions {
  format?: string;
  output?: string;
}

const REQUEST_TIMEOUT_MS = 10_000;

const NAMING = `
Names: each config/<key> with an object value gives <KEY>_<FIELD> per top-level field, any other
value gives <KEY>; upper-cased, other characters as _ (config/payments .checkoutUrl →
PAYMENTS_CHECKOUTURL). Strings as they are, other values as JSON. stageline.json can map names:
{"run": {"env": {"CHECKOUT_URL": "config/payments.checkoutUrl"}, "only": false, "prefix": "APP_"}}
Exit code: the command's; 128 + n when signal n killed it. Signals sent to stageline reach it.`;

function sourceOptions(command: Command): Command {
  return command
    .option('-e, --env <slug>', 'the environment the key must belong to (default: "env" in stageline.json)')
    .option('--key <sk_…>', "the environment's secret key (env STAGELINE_KEY)")
    .option('--prefix <PREFIX_>', 'put this before every name the naming rule makes (stageline.json run.prefix)')
    .option('--only <config/a,config/b>', 'export only these config resources by the rule (mapped names are always exported)');
}

export function registerRun(program: Command): void {
  examples(
    sourceOptions(
      program
        .command('run')
        .description("start a command with an environment's config and secrets as environment variables")
        .argument('<command...>', 'the command and its arguments, after --')
        .option('--watch', 'restart the command when a change alters its variables')
        .option('--grace <duration>', 'how long a restart waits after SIGTERM before SIGKILL', '10s')
        .option('--no-override', "keep the value of a variable the shell already sets (default: Stageline's value wins)")
        .addHelpText('after', NAMING),
    ).action(action(runCommand)),
    [
      'STAGELINE_KEY=sk_… stageline run --env production -- node server.js',
      'stageline run --env staging --key "$STAGING_KEY" --watch -- npm start',
      'stageline run --env production --only config/payments,config/db --prefix APP_ -- ./bin/worker',
    ],
  );

  examples(
    sourceOptions(
      program
        .command('export')
        .description("print or write an environment's variables (the same names as run) as dotenv, JSON or YAML")
        .addOption(new Option('-f, --format <format>', 'dotenv, json or yaml (default dotenv; --json means json)').choices(FORMATS))
        .option('-o, --output <file>', 'write the file (mode 0600) instead of printing'),
    ).action(action(exportCommand)),
    [
      'stageline export --env development --key "$DEV_KEY" > .env',
      'stageline export --env production --format yaml --output /run/secrets/app.yaml',
      'stageline export --env staging --json | jq -r .PAYMENTS_CHECKOUTURL',
    ],
  );
}

/** Everything `run` and `export` share: the key, the rules, the values and their variables. */
async function prepare(ctx: Context, options: SourceOptions, what: string) {
  const environment = options.env ?? ctx.project.env;
  const key = secretKeyOf(options.key, ctx.env, environment);
  const rules = rulesOf(ctx.project.raw, ctx.project.file ?? PROJECT_FILE, options);
  if (environment !== undefined) await checkKeyEnvironment(ctx, environment, key);
  const label = environment ?? "the key's environment";
  const source = new ConfigSource(ctx.url, key, ctx.env, requestTimeout(ctx.env));
  try {
    const resolution = await source.resolve(ctx.out, what);
    const variables = variablesFor(resolution, rules, label);
    if (resolution.from === 'server') source.remember(resolution);
    return { environment, label, rules, source, resolution, variables };
  } catch (error) {
    source.close();
    throw error;
  }
}

function requestTimeout(env: NodeJS.ProcessEnv): number {
  const value = Number(env.STAGELINE_TIMEOUT_MS);
  return Number.isFinite(value) && value > 0 ? value : REQUEST_TIMEOUT_MS;
}

/** The variables, refusing to go on without a config the command depends on. */
function variablesFor(resolution: Resolution, rules: VariableRules, label: string): Variables {
  const used = keysUsed(rules);
  const missing = resolution.unresolved.filter((entry) => used(entry.key));
  if (missing.length > 0) {
    const first = missing[0]!;
    const more = missing.length > 1 ? ` (and ${plural(missing.length - 1, 'other config')})` : '';
    throw new CliError(`config/${first.key} cannot be resolved in ${label}: ${first.message}${more}`, { code: first.code });
  }
  return variablesOf(resolution.configs, rules, label);
}

function childEnvironment(parent: NodeJS.ProcessEnv, values: Record<string, string>, override: boolean): NodeJS.ProcessEnv {
  return override ? { ...parent, ...values } : { ...values, ...parent };
}

async function runCommand(ctx: Context, argv: string[], options: RunOptions): Promise<void> {
  const [command, ...args] = argv;
  if (!command) throw usageError('no command to run: stageline run --env production -- node server.js');
  let graceMs: number;
  try {
    graceMs = parseDuration(options.grace, '--grace');
  } catch (error) {
    throw usageError((error as Error).message);
  }
  // Signals are ours from the start: one arriving before the command runs must not kill the CLI.
  const early: NodeJS.Signals[] = [];
  let supervisor: Supervisor | undefined;
  const handlers = FORWARDED_SIGNALS.map((signal) => {
    const handler = () => (supervisor ? supervisor.forward(signal) : early.push(signal));
    process.on(signal, handler);
    return () => process.off(signal, handler);
  });
  let source: ConfigSource | undefined;
  try {
    const prepared = await prepare(ctx, options, `running ${command}`);
    source = prepared.source;
    const terminal = process.stdin.isTTY === true;
    const running = new Supervisor({ command, args, graceMs, terminal });
    supervisor = running;
    if (early[0]) {
      process.exitCode = signalExitCode(early[0]);
      return;
    }
    running.start(childEnvironment(ctx.env, prepared.variables.values, options.override));

    if (options.watch) {
      watchChanges({
        source,
        supervisor: running,
        current: prepared.variables.values,
        variables: (resolution) => variablesFor(resolution, prepared.rules, prepared.label).values,
        environment: prepared.environment,
        restart: (values) => running.restart(childEnvironment(ctx.env, values, options.override)),
        url: ctx.url,
        command,
        note: (line) => ctx.out.note(line),
        warn: (line) => ctx.out.warn(line),
      });
    }

    const ending = await running.ending;
    if (ending.failure) ctx.out.note(`stageline: ${ending.failure}`);
    process.exitCode = ending.exitCode;
  } finally {
    source?.close();
    for (const off of handlers) off();
  }
}

async function exportCommand(ctx: Context, options: ExportOptions): Promise<void> {
  if (ctx.out.json && options.format !== undefined && options.format !== 'json') throw usageError(`--json prints JSON: it cannot be combined with --format ${options.format}`);
  const format: Format = ctx.out.json ? 'json' : ((options.format as Format | undefined) ?? 'dotenv');
  const prepared = await prepare(ctx, options, 'exporting');
  prepared.source.close();
  const text = formatVariables(prepared.variables.values, format);
  const names = Object.keys(prepared.variables.values);
  if (options.output === undefined) {
    ctx.out.stdout.write(text);
    return;
  }
  const file = resolve(ctx.cwd, options.output);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, text, { mode: 0o600 });
    chmodSync(temp, 0o600);
    renameSync(temp, file);
  } catch (error) {
    throw new CliError(`cannot write ${file}: ${(error as Error).message}`);
  }
  ctx.out.result(
    { file, format, mode: '0600', variables: names, from: prepared.resolution.from, release: prepared.resolution.release },
    (r) => `${ctx.out.style('green', '✓')} wrote ${plural(r.variables.length, 'variable')} of ${prepared.label} to ${r.file} (${r.format}, mode 0600)`,
  );
}
