// `npm run test:reliability [-- part …] [--db sqlite|postgres|both] [--out file.md]`: runs the
// reliability battery's parts (reliability/parts/<name>.ts), each in a process of its own, once per
// database it runs on, and prints one table of every figure. RELIABILITY_QUICK=1 is the shortened
// form CI runs. Exits 1 when a figure misses its goal or a part fails without reporting.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseFigures, QUICK, type Database, type Figure } from './contract.js';
import { ROOT } from './lib/nodes.js';

interface PartSpec {
  name: string;
  /** The databases it runs on: each run is a process with STAGELINE_TEST_DB set. */
  databases: Database[];
  /** What it proves, for the table's heading. */
  title: string;
}

const BOTH: Database[] = ['sqlite', 'postgres'];

/** In the order; a part whose script is not there yet is reported as missing. */
export const PARTS: PartSpec[] = [
  { name: 'isolation', databases: BOTH, title: '1. Isolation matrix' },
  { name: 'secrets', databases: BOTH, title: '2. Secrets at rest' },
  { name: 'audit', databases: BOTH, title: '3. Audit' },
  { name: 'crash', databases: BOTH, title: '4. Crash safety at injected fault points' },
  { name: 'model', databases: BOTH, title: '5. Model-based test' },
  { name: 'fuzz', databases: BOTH, title: '6. Fuzzing from the schemas' },
  { name: 'scale-out', databases: ['postgres'], title: '7. Scale-out: three nodes, one PostgreSQL, one Redis' },
  { name: 'dependencies', databases: BOTH, title: '8. Dependency faults' },
  { name: 'soak', databases: BOTH, title: '9. Load and soak' },
  { name: 'db-copy', databases: BOTH, title: '10. Moving up and recovering' },
];

interface RunResult {
  part: PartSpec;
  db: Database;
  code: number | null;
  seconds: number;
  figures: Figure[];
  tail: string;
}

function parseArgs(argv: string[]): { names: string[]; dbs: Database[]; out: string | null } {
  const names: string[] = [];
  let dbs: Database[] = BOTH;
  let out: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--db') {
      const value = argv[++i];
      if (value === 'both') dbs = BOTH;
      else if (value === 'sqlite' || value === 'postgres') dbs = [value];
      else throw new Error(`--db takes sqlite, postgres or both, not "${value}"`);
    } else if (arg === '--out') {
      out = argv[++i] ?? null;
      if (!out) throw new Error('--out takes a file name');
    } else if (arg.startsWith('-')) {
      throw new Error(`unknown option ${arg}`);
    } else {
      if (!PARTS.some((p) => p.name === arg)) throw new Error(`no part "${arg}" (parts: ${PARTS.map((p) => p.name).join(', ')})`);
      names.push(arg);
    }
  }
  return { names, dbs, out };
}

function runOne(part: PartSpec, db: Database): Promise<RunResult> {
  const script = join(ROOT, 'reliability', 'parts', `${part.name}.ts`);
  const started = performance.now();
  if (!existsSync(script)) {
    return Promise.resolve({ part, db, code: 1, seconds: 0, figures: [], tail: `missing: ${script}` });
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: ROOT,
      env: { ...process.env, STAGELINE_TEST_DB: db },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    const stderr: string[] = [];
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      process.stderr.write(chunk);
      stderr.push(chunk);
      if (stderr.length > 400) stderr.splice(0, stderr.length - 400);
    });
    child.on('close', (code) => {
      const { figures, log } = parseFigures(stdout);
      for (const line of log) process.stderr.write(`  [${part.name}/${db}] ${line}\n`);
      resolve({ part, db, code, seconds: (performance.now() - started) / 1000, figures, tail: stderr.join('').split('\n').slice(-30).join('\n') });
    });
  });
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function renderTable(results: RunResult[]): string {
  const lines = ['| part | db | measure | value | goal | |', '|---|---|---|---|---|---|'];
  for (const r of results) {
    for (const f of r.figures) lines.push(`| ${cell(r.part.title)} | ${r.db} | ${cell(f.measure)} | ${cell(f.value)} | ${cell(f.goal || '—')} | ${f.ok ? 'ok' : '**MISSED**'} |`);
    if (r.code !== 0) lines.push(`| ${cell(r.part.title)} | ${r.db} | the part ran to its end | exit ${r.code ?? 'signal'}${r.figures.length === 0 ? ', no figures' : ''} | exit 0 | **FAILED** |`);
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { names, dbs, out } = parseArgs(process.argv.slice(2));
  const selected = PARTS.filter((p) => names.length === 0 || names.includes(p.name));
  const started = performance.now();
  const results: RunResult[] = [];
  for (const part of selected) {
    for (const db of part.databases.filter((d) => dbs.includes(d))) results.push(await runOne(part, db));
  }
  const table = renderTable(results);
  const failed = results.filter((r) => r.code !== 0 || r.figures.some((f) => !f.ok));
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${QUICK ? 'quick (RELIABILITY_QUICK=1)' : 'full'} run, ${((performance.now() - started) / 60000).toFixed(1)} min`;
  const report = `${table}\n\n${machine}\n`;
  process.stdout.write(`\n${report}`);
  for (const r of failed) if (r.code !== 0) process.stderr.write(`\n== ${r.part.name} on ${r.db} exited ${r.code}; its last lines:\n${r.tail}\n`);
  if (out) writeFileSync(out, report);
  process.stdout.write(failed.length === 0 ? '\nreliability: every figure met its goal\n' : `\nreliability: ${failed.length} run(s) missed a goal or failed\n`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 2;
  },
);
