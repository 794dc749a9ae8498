#!/usr/bin/env node
// The `stageline` command of the server package: every command of @stageline/cli, plus the ones
// that need the server's own code (`server`, and the master-key commands under `keys`).
import { createProgram, run } from '@stageline/cli';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { startServer } from '../server.js';
import { generateKeyBytes } from '../domain/secrets/envelope.js';
import { loadMasterKeys } from '../master-key.js';
import { openStore } from '../store/database.js';
import { rotateMasterKey } from '../services/keyring.js';
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

process.exitCode = await run(program);
