import { describe, expect, it } from 'vitest';
import { KNOWN_SETTINGS, knownSettingSchema, settingIssues, settingNameIssue } from './settings.js';

describe('setting names', () => {
  it.each(['constructor', 'tostring', 'branding', 'channel.email', 'a'])('%s is a setting name', (name) => {
    expect(settingNameIssue(name)).toBeNull();
  });

  it.each(['__proto__', 'toString', 'hasOwnProperty', 'valueOf', '', 'x'.repeat(65), '1abc'])('%j is not a setting name', (name) => {
    expect(settingNameIssue(name)).toMatchObject({ field: 'name', in: 'path' });
  });
});

describe('knownSettingSchema', () => {
  it('finds the known settings', () => {
    for (const name of Object.keys(KNOWN_SETTINGS)) expect(knownSettingSchema(name)).toBeDefined();
  });

  it.each(['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__', 'custom'])('%s is no known setting', (name) => {
    expect(knownSettingSchema(name)).toBeUndefined();
  });
});

describe('settingIssues', () => {
  it('a free-form setting named after a prototype member holds any JSON object', () => {
    expect(settingIssues('constructor', { a: 1 })).toEqual([]);
    expect(settingIssues('constructor', 'text')).toEqual([{ field: 'value', message: 'must be a JSON object', in: 'body' }]);
  });

  it('a known setting is checked against its schema', () => {
    expect(settingIssues('branding', { primaryColor: 'red' })[0]).toMatchObject({ field: 'value.primaryColor' });
  });
});
