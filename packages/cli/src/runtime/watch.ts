// `run --watch`: the environment's change stream followed, the variables resolved again after each
// event, and the command restarted only when what it sees changed.
import { StagelineError } from '@stageline/client';
import { keyRefused, type ConfigSource, type Resolution } from './resolution.js';
import type { Supervisor } from './supervisor.js';
import { sameVariables } from './variables.js';

export interface WatchOptions {
  source: ConfigSource;
  supervisor: Supervisor;
  /** The variables the command runs with now. */
  current: Record<string, string>;
  /** The variables of a fresh resolution (throws when they cannot be made). */
  variables: (resolution: Resolution) => Record<string, string>;
  /** The environment the command expects (`--env`), checked against release events. */
  environment: string | undefined;
  /** Restarts the command with these variables. */
  restart: (values: Record<string, string>) => Promise<void>;
  url: string;
  command: string;
  note: (line: string) => void;
  warn: (line: string) => void;
}

/** Follows changes until the command ends. */
export function watchChanges(options: WatchOptions): void {
  const { source, supervisor } = options;
  let current = options.current;
  let busy = false;
  let queued = false;
  // One warning per trouble, not one per retry: reset by the next good resolution.
  let warned = false;
  const warnOnce = (line: string) => {
    if (!warned) options.warn(line);
    warned = true;
  };

  const recheck = async () => {
    if (busy) {
      queued = true;
      return;
    }
    busy = true;
    try {
      do {
        queued = false;
        const resolution = await source.fetch();
        const next = options.variables(resolution);
        source.remember(resolution);
        warned = false;
        if (sameVariables(current, next)) continue;
        const changed = changedNames(current, next);
        current = next;
        const release = resolution.release !== null ? ` (release ${resolution.release})` : '';
        options.note(`stageline: ${changed.join(', ')} changed${release}: restarting ${options.command}`);
        await options.restart(current);
      } while (queued);
    } catch (error) {
      warnOnce(`${describe(error, options.url)}: ${options.command} keeps its current values`);
    } finally {
      busy = false;
    }
  };

  // Changes made between the first resolution and the stream's opening are not replayed: look
  // once more as soon as it is open (the SDK sets lastEventId from its first event).
  const opened = setInterval(() => {
    if (source.client.lastEventId === null) return;
    clearInterval(opened);
    void recheck();
  }, 50);

  const stop = source.client.subscribe(
    (event) => {
      const named = event.data.environment;
      if (event.type === 'release' && options.environment !== undefined && typeof named === 'string' && named !== options.environment) {
        options.note(`stageline: the key belongs to ${named}, not ${options.environment}: stopping ${options.command}`);
        void supervisor.shutdown(2);
        return;
      }
      void recheck();
    },
    {
      refresh: false,
      onError: (error) => {
        if (error instanceof StagelineError && error.code !== 'unavailable') options.warn(`${keyRefused(options.url, error).message}: no more restarts`);
        else warnOnce(`the change stream is interrupted (${error.message}); retrying`);
      },
    },
  );
  void supervisor.ending.then(() => {
    clearInterval(opened);
    stop();
  });
}

/** The names whose values differ (at most five named). */
function changedNames(before: Record<string, string>, after: Record<string, string>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  const changed = [...names].filter((name) => before[name] !== after[name]).sort();
  return changed.length > 5 ? [...changed.slice(0, 5), `${changed.length - 5} more`] : changed;
}

function describe(error: unknown, url: string): string {
  if (error instanceof StagelineError) return error.code === 'unavailable' ? `cannot reach Stageline at ${url}` : keyRefused(url, error).message;
  return error instanceof Error ? error.message : String(error);
}
