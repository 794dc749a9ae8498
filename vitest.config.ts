import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// One suite, four projects: pure rules once, every store and HTTP test against both databases
// (`STAGELINE_TEST_DB` selects the one a project's test files open), and the dashboard in a browser.
const integration = ['test/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    // Most test files wait on real servers, child processes and browsers rather than compute:
    // at least two at a time, also on a two-core machine (where vitest's default is one).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    hookTimeout: 60_000,
    // Every answer with a response schema is checked against it (src/http/validation.ts).
    env: { STAGELINE_CHECK_RESPONSES: '1' },
    projects: [
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts', 'packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'sqlite', include: integration, env: { STAGELINE_TEST_DB: 'sqlite' } } },
      { extends: true, test: { name: 'postgres', include: integration, env: { STAGELINE_TEST_DB: 'postgres' } } },
      // The dashboard in headless Chromium against a real node (needs `npm run build:web`).
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], env: { STAGELINE_TEST_DB: 'sqlite' }, testTimeout: 90_000 } },
    ],
  },
});
