// The providers as an application gets them: packed (with the SDK they depend on) into tarballs,
// installed into an empty project with no registry at hand beside the OpenFeature SDK of its
// choice, loaded through require and import, and type-checked under node16, nodenext and bundler.
// Packed with --ignore-scripts: `npm run build:packages` has built dist, and a rebuild here would
// pull dist away from tests running beside this one.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const clientDir = join(packageDir, '..', 'client');
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/**
 * The SDK this repository tests with, packed from its node_modules: an offline install of a name
 * and version needs the registry's metadata in the npm cache, which `npm ci` does not put there.
 */
const sdk = (name: string) => packDir(join(packageDir, '..', '..', 'node_modules', name));

let work: string;
let tarball: string;

function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

function pack(dir: string): string {
  if (!existsSync(join(dir, 'dist'))) throw new Error(`${dir}/dist is missing: run npm run build:packages first`);
  return packDir(dir);
}

function packDir(dir: string): string {
  const packed = JSON.parse(run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], dir)) as { filename: string }[];
  return join(work, packed[0]!.filename);
}

/** An empty project with the providers and `extra` packages installed offline. */
function project(name: string, extra: string[]): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  run(npm, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(work, 'client.tgz'), tarball, ...extra], dir);
  return dir;
}

let server: string;
let both: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'stageline-openfeature-pack-'));
  execFileSync('mv', [pack(clientDir), join(work, 'client.tgz')]);
  tarball = pack(packageDir);
  server = project('server-app', [sdk('@openfeature/server-sdk'), sdk('@openfeature/core')]);
  both = project('both-app', [sdk('@openfeature/server-sdk'), sdk('@openfeature/web-sdk'), sdk('@openfeature/core')]);
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const usage = `import { OpenFeature, type ResolutionDetails } from '@openfeature/server-sdk';
import { StagelineProvider, type StagelineProviderOptions } from '@stageline/openfeature/server';
const options: StagelineProviderOptions = { baseUrl: 'http://127.0.0.1:1', apiKey: 'sk_test', timeoutMs: 100 };
const provider = new StagelineProvider(options);
export async function read(): Promise<boolean> {
  await OpenFeature.setProviderAndWait(provider);
  const details: ResolutionDetails<boolean> = await provider.resolveBooleanEvaluation('beta', false, {});
  return details.value && (await OpenFeature.getClient().getBooleanValue('beta', false));
}
`;

describe('@stageline/openfeature as an installed package', () => {
  it('ships built ES modules, CommonJS and declarations for both entry points, and no tests', () => {
    const listing = run('tar', ['-tzf', tarball], work).split('\n').filter(Boolean);
    for (const entry of ['server', 'web']) {
      for (const format of ['esm', 'cjs']) {
        expect(listing).toContain(`package/dist/${format}/${entry}.js`);
        expect(listing).toContain(`package/dist/${format}/${entry}.d.ts`);
      }
    }
    expect(listing.filter((f) => f.includes('.test.'))).toEqual([]);
  });

  it('installs beside the server SDK alone, with the Stageline SDK as its one dependency', () => {
    expect(readdirSync(join(server, 'node_modules', '@stageline')).sort()).toEqual(['client', 'openfeature']);
    expect(existsSync(join(server, 'node_modules', '@openfeature', 'web-sdk'))).toBe(false);
  });

  it('the server entry loads through require and import without the web SDK', () => {
    const cjs = run(process.execPath, ['-e', "const { StagelineProvider } = require('@stageline/openfeature/server'); console.log(new StagelineProvider({ baseUrl: 'http://127.0.0.1:1', apiKey: 'sk_x' }).metadata.name)"], server);
    expect(cjs.trim()).toBe('Stageline');
    const esm = run(process.execPath, ['--input-type=module', '-e', "import { StagelineProvider } from '@stageline/openfeature/server'; console.log(typeof StagelineProvider)"], server);
    expect(esm.trim()).toBe('function');
  });

  it('the web entry loads with the web SDK', () => {
    const esm = run(process.execPath, ['--input-type=module', '-e', "import { StagelineWebProvider } from '@stageline/openfeature/web'; console.log(new StagelineWebProvider({ baseUrl: 'http://127.0.0.1:1', apiKey: 'pk_x' }).runsOn)"], both);
    expect(esm.trim()).toBe('client');
  });

  for (const [name, module, moduleResolution, file] of [
    ['node16', 'node16', 'node16', 'main.mts'],
    ['nodenext', 'nodenext', 'nodenext', 'main.cts'],
    ['bundler', 'esnext', 'bundler', 'main.ts'],
  ] as const) {
    it(`type-checks under moduleResolution ${name}`, () => {
      const dir = join(server, `check-${name}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, file), usage);
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { target: 'es2022', module, moduleResolution, lib: ['es2022', 'dom'], types: [], strict: true, noEmit: true, skipLibCheck: true }, include: ['*.ts', '*.cts', '*.mts'] }),
      );
      expect(() => run(process.execPath, [tsc, '-p', dir], dir)).not.toThrow();
    });
  }

  it('a type error in the application is reported (the check can fail)', () => {
    const dir = join(server, 'check-broken');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'main.ts'), "import { StagelineProvider } from '@stageline/openfeature/server';\nnew StagelineProvider({ baseUrl: 1, apiKey: 'sk_x' });\n");
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'esnext', moduleResolution: 'bundler', strict: true, noEmit: true, lib: ['es2022', 'dom'], types: [], skipLibCheck: true }, include: ['*.ts'] }));
    expect(() => run(process.execPath, [tsc, '-p', dir], dir)).toThrow(/main\.ts\(2,\d+\): error TS2322/);
  });
});
