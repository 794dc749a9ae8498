// Where a node's master keys come from: STAGELINE_MASTER_KEY (a comma-separated list during a
// rotation, the first wrapping new data keys), else a key generated once into the data dir.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { generateKeyBytes, parseMasterKeys, type MasterKey } from './domain/secrets/envelope.js';
import { isPostgresUrl } from './store/database.js';

export const MASTER_KEY_FILE = 'master.key';

export function loadMasterKeys(
  config: { masterKey: string | null; dataDir: string; databaseUrl: string },
  logger?: Pick<FastifyBaseLogger, 'warn'>,
): MasterKey[] {
  if (config.masterKey) return parseMasterKeys(config.masterKey);
  const file = join(config.dataDir, MASTER_KEY_FILE);
  if (existsSync(file)) return parseMasterKeys(readFileSync(file, 'utf8'));
  if (isPostgresUrl(config.databaseUrl)) {
    // Nodes sharing a database each generating a key would encrypt with different keys.
    throw new Error('set STAGELINE_MASTER_KEY (the same on every node): a key is generated only for a single node on SQLite');
  }
  mkdirSync(config.dataDir, { recursive: true });
  writeFileSync(file, generateKeyBytes().toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  logger?.warn(
    { file },
    'generated a master key because STAGELINE_MASTER_KEY is not set: back this file up (secrets cannot be decrypted without it) or set STAGELINE_MASTER_KEY',
  );
  return parseMasterKeys(readFileSync(file, 'utf8'));
}
