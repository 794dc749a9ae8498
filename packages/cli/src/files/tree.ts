// The local side of configuration as code: the resource files under the directory, and the lock
// file (`stageline.lock`) recording what the last pull or push left there, so `push` can tell a
// local edit from a remote one. Nothing here writes outside the directory or follows a link out.
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CliError } from '../errors.js';
import { EXTENSION, fileNameOf, isResourceKind, keyOfFileName, parseFile, RESOURCE_KEY_PATTERN, RESOURCE_KINDS, resourceId, type FileIssue, type ParsedFile, type ResourceKind } from './format.js';

export const LOCK_FILE = 'stageline.lock';
const LOCK_VERSION = 1;

/** What the lock knows of one resource: its state on the server and in the tree after the last pull or push. */
export interface LockEntry {
  kind: ResourceKind;
  key: string;
  /** Hash of the content the tree holds for it (the working state pulled or pushed); null: absent (a drafted deletion). */
  hash: string | null;
  /** The committed hash on the server then; null while only drafted. */
  committedHash: string | null;
  /** The draft state on the server then. */
  draft: 'created' | 'modified' | 'deleted' | null;
  app: string | null;
}

export interface Lock {
  workspace: string;
  environment: string;
  /** The environment's release the tree is based on (the last pull, or the release the last push committed). */
  release: number;
  resources: Map<string, LockEntry>;
}

export function lockPath(dir: string): string {
  return join(dir, LOCK_FILE);
}

export function readLock(dir: string): Lock | null {
  const path = lockPath(dir);
  if (!existsSync(path)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CliError(`${path} is not valid JSON (${(error as Error).message}): run stageline pull to write it again`, { code: 'invalid_lock' });
  }
  const bad = () => new CliError(`${path} is not a lock file this stageline writes: run stageline pull to write it again`, { code: 'invalid_lock' });
  const object = raw as { version?: unknown; workspace?: unknown; environment?: unknown; release?: unknown; resources?: unknown };
  if (!object || typeof object !== 'object' || object.version !== LOCK_VERSION) throw bad();
  if (typeof object.workspace !== 'string' || typeof object.environment !== 'string' || typeof object.release !== 'number') throw bad();
  if (!object.resources || typeof object.resources !== 'object') throw bad();
  const resources = new Map<string, LockEntry>();
  for (const [id, value] of Object.entries(object.resources as Record<string, unknown>)) {
    const [kind, key, ...rest] = id.split('/');
    const entry = value as Partial<LockEntry> | null;
    if (rest.length > 0 || !kind || !key || !isResourceKind(kind) || !RESOURCE_KEY_PATTERN.test(key) || !entry || typeof entry !== 'object') throw bad();
    resources.set(id, {
      kind,
      key,
      hash: typeof entry.hash === 'string' ? entry.hash : null,
      committedHash: typeof entry.committedHash === 'string' ? entry.committedHash : null,
      draft: entry.draft === 'created' || entry.draft === 'modified' || entry.draft === 'deleted' ? entry.draft : null,
      app: typeof entry.app === 'string' ? entry.app : null,
    });
  }
  return { workspace: object.workspace, environment: object.environment, release: object.release, resources };
}

/** Writes the lock with resources in id order, so the same state gives the same bytes. */
export function writeLock(dir: string, lock: Lock): void {
  const resources: Record<string, unknown> = {};
  for (const id of [...lock.resources.keys()].sort()) {
    const { hash, committedHash, draft, app } = lock.resources.get(id)!;
    resources[id] = { hash, committedHash, draft, app };
  }
  const text = `${JSON.stringify({ version: LOCK_VERSION, workspace: lock.workspace, environment: lock.environment, release: lock.release, resources }, null, 2)}\n`;
  mkdirSync(dir, { recursive: true });
  writeIfChanged(lockPath(dir), text);
}

export interface LocalFile extends ParsedFile {
  kind: ResourceKind;
  key: string;
  /** Relative to the working directory, for messages. */
  path: string;
}

export interface LocalTree {
  files: Map<string, LocalFile>;
  /** Files that are in a kind folder but are not resources (bad YAML, a name that is no key). */
  issues: { path: string; field: string; message: string }[];
}

/** The relative path of a resource's file inside the directory. */
export function filePathOf(kind: string, key: string): string {
  return join(kind, fileNameOf(key));
}

/** Every `<kind>/<key>.yaml` under the directory, parsed; other files are left alone. */
export function readTree(dir: string, cwd: string): LocalTree {
  const files = new Map<string, LocalFile>();
  const issues: LocalTree['issues'] = [];
  for (const kind of RESOURCE_KINDS) {
    const folder = join(dir, kind);
    if (!isDirectory(folder)) continue;
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = relative(cwd, join(folder, entry.name)) || entry.name;
      if (entry.name.endsWith('.yml')) {
        issues.push({ path, field: '', message: `resource files end in ${EXTENSION}: rename it` });
        continue;
      }
      if (!entry.name.endsWith(EXTENSION)) continue;
      if (!entry.isFile()) {
        issues.push({ path, field: '', message: 'is not a regular file (links are not followed)' });
        continue;
      }
      const key = keyOfFileName(entry.name);
      if (key === null) {
        issues.push({ path, field: '', message: 'is not a resource key: 1-128 letters, digits, dots, underscores or hyphens, starting with a letter or digit' });
        continue;
      }
      const parsed = parseFile(readFileSync(join(folder, entry.name), 'utf8'));
      if (!parsed.file) {
        for (const issue of parsed.issues) issues.push({ path, ...issue });
        continue;
      }
      files.set(resourceId(kind, key), { kind, key, path, ...parsed.file });
    }
  }
  return { files, issues };
}

function isDirectory(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Writes a resource's file unless it already holds these bytes; a link in its place is replaced, never followed. */
export function writeResourceFile(dir: string, kind: string, key: string, text: string): boolean {
  const folder = join(dir, kind);
  if (existsSync(folder) && !isDirectory(folder)) throw new CliError(`${folder} is not a folder (links are not followed)`);
  mkdirSync(folder, { recursive: true });
  return writeIfChanged(join(dir, filePathOf(kind, key)), text);
}

/** Removes a resource's file (only a regular file: pull removes only what it wrote). */
export function removeResourceFile(dir: string, kind: string, key: string): boolean {
  const path = join(dir, filePathOf(kind, key));
  try {
    if (!lstatSync(path).isFile()) return false;
  } catch {
    return false;
  }
  rmSync(path);
  return true;
}

function writeIfChanged(path: string, text: string): boolean {
  try {
    const stat = lstatSync(path);
    if (stat.isFile() && readFileSync(path, 'utf8') === text) return false;
    if (!stat.isFile()) rmSync(path, { recursive: false, force: true });
  } catch {
    // absent: written below
  }
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o644 });
  renameSync(temporary, path);
  return true;
}

export type { FileIssue };
