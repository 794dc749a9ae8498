// Where a command's settings come from, in order: flags, then STAGELINE_URL / STAGELINE_TOKEN /
// STAGELINE_WORKSPACE, then the project file (stageline.json, found from the working directory
// up), then the profile written by `stageline login`. A profile's token is sent only to the server
// that profile names, so a project file cannot redirect it elsewhere.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError, usageError } from './errors.js';
import { Output } from './output.js';
import { profileName, readProfiles, type Profile, type ProfileFile } from './profiles.js';

export const PROJECT_FILE = 'stageline.json';
export const DEFAULT_URL = 'http://127.0.0.1:4700';
export const DEFAULT_WORKSPACE = 'default';
export const DEFAULT_DIRECTORY = 'stageline';

/** The options every command accepts (declared once on the root program). */
export interface GlobalOptions {
  url?: string;
  token?: string;
  workspace?: string;
  profile?: string;
  json?: boolean;
  color?: boolean;
}

export interface Project {
  /** The folder holding stageline.json (or the working directory when there is none). */
  root: string;
  /** Absolute path of stageline.json, or undefined when there is none. */
  file: string | undefined;
  /** The resource directory, absolute (`directory` in stageline.json, default `stageline`). */
  directory: string;
  workspace: string | undefined;
  url: string | undefined;
  /** The environment commands default to where they take `--env` (`env` in stageline.json). */
  env: string | undefined;
  /** Everything stageline.json holds, for the commands that read more of it (`run`'s mapping). */
  raw: Record<string, unknown>;
}

export interface Context {
  url: string;
  /** undefined when no credential was found; `requireToken` fails with the right message. */
  token: string | undefined;
  workspace: string;
  profileName: string;
  profile: Profile | undefined;
  profiles: ProfileFile;
  project: Project;
  out: Output;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Where each setting came from, for `whoami` and error messages. */
  sources: { url: string; token: string; workspace: string };
}

export function findProject(cwd: string): Project {
  let dir = resolve(cwd);
  for (;;) {
    const file = join(dir, PROJECT_FILE);
    if (existsSync(file)) return readProject(file);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const root = resolve(cwd);
  return { root, file: undefined, directory: join(root, DEFAULT_DIRECTORY), workspace: undefined, url: undefined, env: undefined, raw: {} };
}

function readProject(file: string): Project {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliError(`${file} is not valid JSON (${(error as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new CliError(`${file} must hold a JSON object`);
  const object = raw as Record<string, unknown>;
  const text = (name: string): string | undefined => {
    const value = object[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') throw new CliError(`${file}: "${name}" must be a non-empty string`);
    return value;
  };
  const root = dirname(file);
  return {
    root,
    file,
    directory: resolve(root, text('directory') ?? DEFAULT_DIRECTORY),
    workspace: text('workspace'),
    url: text('url'),
    env: text('env'),
    raw: object,
  };
}

function normaliseUrl(url: string, from: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(`${from}: "${url}" is not a URL (for example http://127.0.0.1:4700)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw usageError(`${from}: "${url}" must be an http or https URL`);
  return parsed.origin + parsed.pathname.replace(/\/+$/, '');
}

export function sameServer(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

export interface ContextInput {
  options: GlobalOptions;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function resolveContext({ options, env = process.env, cwd = process.cwd() }: ContextInput): Context {
  const out = new Output({ json: options.json === true, ...(options.color === false ? { color: false } : {}), env });
  const project = findProject(cwd);
  const profiles = readProfiles(env);
  const name = profileName(options.profile, env, profiles);
  const profile = profiles.profiles[name];

  const pick = <T>(...candidates: [T | undefined, string][]): [T, string] | undefined => {
    for (const [value, source] of candidates) if (value !== undefined && value !== '') return [value, source];
    return undefined;
  };
  const [rawUrl, urlSource] = pick<string>(
    [options.url, '--url'],
    [env.STAGELINE_URL, 'STAGELINE_URL'],
    [project.url, PROJECT_FILE],
    [profile?.url, `profile ${name}`],
  ) ?? [DEFAULT_URL, 'default'];
  const url = normaliseUrl(rawUrl, urlSource);
  const [workspace, workspaceSource] = pick<string>(
    [options.workspace, '--workspace'],
    [env.STAGELINE_WORKSPACE, 'STAGELINE_WORKSPACE'],
    [project.workspace, PROJECT_FILE],
    [profile?.workspace, `profile ${name}`],
  ) ?? [DEFAULT_WORKSPACE, 'default'];
  const [token, tokenSource] = pick<string>(
    [options.token, '--token'],
    [env.STAGELINE_TOKEN, 'STAGELINE_TOKEN'],
    // The profile's token belongs to the profile's server: never sent to another one.
    [profile && sameServer(profile.url, url) ? profile.token : undefined, `profile ${name}`],
  ) ?? [undefined, 'none'];

  return { url, token, workspace, profileName: name, profile, profiles, project, out, env, cwd, sources: { url: urlSource, token: tokenSource, workspace: workspaceSource } };
}

/** The context of a running command (its root program's options merged in). */
export function contextOf(command: Command, input: Omit<ContextInput, 'options'> = {}): Context {
  return resolveContext({ ...input, options: command.optsWithGlobals<GlobalOptions>() });
}

export function requireToken(ctx: Context): string {
  if (ctx.token) return ctx.token;
  if (!ctx.profile && ctx.sources.token === 'none' && ctx.profileName !== 'default') {
    throw new CliError(`no profile named "${ctx.profileName}": run stageline login --profile ${ctx.profileName}`, { code: 'unauthenticated' });
  }
  const other = ctx.profile && !sameServer(ctx.profile.url, ctx.url) ? ` (profile ${ctx.profileName} is for ${ctx.profile.url})` : '';
  throw new CliError(`not logged in to ${ctx.url}${other}: run stageline login, or set STAGELINE_TOKEN`, { code: 'unauthenticated' });
}
