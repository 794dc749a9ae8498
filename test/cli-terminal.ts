// The real `stageline` command on a pseudo-terminal (util-linux `script`), for what only happens
// on a terminal: hidden prompts and typed confirmations. Answers are typed once the prompt shows,
// so nothing is typed while the terminal still echoes.
import { spawn } from 'node:child_process';
import { CLI_MAIN } from './cli-support.js';

export interface TerminalResult {
  code: number | null;
  /** Everything the terminal showed (prompts, output and errors together). */
  screen: string;
}

export function runOnTerminal(args: string[], options: { env: Record<string, string>; cwd: string; prompt: string; answer: string; timeoutMs?: number }): Promise<TerminalResult> {
  const quoted = [process.execPath, CLI_MAIN, ...args].map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ');
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', TERM: 'dumb', ...options.env };
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', quoted, '/dev/null'], { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    let typed = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      screen += chunk;
      if (!typed && screen.includes(options.prompt)) {
        typed = true;
        // A moment for the prompt to switch the terminal to raw mode after printing.
        setTimeout(() => child.stdin.write(`${options.answer}\r`), 150);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (screen += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    });
  });
}
