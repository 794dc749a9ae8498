import { describe, expect, it } from 'vitest';
import { corsAllowOrigin, recipientTokenRequired } from './runtime-policies.js';

describe('corsAllowOrigin', () => {
  const app = 'https://app.example';
  it.each([
    ['no setting, publishable key: any origin', undefined, 'publishable', app, '*'],
    ['no setting, secret key: no origin', undefined, 'secret', app, null],
    ['a listed origin is echoed', { origins: [app] }, 'publishable', app, app],
    ['a listed origin is echoed for a secret key too', { origins: [app] }, 'secret', app, app],
    ['an origin not listed gets none', { origins: [app] }, 'publishable', 'https://evil.example', null],
    ['an empty list allows none', { origins: [] }, 'publishable', app, null],
    ['"*" allows every origin', { origins: ['*'] }, 'secret', 'https://other.example', '*'],
  ] as const)('%s', (_name, setting, kind, origin, expected) => {
    expect(corsAllowOrigin(setting ? { origins: [...setting.origins] } : undefined, kind, origin)).toBe(expected);
  });
});

describe('recipientTokenRequired', () => {
  it.each([
    ['default in a non-editable environment: required', undefined, false, true],
    ['default in development or a branch: not required', undefined, true, false],
    ['turned off in production', { requireRecipientToken: false }, false, false],
    ['turned on in development', { requireRecipientToken: true }, true, true],
  ] as const)('%s', (_name, setting, editable, expected) => {
    expect(recipientTokenRequired(setting, editable)).toBe(expected);
  });
});
