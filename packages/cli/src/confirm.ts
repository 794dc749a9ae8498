// Asking before a command destroys something: on a terminal the user types the name of what goes;
// without a terminal nothing is asked and nothing is destroyed unless `--yes` says so (exit 2).
import { CliError, usageError } from './errors.js';
import { promptLine, type PromptStreams } from './prompt.js';

/**
 * Resolves when the deletion of `name` may go ahead: `yes` given, or the name typed at the
 * terminal. A wrong answer cancels (exit 1); no terminal and no `--yes` is a usage error.
 */
export async function confirmDeletion(what: string, name: string, yes: boolean | undefined, streams: PromptStreams = {}): Promise<void> {
  if (yes) return;
  const stdin = streams.stdin ?? process.stdin;
  if (!stdin.isTTY) throw usageError(`deleting ${what} ${name} needs confirmation: pass --yes (no terminal to ask on)`);
  const answer = await promptLine(`Delete ${what} ${name}? Type its name to confirm: `, streams);
  if (answer !== name) throw new CliError(`not deleted: "${answer}" is not "${name}"`, { code: 'cancelled' });
}
