// Part 2 — secrets at rest. Secrets written through the management API must exist at rest only
// as ciphertext (the SQLite files with their WAL, or a pg_dump); any byte of a stored envelope
// changed, or an envelope moved to another row, must fail to decrypt (in the domain and on the
// runtime and gateway paths, with a clear error); a node with the wrong master key must refuse
// to start; and the documented master-key rotation must run under load without a failed request.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { DB, emit, fmt, QUICK, runPart, say, scaled, zero } from '../contract.js';
import { Child, Cleanup, newDatabase, SERVER_MAIN, startNode, type StagelineNode } from '../lib/nodes.js';
import { pgDump, PlaintextScanner, sqliteFiles } from '../lib/secaudit-scan.js';
import { decryptSecret, generateKeyBytes, KeyError } from '../../src/domain/secrets/envelope.js';
import { allowLoopback, createTestDatabase, gatewayCall, startHarness, startTestGateway, startUpstream, TEST_MASTER_KEY, type Harness } from '../../test/support.js';

const PART = 'secrets';
/** Node start-up on a shared, busy machine has been seen to take over 20 s. */
const READY_MS = 120_000;

interface Written {
  ws: string;
  env: string;
  name: string;
  value: string;
}

interface StoredRow {
  workspace_id: string;
  environment_id: string;
  name: string;
  version: number;
  ciphertext: string;
}

const plaintext = () => randomBytes(30).toString('base64url'); // 40 characters, unique by chance of 2^-240

async function ok(h: Harness, method: string, path: string, body?: unknown, expect = [200, 201]) {
  const res = await h.call(method, path, body);
  if (!expect.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A secret-free, key-bound answer: what a runtime read of a tampered secret must look like. */
function clearRefusal(status: number, body: any, text: string, secretName: string, plaintexts: string[]): string | null {
  if (status < 400) return `answered ${status}`;
  if (!body || typeof body.error?.code !== 'string' || typeof body.error?.message !== 'string') return `${status} without the error shape: ${text.slice(0, 120)}`;
  if (body.error.code !== 'secret_unreadable') return `${status} ${body.error.code}: ${body.error.message}`;
  if (!body.error.message.includes(secretName)) return `message does not name the secret: ${body.error.message}`;
  if (plaintexts.some((p) => text.includes(p))) return 'the answer carries a plaintext';
  return null;
}

runPart(PART, async () => {
  const cleanup = new Cleanup();
  try {
    await atRest(cleanup);
    await rotation(cleanup);
  } finally {
    await cleanup.runAll();
  }
});

// ---------------------------------------------------------------------------------------------
// At rest, tampering, AAD binding: one in-process app on a database of the run's kind.

async function atRest(cleanup: Cleanup) {
  const database = await createTestDatabase();
  cleanup.add('drop the at-rest database', () => database.drop());
  let h = await startHarness({ database });
  let closed = false;
  cleanup.add('close the at-rest app', async () => {
    if (!closed) await h.close();
  });

  // Three workspaces, each with development, staging and production; a branch in the first.
  const layout: { ws: string; envs: string[] }[] = [];
  for (const ws of ['default', 'acme', 'globex']) {
    if (ws !== 'default') await ok(h, 'POST', '/api/workspaces', { slug: ws, name: ws });
    await ok(h, 'POST', `/api/workspaces/${ws}/environments`, { slug: 'staging', name: 'Staging' });
    layout.push({ ws, envs: ['development', 'staging', 'production'] });
  }
  await ok(h, 'POST', '/api/workspaces/default/environments', { slug: 'feature', name: 'Feature', kind: 'branch', from: 'development' });
  layout[0]!.envs.push('feature');

  const count = scaled(1000, 100);
  const written: Written[] = [];
  const everPlaintext: string[] = [];
  const started = Date.now();
  for (let i = 0; i < count; i++) {
    const { ws, envs } = layout[i % layout.length]!;
    const env = envs[Math.floor(i / layout.length) % envs.length]!;
    const secret: Written = { ws, env, name: `s_${i}`, value: plaintext() };
    await ok(h, 'PUT', `/api/workspaces/${ws}/environments/${env}/secrets/${secret.name}`, { value: secret.value });
    written.push(secret);
    everPlaintext.push(secret.value);
  }
  // One in ten written again: the value it replaced must not linger either.
  for (let i = 0; i < count; i += 10) {
    const secret = written[i]!;
    secret.value = plaintext();
    await ok(h, 'PUT', `/api/workspaces/${secret.ws}/environments/${secret.env}/secrets/${secret.name}`, { value: secret.value });
    everPlaintext.push(secret.value);
  }
  say(`  wrote ${fmt(count)} secrets (+${fmt(Math.ceil(count / 10))} rewrites) in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  // Used, so that whatever resolving persists is on disk too: configs in development that read
  // secrets through the runtime API, and a route that injects one through the gateway.
  const devSecrets = written.filter((s) => s.ws === 'default' && s.env === 'development');
  const used = devSecrets.slice(0, scaled(20, 6));
  for (const secret of used) {
    await ok(h, 'PUT', `/api/workspaces/default/environments/development/resources/config/use_${secret.name}`, { content: { value: { v: `{{ secrets.${secret.name} }}` } } });
  }
  const upstream = await startUpstream();
  cleanup.add('close the upstream', () => upstream.close());
  for (const secret of used) {
    await ok(h, 'PUT', `/api/workspaces/default/environments/development/resources/route/gw_${secret.name}`, {
      content: { match: { pathPrefix: `/gw_${secret.name}` }, upstream: { url: upstream.url }, injectHeaders: { 'x-injected': `{{ secrets.${secret.name} }}` } },
    });
  }
  await ok(h, 'POST', '/api/workspaces/default/environments/development/commits', { message: 'secret users' });
  await allowLoopback(h, 'development');
  const skKey = (await ok(h, 'POST', '/api/workspaces/default/environments/development/api-keys', { name: 'reader', kind: 'secret' })).key as string;
  let gateway = await startTestGateway(h);
  const readConfig = async (name: string) => {
    const res = await h.app.inject({ method: 'GET', url: `/v1/resources/config/use_${name}`, headers: { authorization: `Bearer ${skKey}` } });
    let body: any = null;
    try {
      body = JSON.parse(res.body);
    } catch {
      body = null;
    }
    return { status: res.statusCode, body, text: res.body };
  };
  const readGateway = async (name: string, base = gateway.url) => {
    const res = await gatewayCall(base, { path: `/gw_${name}`, headers: { 'x-stageline-key': skKey } });
    return { status: res.status, body: res.json, text: res.text };
  };
  const servedValue = (read: { status: number; body: any }, via: 'api' | 'gateway') =>
    read.status !== 200 ? null : via === 'api' ? read.body?.content?.value?.v : read.body?.headers?.['x-injected'];
  let usedOk = 0;
  for (const secret of used) {
    if (servedValue(await readConfig(secret.name), 'api') === secret.value && servedValue(await readGateway(secret.name), 'gateway') === secret.value) usedOk += 1;
  }
  emit({ part: PART, measure: 'self-check: secrets resolved through the runtime API and the gateway', value: `${usedOk} of ${used.length}`, goal: `${used.length} of ${used.length}`, ok: usedOk === used.length });

  // Planted canaries: variables are stored in clear, so the scanner must find each of these.
  const canaries = [plaintext(), plaintext(), plaintext()];
  await ok(h, 'PUT', '/api/workspaces/default/variables/canary_plain', { value: canaries[0] });
  await ok(h, 'PUT', '/api/workspaces/default/variables/canary_b64', { value: `x${Buffer.from(canaries[1]!).toString('base64')}` });
  await ok(h, 'PUT', '/api/workspaces/default/variables/canary_hex', { value: Buffer.from(canaries[2]!).toString('hex') });
  const scanner = new PlaintextScanner([...everPlaintext, ...canaries]);
  const report = (where: string, found: Map<string, string>) => {
    const leaks = everPlaintext.filter((p) => found.has(p));
    const planted = canaries.filter((p) => found.has(p)).length;
    if (leaks.length > 0) say(`  leak in ${where}: ${leaks.slice(0, 3).map((p) => found.get(p)).join(', ')}`);
    zero(PART, `plaintexts at rest (${where})`, leaks.length, { total: everPlaintext.length, unit: 'plaintexts' });
    emit({ part: PART, measure: `self-check: planted canaries found (${where})`, value: `${planted} of 3`, goal: '3 of 3', ok: planted === 3 });
  };
  if (DB === 'sqlite') {
    report('SQLite files, WAL not checkpointed', scanner.scan(sqliteFiles(database.url)));
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(h.store.db);
    report('SQLite files, after a checkpoint', scanner.scan(sqliteFiles(database.url)));
  } else {
    report('pg_dump', scanner.scan([{ label: 'pg_dump', bytes: pgDump(database.url) }]));
  }

  // ---- Tampering in the domain: every stored envelope, every byte, flipped.
  const rows = (await sql<StoredRow>`select workspace_id, environment_id, name, version, ciphertext from secrets order by workspace_id, environment_id, name`.execute(h.store.db)).rows;
  const dataKeys = new Map<string, Buffer>();
  for (const row of rows) if (!dataKeys.has(row.workspace_id)) dataKeys.set(row.workspace_id, (await h.deps.keyring.existingDataKey(h.store.db, row.workspace_id))!);
  const byRow = new Map(written.map((s) => [s.name, s.value]));
  const aadOf = (row: StoredRow) => ({ workspaceId: row.workspace_id, environmentId: row.environment_id, name: row.name, version: Number(row.version) });
  /** The plaintext when `ciphertext` decrypts for `row`'s key and associated data, else null (a KeyError). */
  const opens = (row: StoredRow, ciphertext: string, key = dataKeys.get(row.workspace_id)!): string | null => {
    try {
      return decryptSecret(key, ciphertext, aadOf(row));
    } catch (error) {
      if (!(error instanceof KeyError)) throw error;
      return null;
    }
  };
  const secretRows = rows.filter((row) => byRow.has(row.name));
  let clean = 0;
  for (const row of secretRows) if (opens(row, row.ciphertext) === byRow.get(row.name)) clean += 1;
  emit({ part: PART, measure: 'self-check: untampered envelopes decrypt to their plaintext', value: `${fmt(clean)} of ${fmt(secretRows.length)}`, goal: `${fmt(count)} of ${fmt(count)}`, ok: clean === count && secretRows.length === count });

  const everyMask = scaled(20, 5); // rows tried with all 255 values of each byte; the rest with its 8 single-bit flips
  let tried = 0;
  let accepted = 0;
  const regions = { nonce: 0, tag: 0, ciphertext: 0 };
  secretRows.forEach((row, index) => {
    const sealed = Buffer.from(row.ciphertext.slice(3), 'base64');
    for (let at = 0; at < sealed.length; at++) {
      const masks = index < everyMask ? Array.from({ length: 255 }, (_, m) => m + 1) : [1, 2, 4, 8, 16, 32, 64, 128];
      for (const mask of masks) {
        const flipped = Buffer.from(sealed);
        flipped[at]! ^= mask;
        tried += 1;
        regions[at < 12 ? 'nonce' : at < 28 ? 'tag' : 'ciphertext'] += 1;
        if (opens(row, `v1.${flipped.toString('base64')}`) !== null) accepted += 1;
      }
    }
    // Cut, extended, or with its format prefix changed.
    for (const variant of [`v1.${sealed.subarray(0, sealed.length - 1).toString('base64')}`, `v1.${Buffer.concat([sealed, Buffer.alloc(1)]).toString('base64')}`, `v2.${sealed.toString('base64')}`, sealed.toString('base64')]) {
      tried += 1;
      if (opens(row, variant) !== null) accepted += 1;
    }
  });
  zero(PART, `single-byte flips of stored envelopes accepted (domain; nonce ${fmt(regions.nonce)}, tag ${fmt(regions.tag)}, ciphertext ${fmt(regions.ciphertext)})`, accepted, { total: tried, unit: 'flips' });

  // ---- AAD binding in the domain: each envelope opened as another row's.
  let moves = 0;
  let movesAccepted = 0;
  for (const row of secretRows) {
    const sameWs = secretRows.filter((other) => other.workspace_id === row.workspace_id && other !== row);
    const otherEnv = sameWs.find((other) => other.environment_id !== row.environment_id)!;
    const otherName = sameWs.find((other) => other.environment_id === row.environment_id)!;
    const otherWs = secretRows.find((other) => other.workspace_id !== row.workspace_id)!;
    const targets: { target: StoredRow; key?: Buffer }[] = [
      { target: { ...otherEnv, name: row.name, version: row.version } }, // same name and version, another environment
      { target: otherEnv },
      { target: otherName },
      { target: { ...row, version: Number(row.version) + 1 } }, // an older value replayed as a newer version
      { target: otherWs }, // another workspace, opened with that workspace's data key
      { target: { ...otherWs, name: row.name, version: row.version }, key: dataKeys.get(row.workspace_id)! }, // with the right key, the wrong workspace id
    ];
    for (const { target, key } of targets) {
      moves += 1;
      if (opens(target, row.ciphertext, key ?? dataKeys.get(target.workspace_id)!) !== null) movesAccepted += 1;
    }
  }
  zero(PART, 'envelopes moved to another row that decrypt (domain: env, name, version, workspace)', movesAccepted, { total: moves, unit: 'moves' });

  // ---- The same through the runtime API and the gateway: rows changed in the database.
  const setCiphertext = (row: StoredRow, ciphertext: string) =>
    h.store.db.updateTable('secrets').set({ ciphertext }).where('environment_id', '=', row.environment_id).where('name', '=', row.name).execute();
  // Writing another secret of the environment is a change every node hears of: it drops the
  // decrypted values it holds, so the next read decrypts what is stored now.
  let pokes = 0;
  const poke = () => ok(h, 'PUT', '/api/workspaces/default/environments/development/secrets/poke', { value: `poke-${++pokes}-${plaintext()}` });
  const devRow = (name: string) => secretRows.find((row) => row.name === name)!;
  const otherEnvRows = secretRows.filter((row) => row.workspace_id === devRow(used[0]!.name).workspace_id && row.environment_id !== devRow(used[0]!.name).environment_id);
  const otherWsRows = secretRows.filter((row) => row.workspace_id !== devRow(used[0]!.name).workspace_id);
  let apiTried = 0;
  const apiBad: string[] = [];
  let restored = 0;
  let lastGood = 0;
  for (const [i, secret] of used.entries()) {
    const row = devRow(secret.name);
    const sealed = Buffer.from(row.ciphertext.slice(3), 'base64');
    const at = [i % 12, 12 + (i % 16), 28 + (i % (sealed.length - 28))][i % 3]!;
    const flipped = Buffer.from(sealed);
    flipped[at]! ^= 1 << (i % 8);
    const variants: [string, string][] = [
      [`byte ${at} flipped`, `v1.${flipped.toString('base64')}`],
      ['moved from another environment', otherEnvRows[i % otherEnvRows.length]!.ciphertext],
      ['moved from another workspace', otherWsRows[i % otherWsRows.length]!.ciphertext],
    ];
    for (const [what, ciphertext] of variants) {
      await setCiphertext(row, ciphertext);
      await poke();
      // A gateway that has served keeps its last good table when a rebuild fails (docs/gateway.md):
      // it may go on injecting the value it decrypted before the row changed, never another one.
      // A gateway with no table yet must refuse.
      const fresh = await startTestGateway(h);
      const reads = [
        ['runtime API', await readConfig(secret.name), false],
        ['serving gateway', await readGateway(secret.name), true],
        ['new gateway', await readGateway(secret.name, fresh.url), false],
      ] as const;
      await fresh.close();
      for (const [via, read, lastGoodAllowed] of reads) {
        apiTried += 1;
        if (lastGoodAllowed && servedValue(read, 'gateway') === secret.value) {
          lastGood += 1;
          continue;
        }
        const problem = clearRefusal(read.status, read.body, read.text, secret.name, everPlaintext);
        if (problem) apiBad.push(`${secret.name} ${what} via ${via}: ${problem}`);
      }
    }
    await setCiphertext(row, row.ciphertext);
    await poke();
    if (servedValue(await readConfig(secret.name), 'api') === secret.value && servedValue(await readGateway(secret.name), 'gateway') === secret.value) restored += 1;
  }
  for (const problem of apiBad.slice(0, 5)) say(`  ${problem}`);
  zero(PART, `tampered or moved secrets served, or refused without a clear error (runtime API, new gateway; serving gateway kept its last good value ${lastGood} times)`, apiBad.length, { total: apiTried, unit: 'reads' });
  emit({ part: PART, measure: 'self-check: restored rows served their plaintext again', value: `${restored} of ${used.length}`, goal: `${used.length} of ${used.length}`, ok: restored === used.length });
  await gateway.close();

  // Everything above left on disk: the pokes, the tampering and the restoring.
  await h.close();
  closed = true;
  if (DB === 'sqlite') report('SQLite files, after the app closed', scanner.scan(sqliteFiles(database.url)));
}

// ---------------------------------------------------------------------------------------------
// Wrong master key and rotation: real nodes.

interface LoadTally {
  requests: number;
  failed: number;
  samples: string[];
}

/**
 * Reads secret-backed values in a loop: the runtime API resolving a config that renders a secret,
 * and the gateway injecting one into an upstream request. Requests go round-robin to the nodes in
 * `live` (a load balancer's pool): a node leaves the pool before it is stopped and joins it once
 * it answers /healthz, as an operator drains nodes in a rolling restart.
 */
class Load {
  readonly tally: LoadTally = { requests: 0, failed: 0, samples: [] };
  readonly live: StagelineNode[] = [];
  private readonly inFlight = new Map<StagelineNode, number>();
  private running = true;
  private loops: Promise<void>[] = [];
  private turn = 0;

  constructor(
    private readonly skKey: string,
    private readonly expected: string,
  ) {}

  start(concurrency: number) {
    for (let i = 0; i < concurrency; i++) this.loops.push(this.loop(i));
  }

  async stop() {
    this.running = false;
    await Promise.all(this.loops);
  }

  /**
   * Adds the node once its gateway answers too: /healthz is the API's, and the gateway starts
   * listening after it (a gateway pool health-checks the gateway port).
   */
  async join(node: StagelineNode) {
    const deadline = Date.now() + READY_MS;
    for (;;) {
      const status = await gatewayCall(node.gatewayUrl, { path: '/rotated' }).then((res) => res.status, () => 0);
      if (status === 200) break;
      if (Date.now() > deadline) throw new Error(`${node.name}'s gateway did not answer 200 within ${READY_MS / 1000} s (last ${status})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    this.live.push(node);
  }

  /** Takes the node out of the pool and waits for its requests to finish. */
  async drain(node: StagelineNode) {
    this.live.splice(this.live.indexOf(node), 1);
    while ((this.inFlight.get(node) ?? 0) > 0) await new Promise((r) => setTimeout(r, 10));
  }

  private async loop(worker: number) {
    while (this.running) {
      const node = this.live[this.turn++ % Math.max(1, this.live.length)];
      if (!node) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      this.inFlight.set(node, (this.inFlight.get(node) ?? 0) + 1);
      const viaGateway = worker % 2 === 1;
      try {
        const problem = viaGateway ? await this.gateway(node) : await this.runtime(node);
        this.tally.requests += 1;
        if (problem) {
          this.tally.failed += 1;
          if (this.tally.samples.length < 5) this.tally.samples.push(`${node.name} ${viaGateway ? 'gateway' : 'runtime'}: ${problem}`);
        }
      } finally {
        this.inFlight.set(node, this.inFlight.get(node)! - 1);
      }
    }
  }

  private async runtime(node: StagelineNode): Promise<string | null> {
    try {
      const res = await fetch(`${node.url}/v1/resources/config/rotated`, { headers: { authorization: `Bearer ${this.skKey}` } });
      const body: any = await res.json();
      if (res.status !== 200) return `${res.status} ${JSON.stringify(body).slice(0, 160)}`;
      return body?.content?.value?.v === this.expected ? null : 'a wrong value';
    } catch (error) {
      return (error as Error).message;
    }
  }

  private async gateway(node: StagelineNode): Promise<string | null> {
    try {
      const res = await gatewayCall(node.gatewayUrl, { path: '/rotated' });
      if (res.status !== 200) return `${res.status} ${res.text.slice(0, 160)}`;
      return res.json?.headers?.['x-injected'] === this.expected ? null : 'a wrong injected value';
    } catch (error) {
      return (error as Error).message;
    }
  }
}

/** Starts a node that is expected to refuse; returns the refusal (exit code and message) or null when it served. */
async function refusedStart(cleanup: Cleanup, databaseUrl: string, masterKey: string, name: string): Promise<{ code: string; text: string } | null> {
  try {
    const node = await startNode(cleanup, { name, databaseUrl, masterKey, readyTimeoutMs: READY_MS });
    await node.stop();
    return null;
  } catch (error) {
    const text = (error as Error).message;
    return { code: /exited \((-?\d+|null)\)/.exec(text)?.[1] ?? '?', text };
  }
}

async function rotation(cleanup: Cleanup) {
  const databaseUrl = await newDatabase(DB, cleanup, 'secrets_rotation');
  const oldKey = TEST_MASTER_KEY;
  const newKey = generateKeyBytes().toString('base64');
  const upstream = await startUpstream();
  cleanup.add('close the rotation upstream', () => upstream.close());

  const twoNodes = DB === 'postgres';
  const names = twoNodes ? ['node-a', 'node-b'] : ['node-a'];
  const nodes: StagelineNode[] = [];
  for (const name of names) nodes.push(await startNode(cleanup, { name, databaseUrl, masterKey: oldKey, readyTimeoutMs: READY_MS }));
  const api = nodes[0]!.api;
  const ws = '/api/workspaces/default';
  const value = plaintext();
  await api.call('PUT', `${ws}/environments/development/secrets/rotated_key`, { value });
  await api.call('PUT', `${ws}/environments/development/resources/config/rotated`, { content: { value: { v: '{{ secrets.rotated_key }}' } } });
  await api.call('PUT', `${ws}/environments/development/resources/route/rotated`, { content: { match: { pathPrefix: '/rotated' }, upstream: { url: upstream.url }, injectHeaders: { 'x-injected': '{{ secrets.rotated_key }}' } } });
  await api.call('POST', `${ws}/environments/development/commits`, { message: 'rotation fixture' });
  await api.call('PUT', `${ws}/environments/production/secrets/rotated_key`, { value });
  await api.call('PUT', `${ws}/environments/production/settings/egress`, { value: { allow: ['127.0.0.1'] } });
  await api.call('POST', `${ws}/environments/production/promotions`, { message: 'rotation fixture' });
  const skKey = (await api.call<{ key: string }>('POST', `${ws}/environments/production/api-keys`, { name: 'load', kind: 'secret' })).body.key;
  const checkpoint = (await api.call('GET', `${ws}/audit-log/checkpoint`)).body;

  // A wrong master key on a database holding secrets: the node must exit non-zero, saying why.
  const wrong = await refusedStart(cleanup, databaseUrl, generateKeyBytes().toString('base64'), 'wrong-key');
  const wrongOk = wrong !== null && wrong.code !== '0' && wrong.text.includes('the master key cannot decrypt this database');
  if (!wrongOk) say(`  wrong key: ${wrong ? wrong.text.slice(0, 400) : 'the node served'}`);
  emit({ part: PART, measure: 'a node with a wrong master key refuses to start (non-zero exit, clear message)', value: wrongOk ? `refused (exit ${wrong!.code})` : wrong ? `exit ${wrong.code}, unclear message` : 'served', goal: 'refused', ok: wrongOk });

  const load = new Load(skKey, value);
  for (const node of nodes) await load.join(node);
  load.start(4);
  const pause = () => new Promise((r) => setTimeout(r, QUICK ? 500 : 3_000));
  await pause();

  let restartWindows = 0;
  const restartAll = async (masterKey: string, label: string) => {
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      await load.drain(node);
      if (load.live.length === 0) restartWindows += 1;
      await node.stop();
      const next = await startNode(cleanup, { name: `${names[i]}-${label}`, databaseUrl, masterKey, port: node.port, gatewayPort: node.gatewayPort, readyTimeoutMs: READY_MS });
      nodes[i] = next;
      await load.join(next);
      await pause();
    }
  };
  await restartAll(`${newKey},${oldKey}`, 'both');

  // `stageline keys rotate-master` as the docs say: once, with "new,old", while the nodes serve.
  const cli = Child.start('rotate-master', cleanup, process.execPath, [SERVER_MAIN, 'keys', 'rotate-master'], {
    NODE_ENV: 'test',
    STAGELINE_DATABASE_URL: databaseUrl,
    STAGELINE_MASTER_KEY: `${newKey},${oldKey}`,
    STAGELINE_LOG_LEVEL: 'warn',
  });
  const cliCode = await cli.exited;
  if (cliCode !== 0) say(`  rotate-master exited ${cliCode}: ${cli.tail()}`);
  emit({ part: PART, measure: '`stageline keys rotate-master` under load', value: cliCode === 0 ? cli.tail(1) : `exit ${cliCode}`, goal: 'exit 0', ok: cliCode === 0 });
  await pause();

  await restartAll(newKey, 'new');
  await pause();
  await load.stop();
  for (const sample of load.tally.samples) say(`  failed: ${sample}`);
  zero(PART, `failed requests during the rotation (${nodes.length} node${nodes.length > 1 ? 's' : ''}, runtime API + gateway${restartWindows > 0 ? `; ${restartWindows} restarts with no node in the pool` : ''})`, load.tally.failed, { total: load.tally.requests, unit: 'requests' });

  // Afterwards nothing is wrapped by the old key: the old key alone refuses, the new one alone served above.
  const store = (await import('../../src/store/database.js')).openStore;
  const db = await store({ url: databaseUrl });
  const newId = (await import('../../src/domain/secrets/envelope.js')).parseMasterKeys(newKey)[0]!.id;
  const wrappedOld = [
    ...(await db.db.selectFrom('workspace_keys').select('master_key_id').execute()),
    ...(await db.db.selectFrom('audit_keys').select('master_key_id').execute()),
  ].filter((row) => row.master_key_id !== newId).length;
  await db.close();
  const oldOnly = await refusedStart(cleanup, databaseUrl, oldKey, 'old-key-only');
  const oldRefused = oldOnly !== null && oldOnly.code !== '0' && oldOnly.text.includes('the master key cannot decrypt this database');
  zero(PART, 'keys still wrapped by the old master key after rotation (workspace + audit keys)', wrappedOld);
  emit({ part: PART, measure: 'after rotation: new key alone serves, old key alone refuses', value: `${nodes.length} served; old key ${oldRefused ? 'refused' : 'not refused'}`, goal: 'served; refused', ok: oldRefused });

  // The audit chain sealed before the rotation, and a checkpoint signed before it, still verify.
  const verify = (await nodes[0]!.api.call('GET', `${ws}/audit-log/verify?checkpoint=${encodeURIComponent(JSON.stringify(checkpoint))}`)).body as any;
  emit({ part: PART, measure: 'audit chain and a pre-rotation checkpoint verify after rotation', value: verify.valid ? `valid (${fmt(verify.entries)} entries)` : JSON.stringify(verify.firstBroken ?? verify.checkpoint), goal: 'valid', ok: verify.valid === true && verify.checkpoint?.valid === true });
  for (const node of nodes) await node.stop();
}
