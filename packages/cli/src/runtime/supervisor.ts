// The command `run` starts: spawned with the terminal's stdio, signals passed on to it, restarted
// (SIGTERM, a grace period, then SIGKILL) when its configuration changes, and its end reported the
// way a shell does: its exit code, or 128 + the number of the signal that killed it.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

/** What the CLI passes on to the child instead of dying first. */
export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];
/** The ones that end a command by default; SIGUSR1 and SIGUSR2 ask it something instead. */
const TERMINATING = new Set<ForwardedSignal>(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']);

/** How the command ended, as a shell reports it. */
export interface Ending {
  exitCode: number;
  /** Set when the command could not be started (not found, not executable). */
  failure?: string;
}

export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

export interface SupervisorOptions {
  command: string;
  args: string[];
  /** How long a restart waits after SIGTERM before SIGKILL. */
  graceMs: number;
  /**
   * The terminal delivers Ctrl-C and Ctrl-\ to the child itself (it shares the CLI's process
   * group), so on a terminal SIGINT and SIGQUIT are not sent a second time.
   */
  terminal: boolean;
}

export class Supervisor {
  private child: ChildProcess | undefined;
  private restarting = false;
  /** A signal that arrived during a restart: the command ends instead of starting again. */
  private stoppedBy: NodeJS.Signals | undefined;
  private ended = false;
  private settle!: (ending: Ending) => void;
  /** Resolves once, when the command ends by itself or by a signal (never by a restart). */
  readonly ending: Promise<Ending>;

  constructor(private readonly options: SupervisorOptions) {
    this.ending = new Promise((resolve) => (this.settle = resolve));
  }

  get running(): boolean {
    return this.child !== undefined && alive(this.child);
  }

  start(env: NodeJS.ProcessEnv): void {
    if (this.ended) return;
    const child = spawn(this.options.command, this.options.args, { stdio: 'inherit', env });
    this.child = child;
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (this.child !== child || child.pid !== undefined) return;
      const code = error.code === 'ENOENT' ? 127 : 126;
      const why = error.code === 'ENOENT' ? 'command not found' : 'cannot run the command';
      this.finish({ exitCode: code, failure: `${why}: ${this.options.command} (${error.code ?? error.message})` });
    });
    child.once('exit', (code, signal) => {
      if (this.child !== child || this.restarting) return;
      this.finish({ exitCode: signal ? signalExitCode(signal) : (code ?? 1) });
    });
  }

  /** Stops the command (SIGTERM, then SIGKILL after the grace period) and starts it again. */
  async restart(env: NodeJS.ProcessEnv): Promise<void> {
    if (this.ended || this.restarting) return;
    const old = this.child;
    this.restarting = true;
    try {
      if (old) await stop(old, this.options.graceMs);
    } finally {
      this.restarting = false;
    }
    if (this.ended) return;
    if (this.stoppedBy) {
      // A signal came while restarting: the CLI ends as that signal would have ended it.
      this.finish({ exitCode: signalExitCode(this.stoppedBy) });
      return;
    }
    this.start(env);
  }

  /** A signal the CLI received: passed on to the command; with no command running it ends the CLI. */
  forward(signal: ForwardedSignal): void {
    const terminating = TERMINATING.has(signal);
    if (this.restarting && terminating) this.stoppedBy = signal;
    const child = this.child;
    if (!child || !alive(child)) {
      if (!this.restarting && terminating) this.finish({ exitCode: signalExitCode(signal) });
      return;
    }
    if (this.options.terminal && (signal === 'SIGINT' || signal === 'SIGQUIT')) return;
    child.kill(signal);
  }

  /** Ends the command for good (the CLI itself must stop): SIGTERM, then SIGKILL. */
  async shutdown(exitCode: number): Promise<void> {
    const child = this.child;
    this.finish({ exitCode });
    if (child && alive(child)) await stop(child, this.options.graceMs);
  }

  private finish(ending: Ending): void {
    if (this.ended) return;
    this.ended = true;
    this.settle(ending);
  }
}

function alive(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL; resolves when the process has exited. */
async function stop(child: ChildProcess, graceMs: number): Promise<void> {
  if (!alive(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
  const first = await Promise.race([exited.then(() => 'exited' as const), late]);
  clearTimeout(timer);
  if (first === 'late' && alive(child)) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** `10s`, `500ms`, `2m`, or a number of seconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`${what} must be a duration such as 10s, 500ms or 2m (not "${text}")`);
  const n = Number(match[1]);
  const unit = match[2] ?? 's';
  return Math.round(unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60_000);
}
