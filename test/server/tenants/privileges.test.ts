/**
 * Least privilege: a tenant whose database role could reach the server's files or
 * programs, or step around row-level security, is not served unless its config accepts
 * the risk, because every token holder (a readonly one included) runs SQL as that role.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { killChildren, startSluice } from '../../helpers/cli.js'
import {
  admin,
  databaseUrl,
  eventually,
  serveGateway,
  startTestGateway,
  type TestGateway,
} from '../../helpers/gateway.js'
import { freePort } from '../../../server/embedded/free-port.js'

const PASSWORD = 'priv-test-Secret-9'
const ROLES = {
  sluice_priv_super: 'SUPERUSER',
  sluice_priv_bypass: 'BYPASSRLS',
  sluice_priv_files: '',
  sluice_priv_program: '',
  sluice_priv_plain: '',
} as const

function urlAs(role: string): string {
  const url = new URL(databaseUrl())
  url.username = role
  url.password = PASSWORD
  return url.toString()
}

interface Served {
  t: TestGateway
  server: Server
  query(sql: string, token?: string): Promise<{ status: number; body: any }>
}

async function serve(role: string, allowPrivilegedRole = false): Promise<Served> {
  const t = await startTestGateway({ connection: { url: urlAs(role) }, allowPrivilegedRole })
  const server = serveGateway(t.gateway)
  await new Promise((resolve) => server.once('listening', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    t,
    server,
    async query(sql, token = t.readonlyToken) {
      const res = await fetch(`${base}/v1/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify({ sql }),
      })
      return { status: res.status, body: await res.json() }
    },
  }
}

async function stop(served: Served): Promise<void> {
  await new Promise((resolve) => served.server.close(resolve))
  await served.t.close()
}

/** Drops a role and what it holds (the CONNECT grant), if it exists. */
async function dropRole(role: string): Promise<void> {
  await admin(
    `do $$ begin if exists (select from pg_roles where rolname = '${role}') then execute 'drop owned by ${role}'; execute 'drop role ${role}'; end if; end $$`,
  )
}

beforeAll(async () => {
  const database = new URL(databaseUrl()).pathname.slice(1)
  for (const [role, attribute] of Object.entries(ROLES)) {
    await dropRole(role)
    await admin(`create role ${role} login ${attribute} password '${PASSWORD}'`)
    await admin(`grant connect on database "${database}" to ${role}`)
  }
  await admin('grant pg_read_server_files to sluice_priv_files')
  await admin('grant pg_execute_server_program to sluice_priv_program')
})

afterAll(async () => {
  killChildren()
  for (const role of Object.keys(ROLES)) {
    await admin(`select pg_terminate_backend(pid) from pg_stat_activity where usename = $1`, [role])
    await dropRole(role)
  }
})

describe('least privilege', () => {
  it('serves a tenant whose role holds no dangerous privilege', async () => {
    const served = await serve('sluice_priv_plain')
    try {
      expect((await served.query('select current_user::text')).body.rows).toEqual([
        ['sluice_priv_plain'],
      ])
    } finally {
      await stop(served)
    }
  })

  it.each([
    ['sluice_priv_super', 'superuser'],
    ['sluice_priv_bypass', 'BYPASSRLS'],
    ['sluice_priv_files', 'pg_read_server_files'],
    ['sluice_priv_program', 'pg_execute_server_program'],
  ])(
    'refuses to serve a tenant whose role %s holds %s, naming the risk and the way out',
    async (role, privilege) => {
      const served = await serve(role)
      try {
        const copy = await served.query("copy (select 1) to program 'true'")
        expect(copy.status).toBe(403)
        expect(copy.body.error.code).toBe('FORBIDDEN')
        expect(copy.body.error.message).toContain(privilege)
        expect(copy.body.error.message).toContain('allowPrivilegedRole')
        expect(JSON.stringify(copy.body)).not.toContain(PASSWORD)
        const ready = await served.t.gateway.readiness()
        expect(ready.tenants.main).toBe('unavailable')
      } finally {
        await stop(served)
      }
    },
  )

  it("refuses it still when the role's own search_path puts a pg_has_role of its own first", async () => {
    const role = 'sluice_priv_files'
    await admin(`create schema ${role} authorization ${role}`)
    await admin(`create function ${role}.pg_has_role(name, text, text) returns boolean
      language sql as 'select false'`)
    await admin(`alter role ${role} set search_path = ${role}, pg_catalog`)
    const served = await serve(role)
    try {
      const answer = await served.query('select 1')
      expect(answer.status).toBe(403)
      expect(answer.body.error.message).toContain('pg_read_server_files')
    } finally {
      await stop(served)
      await admin(`alter role ${role} reset search_path`)
      await admin(`drop schema ${role} cascade`)
    }
  })

  it('serves a privileged role when the config accepts the risk', async () => {
    const served = await serve('sluice_priv_super', true)
    try {
      expect((await served.query('select 1')).status).toBe(200)
    } finally {
      await stop(served)
    }
  })

  it('serves again once the role lost its privilege, asking on each new connection', async () => {
    await admin('alter role sluice_priv_bypass bypassrls')
    const served = await serve('sluice_priv_bypass')
    try {
      expect((await served.query('select 1')).status).toBe(403)
      await admin('alter role sluice_priv_bypass nobypassrls')
      await eventually(async () => (await served.query('select 1')).status === 200)
    } finally {
      await stop(served)
      await admin('alter role sluice_priv_bypass bypassrls')
    }
  })

  it('refuses a privileged DATABASE_URL unless SLUICE_ALLOW_PRIVILEGED_ROLE=1', async () => {
    const port = await freePort()
    const token = 'priv-test-token-0123456789'
    const sluice = startSluice([], {
      env: {
        DATABASE_URL: urlAs('sluice_priv_super'),
        SLUICE_TOKEN: token,
        PORT: String(port),
        SLUICE_ALLOW_PRIVILEGED_ROLE: undefined,
        SLUICE_DRAIN_GRACE_MS: '0',
      },
    })
    await sluice.printed(`listening on http://127.0.0.1:${port}`)
    const res = await fetch(`http://127.0.0.1:${port}/v1/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ sql: 'select 1' }),
    })
    expect(res.status).toBe(403)
    expect(((await res.json()) as any).error.message).toContain('superuser')
    await sluice.printed('refusing to serve the tenant')
    sluice.child.kill('SIGTERM')
    const run = await sluice.exited
    expect(run.code).toBe(0)
    expect(run.stdout + run.stderr).not.toContain(PASSWORD)
  })
})
