import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { age, cacheDir, dropLastGood, lastGoodPath, loadLastGood, saveLastGood } from './last-good.js';

const dirs: string[] = [];
function env(): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'stageline-last-good-'));
  dirs.push(dir);
  return { STAGELINE_CACHE_DIR: join(dir, 'cache') };
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const URL = 'http://127.0.0.1:4700';
const KEY = 'sk_abcdefghijklmnopqrstuvwxyz012345';
const VALUE = { savedAt: '2026-12-02T10:00:00.000Z', release: 7, configs: [{ key: 'db', value: { password: 'hunter2-plaintext' } }] };

describe('last good values', () => {
  it('round-trip with the same server and key, encrypted in a 0600 file named without the key', () => {
    const e = env();
    saveLastGood(e, URL, KEY, VALUE);
    expect(loadLastGood(e, URL, KEY)).toEqual(VALUE);
    const [name] = readdirSync(cacheDir(e));
    expect(name).toMatch(/^run-[0-9a-f]{40}\.enc$/);
    const file = join(cacheDir(e), name!);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(file);
    expect(bytes.includes('hunter2')).toBe(false);
    expect(bytes.includes(KEY.slice(3))).toBe(false);
  });

  it('do not open with another key, for another server, or once tampered with', () => {
    const e = env();
    saveLastGood(e, URL, KEY, VALUE);
    const other = `${KEY.slice(0, -1)}6`;
    writeFileSync(lastGoodPath(e, URL, other), readFileSync(lastGoodPath(e, URL, KEY)));
    expect(loadLastGood(e, URL, other)).toBeUndefined();
    writeFileSync(lastGoodPath(e, 'http://elsewhere:4700', KEY), readFileSync(lastGoodPath(e, URL, KEY)));
    expect(loadLastGood(e, 'http://elsewhere:4700', KEY)).toBeUndefined();
    const file = JSON.parse(readFileSync(lastGoodPath(e, URL, KEY), 'utf8'));
    const data = Buffer.from(file.data, 'base64');
    data[0] = data[0]! ^ 1;
    writeFileSync(lastGoodPath(e, URL, KEY), JSON.stringify({ ...file, data: data.toString('base64') }));
    expect(loadLastGood(e, URL, KEY)).toBeUndefined();
  });

  it('are dropped on request', () => {
    const e = env();
    saveLastGood(e, URL, KEY, VALUE);
    dropLastGood(e, URL, KEY);
    expect(loadLastGood(e, URL, KEY)).toBeUndefined();
  });

  it('live in STAGELINE_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache', () => {
    expect(cacheDir({ STAGELINE_CACHE_DIR: '/c' })).toBe('/c');
    expect(cacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/stageline');
    expect(cacheDir({ HOME: '/home/ada' })).toBe('/home/ada/.cache/stageline');
  });

  it('say how old they are', () => {
    const now = Date.parse('2026-12-02T10:00:00Z');
    expect(age('2026-12-02T09:59:30Z', now)).toBe('30 seconds old');
    expect(age('2026-12-02T09:55:00Z', now)).toBe('5 minutes old');
    expect(age('2026-12-01T10:00:00Z', now)).toBe('24 hours old');
    expect(age('2026-11-20T10:00:00Z', now)).toBe('12 days old');
  });
});
