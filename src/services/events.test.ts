import { describe, expect, it } from 'vitest';
import { subscribes } from './events.js';

describe('subscribes', () => {
  const promoted = { type: 'release.promoted', environment: 'production' };
  const workspaceEvent = { type: 'release.promoted', environment: null };
  it.each([
    [{ types: ['*'], environments: null }, promoted, true],
    [{ types: ['release.promoted'], environments: null }, promoted, true],
    [{ types: ['release.rolled_back'], environments: null }, promoted, false],
    [{ types: ['*'], environments: ['production'] }, promoted, true],
    [{ types: ['*'], environments: ['staging'] }, promoted, false],
    [{ types: ['*'], environments: null }, workspaceEvent, true],
    [{ types: ['*'], environments: ['production'] }, workspaceEvent, false],
    [{ types: ['release.*'], environments: null }, promoted, false],
  ])('%j receives %j: %s', (sub, event, expected) => {
    expect(subscribes(sub, event)).toBe(expected);
  });
});
