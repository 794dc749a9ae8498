// `stageline run -- cmd` and `stageline export` through the real command against a real node: the
// variables a child sees, exit codes and signals passed through, restarts on --watch, the
// encrypted last good values when the server is unreachable, and every export format.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_MAIN, cliWorkspace, type CliWorkspace } from './cli-support.js';
import { startTestServer, type TestServer } from './support.js';

const TOKEN = 'test-server-bootstrap-token-0123456789';
const WS = '/api/workspaces/default';
/** The secret's value: quotes, `$`, `#`, a backslash and a line break, so every format is tested on it. */
const SECRET = `s3cr3t-'single' "double" $HOME #hash \\back\nsecond line`;
const NODE = process.execPath;

let node: TestServer;
let cli: CliWorkspace;
let base: string;
let cacheDir: string;
let scripts: string;
/** The production secret key the tests run with. */
let prodKey: string;

async function ok(method: string, path: string, body?: unknown) {
  const res = await node.api(method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Drafts in development, committed, promoted to production. */
async function publish(drafts: Record<string, unknown>) {
  for (const [id, value] of Object.entries(drafts)) await ok('PUT', `${WS}/environments/development/resources/${id}`, { content: { value } });
  await ok('POST', `${WS}/environments/development/commits`, { message: 'test change' });
  return ok('POST', `${WS}/environments/production/promotions`, { message: 'test promotion' });
}

async function createKey(env: string, name: string): Promise<{ id: string; key: string }> {
  const body = await ok('POST', `${WS}/environments/${env}/api-keys`, { name, kind: 'secret' });
  return { id: body.id, key: body.key };
}

/** A node script in the scripts folder. */
function script(name: string, source: string): string {
  const file = join(scripts, name);
  writeFileSync(file, source);
  return file;
}

/** Runs the CLI with the production key, no management token, and the test's cache dir. */
function runWithKey(args: string[], options: { env?: Record<string, string | undefined>; key?: string; cwd?: string } = {}) {
  return cli.run(args, {
    env: { STAGELINE_TOKEN: undefined, STAGELINE_KEY: options.key ?? prodKey, STAGELINE_CACHE_DIR: cacheDir, ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
}

interface Live {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The CLI as a process the test can signal and watch. */
function startCli(args: string[], env: Record<string, string>): Live {
  const child = spawn(NODE, [CLI_MAIN, ...args], {
    cwd: cli.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: base, NO_COLOR: '1', STAGELINE_CONFIG_DIR: cli.configDir, STAGELINE_CACHE_DIR: cacheDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000) {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A TCP relay to the node: closing it makes the server unreachable at the same URL. */
async function relay(port: number): Promise<{ url: string; close(): Promise<void>; reopen(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    const upstream = tcpConnect(port, '127.0.0.1');
    sockets.add(socket).add(upstream);
    socket.pipe(upstream).pipe(socket);
    const drop = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${own}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
    reopen: () => new Promise<void>((resolve) => server.listen(own, '127.0.0.1', resolve)),
  };
}

/** The dotenv grammar docs/run.md documents: plain, '…' literal, "…" with \\ \" \$ \` \n \r. */
function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`not a dotenv line: ${line}`);
    const raw = match[2]!;
    let value: string;
    if (raw.startsWith("'")) {
      expect(raw.endsWith("'")).toBe(true);
      value = raw.slice(1, -1);
      expect(value).not.toContain("'");
    } else if (raw.startsWith('"')) {
      expect(raw.endsWith('"')).toBe(true);
      value = raw.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
    } else {
      expect(raw).toMatch(/^[A-Za-z0-9_./:@%+,=-]*$/);
      value = raw;
    }
    out[match[1]!] = value;
  }
  return out;
}

const EXPECTED = {
  PAYMENTS_CHECKOUTURL: 'https://pay.example/eu/checkout',
  PAYMENTS_APIKEY: SECRET,
  PAYMENTS_RETRIES: '3',
  PAYMENTS_ENABLED: 'true',
  PAYMENTS_LIMITS: '{"currencies":["EUR","USD"],"daily":100}',
  FEATURE_FLAGS_NEW_CHECKOUT: 'false',
  SUPPORT_EMAIL: 'help@example.com #1',
};

beforeAll(async () => {
  node = await startTestServer();
  base = mkdtempSync(join(tmpdir(), 'stageline-run-test-'));
  cacheDir = join(base, 'cache');
  scripts = join(base, 'scripts');
  mkdirSync(scripts);
  cli = cliWorkspace({ url: node.server.url, token: TOKEN });
  await ok('PUT', `${WS}/variables/region`, { value: 'us', overrides: { production: 'eu' } });
  await ok('PUT', `${WS}/environments/production/secrets/STRIPE_KEY`, { value: SECRET });
  await publish({
    'config/payments': {
      checkoutUrl: 'https://pay.example/{{ vars.region }}/checkout',
      apiKey: '{{ secrets.STRIPE_KEY }}',
      retries: 3,
      enabled: true,
      limits: { daily: 100, currencies: ['EUR', 'USD'] },
      unset: null,
    },
    'config/feature-flags': { 'new-checkout': false },
    'config/support.email': 'help@example.com #1',
    'config/unrelated': { n: 1 },
  });
  prodKey = (await createKey('production', 'app')).key;
}, 60_000);

afterAll(async () => {
  cli?.dispose();
  await node?.close();
  if (base) rmSync(base, { recursive: true, force: true });
});

const printEnv = () => script('print-env.cjs', "const out = {}; for (const name of process.argv.slice(2)) out[name] = process.env[name] ?? null; process.stdout.write(JSON.stringify(out));");

describe('stageline run', () => {
  it('the child sees the resolved configuration, secrets included, named by the rule', async () => {
    const names = [...Object.keys(EXPECTED), 'PAYMENTS_UNSET', 'UNRELATED_N'];
    const result = await runWithKey(['run', '--env', 'production', '--', NODE, printEnv(), ...names]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ ...EXPECTED, PAYMENTS_UNSET: null, UNRELATED_N: '1' });
    expect(result.stderr).toBe('');
  });

  it("Stageline's value replaces the shell's, unless --no-override", async () => {
    const env = { PAYMENTS_RETRIES: 'from-shell' };
    const replaced = await runWithKey(['run', '--', NODE, printEnv(), 'PAYMENTS_RETRIES'], { env });
    expect(JSON.parse(replaced.stdout)).toEqual({ PAYMENTS_RETRIES: '3' });
    const kept = await runWithKey(['run', '--no-override', '--', NODE, printEnv(), 'PAYMENTS_RETRIES', 'PAYMENTS_ENABLED'], { env });
    expect(JSON.parse(kept.stdout)).toEqual({ PAYMENTS_RETRIES: 'from-shell', PAYMENTS_ENABLED: 'true' });
  });

  it('--prefix and --only narrow the names; a mapping in stageline.json overrides the rule', async () => {
    const narrowed = await runWithKey(['run', '--prefix', 'APP_', '--only', 'config/feature-flags', '--', NODE, printEnv(), 'APP_FEATURE_FLAGS_NEW_CHECKOUT', 'APP_PAYMENTS_RETRIES', 'PAYMENTS_RETRIES']);
    expect(JSON.parse(narrowed.stdout)).toEqual({ APP_FEATURE_FLAGS_NEW_CHECKOUT: 'false', APP_PAYMENTS_RETRIES: null, PAYMENTS_RETRIES: null });

    const project = join(base, 'mapped');
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, 'stageline.json'), JSON.stringify({ env: 'production', run: { env: { CHECKOUT_URL: 'config/payments.checkoutUrl', DAILY: 'config/payments.limits.daily', EMAIL: 'config/support.email' }, only: true } }));
    const mapped = await runWithKey(['run', '--', NODE, printEnv(), 'CHECKOUT_URL', 'DAILY', 'EMAIL', 'PAYMENTS_RETRIES'], { cwd: project });
    expect(mapped.code).toBe(0);
    expect(JSON.parse(mapped.stdout)).toEqual({ CHECKOUT_URL: EXPECTED.PAYMENTS_CHECKOUTURL, DAILY: '100', EMAIL: EXPECTED.SUPPORT_EMAIL, PAYMENTS_RETRIES: null });

    writeFileSync(join(project, 'stageline.json'), JSON.stringify({ run: { env: { X: 'config/payments.nope' } } }));
    const wrong = await runWithKey(['run', '--', NODE, '-e', '0'], { cwd: project });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('run.env.X: config/payments in the key\'s environment has no field nope');
  });

  it('exit codes pass through unchanged; a child killed by a signal gives 128 + its number', async () => {
    for (const code of [0, 3, 42]) {
      const result = await runWithKey(['run', '--', NODE, '-e', `process.exit(${code})`]);
      expect(result.code).toBe(code);
    }
    const killed = await runWithKey(['run', '--', NODE, '-e', "process.kill(process.pid, 'SIGKILL')"]);
    expect(killed.code).toBe(137);
    const missing = await runWithKey(['run', '--', 'no-such-command-stageline-test']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('command not found: no-such-command-stageline-test');
  });

  it('SIGTERM sent to the CLI reaches the child, and the child decides the exit code', async () => {
    const ready = join(base, 'trap-ready');
    const caught = join(base, 'trap-caught');
    const trap = script(
      'trap.cjs',
      `const fs = require('fs');
       process.on('SIGTERM', () => { fs.writeFileSync(${JSON.stringify(caught)}, 'SIGTERM ' + process.env.PAYMENTS_RETRIES); process.exit(7); });
       fs.writeFileSync(${JSON.stringify(ready)}, 'ready');
       setInterval(() => {}, 1000);`,
    );
    const live = startCli(['run', '--env', 'production', '--', NODE, trap], { STAGELINE_URL: node.server.url, STAGELINE_KEY: prodKey });
    await until('the child to start', () => existsSync(ready));
    live.child.kill('SIGTERM');
    const { code } = await live.exited;
    expect(code).toBe(7);
    expect(readFileSync(caught, 'utf8')).toBe('SIGTERM 3');
    expect(live.stderr()).toBe('');
  });

  it('--watch restarts the child when a promotion changes its values, not after an unrelated change', async () => {
    const child = script(
      'watch-child.cjs',
      // Ignores SIGTERM, so the restart has to wait out the grace period and SIGKILL it.
      `process.on('SIGTERM', () => {}); console.log('start ' + process.env.FEATURE_FLAGS_NEW_CHECKOUT); setInterval(() => {}, 1000);`,
    );
    const live = startCli(['run', '--env', 'production', '--watch', '--grace', '300ms', '--', NODE, child], { STAGELINE_URL: node.server.url, STAGELINE_KEY: prodKey });
    try {
      await until('the first start', () => live.stdout().includes('start false'));
      // Changes the command's variables do not depend on: a secret and a variable nothing uses.
      await ok('PUT', `${WS}/environments/production/secrets/UNUSED`, { value: 'unused' });
      await ok('PUT', `${WS}/variables/unused`, { value: 1, overrides: { production: 2 } });
      await publish({ 'config/feature-flags': { 'new-checkout': true } });
      await until('the restart', () => live.stdout().includes('start true'));
      // One start per distinct set of values: the unrelated change restarted nothing.
      expect(live.stdout().trim().split('\n')).toEqual(['start false', 'start true']);
      expect(live.stderr()).toMatch(/^stageline: FEATURE_FLAGS_NEW_CHECKOUT changed \(release \d+\): restarting /);
      expect(live.stderr().trim().split('\n')).toHaveLength(1);
      expect(live.stderr()).not.toContain(SECRET);
    } finally {
      live.child.kill('SIGINT');
    }
    // The child ignores SIGTERM but not SIGINT: the forwarded SIGINT ends it (130).
    expect((await live.exited).code).toBe(130);
    await publish({ 'config/feature-flags': { 'new-checkout': false } });
  });

  it('--watch without a management token stops the command when the stream shows the key is of another environment', async () => {
    const { key } = await createKey('development', 'dev-watch');
    const stopped = join(base, 'watch-stopped');
    const child = script(
      'stop-child.cjs',
      `process.on('SIGTERM', () => { require('fs').writeFileSync(${JSON.stringify(stopped)}, 'stopped'); process.exit(0); }); console.log('up'); setInterval(() => {}, 1000);`,
    );
    const live = startCli(['run', '--env', 'production', '--only', 'feature-flags', '--watch', '--grace', '2s', '--', NODE, child], { STAGELINE_URL: node.server.url, STAGELINE_KEY: key });
    await until('the start', () => live.stdout().includes('up'));
    // A release of development reaches the development key's stream, naming its environment;
    // one release after another until one is seen (the stream may still be connecting).
    let exited = false;
    void live.exited.then(() => (exited = true));
    for (let n = 0; n < 10 && !exited; n++) {
      await ok('PUT', `${WS}/environments/development/resources/config/dev-only`, { content: { value: n } });
      await ok('POST', `${WS}/environments/development/commits`, { message: 'a development release' });
      await until('the CLI to stop', () => exited, 1000).catch(() => undefined);
    }
    const { code } = await live.exited;
    expect(code).toBe(2);
    expect(live.stderr()).toContain('the key belongs to development, not production: stopping');
    expect(readFileSync(stopped, 'utf8')).toBe('stopped');
  });

  it('without the server, the encrypted last good values run the command, and say so', async () => {
    const proxy = await relay(new URL(node.server.url).port ? Number(new URL(node.server.url).port) : 80);
    const env = { STAGELINE_URL: proxy.url };
    const first = await runWithKey(['run', '--', NODE, printEnv(), 'PAYMENTS_APIKEY'], { env });
    expect(first.code).toBe(0);
    const files = readdirSync(cacheDir).filter((name) => name.endsWith('.enc'));
    expect(files.length).toBeGreaterThan(0);
    for (const name of files) {
      const file = join(cacheDir, name);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const bytes = readFileSync(file);
      for (const value of [SECRET, 's3cr3t', 'pay.example', 'help@example.com', prodKey, prodKey.slice(3)]) expect(bytes.includes(value)).toBe(false);
      expect(name).not.toContain(prodKey.slice(3, 11));
    }
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700);

    await proxy.close();
    const offline = await runWithKey(['run', '--', NODE, printEnv(), 'PAYMENTS_APIKEY', 'PAYMENTS_RETRIES'], { env });
    expect(offline.code).toBe(0);
    expect(JSON.parse(offline.stdout)).toEqual({ PAYMENTS_APIKEY: SECRET, PAYMENTS_RETRIES: '3' });
    expect(offline.stderr).toMatch(/cannot reach Stageline at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): running .* with the last good values from \S+ \(\d+ seconds? old, release \d+\)/);
    expect(offline.stderr).not.toContain(SECRET);

    const exported = await runWithKey(['export', '--json'], { env });
    expect(exported.code).toBe(0);
    expect(exported.json()).toMatchObject({ PAYMENTS_APIKEY: SECRET });

    const elsewhere = await runWithKey(['run', '--', NODE, '-e', '0'], { env: { ...env, STAGELINE_CACHE_DIR: join(base, 'empty-cache') } });
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain('and no last good values are kept for this key');
  });

  it('--watch started on the last good values switches to the live ones once the server is back', async () => {
    const proxy = await relay(Number(new URL(node.server.url).port));
    const env = { STAGELINE_URL: proxy.url, STAGELINE_KEY: prodKey };
    expect((await runWithKey(['run', '--', NODE, '-e', '0'], { env })).code).toBe(0);
    await proxy.close();
    const child = script('flag-child.cjs', `console.log('start ' + process.env.FEATURE_FLAGS_NEW_CHECKOUT); setInterval(() => {}, 1000);`);
    const live = startCli(['run', '--watch', '--grace', '1s', '--', NODE, child], env);
    try {
      await until('the start on the last good values', () => live.stdout().includes('start false'));
      expect(live.stderr()).toContain('with the last good values');
      await publish({ 'config/feature-flags': { 'new-checkout': true } });
      await proxy.reopen();
      await until('the restart with the live values', () => live.stdout().includes('start true'), 15_000);
      expect(live.stderr()).toContain('FEATURE_FLAGS_NEW_CHECKOUT changed');
    } finally {
      live.child.kill('SIGTERM');
      await live.exited;
      await proxy.close();
      await publish({ 'config/feature-flags': { 'new-checkout': false } });
    }
  });

  it('a revoked key fails at once and its last good values are dropped', async () => {
    const { id, key } = await createKey('production', 'short-lived');
    const ran = await runWithKey(['run', '--', NODE, '-e', '0'], { key });
    expect(ran.code).toBe(0);
    const before = readdirSync(cacheDir).length;
    await ok('DELETE', `${WS}/environments/production/api-keys/${id}`);
    const refused = await runWithKey(['run', '--', NODE, '-e', "require('fs').writeFileSync('ran', '1')"], { key });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`the server at ${node.server.url} refused the key`);
    expect(refused.stderr).not.toContain('last good');
    expect(existsSync(join(cli.cwd, 'ran'))).toBe(false);
    expect(readdirSync(cacheDir).length).toBe(before - 1);
  });

  it('without a secret key, with a publishable key, or with a key of another environment: exit 2', async () => {
    const none = await runWithKey(['run', '--env', 'production', '--', NODE, '-e', '0'], { key: '' });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('stageline keys create --env production --name app');
    const pk = await runWithKey(['run', '--', NODE, '-e', '0'], { key: 'pk_0123456789abcdef' });
    expect(pk.code).toBe(2);
    expect(pk.stderr).toContain('publishable key');

    // With a management token the key's environment is checked against --env.
    const mismatch = await runWithKey(['run', '--env', 'development', '--', NODE, '-e', "require('fs').writeFileSync('ran', '1')"], { env: { STAGELINE_TOKEN: TOKEN } });
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toContain('the key belongs to production, not development: pass --env production');
    expect(existsSync(join(cli.cwd, 'ran'))).toBe(false);
    const matching = await runWithKey(['run', '--env', 'production', '--', NODE, '-e', '0'], { env: { STAGELINE_TOKEN: TOKEN } });
    expect(matching.code).toBe(0);
    const unknown = await runWithKey(['run', '--env', 'nowhere', '--', NODE, '-e', '0'], { env: { STAGELINE_TOKEN: TOKEN } });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('has no environment "nowhere"');
  });

  it('two resources that map to one name, and a config that cannot be resolved, stop the run', async () => {
    await ok('PUT', `${WS}/environments/development/resources/config/db-url`, { content: { value: 'postgres://a' } });
    await ok('PUT', `${WS}/environments/development/resources/config/db_url`, { content: { value: 'postgres://b' } });
    await ok('PUT', `${WS}/environments/development/resources/config/needs-secret`, { content: { value: '{{ secrets.NOT_IN_DEV }}' } });
    await ok('POST', `${WS}/environments/development/commits`, { message: 'collide' });
    const { key } = await createKey('development', 'dev');
    const collide = await runWithKey(['run', '--only', 'config/db-url,config/db_url', '--', NODE, '-e', '0'], { key });
    expect(collide.code).toBe(1);
    expect(collide.stderr).toContain('config/db-url and config/db_url both become DB_URL');
    const unresolved = await runWithKey(['run', '--', NODE, '-e', '0'], { key });
    expect(unresolved.code).toBe(1);
    // config/payments needs STRIPE_KEY, which development has no value for either.
    expect(unresolved.stderr).toMatch(/config\/(needs-secret|payments) cannot be resolved in the key's environment: .* \(and 1 other config\)/);
    const narrowed = await runWithKey(['run', '--only', 'db-url', '--', NODE, printEnv(), 'DB_URL'], { key });
    expect(JSON.parse(narrowed.stdout)).toEqual({ DB_URL: 'postgres://a' });
  });
});

describe('stageline export', () => {
  it('dotenv, JSON and YAML each read back to the same values; values never reach stderr', async () => {
    const dotenv = await runWithKey(['export', '--env', 'production']);
    expect(dotenv.code).toBe(0);
    expect(parseDotenv(dotenv.stdout)).toMatchObject(EXPECTED);
    // Node's own dotenv reader agrees wherever its grammar can carry the value.
    const node = parseEnv(dotenv.stdout);
    for (const name of ['PAYMENTS_CHECKOUTURL', 'PAYMENTS_LIMITS', 'SUPPORT_EMAIL', 'PAYMENTS_RETRIES']) expect(node[name]).toBe(EXPECTED[name as keyof typeof EXPECTED]);
    expect(dotenv.stdout).toContain(`SUPPORT_EMAIL='help@example.com #1'`);

    const json = await runWithKey(['export', '--format', 'json']);
    expect(json.json()).toMatchObject(EXPECTED);
    const flag = await runWithKey(['export', '--json']);
    expect(flag.json()).toEqual(json.json());
    const yaml = await runWithKey(['export', '--format', 'yaml']);
    const read = parseYaml(yaml.stdout) as Record<string, unknown>;
    expect(read).toMatchObject(EXPECTED);
    expect(Object.values(read).every((value) => typeof value === 'string')).toBe(true);
    for (const result of [dotenv, json, flag, yaml]) {
      expect(result.stderr).toBe('');
    }
    expect((await runWithKey(['export', '--json', '--format', 'yaml'])).code).toBe(2);
  });

  it('--output writes a 0600 file and says so', async () => {
    const file = join(cli.cwd, 'app.env');
    writeFileSync(file, 'old', { mode: 0o644 });
    const result = await runWithKey(['export', '--output', 'app.env']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^✓ wrote \d+ variables of the key's environment to .*app\.env \(dotenv, mode 0600\)\n$/);
    expect(result.stdout + result.stderr).not.toContain(SECRET);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(parseDotenv(readFileSync(file, 'utf8'))).toMatchObject(EXPECTED);
    const summary = await runWithKey(['export', '--json', '--output', 'app.json']);
    expect(summary.json()).toMatchObject({ format: 'json', mode: '0600', from: 'server', variables: expect.arrayContaining(['PAYMENTS_APIKEY']) });
    expect(JSON.parse(readFileSync(join(cli.cwd, 'app.json'), 'utf8'))).toMatchObject(EXPECTED);
  });
});
