// The SDK as an application gets it: packed into a tarball, installed into an empty project with no
// registry at hand, loaded through require and import, and type-checked under every module
// resolution TypeScript offers an application (node10, node16, nodenext, bundler).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let work: string;
let app: string;
let tarball: string;

/** Runs a command; on failure the error carries what it printed (tsc prints diagnostics on stdout). */
function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

/** What an application writes: every export used with its types. */
const usage = (importLine: string) => `${importLine}
const options: StagelineClientOptions = { baseUrl: 'http://127.0.0.1:1', apiKey: 'pk_test', timeoutMs: 100 };
const client: StagelineClient = createClient(options);
async function read(): Promise<number> {
  const site: Resource<{ title: string }> = await client.get<{ title: string }>('config', 'site');
  const all: Resource[] = await client.getAll();
  const stop = client.subscribe((event: ChangeEvent) => { void event.id; });
  stop();
  client.close();
  return site.content.title.length + all.length;
}
export function failed(error: unknown): string | undefined {
  return error instanceof StagelineError ? error.code : undefined;
}
void read;
`;

const named = 'createClient, StagelineError, type ChangeEvent, type Resource, type StagelineClient, type StagelineClientOptions';

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'stageline-client-pack-'));
  const packed = JSON.parse(run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], packageDir)) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, packed[0]!.filename);
  app = join(work, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  run(npm, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], app);
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('@stageline/client as an installed package', () => {
  it('ships built ES modules, CommonJS and declarations, and no tests', () => {
    const listing = run('tar', ['-tzf', tarball], work).split('\n').filter(Boolean);
    for (const file of ['package/dist/esm/index.js', 'package/dist/esm/index.d.ts', 'package/dist/cjs/index.js', 'package/dist/cjs/index.d.ts', 'package/package.json']) {
      expect(listing).toContain(file);
    }
    expect(listing.filter((f) => f.includes('.test.'))).toEqual([]);
  });

  it('installs alone: the empty project gains exactly one package', () => {
    const installed = readdirSync(join(app, 'node_modules')).filter((name) => !name.startsWith('.'));
    expect(installed).toEqual(['@stageline']);
    expect(readdirSync(join(app, 'node_modules', '@stageline'))).toEqual(['client']);
  });

  it('loads through require and through import', () => {
    const cjs = run(process.execPath, ['-e', "const c = require('@stageline/client'); console.log(typeof c.createClient, typeof c.StagelineError)"], app);
    expect(cjs.trim()).toBe('function function');
    const esm = run(process.execPath, ['--input-type=module', '-e', "import { createClient, StagelineError } from '@stageline/client'; console.log(typeof createClient, typeof StagelineError)"], app);
    expect(esm.trim()).toBe('function function');
  });

  const resolutions: { name: string; module: string; moduleResolution: string; files: Record<string, string> }[] = [
    { name: 'node10', module: 'commonjs', moduleResolution: 'node10', files: { 'main.ts': usage(`import { ${named} } from '@stageline/client';`) } },
    {
      name: 'node16',
      module: 'node16',
      moduleResolution: 'node16',
      files: { 'main.cts': usage(`import { ${named} } from '@stageline/client';`), 'main.mts': usage(`import { ${named} } from '@stageline/client';`) },
    },
    {
      name: 'nodenext',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      files: { 'main.cts': usage(`import { ${named} } from '@stageline/client';`), 'main.mts': usage(`import { ${named} } from '@stageline/client';`) },
    },
    { name: 'bundler', module: 'esnext', moduleResolution: 'bundler', files: { 'main.ts': usage(`import { ${named} } from '@stageline/client';`) } },
  ];

  for (const resolution of resolutions) {
    it(`type-checks under moduleResolution ${resolution.name}`, () => {
      const dir = join(app, `check-${resolution.name}`);
      execFileSync('mkdir', ['-p', dir]);
      for (const [file, text] of Object.entries(resolution.files)) writeFileSync(join(dir, file), text);
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'es2022',
            module: resolution.module,
            moduleResolution: resolution.moduleResolution,
            lib: ['es2022', 'dom'],
            types: [],
            strict: true,
            noEmit: true,
            skipLibCheck: false,
            ignoreDeprecations: '5.0',
          },
          include: ['*.ts', '*.cts', '*.mts'],
        }),
      );
      // A type error prints its diagnostics and exits non-zero, which fails the test with them.
      expect(() => run(process.execPath, [tsc, '-p', dir], dir)).not.toThrow();
    });
  }

  it('a type error in the application is reported (the check can fail)', () => {
    const dir = join(app, 'check-broken');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'main.ts'), "import { createClient } from '@stageline/client';\ncreateClient({ baseUrl: 1 });\n");
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'commonjs', moduleResolution: 'node10', strict: true, noEmit: true, lib: ['es2022', 'dom'], types: [], ignoreDeprecations: '5.0' }, include: ['*.ts'] }));
    expect(() => run(process.execPath, [tsc, '-p', dir], dir)).toThrow(/main\.ts\(2,\d+\): error TS2322/);
  });
});
