// vars, secrets, settings and keys: what an environment runs with besides its resources —
// workspace variables with per-environment overrides, write-only secrets, unversioned settings
// documents, and the environment's API keys (shown once, when created or rotated).
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { connect, type Connection, type components } from '../api.js';
import type { Context } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { action, examples } from '../program.js';
import { promptHidden, readStdin } from '../prompt.js';
import { durationMs, timeArgument } from '../arguments.js';

type Variable = components['schemas']['Variable'];
type ApiKey = components['schemas']['ApiKey'];

export function registerConfig(program: Command): void {
  registerVars(program);
  registerSecrets(program);
  registerSettings(program);
  registerKeys(program);
}

/** `--env`, else `env` in stageline.json; the commands that act on one environment need one. */
export function environmentOf(ctx: Context, flag: string | undefined): string {
  const env = flag ?? ctx.project.env;
  if (!env) throw usageError('which environment? pass --env <env> (or set "env" in stageline.json)');
  return env;
}

export const envOption = () => new Option('-e, --env <env>', 'environment slug (default: "env" in stageline.json)');

/** A value as typed: JSON when it parses as JSON (42, true, {"a":1}, "quoted"), else the text itself. */
export function parseValue(text: string, forceString: boolean | undefined): unknown {
  if (forceString) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A value for a terminal: strings as they are, anything else as compact JSON. */
function shown(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function truncated(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// ── vars ─────────────────────────────────────────────────────────────────────────────────────

function registerVars(program: Command): void {
  const vars = examples(program.command('vars').description('workspace variables ({{ vars.NAME }}): a default value and per-environment overrides, applied at once'), [
    'stageline vars set app_url https://example.com',
    'stageline vars set app_url http://localhost:3000 --env development',
    'stageline vars get app_url --env production',
  ]);
  vars.addHelpText('after', '\nValues are JSON when they parse as JSON (42, true, {"a":1}, "quoted"), otherwise text; --string keeps them text.\n');

  examples(vars.command('list').description('every variable with its default and overrides').action(action(listVars)), ['stageline vars list', 'stageline vars list --json']);

  examples(
    vars
      .command('get')
      .description("a variable's default and overrides; with --env, the value that environment resolves to (printed bare, for scripts)")
      .argument('<name>', 'variable name')
      .addOption(new Option('-e, --env <env>', 'print the value this environment resolves to'))
      .action(action(getVar)),
    ['stageline vars get app_url', 'stageline vars get app_url --env production'],
  );

  examples(
    vars
      .command('set')
      .description('set the default value, or with --env the override of one environment')
      .argument('<name>', 'variable name')
      .argument('<value>', 'the value: JSON if it parses as JSON, else text')
      .addOption(new Option('-e, --env <env>', 'set this environment\'s override instead of the default'))
      .option('--string', 'keep the value as text even if it parses as JSON')
      .option('--description <text>', 'what the variable is for')
      .action(action(setVar)),
    ['stageline vars set app_url https://example.com', 'stageline vars set max_retries 3', 'stageline vars set build_id 0123 --string', 'stageline vars set app_url http://localhost:3000 --env development'],
  );

  examples(
    vars
      .command('rm')
      .description('delete a variable, or with --env only that environment\'s override')
      .argument('<name>', 'variable name')
      .addOption(new Option('-e, --env <env>', 'remove only this environment\'s override'))
      .action(action(removeVar)),
    ['stageline vars rm app_url --env development', 'stageline vars rm app_url'],
  );
}

async function readVariable(conn: Connection, name: string): Promise<Variable | undefined> {
  try {
    return await conn.call(conn.api.GET('/api/workspaces/{ws}/variables/{name}', { params: { path: conn.ws({ name }) } }));
  } catch (error) {
    if (error instanceof CliError && error.status === 404) return undefined;
    throw error;
  }
}

async function writeVariable(conn: Connection, name: string, variable: { value?: unknown; description: string | null; overrides: Record<string, unknown> }): Promise<Variable> {
  return conn.call(conn.api.PUT('/api/workspaces/{ws}/variables/{name}', { params: { path: conn.ws({ name }) }, body: variable }));
}

function hasDefault(variable: Variable): boolean {
  return Object.prototype.hasOwnProperty.call(variable, 'value');
}

async function listVars(ctx: Context): Promise<void> {
  const conn = connect(ctx);
  const page = await conn.call(conn.api.GET('/api/workspaces/{ws}/variables', { params: { path: conn.ws() } }));
  ctx.out.result({ data: page.data }, ({ data }) =>
    data.length === 0
      ? 'no variables: stageline vars set <name> <value>'
      : ctx.out.table(data, [
          { header: 'NAME', value: (v) => v.name },
          { header: 'DEFAULT', value: (v) => (hasDefault(v) ? truncated(shown(v.value)) : ctx.out.style('dim', '(none)')) },
          {
            header: 'OVERRIDES',
            value: (v) =>
              Object.entries(v.overrides)
                .map(([env, value]) => `${env}=${truncated(shown(value), 30)}`)
                .join(', '),
          },
        ]),
  );
}

async function getVar(ctx: Context, name: string, options: { env?: string }): Promise<void> {
  const conn = connect(ctx);
  const variable = await readVariable(conn, name);
  if (!variable) throw new CliError(`no variable named ${name}`, { code: 'not_found', status: 404 });
  if (options.env === undefined) {
    ctx.out.result(variable, (v) => [
      `${ctx.out.style('bold', v.name)}${v.description ? `  ${ctx.out.style('dim', v.description)}` : ''}`,
      `default      ${hasDefault(v) ? shown(v.value) : '(none)'}`,
      ...Object.entries(v.overrides).map(([env, value]) => `${env.padEnd(12)} ${shown(value)}`),
    ]);
    return;
  }
  const env = options.env;
  const overridden = Object.prototype.hasOwnProperty.call(variable.overrides, env);
  if (!overridden && !hasDefault(variable)) throw new CliError(`${name} has no value in ${env}: no override there and no default`, { code: 'not_found', status: 404 });
  const value = overridden ? variable.overrides[env] : variable.value;
  ctx.out.result({ name, environment: env, value, from: overridden ? 'override' : 'default' }, (r) => shown(r.value));
}

async function setVar(ctx: Context, name: string, text: string, options: { env?: string; string?: boolean; description?: string }): Promise<void> {
  const value = parseValue(text, options.string);
  const conn = connect(ctx);
  const existing = await readVariable(conn, name);
  const overrides = { ...(existing?.overrides ?? {}) };
  const base = existing && hasDefault(existing) ? { value: existing.value } : {};
  if (options.env !== undefined) overrides[options.env] = value;
  const written = await writeVariable(conn, name, {
    ...(options.env === undefined ? { value } : base),
    description: options.description ?? existing?.description ?? null,
    overrides,
  });
  ctx.out.result(written, () => `${ctx.out.style('green', '✓')} ${name} = ${truncated(shown(value))}${options.env !== undefined ? ` in ${options.env}` : ' (default)'}`);
}

async function removeVar(ctx: Context, name: string, options: { env?: string }): Promise<void> {
  const conn = connect(ctx);
  if (options.env === undefined) {
    await conn.call(conn.api.DELETE('/api/workspaces/{ws}/variables/{name}', { params: { path: conn.ws({ name }) } }));
    ctx.out.result({ deleted: name }, () => `${ctx.out.style('green', '✓')} deleted variable ${name}`);
    return;
  }
  const env = options.env;
  const existing = await readVariable(conn, name);
  if (!existing) throw new CliError(`no variable named ${name}`, { code: 'not_found', status: 404 });
  if (!Object.prototype.hasOwnProperty.call(existing.overrides, env)) throw new CliError(`${name} has no override in ${env}`, { code: 'not_found', status: 404 });
  const overrides = { ...existing.overrides };
  delete overrides[env];
  const written = await writeVariable(conn, name, { ...(hasDefault(existing) ? { value: existing.value } : {}), description: existing.description, overrides });
  ctx.out.result(written, () => `${ctx.out.style('green', '✓')} removed the ${env} override of ${name}${hasDefault(written) ? ` (${env} now uses the default)` : ''}`);
}

// ── secrets ──────────────────────────────────────────────────────────────────────────────────

function registerSecrets(program: Command): void {
  const secrets = examples(
    program.command('secrets').description('secrets ({{ secrets.NAME }}): one encrypted value per environment, write-only; reads show a masked hint only'),
    ['printf %s "$STRIPE_KEY" | stageline secrets set stripe_key --env production', 'stageline secrets set stripe_key --env staging   # hidden prompt', 'stageline secrets list --env production'],
  );

  examples(secrets.command('list').description("the environment's secrets: name, masked hint, version, who changed it when").addOption(envOption()).action(action(listSecrets)), [
    'stageline secrets list --env production',
  ]);

  examples(
    secrets
      .command('set')
      .description('set a secret in one environment: the value from stdin when piped, else a hidden prompt, or --value when given explicitly; never echoed')
      .argument('<name>', 'secret name')
      .addOption(envOption())
      .option('--value <value>', 'the value on the command line (visible in shell history and process lists: prefer stdin)')
      .action(action(setSecret)),
    ['printf %s "$STRIPE_KEY" | stageline secrets set stripe_key --env production', 'stageline secrets set stripe_key --env staging', 'stageline secrets set smtp_password --env development --value dev-only'],
  );

  examples(
    secrets.command('rm').description("delete a secret's value in one environment").argument('<name>', 'secret name').addOption(envOption()).action(action(removeSecret)),
    ['stageline secrets rm stripe_key --env staging'],
  );
}

async function listSecrets(ctx: Context, options: { env?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  const conn = connect(ctx);
  const page = await conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}/secrets', { params: { path: conn.ws({ env }) } }));
  ctx.out.result({ environment: env, data: page.data }, ({ data }) =>
    data.length === 0
      ? `no secrets in ${env}`
      : ctx.out.table(data, [
          { header: 'NAME', value: (s) => s.name },
          { header: 'HINT', value: (s) => s.hint },
          { header: 'VERSION', value: (s) => s.version, right: true },
          { header: 'UPDATED BY', value: (s) => s.updatedBy },
          { header: 'UPDATED', value: (s) => s.updatedAt },
        ]),
  );
}

async function setSecret(ctx: Context, name: string, options: { env?: string; value?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  const value = options.value ?? (await promptHidden(`Value of ${name} in ${env}: `));
  if (value === '') throw usageError(`no value given for ${name}: pipe it on stdin, type it at the prompt, or pass --value`);
  const conn = connect(ctx);
  const metadata = await conn.call(conn.api.PUT('/api/workspaces/{ws}/environments/{env}/secrets/{name}', { params: { path: conn.ws({ env, name }) }, body: { value } }));
  ctx.out.result(metadata, (m) => `${ctx.out.style('green', '✓')} set ${m.name} in ${m.environment} (version ${m.version}${m.hint ? `, ${m.hint}` : ''})`);
}

async function removeSecret(ctx: Context, name: string, options: { env?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  const conn = connect(ctx);
  await conn.call(conn.api.DELETE('/api/workspaces/{ws}/environments/{env}/secrets/{name}', { params: { path: conn.ws({ env, name }) } }));
  ctx.out.result({ deleted: name, environment: env }, () => `${ctx.out.style('green', '✓')} deleted secret ${name} in ${env}`);
}

// ── settings ─────────────────────────────────────────────────────────────────────────────────

function registerSettings(program: Command): void {
  const settings = examples(
    program.command('settings').description('per-environment settings documents (channel.email, channel.webhook, channel.in_app, branding, egress, cors, feeds), applied at once'),
    ['stageline settings list --env production', 'stageline settings set cors \'{"origins":["https://app.example.com"]}\' --env production', 'stageline settings set channel.email --file smtp.json --env staging'],
  );

  examples(settings.command('list').description("the environment's settings").addOption(envOption()).action(action(listSettings)), ['stageline settings list --env production --json']);

  examples(
    settings.command('get').description("one setting's document (printed as JSON)").argument('<name>', 'setting name').addOption(envOption()).action(action(getSetting)),
    ['stageline settings get egress --env production'],
  );

  examples(
    settings
      .command('set')
      .description('write a setting: the JSON document as an argument, from --file, or from stdin with "-"')
      .argument('<name>', 'setting name')
      .argument('[json]', 'the document as JSON, or - to read it from stdin')
      .addOption(envOption())
      .option('--file <path>', 'read the JSON document from a file')
      .action(action(setSetting)),
    ['stageline settings set feeds \'{"requireRecipientToken":true}\' --env production', 'stageline settings set channel.webhook --file webhook.json --env staging', 'jq .branding config.json | stageline settings set branding - --env production'],
  );

  examples(settings.command('rm').description('delete a setting').argument('<name>', 'setting name').addOption(envOption()).action(action(removeSetting)), [
    'stageline settings rm branding --env staging',
  ]);
}

async function listSettings(ctx: Context, options: { env?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  const conn = connect(ctx);
  const page = await conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}/settings', { params: { path: conn.ws({ env }) } }));
  ctx.out.result({ environment: env, data: page.data }, ({ data }) =>
    data.length === 0
      ? `no settings in ${env}`
      : ctx.out.table(data, [
          { header: 'NAME', value: (s) => s.name },
          { header: 'VALUE', value: (s) => truncated(JSON.stringify(s.value)) },
          { header: 'UPDATED', value: (s) => s.updatedAt },
        ]),
  );
}

async function getSetting(ctx: Context, name: string, options: { env?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  const conn = connect(ctx);
  const setting = await conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}/settings/{name}', { params: { path: conn.ws({ env, name }) } }));
  ctx.out.result(setting, (s) => JSON.stringify(s.value, null, 2));
}

/** A JSON document given once: as an argument, "-" for stdin, or --file. */
export async function settingDocument(json: string | undefined, file: string | undefined): Promise<unknown> {
  if ((json === undefined) === (file === undefined)) throw usageError('give the document once: as an argument, "-" for stdin, or --file <path>');
  let text: string;
  let from: string;
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw usageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    from = file;
  } else if (json === '-') {
    text = await readStdin();
    from = 'stdin';
  } else {
    text = json!;
    from = 'the argument';
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw usageError(`${from} is not JSON (${(error as Error).message})`);
  }
}

async function setSetting(ctx: Context, name: string, json: string | undefined, options: { env?: string; file?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  const value = await settingDocument(json, options.file);
  const conn = connect(ctx);
  const setting = await conn.call(conn.api.PUT('/api/workspaces/{ws}/environments/{env}/settings/{name}', { params: { path: conn.ws({ env, name }) }, body: { value } }));
  ctx.out.result(setting, (s) => `${ctx.out.style('green', '✓')} set ${s.name} in ${s.environment}`);
}

async function removeSetting(ctx: Context, name: string, options: { env?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  const conn = connect(ctx);
  await conn.call(conn.api.DELETE('/api/workspaces/{ws}/environments/{env}/settings/{name}', { params: { path: conn.ws({ env, name }) } }));
  ctx.out.result({ deleted: name, environment: env }, () => `${ctx.out.style('green', '✓')} deleted setting ${name} in ${env}`);
}

// ── keys ─────────────────────────────────────────────────────────────────────────────────────

function registerKeys(program: Command): void {
  // The server package adds `generate` and `rotate-master` (master keys) to this same group.
  const keys = examples(program.command('keys').description("API keys of an environment (sk_… secret, pk_… publishable): shown once, stored as a hash"), [
    'stageline keys create --env production --name checkout-api',
    'stageline keys list --env production',
    'stageline keys rotate key_123 --env production --grace 1h',
  ]);

  examples(keys.command('list').description("the environment's keys: id, name, kind, prefix, status, last use (never the keys themselves)").addOption(envOption()).action(action(listKeys)), [
    'stageline keys list --env production',
  ]);

  examples(
    keys
      .command('create')
      .description('create a key; it is printed this once')
      .addOption(envOption())
      .requiredOption('--name <name>', 'what uses the key')
      .addOption(new Option('--kind <kind>', 'secret (server-side, may receive secrets) or publishable (browsers)').choices(['secret', 'publishable']).default('secret'))
      .option('--expires <when>', 'expiry: an ISO date-time or a duration from now (30d)')
      .action(action(createKey)),
    ['stageline keys create --env production --name checkout-api', 'stageline keys create --env production --name web --kind publishable', 'stageline keys create --env staging --name ci --expires 30d --json | jq -r .key'],
  );

  examples(keys.command('revoke').description('revoke a key at once').argument('<id>', 'key id (from keys list)').addOption(envOption()).action(action(revokeKey)), [
    'stageline keys revoke key_123 --env production',
  ]);

  examples(
    keys
      .command('rotate')
      .description('replace a key with a new one (printed this once); the old one keeps working for the grace period')
      .argument('<id>', 'key id (from keys list)')
      .addOption(envOption())
      .option('--grace <duration>', 'how long the old key keeps working (default 1d; 0 ends it now)')
      .action(action(rotateKey)),
    ['stageline keys rotate key_123 --env production', 'stageline keys rotate key_123 --env production --grace 0'],
  );
}

async function listKeys(ctx: Context, options: { env?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  const conn = connect(ctx);
  const page = await conn.call(conn.api.GET('/api/workspaces/{ws}/environments/{env}/api-keys', { params: { path: conn.ws({ env }) } }));
  // The list never carries keys; drop the field all the same should a server ever send one.
  const data = page.data.map(({ key: _key, ...rest }) => rest);
  ctx.out.result({ environment: env, data }, ({ data: rows }) =>
    rows.length === 0
      ? `no API keys in ${env}: stageline keys create --env ${env} --name <name>`
      : ctx.out.table(rows, [
          { header: 'ID', value: (k) => k.id },
          { header: 'NAME', value: (k) => k.name },
          { header: 'KIND', value: (k) => k.kind },
          { header: 'PREFIX', value: (k) => `${k.prefix}…` },
          { header: 'STATUS', value: (k) => (k.status === 'active' ? k.status : ctx.out.style('dim', k.status)) },
          { header: 'LAST USED', value: (k) => k.lastUsedAt },
          { header: 'EXPIRES', value: (k) => k.expiresAt },
        ]),
  );
}

function shownOnce(ctx: Context, key: ApiKey, verb: string): string[] {
  if (!ctx.out.json) ctx.out.warn('copy the key now: it will not be shown again');
  return [`${ctx.out.style('green', '✓')} ${verb} ${key.kind} key ${key.name} (${key.id}) in ${key.environment}`, key.key ?? ''];
}

async function createKey(ctx: Context, options: { env?: string; name: string; kind: 'secret' | 'publishable'; expires?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  const expiresAt = options.expires !== undefined ? timeArgument('--expires', options.expires, 1) : undefined;
  const conn = connect(ctx);
  const created = await conn.call(
    conn.api.POST('/api/workspaces/{ws}/environments/{env}/api-keys', {
      params: { path: conn.ws({ env }) },
      body: { name: options.name, kind: options.kind, ...(expiresAt !== undefined ? { expiresAt } : {}) },
    }),
  );
  ctx.out.result(created, (k) => shownOnce(ctx, k, 'created'));
}

async function revokeKey(ctx: Context, id: string, options: { env?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  const conn = connect(ctx);
  const revoked = await conn.call(conn.api.DELETE('/api/workspaces/{ws}/environments/{env}/api-keys/{id}', { params: { path: conn.ws({ env, id }) } }));
  ctx.out.result(revoked, (k) => `${ctx.out.style('green', '✓')} revoked ${k.kind} key ${k.name} (${k.id}) in ${k.environment}`);
}

async function rotateKey(ctx: Context, id: string, options: { env?: string; grace?: string }): Promise<void> {
  const env = environmentOf(ctx, options.env);
  let graceSeconds: number | undefined;
  if (options.grace !== undefined) {
    const ms = options.grace === '0' ? 0 : durationMs(options.grace);
    if (ms === undefined) throw usageError(`--grace "${options.grace}" is not a duration (0, 30m, 1h, 1d)`);
    graceSeconds = Math.round(ms / 1000);
  }
  const conn = connect(ctx);
  const rotated = await conn.call(
    conn.api.POST('/api/workspaces/{ws}/environments/{env}/api-keys/{id}/rotate', { params: { path: conn.ws({ env, id }) }, body: graceSeconds !== undefined ? { graceSeconds } : {} }),
  );
  ctx.out.result(rotated, (k) => [...shownOnce(ctx, k, 'rotated to a new'), `the old key ${k.previous.id} works until ${k.previous.expiresAt ?? 'revoked'}`]);
}
