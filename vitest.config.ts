import { defineConfig } from 'vitest/config'

// `.ci/run` asks for a JSON report beside the console output, to check the runner's own
// count of failures (scripts/test-summary.mjs) as well as its exit code.
const report = process.env.SLUICE_TEST_REPORT

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/postgres.ts', 'test/setup/prisma.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Files run in parallel workers; each test names its own pools (application_name) so
    // counts read from pg_stat_activity never mix between files.
    pool: 'forks',
    ...(report ? { reporters: ['default', 'json'], outputFile: { json: report } } : {}),
  },
})
