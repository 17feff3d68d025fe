import { spawn } from 'node:child_process'
import { Client as NeonClient, neonConfig } from '@neondatabase/serverless'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import ws from 'ws'
import { databaseUrl, eventually, newToken } from '../../helpers/gateway.js'
import { freePort } from '../../setup/postgres.js'

// `sluice serve` as operators run it: SLUICE_PG_PORT turns the TCP listener on, the HTTP
// port takes WebSocket upgrades at /v2, and SIGTERM ends wire sessions with 57P01.

describe('sluice serve with SLUICE_PG_PORT', () => {
  const children: ReturnType<typeof spawn>[] = []
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL')
  })

  it('serves the PostgreSQL protocol on TCP and on /v2, and drains it on SIGTERM', async () => {
    const [port, pgPort] = [await freePort(), await freePort()]
    const token = newToken()
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      env: {
        ...process.env,
        SLUICE_CONFIG: '',
        DATABASE_URL: databaseUrl(),
        SLUICE_ALLOW_PRIVILEGED_ROLE: '1',
        SLUICE_TOKEN: token,
        PORT: String(port),
        SLUICE_PG_PORT: String(pgPort),
        SLUICE_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    let stdout = ''
    child.stdout!.on('data', (chunk) => (stdout += chunk))
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    await eventually(() => stdout.includes('listening on'), 20_000)
    expect(stdout).toContain(`sluice: PostgreSQL protocol on 127.0.0.1:${pgPort}`)

    const tcp = new pg.Client({
      host: '127.0.0.1',
      port: pgPort,
      user: 'default',
      password: token,
      database: 'default',
    })
    const ended = new Promise<unknown>((resolve) => tcp.on('error', resolve))
    await tcp.connect()
    expect((await tcp.query('select 1 as one')).rows).toEqual([{ one: 1 }])

    neonConfig.webSocketConstructor = ws
    neonConfig.useSecureWebSocket = false
    neonConfig.wsProxy = (host, p) => `127.0.0.1:${port}/v2?address=${host}:${p}`
    const neon = new NeonClient(`postgresql://default:${token}@db.invalid/default`)
    await neon.connect()
    expect((await neon.query('select 2 as two')).rows).toEqual([{ two: 2 }])
    await neon.end()

    child.kill('SIGTERM')
    expect(await ended).toMatchObject({ code: '57P01' })
    expect(await exited).toBe(0)
  }, 60_000)
})
