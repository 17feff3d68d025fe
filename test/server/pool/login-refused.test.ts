/**
 * PostgreSQL refusing the gateway's own login (its role's password changed, the role made
 * NOLOGIN, its database dropped) is not a database that cannot be reached: the client hears
 * that the database refused the gateway's login, still DB_UNAVAILABLE and retryable (nothing
 * ran), with no role, password or URL in it; the operator's log has PostgreSQL's reason.
 */
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../../server/log/logger.js'
import {
  admin,
  databaseUrl,
  eventually,
  listenTestGateway,
  type ListeningGateway,
} from '../../helpers/gateway.js'

const REFUSED = "the database refused the gateway's login (the gateway's log says why)"

/** A logger that keeps every line it writes. */
function capturedLogger() {
  const lines: Record<string, any>[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line))
      done()
    },
  })
  return { logger: createLogger({ level: 'info' }, stream), lines }
}

/** A gateway for `role` on `database`, listening, whose pool keeps no connection idle. */
async function serveAs(role: string, password: string, database: string) {
  const url = new URL(databaseUrl())
  url.username = role
  url.password = password
  url.pathname = `/${database}`
  const logs = capturedLogger()
  const t = await listenTestGateway(
    { connection: { url: url.toString() }, allowPrivilegedRole: false, pool: { min: 0, max: 1 } },
    { logger: logs.logger },
  )
  return { t, logs }
}

/** POSTs a query over the network; the answer's status, headers and raw text. */
async function query(t: ListeningGateway) {
  const res = await fetch(`${t.url}/v1/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.token}` },
    body: JSON.stringify({ sql: 'select 1' }),
  })
  return { status: res.status, retryAfter: res.headers.get('retry-after'), text: await res.text() }
}

/** Ends the gateway's pooled sessions of `role`, and waits until its pool saw them go. */
async function endSessions(t: ListeningGateway, role: string): Promise<void> {
  await admin('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [role])
  const pool = t.gateway.tenants.get('main')!.pool
  await eventually(() => pool.stats().poolSize === 0)
}

/** Checks the refusal a client hears: the message, the code, and no secret in any of it. */
function expectRefused(answer: Awaited<ReturnType<typeof query>>, secrets: string[]): void {
  expect(answer.status).toBe(503)
  expect(answer.retryAfter).toBe('1')
  expect(JSON.parse(answer.text).error).toMatchObject({
    code: 'DB_UNAVAILABLE',
    retryable: true,
    message: REFUSED,
  })
  for (const secret of [...secrets, 'postgres://', 'postgresql://'])
    expect(answer.text).not.toContain(secret)
}

/** The operator's log line for the refusal: PostgreSQL's reason, and not the password. */
function expectLogged(lines: Record<string, any>[], reason: string, password: string): void {
  const failed = lines.filter((l) => l.msg === 'cannot connect to the database')
  expect(failed.some((l) => String(l.error).includes(reason))).toBe(true)
  expect(JSON.stringify(lines)).not.toContain(password)
}

describe("PostgreSQL refusing the gateway's own login", () => {
  const role = `sluice_login_${randomBytes(4).toString('hex')}`
  const password = `login-Secret-${randomBytes(6).toString('hex')}`
  const changed = `changed-Secret-${randomBytes(6).toString('hex')}`
  const database = new URL(databaseUrl()).pathname.slice(1)
  let served: Awaited<ReturnType<typeof serveAs>>

  beforeAll(async () => {
    await admin(`create role ${role} login password '${password}'`)
    await admin(`grant connect on database "${database}" to ${role}`)
    served = await serveAs(role, password, database)
  })
  afterAll(async () => {
    await served.t.close()
    await admin(`drop owned by ${role}`)
    await admin(`drop role if exists ${role}`)
  })

  it('answers that the database refused the login once the role’s password changed', async () => {
    const { t, logs } = served
    expect((await query(t)).status).toBe(200)
    await admin(`alter role ${role} password '${changed}'`)
    await endSessions(t, role)
    expectRefused(await query(t), [role, password, changed])
    expectLogged(logs.lines, 'password authentication failed', password)
  })

  it('answers the same once the role may no longer log in (NOLOGIN)', async () => {
    const { t, logs } = served
    await admin(`alter role ${role} login password '${password}'`)
    expect((await query(t)).status).toBe(200)
    await admin(`alter role ${role} nologin`)
    await endSessions(t, role)
    expectRefused(await query(t), [role, password])
    expectLogged(logs.lines, 'not permitted to log in', password)
  })
})

describe("PostgreSQL refusing the gateway's login to a database that was dropped", () => {
  const role = `sluice_login_${randomBytes(4).toString('hex')}`
  const password = `login-Secret-${randomBytes(6).toString('hex')}`
  const database = `sluice_gone_${randomBytes(4).toString('hex')}`

  beforeAll(async () => {
    await admin(`create role ${role} login password '${password}'`)
    await admin(`create database ${database}`)
    await admin(`grant connect on database ${database} to ${role}`)
  })
  afterAll(async () => {
    await admin(`drop database if exists ${database} with (force)`)
    await admin(`drop role if exists ${role}`)
  })

  it('answers that the database refused the login, naming no database, role or password', async () => {
    const { t, logs } = await serveAs(role, password, database)
    try {
      expect((await query(t)).status).toBe(200)
      await admin(`drop database ${database} with (force)`)
      await eventually(() => t.gateway.tenants.get('main')!.pool.stats().poolSize === 0)
      expectRefused(await query(t), [database, role, password])
      expectLogged(logs.lines, 'does not exist', password)
    } finally {
      await t.close()
    }
  })
})
