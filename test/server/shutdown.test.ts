import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { freePort } from '../setup/postgres.js'
import {
  admin,
  backends,
  databaseUrl,
  eventually,
  newToken,
  startTestGateway,
} from '../helpers/gateway.js'

async function startMain(drainGraceMs = '0'): Promise<{
  child: ReturnType<typeof spawn>
  port: number
  token: string
  output: () => string
  exited: Promise<number | null>
}> {
  const port = await freePort()
  const token = newToken()
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl(),
      SLUICE_ALLOW_PRIVILEGED_ROLE: '1',
      SLUICE_DRAIN_GRACE_MS: drainGraceMs,
      PORT: String(port),
      SLUICE_TOKEN: token,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk) => (output += chunk))
  child.stderr!.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const main = { child, port, token, output: () => output, exited }
  await printed(main, `listening on http://127.0.0.1:${port}`)
  return main
}

/** Resolves once the child printed `text` (on stdout or stderr). */
function printed(main: { child: ReturnType<typeof spawn>; output: () => string }, text: string) {
  return eventually(() => main.output().includes(text), 20_000).catch(() => {
    throw new Error(`did not print "${text}": ${main.output()}`)
  })
}

describe('graceful shutdown', () => {
  it('turns /readyz 503 and refuses new work, lets in-flight work and open transactions finish, then closes every connection', async () => {
    const t = await startTestGateway({ pool: { min: 1, max: 3 } })
    await admin('create table if not exists drain_probe (id int)')
    await admin('truncate drain_probe')
    const tx = (await t.json('/v1/transactions', {})).body
    await t.json(`/v1/transactions/${tx.id}/query`, { sql: 'insert into drain_probe values (1)' })
    const slow = t.json('/v1/query', { sql: 'select pg_sleep(0.3)' })
    // The transaction holds one connection, the running statement the other.
    await eventually(() => t.gateway.tenants.get('main')!.pool.stats().poolInUse === 2)

    const closing = t.gateway.close(5000)
    const ready = await t.gateway.app.request('/readyz')
    expect(ready.status).toBe(503)
    expect(((await ready.json()) as any).error.code).toBe('SHUTTING_DOWN')
    const refused = await t.json('/v1/query', { sql: 'select 1' })
    expect(refused.status).toBe(503)
    expect(refused.body.error).toMatchObject({ code: 'SHUTTING_DOWN', retryable: true })
    expect((await t.json('/v1/transactions', {})).status).toBe(503)

    // The open transaction may still finish within the grace period.
    const commit = await t.json(`/v1/transactions/${tx.id}/commit`, {})
    expect(commit.body).toEqual({ committed: true })
    expect((await slow).status).toBe(200)
    await closing
    expect(await backends(t.applicationName)).toEqual([])
    expect((await admin('select id from drain_probe')).map((r) => r.id)).toEqual([1])
  })

  it('rolls back transactions still open when the grace period ends', async () => {
    const t = await startTestGateway({ pool: { min: 0, max: 2 } })
    await admin('create table if not exists drain_probe2 (id int)')
    await admin('truncate drain_probe2')
    const tx = (await t.json('/v1/transactions', { idleTimeoutMs: 60_000 })).body
    await t.json(`/v1/transactions/${tx.id}/query`, { sql: 'insert into drain_probe2 values (1)' })
    await t.gateway.close(200)
    expect(t.gateway.transactions.count()).toBe(0)
    expect(await backends(t.applicationName)).toEqual([])
    expect(await admin('select id from drain_probe2')).toEqual([])
  })

  it('exits 0 on SIGTERM after printing the listening line (npm start with DATABASE_URL)', async () => {
    const main = await startMain()
    main.child.kill('SIGTERM')
    expect(await main.exited, main.output()).toBe(0)
    expect(main.output()).not.toContain(new URL(databaseUrl()).password)
  })

  it('exits at once, with code 1, on a second signal during the drain', async () => {
    const main = await startMain('10000')
    const slow = fetch(`http://127.0.0.1:${main.port}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${main.token}` },
      body: JSON.stringify({ sql: 'select pg_sleep(8)' }),
    }).catch((error: unknown) => error)
    await eventually(
      async () =>
        (
          await admin(
            "select 1 from pg_stat_activity where state = 'active' and query like '%pg_sleep(8)%' and pid <> pg_backend_pid()",
          )
        ).length === 1,
    )
    main.child.kill('SIGTERM')
    await printed(main, 'SIGTERM: draining')
    main.child.kill('SIGTERM')
    expect(await main.exited, main.output()).toBe(1)
    expect(main.output()).toContain('again: exiting without finishing the drain')
    await slow
  })
})
