import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDrafts, config, createStaging, promote, startHarness, WS, type Harness } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await createStaging(h);
  await commitDrafts(h, { 'config/a': config(1) });
});
afterAll(async () => h?.close());

describe('concurrent release changes', () => {
  it('concurrent promotions with the same expectedRelease: exactly one wins', async () => {
    const expected = (await h.call('GET', `${WS}/environments/staging`)).body.release;
    const results = await Promise.all(Array.from({ length: 8 }, () => promote(h, 'staging', { expectedRelease: expected })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(7);
    expect(results.filter((r) => r.status === 409).every((r) => r.body.error.code === 'release_conflict')).toBe(true);
    expect((await h.call('GET', `${WS}/environments/staging`)).body.release).toBe(expected + 1);
  });

  it('concurrent promotions and rollbacks never share a release number or lose one', async () => {
    await commitDrafts(h, { 'config/a': config(2) });
    // Release 1 must be earlier than the head whichever call runs first.
    expect((await promote(h, 'staging')).status).toBe(201);
    const calls = Array.from({ length: 12 }, (_, i) =>
      i % 3 === 2 ? h.call('POST', `${WS}/environments/staging/rollbacks`, { release: 1 }) : promote(h, 'staging'),
    );
    const results = await Promise.all(calls);
    expect(results.map((r) => r.status)).toEqual(Array(12).fill(201));
    const numbers = results.map((r) => r.body.number).sort((a, b) => a - b);
    expect(new Set(numbers).size).toBe(12);
    const releases = (await h.call('GET', `${WS}/environments/staging/releases?limit=500`)).body.data.map((r: any) => r.number);
    expect(releases).toEqual(Array.from({ length: releases.length }, (_, i) => releases.length - i));
  });

  it('concurrent commits each see a consistent head: no lost update', async () => {
    const writes = Array.from({ length: 10 }, (_, i) =>
      h.call('PUT', `${WS}/environments/development/resources/config/c${i}`, { content: config(i) }).then(() =>
        h.call('POST', `${WS}/environments/development/commits`, { message: `c${i}`, resources: [`config/c${i}`] }),
      ),
    );
    const results = await Promise.all(writes);
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(201));
    const head = await h.call('GET', `${WS}/environments/development/releases/${(await h.call('GET', `${WS}/environments/development`)).body.release}`);
    const keys = head.body.resources.map((r: any) => r.key);
    for (let i = 0; i < 10; i++) expect(keys).toContain(`c${i}`);
  });

  it('the audit chain stays valid under concurrent mutations', async () => {
    const verify = await h.call('GET', `${WS}/audit-log/verify`);
    expect(verify.body).toMatchObject({ valid: true, firstBroken: null });
  });
});

describe('concurrent edits and commits', () => {
  it('a draft written while a commit runs is either committed or still a draft, never lost', async () => {
    for (let round = 0; round < 8; round++) {
      await h.call('PUT', `${WS}/environments/development/resources/config/race`, { content: config(`v1-${round}`) });
      const [committed, written] = await Promise.all([
        h.call('POST', `${WS}/environments/development/commits`, { message: `round ${round}` }),
        h.call('PUT', `${WS}/environments/development/resources/config/race`, { content: config(`v2-${round}`) }),
      ]);
      expect(committed.status).toBe(201);
      expect(written.status).toBe(200);
      const read = (await h.call('GET', `${WS}/environments/development/resources/config/race`)).body;
      const visible = read.draft ? read.draft.content.value : read.committed.content.value;
      expect(visible).toBe(`v2-${round}`);
      if (read.draft) await h.call('POST', `${WS}/environments/development/commits`, { message: 'rest' });
    }
  });

  it('changing flags while an environment is inserted keeps the chain order', async () => {
    const results = await Promise.all([
      h.call('PATCH', `${WS}/environments/production`, { color: '#112233' }),
      h.call('POST', `${WS}/environments`, { slug: 'qa' }),
      h.call('PATCH', `${WS}/environments/staging`, { color: '#445566' }),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 201, 200]);
    const envs = (await h.call('GET', `${WS}/environments`)).body.data;
    expect(envs.map((e: any) => [e.slug, e.position])).toEqual([
      ['development', 0],
      ['staging', 1],
      ['qa', 2],
      ['production', 3],
    ]);
    expect(envs.find((e: any) => e.slug === 'production')).toMatchObject({ default: true, color: '#112233' });
  });

  it('concurrent first writes of new variables, secrets and settings all succeed (no deadlock on the workspace row)', async () => {
    // Each insert's foreign key takes a key-share lock on the workspace (or environment) row
    // before the audit append locks it: a FOR UPDATE there deadlocked on PostgreSQL.
    const writes = Array.from({ length: 12 }, (_, i) => {
      if (i % 3 === 0) return h.call('PUT', `${WS}/variables/deadlock_${i}`, { value: i });
      if (i % 3 === 1) return h.call('PUT', `${WS}/environments/development/secrets/deadlock_${i}`, { value: `v${i}` });
      return h.call('PUT', `${WS}/environments/development/settings/deadlock.${i}`, { value: { n: i } });
    });
    const results = await Promise.all(writes);
    expect(results.map((r) => [r.status >= 200 && r.status < 300, r.body?.error?.code ?? null])).toEqual(Array(12).fill([true, null]));
    expect((await h.call('GET', `${WS}/audit-log/verify`)).body.valid).toBe(true);
  });
});
