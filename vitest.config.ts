import { defineConfig } from 'vitest/config'

// `.ci/run` asks for a JSON report beside the console output, to check the runner's own
// count of failures (scripts/test-summary.ts) as well as its exit code.
const report = process.env.SLUICE_TEST_REPORT

// The codecs and the edge client read and write local time (timestamps without a zone, Date
// parameters), so they run again in two zones away from UTC, one behind it with daylight
// saving time and one ahead of it by a half hour. Node reads TZ when it changes.
const TIME_ZONES = ['America/New_York', 'Asia/Kolkata']
const ZONED_TESTS = ['test/src/codecs.test.ts', 'test/edge/client.test.ts']

export default defineConfig({
  test: {
    globalSetup: ['test/setup/postgres.ts', 'test/setup/prisma.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Files run in parallel workers; each test names its own pools (application_name) so
    // counts read from pg_stat_activity never mix between files.
    pool: 'forks',
    ...(report ? { reporters: ['default', 'json'], outputFile: { json: report } } : {}),
    projects: [
      { extends: true, test: { name: 'sluice', include: ['test/**/*.test.ts'] } },
      ...TIME_ZONES.map((zone) => ({
        extends: true as const,
        test: { name: zone, include: ZONED_TESTS, env: { TZ: zone } },
      })),
    ],
  },
})
