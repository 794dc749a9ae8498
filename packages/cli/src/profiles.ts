// Named profiles written by `stageline login`: where a server is and the credential for it, in
// one file only its owner can read (0600, in a 0700 directory). `STAGELINE_CONFIG_DIR` moves it
// (tests, CI); otherwise `$XDG_CONFIG_HOME/stageline` or `~/.config/stageline`.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './errors.js';

export interface Profile {
  url: string;
  token: string;
  workspace?: string;
  /** `login`: a password session (logout revokes it); `token`: a pasted service or member token. */
  kind: 'login' | 'token';
  email?: string;
  expiresAt?: string;
}

export interface ProfileFile {
  current?: string;
  profiles: Record<string, Profile>;
}

export const DEFAULT_PROFILE = 'default';

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STAGELINE_CONFIG_DIR) return env.STAGELINE_CONFIG_DIR;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'stageline');
}

export function profilesPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'profiles.json');
}

export function readProfiles(env: NodeJS.ProcessEnv = process.env): ProfileFile {
  const path = profilesPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as Partial<ProfileFile>;
    const profiles: Record<string, Profile> = Object.create(null);
    if (parsed.profiles && typeof parsed.profiles === 'object') {
      for (const [name, profile] of Object.entries(parsed.profiles)) {
        if (profile && typeof profile.url === 'string' && typeof profile.token === 'string') profiles[name] = profile;
      }
    }
    return { ...(typeof parsed.current === 'string' ? { current: parsed.current } : {}), profiles };
  } catch {
    throw new CliError(`${path} is not valid JSON: fix or delete it, then run stageline login`);
  }
}

/** Writes the whole file atomically with mode 0600 (a rename, so no reader sees half of it). */
export function writeProfiles(file: ProfileFile, env: NodeJS.ProcessEnv = process.env): string {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = profilesPath(env);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
  return path;
}

/** The profile a command uses: `--profile`, else STAGELINE_PROFILE, else the file's current one. */
export function profileName(flag: string | undefined, env: NodeJS.ProcessEnv, file: ProfileFile): string {
  return flag ?? env.STAGELINE_PROFILE ?? file.current ?? DEFAULT_PROFILE;
}
