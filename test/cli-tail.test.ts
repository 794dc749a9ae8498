// stageline tail through the real command against a real node: the management change stream
// prints events caused while it runs (NDJSON with --json), resumes with --since, lets a member
// follow with their own token, and Ctrl-C ends it with exit 0.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer, request as forward, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_MAIN, cliWorkspace, type CliWorkspace } from './cli-support.js';
import { eventually, startTestServer, type TestServer } from './support.js';

const TOKEN = 'test-server-bootstrap-token-0123456789';
const WS = '/api/workspaces/default';
let node: TestServer;
let cli: CliWorkspace;

interface Tail {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  /** Sends the signal and resolves with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `stageline tail …` kept running until the test stops it. */
function startTail(args: string[], token = TOKEN, url = node.server.url): Tail {
  const child = spawn(process.execPath, [CLI_MAIN, 'tail', ...args], {
    cwd: cli.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NO_COLOR: '1', STAGELINE_CONFIG_DIR: cli.configDir, STAGELINE_URL: url, STAGELINE_TOKEN: token },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    stop: (signal = 'SIGINT') => {
      child.kill(signal);
      return closed;
    },
  };
}

async function commit(key: string, value: unknown, message: string) {
  expect((await node.api('PUT', `${WS}/environments/development/resources/config/${key}`, { content: { value } })).status).toBe(200);
  const created = await node.api('POST', `${WS}/environments/development/commits`, { message });
  expect(created.status).toBe(201);
  return created.body.number as number;
}

beforeAll(async () => {
  node = await startTestServer();
  cli = cliWorkspace({ url: node.server.url, token: TOKEN });
}, 60_000);
afterAll(async () => {
  cli?.dispose();
  await node?.close();
});

describe('stageline tail', () => {
  it('--json prints one JSON object per event caused while it runs; Ctrl-C exits 0', async () => {
    const tail = startTail(['--env', 'development', '--json']);
    try {
      await eventually(() => expect(tail.stderr()).toContain('following development'), 10_000);
      const number = await commit('payments', { checkoutUrl: 'https://psp.example/v1' }, 'payments');
      await eventually(() => expect(tail.stdout()).toContain('"type":"release"'), 10_000);
      const lines = tail.stdout().trim().split('\n').map((line) => JSON.parse(line));
      expect(lines).toEqual([
        expect.objectContaining({
          type: 'release',
          environment: 'development',
          release: number,
          name: `development#${number}`,
          cause: 'commit',
          message: 'payments',
          by: 'admin',
          changes: { added: 1, changed: 0, removed: 0 },
          resources: [{ resource: 'config/payments', status: 'added' }],
        }),
      ]);
      expect(lines[0].id).toEqual(expect.any(Number));
    } finally {
      const exit = await tail.stop('SIGINT');
      expect(exit.code).toBe(0);
    }
  });

  it('--since replays what happened after an event id, one human line each', async () => {
    const json = startTail(['--env', 'development', '--json']);
    let since: number;
    try {
      await eventually(() => expect(json.stderr()).toContain('following'), 10_000);
      await commit('payments', { checkoutUrl: 'https://psp.example/v2' }, 'v2');
      await eventually(() => expect(json.stdout()).toContain('"type":"release"'), 10_000);
      since = JSON.parse(json.stdout().trim().split('\n')[0]!).id - 1;
    } finally {
      expect((await json.stop()).code).toBe(0);
    }
    expect((await node.api('PUT', `${WS}/environments/development/resources/config/payments/active`, { active: false })).status).toBe(200);

    const tail = startTail(['--env', 'development', '--since', String(since)]);
    try {
      await eventually(() => expect(tail.stdout().trim().split('\n')).toHaveLength(2), 10_000);
      const [release, active] = tail.stdout().trim().split('\n');
      expect(release).toMatch(/release\s+development#\d+ commit: 0 added, 1 changed, 0 removed \(~config\/payments\) by admin$/);
      expect(active).toMatch(/active\s+config\/payments switched off$/);
    } finally {
      expect((await tail.stop('SIGTERM')).code).toBe(0);
    }
  });

  it('a viewer follows with their own management token (no API key)', async () => {
    expect((await node.api('POST', `${WS}/members`, { email: 'vic@example.com', password: 'correct horse battery', role: 'viewer' })).status).toBe(201);
    const login = await fetch(`${node.server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'vic@example.com', password: 'correct horse battery' }),
    });
    const token = ((await login.json()) as { token: string }).token;
    const tail = startTail(['--env', 'development', '--json'], token);
    try {
      await eventually(() => expect(tail.stderr()).toContain('following development'), 10_000);
      expect((await node.api('PUT', `${WS}/environments/development/resources/config/payments/active`, { active: true })).status).toBe(200);
      await eventually(() => expect(tail.stdout()).toContain('"type":"active"'), 10_000);
      expect(JSON.parse(tail.stdout().trim())).toMatchObject({ type: 'active', resource: 'config/payments', active: true, environment: 'development' });
    } finally {
      expect((await tail.stop()).code).toBe(0);
    }
  });

  it('a dropped connection is reconnected and resumed: the event made meanwhile is printed once', async () => {
    // A proxy between tail and the node whose connections the test cuts.
    const target = new URL(node.server.url);
    const sockets = new Set<Socket>();
    let cut = false;
    const proxy: Server = createServer((req, res) => {
      if (cut) return void res.destroy();
      const upstream = forward({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    proxy.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const tail = startTail(['--env', 'development', '--json'], TOKEN, url);
    try {
      await eventually(() => expect(tail.stderr()).toContain('following development'), 10_000);
      // Cut off until the commit is made: the event can only arrive through the resumed replay.
      cut = true;
      for (const socket of sockets) socket.destroy();
      await eventually(() => expect(tail.stderr()).toContain('lost the stream of development'), 10_000);
      const number = await commit('search', { engine: 'bm25' }, 'made while tail was cut off');
      cut = false;
      await eventually(() => expect(tail.stderr()).toContain('reconnected to development'), 15_000);
      await eventually(() => expect(tail.stdout()).toContain('"type":"release"'), 10_000);
      const lines = tail.stdout().trim().split('\n').map((line) => JSON.parse(line));
      expect(lines).toEqual([expect.objectContaining({ type: 'release', release: number, message: 'made while tail was cut off' })]);
    } finally {
      expect((await tail.stop()).code).toBe(0);
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('the management stream needs a credential that may read the environment', async () => {
    const anonymous = await fetch(`${node.server.url}${WS}/environments/development/stream`);
    expect(anonymous.status).toBe(401);
    const missing = await fetch(`${node.server.url}${WS}/environments/nowhere/stream`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(missing.status).toBe(404);
    const bad = await fetch(`${node.server.url}${WS}/environments/development/stream`, { headers: { authorization: `Bearer ${TOKEN}`, 'last-event-id': 'x' } });
    expect(bad.status).toBe(400);
  });

  it('a wrong token, an unknown environment and an unreachable server are one line and exit 1', async () => {
    const wrong = await cli.run(['tail', '--env', 'development'], { env: { STAGELINE_TOKEN: 'stl_wrong' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('refused the token');
    const unknown = await cli.run(['tail', '--env', 'nowhere']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    const unreachable = await cli.run(['tail'], { env: { STAGELINE_URL: 'http://127.0.0.1:9' } });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('cannot reach Stageline at http://127.0.0.1:9');
    const help = await cli.run(['tail', '--help']);
    expect(help.stdout).toContain('Examples:');
  });
});
