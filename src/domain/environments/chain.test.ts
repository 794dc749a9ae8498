import { describe, expect, it } from 'vitest';
import { caught } from '../errors.test-support.js';
import {
  assertEditable,
  assertSlug,
  compactPositions,
  defaultEnvironment,
  deletionBlocker,
  insertionBeforeLast,
  isEditable,
  orderEnvironments,
  promotionSource,
  resolvePromotionSource,
  slugIssue,
  type Environment,
} from './chain.js';

function env(slug: string, position: number, extra: Partial<Environment> = {}): Environment {
  return {
    id: `env_${slug}`,
    workspaceId: 'ws_1',
    slug,
    name: slug,
    kind: 'chain',
    position,
    protected: false,
    approvalsRequired: 0,
    approvalsForRollback: false,
    obfuscateData: false,
    region: null,
    color: null,
    parentId: null,
    forkRelease: null,
    mergeBase: null,
    expiresAt: null,
    headRelease: 0,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    ...extra,
  };
}

function branch(slug: string, parent: Environment): Environment {
  return env(slug, 0, { kind: 'branch', parentId: parent.id });
}

const development = env('development', 0);
const staging = env('staging', 1);
const production = env('production', 2);
const feature = branch('feature-login', development);
/** Deliberately not in promotion order, with a branch mixed in. */
const workspace = [production, feature, development, staging];


describe('slugIssue', () => {
  it.each(['staging', 'qa', 'prod-eu-2', 'a' + 'b'.repeat(40)])('accepts %s', (slug) => {
    expect(slugIssue(slug)).toBeNull();
  });

  it.each([
    ['a single character', 'a'],
    ['upper case', 'Staging'],
    ['a leading digit', '1st'],
    ['a leading hyphen', '-qa'],
    ['an underscore', 'my_env'],
    ['a space', 'my env'],
    ['42 characters', 'a' + 'b'.repeat(41)],
    ['the empty string', ''],
  ])('refuses %s', (_name, slug) => {
    expect(slugIssue(slug)).toMatch(/lowercase letter/);
  });
});

describe('assertSlug', () => {
  it('refuses a bad slug with invalid_request naming the field', () => {
    const error = caught(() => assertSlug('Bad Slug', 'environment.slug'));
    expect(error.code).toBe('invalid_request');
    expect(error.status).toBe(400);
    expect(error.details).toEqual([expect.objectContaining({ field: 'environment.slug', in: 'body' })]);
  });

  it('accepts a good slug', () => {
    expect(() => assertSlug('staging')).not.toThrow();
  });
});

describe('orderEnvironments', () => {
  it('puts chain environments in position order, then branches by slug', () => {
    const b = branch('b-branch', development);
    const a = branch('a-branch', development);
    expect(orderEnvironments([b, production, a, development, staging]).map((e) => e.slug)).toEqual([
      'development',
      'staging',
      'production',
      'a-branch',
      'b-branch',
    ]);
  });

  it('does not reorder the array it is given', () => {
    const input = [...workspace];
    orderEnvironments(input);
    expect(input).toEqual(workspace);
  });
});

describe('defaultEnvironment', () => {
  it('is the last environment of the chain', () => {
    expect(defaultEnvironment(workspace)?.slug).toBe('production');
  });

  it('ignores branches even when they sort last', () => {
    expect(defaultEnvironment([feature, development, production])?.slug).toBe('production');
  });

  it('is undefined when there are no chain environments', () => {
    expect(defaultEnvironment([feature])).toBeUndefined();
  });
});

describe('insertionBeforeLast', () => {
  it('puts a new environment at production’s position and moves production one place down', () => {
    const newProduction = env('production', 1);
    expect(insertionBeforeLast([newProduction, development])).toEqual({
      position: 1,
      shift: [{ id: newProduction.id, position: 2 }],
    });
  });

  it('lands a third environment between staging and production', () => {
    expect(insertionBeforeLast([development, staging, production])).toEqual({
      position: 2,
      shift: [{ id: production.id, position: 3 }],
    });
  });

  it('ignores branches', () => {
    const lateBranch = env('zz-branch', 99, { kind: 'branch' });
    expect(insertionBeforeLast([development, staging, production, lateBranch])).toEqual({
      position: 2,
      shift: [{ id: production.id, position: 3 }],
    });
  });

  it('starts at position 0 with nothing to shift in an empty chain', () => {
    expect(insertionBeforeLast([])).toEqual({ position: 0, shift: [] });
  });
});

describe('isEditable', () => {
  it.each([
    ['development', development, true],
    ['a branch', feature, true],
    ['staging', staging, false],
    ['production', production, false],
  ])('%s → %s', (_name, target, editable) => {
    expect(isEditable(target, workspace)).toBe(editable);
  });
});

describe('assertEditable', () => {
  it('refuses production with environment_not_editable, pointing at staging', () => {
    const error = caught(() => assertEditable(production, workspace));
    expect(error.status).toBe(409);
    expect(error.code).toBe('environment_not_editable');
    expect(error.message).toBe('production is not editable: promote from staging');
    expect(error.details).toEqual([{ environment: 'production', promoteFrom: 'staging' }]);
  });

  it('refuses staging, pointing at development', () => {
    const error = caught(() => assertEditable(staging, workspace));
    expect(error.code).toBe('environment_not_editable');
    expect(error.message).toBe('staging is not editable: promote from development');
  });

  it.each([
    ['development', development],
    ['a branch', feature],
  ])('lets %s be written', (_name, target) => {
    expect(() => assertEditable(target, workspace)).not.toThrow();
  });
});

describe('promotionSource', () => {
  it.each([
    ['development', development, undefined],
    ['staging', staging, 'development'],
    ['production', production, 'staging'],
    ['a branch', feature, undefined],
  ])('of %s is %s', (_name, target, source) => {
    expect(promotionSource(target, workspace)?.slug).toBe(source);
  });

  it('follows the chain after a middle environment is inserted', () => {
    const qa = env('qa', 2);
    const movedProduction = { ...production, position: 3 };
    const all = [development, staging, qa, movedProduction];
    expect(promotionSource(movedProduction, all)?.slug).toBe('qa');
    expect(promotionSource(qa, all)?.slug).toBe('staging');
  });
});

describe('resolvePromotionSource', () => {
  it('returns the previous chain environment when no source is named', () => {
    expect(resolvePromotionSource(production, workspace).id).toBe(staging.id);
  });

  it('returns the source when the named one is the previous chain environment', () => {
    expect(resolvePromotionSource(production, workspace, 'staging').id).toBe(staging.id);
  });

  it('refuses a source out of order with promotion_out_of_order naming the expected source', () => {
    const error = caught(() => resolvePromotionSource(production, workspace, 'development'));
    expect(error.status).toBe(409);
    expect(error.code).toBe('promotion_out_of_order');
    expect(error.message).toBe('production is promoted from staging, not from development');
    expect(error.details).toEqual([{ field: 'from', expected: 'staging', received: 'development' }]);
  });

  it('refuses any promotion into development, which has no source', () => {
    const error = caught(() => resolvePromotionSource(development, workspace));
    expect(error.code).toBe('promotion_out_of_order');
    expect(error.message).toMatch(/^development is the start of the chain/);
  });
});

describe('deletionBlocker', () => {
  const empty = { releases: 0, drafts: 0 };

  it.each([
    ['development', development, 'start'],
    ['production', production, 'end'],
  ])('refuses to delete %s as required', (_name, target, end) => {
    expect(deletionBlocker(target, workspace, empty)).toEqual({
      code: 'environment_required',
      message: `${target.slug} is the ${end} of the chain and cannot be deleted`,
    });
  });

  it.each([
    ['a release', { releases: 1, drafts: 0 }],
    ['a draft', { releases: 0, drafts: 1 }],
  ])('refuses to delete a middle environment that has %s', (_name, contents) => {
    expect(deletionBlocker(staging, workspace, contents)).toEqual({
      code: 'environment_not_empty',
      message: `staging has ${contents.releases} release(s) and ${contents.drafts} draft(s); only an empty middle environment can be deleted`,
    });
  });

  it('allows deleting an empty middle environment', () => {
    expect(deletionBlocker(staging, workspace, empty)).toBeNull();
  });

  it('allows deleting a branch that has releases', () => {
    expect(deletionBlocker(feature, workspace, { releases: 3, drafts: 2 })).toBeNull();
  });
});

describe('compactPositions', () => {
  it('closes the gap left by a removed middle environment, listing only the moved ones', () => {
    const qa = env('qa', 2);
    const movedProduction = { ...production, position: 3 };
    expect(compactPositions([development, staging, qa, movedProduction], staging.id)).toEqual([
      { id: qa.id, position: 1 },
      { id: movedProduction.id, position: 2 },
    ]);
  });

  it('moves nothing when the removed environment was already at the end', () => {
    expect(compactPositions([development, staging], staging.id)).toEqual([]);
  });

  it('ignores branches', () => {
    const lateBranch = env('zz-branch', 7, { kind: 'branch' });
    expect(compactPositions([development, staging, production, lateBranch], staging.id)).toEqual([
      { id: production.id, position: 1 },
    ]);
  });
});
