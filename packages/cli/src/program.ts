// The `stageline` program: global options once, every command group registered from its own
// module, usage mistakes as exit 2, and one place (run) that turns any failure into its message
// and exit code.
import { Command, CommanderError, Option } from 'commander';
import { contextOf, type Context } from './context.js';
import { CliError, EXIT } from './errors.js';
import { VERSION } from './version.js';
import { registerAuth } from './commands/auth.js';
import { registerWorkspaces } from './commands/workspaces.js';
import { registerEnvironments } from './commands/environments.js';
import { registerFiles } from './commands/files.js';
import { registerReleases } from './commands/releases.js';
import { registerApprovals } from './commands/approvals.js';
import { registerTail } from './commands/tail.js';
import { registerConfig } from './commands/config.js';
import { registerPreferences } from './commands/preferences.js';
import { registerAudit } from './commands/audit.js';
import { registerRun } from './commands/run.js';

/** A command module adds its commands to the program. */
export type Register = (program: Command) => void;

// In the order --help lists them: sign-in, workspaces, environments, files, releases, configuration, audit, run.
const REGISTERS: Register[] = [registerAuth, registerWorkspaces, registerEnvironments, registerFiles, registerReleases, registerApprovals, registerTail, registerConfig, registerPreferences, registerAudit, registerRun];

/** Every command's examples, shown at the end of its `--help`. */
export function examples(command: Command, lines: string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`);
}

/**
 * A command's action: the resolved context first, then commander's arguments and options.
 * Whatever it throws reaches run() and becomes the exit code.
 */
export function action<A extends unknown[]>(handler: (ctx: Context, ...args: A) => Promise<void> | void) {
  return async function (this: Command, ...args: unknown[]) {
    // commander passes (...arguments, options, command); the command is always last.
    const command = args[args.length - 1] as Command;
    await handler(contextOf(command), ...(args.slice(0, -1) as A));
  };
}

/** The whole program; `version` lets the server package report its own version. */
export function createProgram(options: { version?: string } = {}): Command {
  const program = new Command()
    .name('stageline')
    .description('Environment control plane for application configuration: drafts, commits, promotions, rollbacks, secrets.')
    .version(options.version ?? VERSION, '-V, --version', 'print the version of stageline')
    .addOption(new Option('--url <url>', 'the Stageline server (env STAGELINE_URL, stageline.json, the profile; default http://127.0.0.1:4700)'))
    .addOption(new Option('--token <token>', 'an access token (env STAGELINE_TOKEN, the profile)'))
    .addOption(new Option('-w, --workspace <slug>', 'the workspace (env STAGELINE_WORKSPACE, stageline.json, the profile; default "default")'))
    .addOption(new Option('--profile <name>', 'the login profile to use (env STAGELINE_PROFILE)'))
    .option('--json', 'print the result as JSON on stdout (errors too)')
    .option('--no-color', 'never colour the output (also NO_COLOR=1)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true });
  for (const register of REGISTERS) register(program);
  return program;
}

/** `stageline … | head`: a reader that went away ends the command quietly, as in any Unix tool. */
function quietOnBrokenPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') > 0) continue;
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
      throw error;
    });
  }
}

/** Runs the program on argv; answers the exit code (never throws; exits early only on a broken pipe). */
export async function run(program: Command, argv: string[] = process.argv): Promise<number> {
  quietOnBrokenPipe();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "errors" are successes; everything else commander refuses is usage.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT.ok;
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const json = process.argv.includes('--json') || argv.includes('--json');
    const failure = error instanceof CliError ? error : new CliError(error instanceof Error ? error.message : String(error));
    if (json) {
      process.stdout.write(`${JSON.stringify({ error: { code: failure.code, message: failure.message, details: failure.details, ...(failure.status ? { status: failure.status } : {}) } }, null, 2)}\n`);
    }
    process.stderr.write(`stageline: ${failure.message}\n`);
    return failure.exitCode;
  }
}
