// The real `stageline` command (packages/cli/dist, built by `npm run build:packages`) spawned
// against a real node, each test with its own profile directory and working directory.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const CLI_MAIN = resolve(import.meta.dirname, '../packages/cli/dist/main.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (fails the test with what was printed when it does not parse). */
  json<T = any>(): T;
}

export interface CliOptions {
  /** Variables added to a clean environment (PATH, HOME, the profile dir and NO_COLOR are set). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to stdin, then stdin is closed (stdin is closed at once without it). */
  input?: string;
  timeoutMs?: number;
}

/** A folder for profiles and one for the project, removed by `dispose`. */
export interface CliWorkspace {
  configDir: string;
  cwd: string;
  /** Runs `stageline …` with STAGELINE_URL/STAGELINE_TOKEN of this workspace unless overridden. */
  run(args: string[], options?: CliOptions): Promise<CliResult>;
  dispose(): void;
}

export function cliWorkspace(defaults: { url?: string; token?: string; env?: Record<string, string | undefined> } = {}): CliWorkspace {
  const base = mkdtempSync(join(tmpdir(), 'stageline-cli-test-'));
  const configDir = join(base, 'config');
  const cwd = join(base, 'project');
  mkdirSync(cwd, { recursive: true });
  return {
    configDir,
    cwd,
    run(args, options = {}) {
      return runCli(args, {
        cwd: options.cwd ?? cwd,
        ...(options.input !== undefined ? { input: options.input } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        env: {
          STAGELINE_CONFIG_DIR: configDir,
          ...(defaults.url ? { STAGELINE_URL: defaults.url } : {}),
          ...(defaults.token ? { STAGELINE_TOKEN: defaults.token } : {}),
          ...defaults.env,
          ...options.env,
        },
      });
    },
    dispose() {
      rmSync(base, { recursive: true, force: true });
    },
  };
}


/** Spawns the CLI with a clean environment: nothing of the test runner's STAGELINE_* leaks in. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), NO_COLOR: '1' };
  for (const [name, value] of Object.entries(options.env ?? {})) if (value !== undefined) env[name] = value;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd: options.cwd ?? process.cwd(), env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        code,
        signal,
        stdout,
        stderr,
        json() {
          try {
            return JSON.parse(stdout);
          } catch {
            throw new Error(`stageline ${args.join(' ')} printed no JSON (exit ${code}):\nstdout: ${stdout}\nstderr: ${stderr}`);
          }
        },
      });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}
