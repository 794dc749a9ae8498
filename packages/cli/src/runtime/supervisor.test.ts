import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseDuration, signalExitCode, Supervisor } from './supervisor.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A node child that writes `started-<GENERATION>` and ignores SIGTERM (and SIGUSR1). */
function stubborn() {
  const dir = mkdtempSync(join(tmpdir(), 'stageline-supervisor-'));
  dirs.push(dir);
  const source = `process.on('SIGTERM', () => {}); process.on('SIGUSR1', () => {}); require('fs').writeFileSync(require('path').join(${JSON.stringify(dir)}, 'started-' + process.env.GENERATION), String(process.pid)); setInterval(() => {}, 1000);`;
  return { dir, supervisor: new Supervisor({ command: process.execPath, args: ['-e', source], graceMs: 200, terminal: false }) };
}

async function until(condition: () => boolean, timeoutMs = 5000) {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the supervisor', () => {
  it('a restart SIGKILLs a command that ignores SIGTERM after the grace period, then starts it again', async () => {
    const { dir, supervisor } = stubborn();
    supervisor.start({ ...process.env, GENERATION: '1' });
    await until(() => existsSync(join(dir, 'started-1')));
    const started = Date.now();
    await supervisor.restart({ ...process.env, GENERATION: '2' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await until(() => existsSync(join(dir, 'started-2')));
    expect(readFileSync(join(dir, 'started-2'), 'utf8')).not.toBe(readFileSync(join(dir, 'started-1'), 'utf8'));
    supervisor.forward('SIGINT');
    expect(await supervisor.ending).toEqual({ exitCode: 130 });
  });

  it('a terminating signal during a restart ends instead of starting the command again', async () => {
    const { dir, supervisor } = stubborn();
    supervisor.start({ ...process.env, GENERATION: '1' });
    await until(() => existsSync(join(dir, 'started-1')));
    const restarted = supervisor.restart({ ...process.env, GENERATION: '2' });
    supervisor.forward('SIGHUP');
    await restarted;
    expect(await supervisor.ending).toEqual({ exitCode: signalExitCode('SIGHUP') });
    expect(existsSync(join(dir, 'started-2'))).toBe(false);
  });

  it('SIGUSR1 during a restart does not stop it', async () => {
    const { dir, supervisor } = stubborn();
    supervisor.start({ ...process.env, GENERATION: '1' });
    await until(() => existsSync(join(dir, 'started-1')));
    const restarted = supervisor.restart({ ...process.env, GENERATION: '2' });
    supervisor.forward('SIGUSR1');
    await restarted;
    await until(() => existsSync(join(dir, 'started-2')));
    await supervisor.shutdown(0);
    expect(await supervisor.ending).toEqual({ exitCode: 0 });
    expect(supervisor.running).toBe(false);
  });

  it('a command that is not found ends with 127', async () => {
    const supervisor = new Supervisor({ command: 'stageline-no-such-command', args: [], graceMs: 100, terminal: false });
    supervisor.start(process.env);
    expect(await supervisor.ending).toMatchObject({ exitCode: 127, failure: expect.stringContaining('command not found: stageline-no-such-command') });
  });

  it('on a terminal, SIGINT is left to the terminal (the command shares its process group)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stageline-supervisor-'));
    dirs.push(dir);
    const ready = join(dir, 'ready');
    const source = `process.on('SIGTERM', () => process.exit(5)); require('fs').writeFileSync(${JSON.stringify(ready)}, '1'); setInterval(() => {}, 1000)`;
    const supervisor = new Supervisor({ command: process.execPath, args: ['-e', source], graceMs: 100, terminal: true });
    supervisor.start(process.env);
    await until(() => existsSync(ready));
    supervisor.forward('SIGINT');
    supervisor.forward('SIGTERM');
    // SIGINT would have ended it with 130; the SIGTERM it traps ends it with 5.
    expect(await supervisor.ending).toEqual({ exitCode: 5 });
  });

  it.each([
    ['10s', 10_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['3', 3000],
    ['1.5s', 1500],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDuration(text, '--grace')).toBe(ms);
  });

  it('refuses a duration it cannot read', () => {
    expect(() => parseDuration('soon', '--grace')).toThrow('--grace must be a duration');
  });
});
