// Generates the dashboard's API description from the server itself: the OpenAPI document of an
// app built on a throwaway SQLite database (web/src/api/openapi.json) and its TypeScript types
// (web/src/api/schema.d.ts, openapi-typescript). `--check` compares instead of writing.
//
//   npm run gen:api      write both files
//   npm run check:api    exit 1 when the committed files differ from what the server describes
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import { z } from 'zod';
import { KIND_SCHEMAS, RESOURCE_KINDS } from '../src/domain/resources/kinds.js';
import { buildApp } from '../src/http/app.js';
import { parseMasterKeys } from '../src/domain/secrets/envelope.js';
import { createNode } from '../src/runtime/index.js';
import { openStore } from '../src/store/database.js';
import { eventsConfig } from '../src/config.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DOCUMENT_FILE = 'web/src/api/openapi.json';
export const TYPES_FILE = 'web/src/api/schema.d.ts';
/** The same types for the CLI, which builds without the dashboard's sources. */
export const CLI_TYPES_FILE = 'packages/cli/src/api/schema.d.ts';
/** The kinds' JSON Schemas (what GET /api/kinds serves), bundled so `stageline validate --offline` needs no server. */
export const CLI_KINDS_FILE = 'packages/cli/src/api/kinds.ts';

const METHOD_ORDER = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** The OpenAPI document the server serves at /api/openapi.json, from an app on an empty database. */
export async function describeApi(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'stageline-gen-api-'));
  try {
    const store = await openStore({ url: join(dir, 'stageline.db') });
    try {
      // No logger and no periodic jobs: nothing prints, nothing outlives the document.
      const { deps, runtime } = await createNode({
        store,
        masterKeys: parseMasterKeys(randomBytes(32).toString('base64')),
        workflows: { start: false },
        watchIntervalMs: 0,
        alerts: { intervalMs: 0 },
        gatesIntervalMs: 0,
        events: { ...eventsConfig({}), intervalMs: 0 },
        metrics: { enabled: false, retentionSweepMs: 0 },
      });
      try {
        const app = await buildApp({ deps, runtime });
        try {
          await app.ready();
          return JSON.parse(JSON.stringify(app.swagger())) as Record<string, unknown>;
        } finally {
          await app.close();
        }
      } finally {
        await runtime.close();
      }
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The document with its maps in a fixed order (paths and component schemas by name, methods and
 * statuses in a set order), so that where a route file registers its routes changes nothing.
 * Schemas keep their own property order: it is the order fields are declared and answered in.
 */
export function stableDocument(document: Record<string, unknown>): Record<string, unknown> {
  const sorted = (object: Record<string, unknown>, order: (a: string, b: string) => number) =>
    Object.fromEntries(Object.entries(object).sort(([a], [b]) => order(a, b)));
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const byMethod = (a: string, b: string) => rank(METHOD_ORDER, a) - rank(METHOD_ORDER, b) || byName(a, b);
  const paths = document.paths as Record<string, Record<string, Record<string, unknown>>> | undefined;
  const components = document.components as Record<string, unknown> | undefined;
  return {
    ...document,
    ...(paths
      ? {
          paths: sorted(
            Object.fromEntries(
              Object.entries(paths).map(([path, item]) => [
                path,
                sorted(
                  Object.fromEntries(
                    Object.entries(item).map(([method, operation]) => [
                      method,
                      operation.responses ? { ...operation, responses: sorted(operation.responses as Record<string, unknown>, byName) } : operation,
                    ]),
                  ),
                  byMethod,
                ),
              ]),
            ),
            byName,
          ),
        }
      : {}),
    ...(components
      ? {
          components: {
            ...components,
            ...(components.schemas ? { schemas: sorted(components.schemas as Record<string, unknown>, byName) } : {}),
          },
        }
      : {}),
  };
}

function rank(order: string[], value: string): number {
  const index = order.indexOf(value);
  return index === -1 ? order.length : index;
}

export interface GeneratedApi {
  document: string;
  types: string;
  kinds: string;
}

/** The same conversion as GET /api/kinds (src/http/routes/resource-views.ts). */
function kindSchemasModule(): string {
  const schemas = Object.fromEntries(
    RESOURCE_KINDS.map((kind) => [kind, z.toJSONSchema(KIND_SCHEMAS[kind], { target: 'draft-7', unrepresentable: 'any', io: 'input' })]),
  );
  return [
    '// Generated by scripts/gen-api.ts from the kinds\' schemas (what GET /api/kinds serves).',
    '// Do not edit: run npm run gen:api.',
    '',
    `export const KIND_JSON_SCHEMAS: Readonly<Record<string, unknown>> = ${JSON.stringify(schemas, null, 2)};`,
    '',
  ].join('\n');
}

/** Both files' contents, as `gen:api` writes them. */
export async function generateApi(): Promise<GeneratedApi> {
  const document = `${JSON.stringify(stableDocument(await describeApi()), null, 2)}\n`;
  const ast = await openapiTS(JSON.parse(document) as Parameters<typeof openapiTS>[0], { silent: true });
  const header = `// Generated by scripts/gen-api.ts from the server's OpenAPI document (${DOCUMENT_FILE}).\n// Do not edit: run npm run gen:api.\n\n`;
  return { document, types: header + astToString(ast), kinds: kindSchemasModule() };
}

/** The generated files that differ from the ones in `root` (none: they are current). */
export async function staleApiFiles(root = ROOT): Promise<string[]> {
  const generated = await generateApi();
  const read = (file: string) => {
    try {
      return readFileSync(join(root, file), 'utf8');
    } catch {
      return null;
    }
  };
  return [
    ...(read(DOCUMENT_FILE) === generated.document ? [] : [DOCUMENT_FILE]),
    ...(read(TYPES_FILE) === generated.types ? [] : [TYPES_FILE]),
    ...(read(CLI_TYPES_FILE) === generated.types ? [] : [CLI_TYPES_FILE]),
    ...(read(CLI_KINDS_FILE) === generated.kinds ? [] : [CLI_KINDS_FILE]),
  ];
}

async function main(args: string[]) {
  if (args.includes('--check')) {
    const stale = await staleApiFiles();
    for (const file of stale) process.stderr.write(`${file} is stale: run npm run gen:api\n`);
    process.exitCode = stale.length > 0 ? 1 : 0;
    return;
  }
  const generated = await generateApi();
  mkdirSync(join(ROOT, dirname(DOCUMENT_FILE)), { recursive: true });
  writeFileSync(join(ROOT, DOCUMENT_FILE), generated.document);
  writeFileSync(join(ROOT, TYPES_FILE), generated.types);
  writeFileSync(join(ROOT, CLI_TYPES_FILE), generated.types);
  writeFileSync(join(ROOT, CLI_KINDS_FILE), generated.kinds);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
