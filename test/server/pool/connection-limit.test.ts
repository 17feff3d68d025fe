/**
 * A role's CONNECTION LIMIT as a hard connection budget: when PostgreSQL refuses a
 * connection for want of slots ("too many connections for role", 53300), the pool's
 * requests wait for a connection, as they do for a full pool, instead of failing; only the
 * acquire timeout ends a wait, and then POOL_TIMEOUT says what PostgreSQL said.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { peakBackends } from '../../helpers/backends.js'
import { admin, databaseUrl, startTestGateway, type TestGateway } from '../../helpers/gateway.js'

const role = `sluice_limited_${randomBytes(4).toString('hex')}`
const password = randomBytes(12).toString('hex')
const LIMIT = 2

function roleUrl(): string {
  const url = new URL(databaseUrl())
  url.username = role
  url.password = password
  return url.toString()
}

describe("a role's CONNECTION LIMIT", () => {
  let t: TestGateway
  beforeAll(async () => {
    await admin(`create role ${role} login password '${password}' connection limit ${LIMIT}`)
    const db = new URL(databaseUrl()).pathname.slice(1)
    await admin(`grant connect on database "${db}" to ${role}`)
    t = await startTestGateway({
      connection: { url: roleUrl() },
      pool: { min: 0, max: 2 * LIMIT, acquireTimeoutMs: 10_000 },
    })
  })
  afterAll(async () => {
    await t?.close()
    const db = new URL(databaseUrl()).pathname.slice(1)
    await admin(`revoke connect on database "${db}" from ${role}`)
    await admin(`drop role if exists ${role}`)
  })

  it('makes requests wait for a slot instead of failing, and PostgreSQL never sees more than the limit', async () => {
    const { peak, result: answers } = await peakBackends('usename', role, () =>
      Promise.all(
        Array.from({ length: 4 * LIMIT }, () =>
          t.json('/v1/query', { sql: 'select pg_sleep(0.2)' }),
        ),
      ),
    )
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 4 * LIMIT }, () => 200))
    expect(peak).toBe(LIMIT)
    const stats = t.gateway.tenants.get('main')!.pool.stats()
    expect(stats.connectionsErrors).toBeGreaterThan(0)
    expect(stats.requestsErrors).toBe(0)
  })

  it('answers POOL_TIMEOUT with what PostgreSQL said when no slot frees in time', async () => {
    const other = await startTestGateway({
      connection: { url: roleUrl() },
      pool: { min: 0, max: 2 * LIMIT, acquireTimeoutMs: 300 },
    })
    try {
      const answers = await Promise.all(
        Array.from({ length: 2 * LIMIT }, () =>
          other.json('/v1/query', { sql: 'select pg_sleep(1)' }),
        ),
      )
      const timedOut = answers.filter((a) => a.status === 503)
      expect(timedOut.length).toBeGreaterThan(0)
      for (const answer of timedOut) {
        expect(answer.body.error.code).toBe('POOL_TIMEOUT')
        expect(answer.body.error.message).toMatch(
          /PostgreSQL refused more connections: .*too many connections for role/,
        )
      }
    } finally {
      await other.close()
    }
  })
})
