/**
 * A role or database may carry its own DateStyle, IntervalStyle, extra_float_digits or
 * bytea_output (`ALTER ROLE … SET`). The gateway's answers are read in PostgreSQL's default
 * formats, so its connections ask for those at connect time (server/pool/pg-config.ts), and a
 * role's settings cannot change what clients read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../../edge/index.js'
import { admin, databaseUrl } from '../../helpers/gateway.js'
import { pgClient, startWireGateway, type WireGateway } from '../../helpers/wire.js'

const role = `sluice_formats_${process.pid}`
const SQL = String.raw`select '2026-11-24 13:12:00.123456+00'::timestamptz as tz, '2024-02-29'::date as d,
  0.1::float8 + 0.2::float8 as sum, '1 day 02:00:03'::interval as iv, '\xdeadbeef'::bytea as b`

let gateway: WireGateway
let url: string

beforeAll(async () => {
  await admin(`create role ${role} login password 'formats-password'`)
  for (const setting of [
    `DateStyle = 'SQL, DMY'`,
    `IntervalStyle = 'iso_8601'`,
    `extra_float_digits = 0`,
    `bytea_output = 'escape'`,
  ]) {
    await admin(`alter role ${role} set ${setting}`)
  }
  const database = new URL(databaseUrl())
  database.username = role
  database.password = 'formats-password'
  gateway = await startWireGateway({
    connection: { url: database.toString() },
    allowPrivilegedRole: false,
  })
  url = `http://${gateway.httpHost}`
})

afterAll(async () => {
  await gateway?.close()
  await admin(`drop role if exists ${role}`)
})

describe("a role's own output settings", () => {
  it('do not change the text of values in JSON answers', async () => {
    const response = await fetch(`${url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${gateway.token}` },
      body: JSON.stringify({ sql: SQL }),
    })
    const body = (await response.json()) as { rows: unknown[][] }
    expect(body.rows).toEqual([
      [
        '2026-11-24 13:12:00.123456+00',
        '2024-02-29',
        '0.30000000000000004',
        '1 day 02:00:03',
        String.raw`\xdeadbeef`,
      ],
    ])
  })

  it('do not change the values the edge client reads', async () => {
    const db = createClient({ url, token: gateway.token })
    const [row] = (await db.query(SQL)).rows as Record<string, any>[]
    expect((row!.tz as Date).toISOString()).toBe('2026-11-24T13:12:00.123Z')
    expect(row!.sum).toBe(0.1 + 0.2)
    expect(row!.iv).toMatchObject({ days: 1, hours: 2, seconds: 3 })
    expect([...(row!.b as Uint8Array)]).toEqual([0xde, 0xad, 0xbe, 0xef])
  })

  it('do not change the formats a wire client that gives none gets', async () => {
    const client = await pgClient(gateway)
    try {
      const { rows } = await client.query({ text: 'show DateStyle', rowMode: 'array' })
      expect(rows[0]![0]).toMatch(/^ISO,/)
      const bytes = await client.query({
        text: String.raw`select '\xdeadbeef'::bytea::text`,
        rowMode: 'array',
      })
      expect(bytes.rows).toEqual([[String.raw`\xdeadbeef`]])
    } finally {
      await client.end()
    }
  })

  it("are what PostgreSQL gives the role's own sessions (the test's premise)", async () => {
    const pg = await import('pg')
    const url = new URL(databaseUrl())
    url.username = role
    url.password = 'formats-password'
    const client = new pg.default.Client({ connectionString: url.toString() })
    await client.connect()
    try {
      const { rows } = await client.query({ text: 'show DateStyle', rowMode: 'array' })
      expect(rows).toEqual([['SQL, DMY']])
    } finally {
      await client.end()
    }
  })
})
