// The CLI as a user gets it: the SDK and the CLI packed into tarballs, installed into an empty
// project (from the npm cache where it can), then run from node_modules/.bin against a real node. It must
// bring none of the server's dependencies.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support.js';

const packages = resolve(import.meta.dirname, '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const TOKEN = 'test-server-bootstrap-token-0123456789';

/** Every command the contract names (DESIGN.md, "CLI") but `server`, which the server package adds. */
const COMMANDS = ['login', 'logout', 'whoami', 'env', 'branch', 'pull', 'push', 'diff', 'commit', 'promote', 'rollback', 'releases', 'requests', 'approve', 'reject', 'checks', 'vars', 'secrets', 'settings', 'keys', 'audit', 'tail', 'validate', 'run', 'export'];

let work: string;
let app: string;
let node: TestServer;

function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false', ...env } });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

function pack(dir: string): string {
  const packed = JSON.parse(run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], dir)) as { filename: string }[];
  return join(work, packed[0]!.filename);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'stageline-cli-pack-'));
  const client = pack(join(packages, 'client'));
  const cli = pack(join(packages, 'cli'));
  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', client, cli], app);
  node = await startTestServer();
}, 180_000);

afterAll(async () => {
  await node?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('@stageline/cli as an installed package', () => {
  it('installs without the server: only its own small dependencies', () => {
    const installed = readdirSync(join(app, 'node_modules')).filter((name) => !name.startsWith('.')).sort();
    expect(installed).not.toContain('fastify');
    expect(installed).not.toContain('better-sqlite3');
    expect(installed).not.toContain('kysely');
    expect(readdirSync(join(app, 'node_modules', '@stageline')).sort()).toEqual(['cli', 'client']);
    expect(installed.length).toBeLessThanOrEqual(8);
  });

  it('`stageline --help` lists every command of the contract', () => {
    const help = run(join(app, 'node_modules', '.bin', 'stageline'), ['--help'], app);
    const listed = new Set([...help.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]));
    expect(COMMANDS.filter((command) => !listed.has(command))).toEqual([]);
  });

  it('talks to a real node from the installed binary', async () => {
    // Asynchronously: the node answers from this process.
    const { stdout } = await promisify(execFile)(join(app, 'node_modules', '.bin', 'stageline'), ['whoami', '--json'], {
      cwd: app,
      env: { ...process.env, STAGELINE_URL: node.server.url, STAGELINE_TOKEN: TOKEN, STAGELINE_CONFIG_DIR: join(work, 'config') },
    });
    expect(JSON.parse(stdout)).toMatchObject({ kind: 'user', name: 'admin', url: node.server.url });
  });
});
