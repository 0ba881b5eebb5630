import { defineConfig } from 'vitest/config';

/** The fast layer: no DynamoDB Local (so no Java), no CDK synthesis. `npm run test:unit`. */
const UNIT = ['test/unit/**/*.test.ts', 'test/loopback/**/*.test.ts'];
/** The CDK tests: no Java either, but each file synthesizes the app (one bundles every function). `npm run test:infra`. */
const INFRA = ['test/infra/**/*.test.ts'];

// Metrics are off in tests (EMF lines would flood the output); the tests that read them turn them on.
// Output is shown only for a failing test: console calls through `silent: 'passed-only'`, direct
// writes to stdout/stderr (Powertools, CDK) through test/support/quiet-output.ts.
// Vitest reads its config from a default export (the one default export of the project).
export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 300_000,
    silent: 'passed-only',
    setupFiles: ['test/support/quiet-output.ts', 'test/support/register-test-provider.ts'],
    env: {
      POWERTOOLS_LOG_LEVEL: 'WARN',
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_REGION: 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      { extends: true, test: { name: 'infra', include: INFRA } },
      {
        extends: true,
        test: {
          name: 'dynamodb',
          include: ['test/**/*.test.ts'],
          exclude: [...UNIT, ...INFRA],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
