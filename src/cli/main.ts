#!/usr/bin/env node
// The `stageline` command of the server package: every command of @stageline/cli, plus the ones
// that need the server's own code (`server`, and the master-key commands under `keys`).
import { createProgram, run } from '@stageline/cli';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { armFaultsFromEnv } from '../faults.js';
import { startServer } from '../server.js';
import { generateKeyBytes } from '../domain/secrets/envelope.js';
import { loadMasterKeys } from '../master-key.js';
import { openStore } from '../store/database.js';
import { rotateMasterKey } from '../services/keyring.js';
import { backupDatabase, copyDatabase, masterKeysFor, restoreDatabase, type CopyReport, type Progress } from '../services/db-copy.js';
import { VERSION } from '../version.js';

const program = createProgram({ version: VERSION });

program
  .command('server')
  .description('migrate the database and serve the management API, the dashboard and the gateway')
  .option('--region <region>', 'serve only environments of this region (or of none) on the gateway; overrides STAGELINE_REGION')
  .action(async (flags: { region?: string }) => {
    const env = flags.region !== undefined ? { ...process.env, STAGELINE_REGION: flags.region } : process.env;
    const server = await startServer(loadConfig(env));
    const stop = async (signal: string) => {
      process.stderr.write(`received ${signal}, closing\n`);
      await server.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
  });

// `keys` holds the environments' API keys (from the CLI) and, here, the master keys of secret encryption.
const keys: Command = program.commands.find((command) => command.name() === 'keys') ?? program.command('keys').description('API keys and master keys');

keys
  .command('generate')
  .description('print a new random master key (base64) for STAGELINE_MASTER_KEY')
  .action(() => {
    process.stdout.write(generateKeyBytes().toString('base64') + '\n');
  });

keys
  .command('rotate-master')
  .description('re-wrap every workspace data key under the first key of STAGELINE_MASTER_KEY ("new,old")')
  .action(async () => {
    const config = loadConfig();
    const store = await openStore({ url: config.databaseUrl });
    try {
      const rotated = await rotateMasterKey(store, loadMasterKeys(config));
      process.stdout.write(`re-wrapped ${rotated} workspace data key(s) under the new master key\n`);
    } finally {
      await store.close();
    }
  });

// `db` moves an installation between databases and files (docs/backup.md).
const db = program.command('db').description('copy the installation to another database, back it up, restore it');

/** On a terminal: one line on stderr, rewritten as tables go by. */
function progressLine(): { show: (p: Progress) => void; done: () => void } {
  if (!process.stderr.isTTY) return { show: () => {}, done: () => {} };
  let last = 0;
  const write = (text: string) => process.stderr.write(`\r\x1b[2K${text}`);
  return {
    show(p) {
      const now = Date.now();
      if (p.phase === 'copy' && now - last < 100) return;
      last = now;
      write(p.phase === 'snapshot' ? 'taking a snapshot of the source…' : p.phase === 'copy' ? `copying ${p.table}: ${p.rows?.toLocaleString('en-US')} rows` : `verifying${p.table ? ` ${p.table}` : ''}…`);
    },
    done: () => write(''),
  };
}

function printCopy(report: CopyReport, json: boolean): void {
  const v = report.verification;
  if (json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else {
    const written = Object.values(report.written).reduce((n, rows) => n + rows, 0);
    process.stdout.write(
      [
        `${report.resumed ? 'resumed the copy' : 'copied'} ${report.from} -> ${report.to} in ${(report.ms / 1000).toFixed(1)} s (${written.toLocaleString('en-US')} rows written by this run)`,
        `verified: ${v.tables} tables, ${v.rows.toLocaleString('en-US')} rows, ${v.releases} releases (${v.resources.toLocaleString('en-US')} resources, ${v.contents.toLocaleString('en-US')} contents), ${v.auditEntries.toLocaleString('en-US')} audit entries in ${v.workspaces} workspace(s), ${v.keys} data key(s)`,
        v.ok ? 'no differences' : `${v.differenceCount} difference(s):\n${v.differences.map((d) => `  ${d}`).join('\n')}${v.differenceCount > v.differences.length ? '\n  …' : ''}`,
      ].join('\n') + '\n',
    );
  }
  if (!v.ok) process.exitCode = 1;
}

db.command('copy')
  .description('copy the whole installation into an empty PostgreSQL (or SQLite) database, resumably, and verify it')
  .requiredOption('--to <url>', 'the empty target database (postgres://…)')
  .option('--from <url>', 'the source database or backup file (default STAGELINE_DATABASE_URL)')
  .action(async (flags: { to: string; from?: string }, command: Command) => {
    armFaultsFromEnv();
    const config = loadConfig();
    const progress = progressLine();
    try {
      const report = await copyDatabase(flags.from ?? config.databaseUrl, flags.to, { masterKeys: masterKeysFor(config), onProgress: progress.show });
      progress.done();
      printCopy(report, Boolean(command.optsWithGlobals().json));
    } finally {
      progress.done();
    }
  });

db.command('backup')
  .description('write a consistent snapshot of the database (a running node may keep writing) to a portable backup file')
  .argument('<file>', 'the backup file to write (gzip of NDJSON)')
  .option('--from <url>', 'the database to back up (default STAGELINE_DATABASE_URL)')
  .action(async (file: string, flags: { from?: string }, command: Command) => {
    const config = loadConfig();
    const progress = progressLine();
    try {
      const report = await backupDatabase(flags.from ?? config.databaseUrl, file, { masterKeys: masterKeysFor(config), onProgress: progress.show });
      progress.done();
      if (command.optsWithGlobals().json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else process.stdout.write(`backed up ${report.from} (schema ${report.schema}) to ${report.file}: ${report.rows.toLocaleString('en-US')} rows of ${report.tables} tables, ${report.bytes.toLocaleString('en-US')} bytes in ${(report.ms / 1000).toFixed(1)} s\n`);
    } finally {
      progress.done();
    }
  });

db.command('restore')
  .description('restore a backup file into an empty database and verify it')
  .argument('<file>', 'a backup file written by `stageline db backup`')
  .option('--to <url>', 'the empty database to restore into (default STAGELINE_DATABASE_URL)')
  .action(async (file: string, flags: { to?: string }, command: Command) => {
    armFaultsFromEnv();
    const config = loadConfig();
    const progress = progressLine();
    try {
      const report = await restoreDatabase(file, flags.to ?? config.databaseUrl, { masterKeys: masterKeysFor(config), onProgress: progress.show });
      progress.done();
      printCopy(report, Boolean(command.optsWithGlobals().json));
    } finally {
      progress.done();
    }
  });

process.exitCode = await run(program);
