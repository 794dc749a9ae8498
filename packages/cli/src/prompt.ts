// Reading what must not be echoed: a secret value or a password from a hidden terminal prompt,
// or from stdin when it is piped (`printf %s "$VALUE" | stageline secrets set NAME`).
import type { Readable, Writable } from 'node:stream';
import { CliError } from './errors.js';

export interface PromptStreams {
  stdin?: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stderr?: Writable;
}

/** All of stdin, with one trailing newline removed (what `echo` and here-strings add). */
export async function readStdin(stdin: Readable = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** A line typed at the terminal, shown as typed (an email address). */
export async function promptLine(question: string, streams: PromptStreams = {}): Promise<string> {
  const stdin = streams.stdin ?? process.stdin;
  const stderr = streams.stderr ?? process.stderr;
  if (!stdin.isTTY) throw new CliError(`${question.replace(/:\s*$/, '')} is needed and no terminal is attached to ask for it`);
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: stdin, output: stderr, terminal: true });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

/**
 * A value typed at the terminal without echo; from stdin when it is not a terminal. Ctrl-C
 * aborts (exit 130 through the signal), Ctrl-D ends the input.
 */
export async function promptHidden(question: string, streams: PromptStreams = {}): Promise<string> {
  const stdin = streams.stdin ?? process.stdin;
  const stderr = streams.stderr ?? process.stderr;
  if (!stdin.isTTY || !stdin.setRawMode) return readStdin(stdin);
  stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = '';
      const onData = (data: Buffer) => {
        for (const char of data.toString('utf8')) {
          if (char === '\r' || char === '\n' || char === '\u0004') {
            stdin.off('data', onData);
            resolve(value);
            return;
          }
          if (char === '\u0003') {
            stdin.off('data', onData);
            reject(new CliError('cancelled'));
            return;
          }
          if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
          else value += char;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    stderr.write('\n');
  }
}
