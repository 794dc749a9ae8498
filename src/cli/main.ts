#!/usr/bin/env node
// The `stageline` command.
import { Command } from 'commander';
import { loadConfig } from '../config.js';
import { startServer } from '../server.js';

const program = new Command().name('stageline').description('Environment control plane for application configuration');

program
  .command('server')
  .description('migrate the database and serve the management API')
  .action(async () => {
    const server = await startServer(loadConfig());
    const stop = async (signal: string) => {
      process.stderr.write(`received ${signal}, closing\n`);
      await server.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
  });

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`stageline: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
