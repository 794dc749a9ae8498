// The git branch a command defaults to (`branch create` with no name, like Knock) and the rule
// that turns a git branch name into an environment slug. Reads .git/HEAD itself: no git binary
// needed, and a branch with no commit yet still has its name.
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { usageError } from './errors.js';

/** The server's slug rule (src/domain/environments/chain.ts): a letter, then 1 to 40 of a–z, 0–9, -. */
export const SLUG_PATTERN = /^[a-z][a-z0-9-]{1,40}$/;
const MAX_SLUG = 41;

/**
 * The environment slug of a git branch name:
 * lowercase; every run of characters other than a–z and 0–9 becomes one hyphen; hyphens at
 * either end go; a name that then starts with a digit gets `b-` in front; cut to 41 characters
 * (without a trailing hyphen). Answers undefined when nothing usable is left (fewer than 2 characters).
 * `feature/Login-Form` → `feature-login-form`, `JIRA_123__fix` → `jira-123-fix`, `42-typo` → `b-42-typo`.
 */
export function branchSlug(name: string): string | undefined {
  let slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (/^[0-9]/.test(slug)) slug = `b-${slug}`;
  slug = slug.slice(0, MAX_SLUG).replace(/-+$/, '');
  return SLUG_PATTERN.test(slug) ? slug : undefined;
}

/** The folder holding the repository's HEAD (a worktree's or a submodule's `.git` file points at it). */
function gitDirOf(cwd: string): string | undefined {
  let dir = resolve(cwd);
  for (;;) {
    const candidate = join(dir, '.git');
    try {
      const stat = statSync(candidate);
      if (stat.isDirectory()) return candidate;
      const pointer = /^gitdir:\s*(.+)$/m.exec(readFileSync(candidate, 'utf8'));
      if (pointer) return isAbsolute(pointer[1]!.trim()) ? pointer[1]!.trim() : resolve(dir, pointer[1]!.trim());
    } catch {
      // no .git here: look in the parent
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export type GitHead = { kind: 'branch'; name: string } | { kind: 'detached' } | { kind: 'none' };

/** What HEAD is in the repository holding `cwd`. */
export function gitHead(cwd: string): GitHead {
  const gitDir = gitDirOf(cwd);
  if (!gitDir) return { kind: 'none' };
  let head: string;
  try {
    head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
  } catch {
    return { kind: 'none' };
  }
  const ref = /^ref:\s*refs\/heads\/(.+)$/.exec(head);
  return ref ? { kind: 'branch', name: ref[1]! } : { kind: 'detached' };
}

/**
 * The current git branch. A CI checkout is often a detached HEAD: then the branch CI names
 * (GITHUB_HEAD_REF of a pull request, GITHUB_REF_NAME, GitLab's CI_COMMIT_REF_NAME) is used.
 * Outside a repository, or detached with no such variable, a usage error says to name it.
 */
export function currentGitBranch(cwd: string, env: NodeJS.ProcessEnv): string {
  const head = gitHead(cwd);
  if (head.kind === 'branch') return head.name;
  const fromCi = env.GITHUB_HEAD_REF || env.GITHUB_REF_NAME || env.CI_COMMIT_REF_NAME;
  if (head.kind === 'detached' && fromCi) return fromCi;
  if (head.kind === 'none') throw usageError('not in a git repository: name the branch as an argument');
  throw usageError('git HEAD is detached: name the branch as an argument');
}

/** The environment slug of the branch a command names, or of the current git branch. */
export function branchEnvironment(name: string | undefined, cwd: string, env: NodeJS.ProcessEnv): { slug: string; gitBranch: string | null } {
  if (name !== undefined) {
    if (SLUG_PATTERN.test(name)) return { slug: name, gitBranch: null };
    const slug = branchSlug(name);
    if (!slug) throw usageError(`"${name}" cannot be made an environment slug: use 2 to 41 of a-z, 0-9 and -, starting with a letter`);
    return { slug, gitBranch: null };
  }
  const gitBranch = currentGitBranch(cwd, env);
  if (gitBranch === 'main' || gitBranch === 'master') {
    throw usageError(`the git branch is ${gitBranch}, which maps to the chain, not to a branch environment: name the branch, or switch to a feature branch`);
  }
  const slug = branchSlug(gitBranch);
  if (!slug) throw usageError(`the git branch "${gitBranch}" cannot be made an environment slug: name the branch`);
  return { slug, gitBranch };
}
