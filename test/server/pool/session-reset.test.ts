/**
 * Session isolation, tried as a hostile readonly token would, over a listening gateway. The
 * pool holds one connection, so every request reuses the attacker's backend: whatever a
 * statement left in the session would show in the next request, unless the reset undid it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RESET_SQL } from '../../../server/pool/session-reset.js'
import {
  admin,
  databaseUrl,
  eventually,
  listenTestGateway,
  type ListeningGateway,
} from '../../helpers/gateway.js'

let t: ListeningGateway
let base: string

interface Answer {
  status: number
  body: any
}

async function send(sql: string, token: string, params?: unknown[]): Promise<Answer> {
  const res = await fetch(`${base}/v1/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify(params ? { sql, params } : { sql }),
  })
  return { status: res.status, body: await res.json() }
}

const asWriter = (sql: string, params?: unknown[]) => send(sql, t.token, params)
const asReader = (sql: string) => send(sql, t.readonlyToken)

/**
 * Everything a session can carry, as the readwrite token sees it. Settings at their built-in
 * default are left out: loading an extension (plpgsql, by the first DO block) defines new
 * ones, which no reset can or needs to undo.
 */
const FINGERPRINT = `select json_build_object(
  'settings', (select string_agg(name || '=' || setting || ' (' || source || ')', ',' order by name)
    from pg_settings where source <> 'default'),
  'user', current_user, 'session_user', session_user,
  'advisory', (select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()),
  'listening', (select count(*) from pg_listening_channels()),
  'cursors', (select count(*) from pg_cursors),
  'prepared_from_sql', (select count(*) from pg_prepared_statements where from_sql),
  'temp_objects', (select count(*) from pg_class where relnamespace = pg_my_temp_schema()),
  'accounts', (select string_agg(owner, ',') from accounts)
)::text`

async function fingerprint(): Promise<string> {
  const { status, body } = await asWriter(FINGERPRINT)
  expect(status, JSON.stringify(body)).toBe(200)
  return body.rows[0][0]
}

async function pid(): Promise<string> {
  return (await asWriter('select pg_backend_pid()::text')).body.rows[0][0]
}

beforeAll(async () => {
  await admin('drop table if exists accounts; create table accounts (id int, owner text)')
  await admin("insert into accounts values (1, 'real')")
  await admin('create table if not exists iso_writes (x int)')
  await admin('create sequence if not exists iso_seq')
  await admin(`create or replace function iso_sneaky() returns int language plpgsql as $$
    begin
      perform set_config('TimeZone', 'Asia/Tokyo', false);
      perform set_config('search_path', 'pg_temp, public', false);
      perform pg_advisory_lock(77);
      execute 'create temp table if not exists accounts (id int, owner text)';
      execute 'insert into pg_temp.accounts values (1, ''attacker'')';
      return 1;
    end $$`)
  await admin(
    "do $$ begin if not exists (select from pg_roles where rolname = 'sluice_iso_role') then create role sluice_iso_role; end if; end $$",
  )
})

afterAll(async () => {
  await admin('drop table if exists accounts, iso_writes; drop sequence if exists iso_seq')
  await admin('drop function if exists iso_sneaky()')
})

// What a readonly token may try; some are refused by PostgreSQL, which is fine too.
const ATTACKS = [
  `select "set_config"('default_transaction_read_only', 'on', false)`,
  `select pg_catalog."set_config"('statement_timeout', '1', false)`,
  `select "pg_catalog"."set_config"('search_path', 'pg_temp, public', false)`,
  `select "pg_advisory_lock"(1)`,
  `select pg_catalog.pg_advisory_lock_shared(2)`,
  `create table "pg_temp".accounts (id int, owner text)`,
  `create temporary table accounts as select 1 as id, 'attacker'::text as owner`,
  `do $$ begin execute 'select set_config(''TimeZone'', ''Asia/Tokyo'', false)'; end $$`,
  `do $$ begin perform pg_advisory_lock(3); end $$`,
  `do $$ begin execute 'create temp table accounts (id int, owner text)'; end $$`,
  `select iso_sneaky()`,
  `select (select iso_sneaky()) + 1`,
  `set role sluice_iso_role`,
  `select set_config('role', 'sluice_iso_role', false)`,
  `set session authorization sluice_iso_role`,
  `set client_encoding = 'LATIN1'`,
  `set datestyle = 'SQL, DMY'`,
  `set intervalstyle = 'iso_8601'`,
  `set extra_float_digits = -15`,
  `select pg_catalog.set_config('default_transaction_isolation', 'serializable', false)`,
  `listen leaked_channel`,
  `declare leaked cursor with hold for select 1`,
  `prepare leaked as select 1`,
  `do $$ begin execute 'prepare leaked_in_do as select 2'; end $$`,
  `select nextval('iso_seq')`,
]

/** The reset PostgreSQL ran last on the gateway's one backend. */
async function lastReset(): Promise<string> {
  const rows = await admin('select query from pg_stat_activity where application_name = $1', [
    t.applicationName,
  ])
  return rows[0].query
}

// With named statements of the gateway's on the connection, the reset keeps them; without,
// it is DISCARD ALL. Either way the session goes back as it was lent.
describe.each([
  { reset: 'the reset that keeps named statements', prepareThreshold: 0 },
  { reset: 'DISCARD ALL, with no named statement to keep', prepareThreshold: null },
])('session isolation, by $reset', ({ prepareThreshold }) => {
  beforeAll(async () => {
    t = await listenTestGateway({ pool: { min: 1, max: 1, prepareThreshold } })
    base = t.url
  })
  afterAll(() => t.close())

  it('reuses one backend, so what follows tests the reset and not a new connection', async () => {
    expect(await pid()).toBe(await pid())
  })

  it('resets after every request, plain statements too', async () => {
    const resets = () => t.gateway.tenants.get('main')!.pool.stats().sessionResets
    const before = resets()
    await asWriter('select 1')
    await asWriter('select 2')
    expect(resets()).toBe(before + 2)
  })

  it('lets nothing a readonly token does change what a later readwrite request sees', async () => {
    const backend = await pid()
    const baseline = await fingerprint()
    expect(baseline).toContain('"accounts" : "real"')
    for (const attack of ATTACKS) {
      await asReader(attack)
      expect(await fingerprint(), attack).toBe(baseline)
      // The writer can still write, wait, and has no sequence state it did not make.
      expect((await asWriter('insert into iso_writes values (1)')).status, attack).toBe(200)
      expect((await asWriter('select pg_sleep(0.005)')).status, attack).toBe(200)
      expect((await asWriter("select currval('iso_seq')")).body.error?.sqlstate, attack).toBe(
        '55000',
      )
    }
    expect(await pid()).toBe(backend)
    const locks = await admin("select count(*)::int as n from pg_locks where locktype = 'advisory'")
    expect(locks[0].n).toBe(0)
  })

  it('undoes a readwrite request the same way (the reset does not depend on the token)', async () => {
    const baseline = await fingerprint()
    for (const attack of ATTACKS) {
      await asWriter(attack)
      expect(await fingerprint(), attack).toBe(baseline)
      expect((await asWriter("select currval('iso_seq')")).body.error?.sqlstate, attack).toBe(
        '55000',
      )
    }
  })

  // Only a connection holding named statements of ours has any to hijack.
  if (prepareThreshold === 0)
    it("keeps a statement prepared from SQL from standing in for the gateway's own", async () => {
      const probe = 'select 1 as n'
      expect((await asWriter(probe)).body.rows).toEqual([['1']])
      const named = await asReader(
        `select name from pg_prepared_statements where statement = '${probe}' and not from_sql`,
      )
      const name = named.body.rows[0]?.[0]
      expect(name).toMatch(/^sluice_/)
      // Within one statement: drop the gateway's statement and prepare another under its name.
      const hijack = await asReader(
        `do $$ begin execute 'deallocate ${name}'; execute 'prepare ${name} as select 666 as n'; end $$`,
      )
      expect(hijack.status, JSON.stringify(hijack.body)).toBe(200)
      expect((await asWriter(probe)).body.rows).toEqual([['1']])
      expect((await asWriter(probe)).body.rows).toEqual([['1']])
    })

  it('rolls back a transaction left open on the connection', async () => {
    const pool = t.gateway.tenants.get('main')!.pool
    const connection = await pool.acquire()
    await connection.simple('BEGIN')
    await connection.simple('CREATE TABLE left_open (x int)')
    expect(connection.transactionStatus).toBe('T')
    pool.release(connection)
    expect((await asWriter("select to_regclass('left_open')::text")).body.rows).toEqual([[null]])
  })

  it('sends the reset as one simple query: DISCARD ALL only when no statement of ours is prepared', async () => {
    await asWriter('select 41 + 1')
    await eventually(async () => (await lastReset()) !== 'select 41 + 1')
    expect(await lastReset()).toBe(prepareThreshold === null ? 'DISCARD ALL' : RESET_SQL)
  })

  it('refuses transaction control in /v1/query with a clear BAD_REQUEST', async () => {
    const { status, body } = await asWriter('begin')
    expect(status).toBe(400)
    expect(body.error.code).toBe('BAD_REQUEST')
    expect(body.error.message).toContain('/v1/transactions')
  })
})

describe("the reset, for a role whose own search_path puts a schema before pg_catalog's", () => {
  // A role may set its own defaults (ALTER ROLE … SET search_path), which RESET ALL brings
  // back mid-reset: a function of its schema named like one of pg_catalog's would then run
  // in the reset's place.
  const role = `sluice_shadow_${Math.random().toString(36).slice(2, 8)}`
  let shadowed: ListeningGateway

  beforeAll(async () => {
    await admin(`create role ${role} login password 'shadow-pass-1234'`)
    await admin(`create schema ${role} authorization ${role}`)
    await admin(`create function ${role}.pg_advisory_unlock_all() returns void
      language sql as 'select null'`)
    await admin(`alter role ${role} set search_path = ${role}, pg_catalog`)
    const url = new URL(databaseUrl())
    url.username = role
    url.password = 'shadow-pass-1234'
    shadowed = await listenTestGateway({
      connection: { url: url.toString() },
      pool: { min: 1, max: 1, prepareThreshold: 0 },
    })
  })

  afterAll(async () => {
    await shadowed?.close()
    await admin(`drop schema if exists ${role} cascade; drop role if exists ${role}`)
  })

  it('still releases the advisory locks a request took, with pg_catalog named', async () => {
    const run = async (sql: string) => {
      const res = await fetch(`${shadowed.url}/v1/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${shadowed.token}` },
        body: JSON.stringify({ sql }),
      })
      const body = (await res.json()) as any
      expect(res.status, JSON.stringify(body)).toBe(200)
      return body.rows
    }
    // The same one backend serves both; the first request's prepared statement keeps the
    // long reset in use.
    await run('select pg_advisory_lock(4242)')
    expect(
      await run(
        "select count(*)::int from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()",
      ),
    ).toEqual([['0']])
  })
})
