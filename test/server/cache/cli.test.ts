import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createDatabase, type TestDatabase } from '../../helpers/cache.js'
import { killChildren, sluice } from '../../helpers/cli.js'
import { newToken } from '../../helpers/gateway.js'

afterEach(killChildren)

let db: TestDatabase
let dir: string
beforeAll(async () => {
  db = await createDatabase('cache_cli')
  await db.sql(`create schema app; create table app.a (id int); create table public.b (id int)`)
  dir = await mkdtemp(join(tmpdir(), 'sluice-cache-cli-'))
})
afterAll(async () => {
  await db?.drop()
  await rm(dir, { recursive: true, force: true })
})

const triggers = async () =>
  (
    await db.sql<{ name: string }>(
      `select tgrelid::regclass::text as name from pg_trigger where tgname = 'sluice_cache_notify' order by 1`,
    )
  ).map((row) => row.name)

describe('sluice cache', () => {
  it('has its own help, and says what is missing with exit code 2', async () => {
    const help = await sluice(['cache', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('Usage: sluice cache install-triggers')
    const cases: [string[], string][] = [
      [['cache'], 'sluice: config: cache: give install-triggers or remove-triggers (see --help)'],
      [
        ['cache', 'install-triggers'],
        'sluice: config: cache: needs --config FILE (or SLUICE_CONFIG), or DATABASE_URL',
      ],
      [
        ['cache', 'install-triggers', '--bogus', 'x'],
        'sluice: config: cache: unknown option "--bogus" (see --help)',
      ],
      [['cache', 'install-triggers', '--schema'], 'sluice: config: cache: --schema needs a value'],
    ]
    for (const [args, line] of cases) {
      const run = await sluice(args)
      expect(run.code, args.join(' ')).toBe(2)
      expect(run.stderr.trim()).toBe(line)
    }
  })

  it('installs triggers on the tables of the schemas asked for, from DATABASE_URL, and removes them', async () => {
    const env = { env: { DATABASE_URL: db.url } }
    const one = await sluice(['cache', 'install-triggers', '--schema', 'app'], env)
    expect(one.code).toBe(0)
    expect(one.stdout).toContain('statement triggers on 1 table;')
    expect(await triggers()).toEqual(['app.a'])
    const all = await sluice(['cache', 'install-triggers'], env)
    expect(all.code).toBe(0)
    expect(await triggers()).toEqual(['app.a', 'b'])
    // The test database's user is a superuser: new tables get the trigger too.
    expect(all.stdout).toContain('DDL event trigger installed')
    await db.sql('create table public.c (id int)')
    expect(await triggers()).toEqual(['app.a', 'b', 'c'])
    const removed = await sluice(['cache', 'remove-triggers'], env)
    expect(removed.code).toBe(0)
    expect(await triggers()).toEqual([])
    expect(await db.sql(`select 1 from pg_namespace where nspname = 'sluice_cache'`)).toHaveLength(
      0,
    )
  })

  it('picks the tenants that enable the cache from a config file, or the ones named', async () => {
    const file = join(dir, 'config.json')
    const tenant = (cache: boolean) => ({
      allowPrivilegedRole: true,
      connection: { url: db.url },
      tokens: [{ token: newToken() }],
      cache: { enabled: cache },
    })
    await writeFile(file, JSON.stringify({ tenants: { on: tenant(true), off: tenant(false) } }))
    const run = await sluice(['cache', 'install-triggers', '--config', file])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^on \(postgres@[^)]*\): statement triggers on \d+ tables/m)
    expect(run.stdout).not.toContain('off (')
    const unknown = await sluice(['cache', 'remove-triggers', '--config', file, '--tenant', 'nope'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain(`cache: --tenant nope: no such tenant in ${file}`)
    // A name every object has is no tenant either (not a TypeError from Object's constructor).
    const inherited = await sluice([
      'cache',
      'remove-triggers',
      '--config',
      file,
      '--tenant',
      'constructor',
    ])
    expect(inherited.code).toBe(2)
    expect(inherited.stderr).toContain(`cache: --tenant constructor: no such tenant in ${file}`)
    expect(
      (await sluice(['cache', 'remove-triggers', '--config', file, '--tenant', 'off'])).code,
    ).toBe(0)
    expect(await triggers()).toEqual([])
  })
})
