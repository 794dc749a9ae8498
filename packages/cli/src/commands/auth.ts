// login, logout, whoami: a profile per server and credential, written only by `login`.
import type { Command } from 'commander';
import { connect, type Connection } from '../api.js';
import { resolveContext, sameServer, type Context } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { DEFAULT_PROFILE, writeProfiles, type Profile } from '../profiles.js';
import { action, examples } from '../program.js';
import { promptHidden, promptLine, readStdin } from '../prompt.js';

interface LoginOptions {
  email?: string;
  passwordStdin?: boolean;
  withToken?: boolean;
}

export function registerAuth(program: Command): void {
  examples(
    program
      .command('login')
      .description('sign in to a server and save it as a profile (mode 0600): with email and password, or with an access token')
      .option('--email <email>', 'the member to sign in as (prompted for on a terminal)')
      .option('--password-stdin', 'read the password from stdin instead of a hidden prompt')
      .option('--with-token', 'save an access token (a service token or a member session) read from stdin or a hidden prompt')
      .action(action(login)),
    [
      'stageline login --url https://stageline.internal:4700 --email ada@example.com',
      'printf %s "$STAGELINE_CI_TOKEN" | stageline login --with-token --profile ci',
      'stageline --profile staging-box login --url http://10.0.0.7:4700',
    ],
  );

  examples(
    program
      .command('logout')
      .description('forget the profile (and end its session on the server when it came from a password login)')
      .action(action(logout)),
    ['stageline logout', 'stageline --profile ci logout'],
  );

  examples(
    program
      .command('whoami')
      .description('who the credential in use belongs to, on which server and workspace, and where each setting came from')
      .action(action(whoami)),
    ['stageline whoami', 'stageline whoami --json'],
  );
}

async function login(ctx: Context, options: LoginOptions): Promise<void> {
  if (options.withToken && (options.email || options.passwordStdin)) throw usageError('--with-token takes no --email or --password-stdin');
  let profile: Profile;
  if (options.withToken) {
    const token = (await promptHidden('Access token: ')).trim();
    if (!token) throw usageError('no token given');
    const who = await identify(connect({ ...ctx, token }));
    profile = { url: ctx.url, token, kind: 'token', ...(ctx.sources.workspace !== 'default' ? { workspace: ctx.workspace } : {}), email: who.name };
  } else {
    const email = options.email ?? (await promptLine('Email: '));
    if (!email) throw usageError('no email given');
    const password = options.passwordStdin ? await readStdin() : await promptHidden('Password: ');
    const conn = connect(ctx, { anonymous: true });
    const session = await conn.call(conn.api.POST('/api/auth/login', { body: { email, password } }));
    profile = { url: ctx.url, token: session.token, kind: 'login', email, expiresAt: session.expiresAt, ...(ctx.sources.workspace !== 'default' ? { workspace: ctx.workspace } : {}) };
  }
  const name = ctx.profileName;
  const file = { current: name, profiles: { ...ctx.profiles.profiles, [name]: profile } };
  const path = writeProfiles(file, ctx.env);
  ctx.out.result(
    { profile: name, url: profile.url, kind: profile.kind, as: profile.email ?? null, expiresAt: profile.expiresAt ?? null, file: path },
    (r) => `${ctx.out.style('green', '✓')} logged in to ${r.url} as ${r.as ?? 'a token'} (profile ${r.profile}${r.expiresAt ? `, until ${r.expiresAt}` : ''})`,
  );
}

async function logout(ctx: Context): Promise<void> {
  const name = ctx.profileName;
  const profile = ctx.profiles.profiles[name];
  if (!profile) throw new CliError(`no profile named "${name}" to log out of`);
  let ended = false;
  if (profile.kind === 'login') {
    // End the session on its own server, whatever --url says; a session already gone is fine.
    const own = resolveContext({ options: { url: profile.url, token: profile.token }, env: { ...ctx.env, STAGELINE_URL: '' }, cwd: ctx.cwd });
    const conn = connect(own);
    try {
      await conn.call(conn.api.POST('/api/auth/logout'));
      ended = true;
    } catch (error) {
      if (!(error instanceof CliError) || (error.status !== 401 && error.code !== 'unreachable')) throw error;
      if (error.code === 'unreachable') ctx.out.warn(`${profile.url} could not be reached: the session stays valid until it expires`);
    }
  }
  const rest = { ...ctx.profiles.profiles };
  delete rest[name];
  const current = ctx.profiles.current === name ? (Object.keys(rest)[0] ?? DEFAULT_PROFILE) : ctx.profiles.current;
  writeProfiles({ ...(current !== undefined ? { current } : {}), profiles: rest }, ctx.env);
  ctx.out.result({ profile: name, url: profile.url, sessionEnded: ended }, (r) => `logged out of ${r.url} (profile ${r.profile} removed${r.sessionEnded ? ', session ended' : ''})`);
}

async function identify(conn: Connection) {
  return conn.call(conn.api.GET('/api/auth/whoami'));
}

async function whoami(ctx: Context): Promise<void> {
  const who = await identify(connect(ctx));
  const result = {
    kind: who.kind,
    name: who.name,
    url: ctx.url,
    workspace: ctx.workspace,
    profile: ctx.profile && sameServer(ctx.profile.url, ctx.url) ? ctx.profileName : null,
    sources: ctx.sources,
  };
  ctx.out.result(result, (r) => [
    `${ctx.out.style('bold', r.name)} (${r.kind === 'user' ? 'member' : 'service token'})`,
    `server     ${r.url}  ${ctx.out.style('dim', `from ${r.sources.url}`)}`,
    `workspace  ${r.workspace}  ${ctx.out.style('dim', `from ${r.sources.workspace}`)}`,
    `token      ${ctx.out.style('dim', `from ${r.sources.token}`)}`,
  ]);
}
