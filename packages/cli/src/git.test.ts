import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError } from './errors.js';
import { branchEnvironment, branchSlug, currentGitBranch, gitHead } from './git.js';

describe('branchSlug', () => {
  it.each([
    ['feature/Login-Form', 'feature-login-form'],
    ['JIRA_123__fix', 'jira-123-fix'],
    ['42-typo', 'b-42-typo'],
    ['--dashes--', 'dashes'],
    ['Café/Über', 'cafe-uber'],
    ['fix', 'fix'],
    ['a'.repeat(60), 'a'.repeat(41)],
    [`${'a'.repeat(40)}/b`, 'a'.repeat(40)],
  ])('%s → %s', (name, slug) => {
    expect(branchSlug(name)).toBe(slug);
  });

  it.each(['', '/', 'x', '___'])('"%s" has no slug', (name) => {
    expect(branchSlug(name)).toBeUndefined();
  });
});

describe('the current git branch', () => {
  const dirs: string[] = [];
  const repo = (head: string, asFile = false) => {
    const dir = mkdtempSync(join(tmpdir(), 'stageline-git-'));
    dirs.push(dir);
    if (asFile) {
      mkdirSync(join(dir, 'real'));
      writeFileSync(join(dir, 'real', 'HEAD'), `${head}\n`);
      writeFileSync(join(dir, '.git'), 'gitdir: real\n');
    } else {
      mkdirSync(join(dir, '.git'));
      writeFileSync(join(dir, '.git', 'HEAD'), `${head}\n`);
    }
    mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
    return dir;
  };
  afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('reads the branch from HEAD, from a subfolder and through a worktree .git file', () => {
    expect(currentGitBranch(join(repo('ref: refs/heads/feature/Login-Form'), 'sub', 'deeper'), {})).toBe('feature/Login-Form');
    expect(gitHead(repo('ref: refs/heads/x/y', true))).toEqual({ kind: 'branch', name: 'x/y' });
  });

  it('a detached HEAD takes the branch CI names, else is a usage error', () => {
    const dir = repo('0123456789abcdef0123456789abcdef01234567');
    expect(currentGitBranch(dir, { GITHUB_HEAD_REF: 'feature/ci' })).toBe('feature/ci');
    expect(() => currentGitBranch(dir, {})).toThrow(/detached/);
  });

  it('outside a repository, or on main, a name is needed (exit 2)', () => {
    const outside = mkdtempSync(join(tmpdir(), 'stageline-nogit-'));
    dirs.push(outside);
    const error = (() => {
      try {
        branchEnvironment(undefined, outside, {});
      } catch (caught) {
        return caught as CliError;
      }
      return undefined;
    })();
    expect(error?.exitCode).toBe(2);
    expect(error?.message).toContain('not in a git repository');
    expect(() => branchEnvironment(undefined, repo('ref: refs/heads/main'), {})).toThrow(/maps to the chain/);
    expect(branchEnvironment('Feature/X1', outside, {})).toEqual({ slug: 'feature-x1', gitBranch: null });
  });
});
