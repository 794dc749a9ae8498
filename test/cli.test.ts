// `stageline --version` and `--help` from the sources (tsx) and from a build laid out like dist/.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const PACKAGE_VERSION: string = (await import('../package.json', { with: { type: 'json' } })).default.version;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.includes('.test') ? [path] : [];
  });
}

let packageDir: string;
beforeAll(async () => {
  // A package as installed: package.json beside dist/, every file compiled one to one like `npm run build`.
  packageDir = mkdtempSync(join(tmpdir(), 'stageline-cli-'));
  copyFileSync(join(ROOT, 'package.json'), join(packageDir, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(packageDir, 'node_modules'));
  await build({ entryPoints: sources(join(ROOT, 'src')), outdir: join(packageDir, 'dist'), outbase: join(ROOT, 'src'), platform: 'node', format: 'esm', logLevel: 'silent' });
}, 60_000);
afterAll(() => rmSync(packageDir, { recursive: true, force: true }));

describe('stageline --version', () => {
  it.each([
    ['tsx', () => [join(ROOT, 'node_modules/.bin/tsx'), join(ROOT, 'src/cli/main.ts')]],
    ['the build', () => [process.execPath, join(packageDir, 'dist/cli/main.js')]],
  ])('from %s prints the package version', async (_from, command) => {
    const [file, script] = command();
    for (const flag of ['--version', '-V']) {
      const { stdout } = await run(file!, [script!, flag], { cwd: tmpdir() });
      expect(stdout.trim()).toBe(PACKAGE_VERSION);
    }
  }, 60_000);

  it('--help mentions it', async () => {
    const { stdout } = await run(process.execPath, [join(packageDir, 'dist/cli/main.js'), '--help'], { cwd: tmpdir() });
    expect(stdout).toMatch(/-V, --version\s+print the version/);
  });

  it("--help of the server package lists every command of the contract, the CLI's and server", async () => {
    const { stdout } = await run(process.execPath, [join(packageDir, 'dist/cli/main.js'), '--help'], { cwd: tmpdir() });
    const listed = new Set([...stdout.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]));
    const contract = ['login', 'logout', 'whoami', 'env', 'branch', 'pull', 'push', 'diff', 'commit', 'promote', 'rollback', 'releases', 'requests', 'approve', 'reject', 'checks', 'vars', 'secrets', 'settings', 'keys', 'audit', 'tail', 'validate', 'run', 'export', 'server'];
    expect(contract.filter((command) => !listed.has(command))).toEqual([]);
    const keys = await run(process.execPath, [join(packageDir, 'dist/cli/main.js'), 'keys', '--help'], { cwd: tmpdir() });
    // The CLI's API-key commands and the server's master-key commands share the group.
    for (const command of ['create', 'list', 'revoke', 'rotate', 'generate', 'rotate-master']) expect(keys.stdout).toMatch(new RegExp(`^ {2}${command}\\b`, 'm'));
  });
});
