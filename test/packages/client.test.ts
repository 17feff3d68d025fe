import { execFile } from 'node:child_process'
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listenTestGateway, type ListeningGateway } from '../helpers/gateway.js'

// The client package as a user gets it: packed (its prepack builds it from edge/ and src/),
// installed offline into an empty project, imported from JavaScript and TypeScript.

const run = promisify(execFile)
const root = fileURLToPath(new URL('../..', import.meta.url))
const packageDir = join(root, 'packages/client')
const tsc = join(root, 'node_modules/typescript/bin/tsc')

interface Packed {
  filename: string
  size: number
  files: { path: string }[]
}

// A TypeScript user of every entry point. Each @ts-expect-error fails the check if the type
// it guards did not resolve (an unresolved type is `any`, and `any` accepts anything).
const typescriptUser = `
import { createClient, isDatabaseError, sql, type Client, type TransactionHandle } from '@sluice/client'
import { PrismaSluice } from '@sluice/client/prisma'
import { drizzle } from '@sluice/client/drizzle'
import { SluiceDialect, toSqlQuery } from '@sluice/client/kysely'
import { Kysely } from 'kysely'

const client: Client = createClient({ url: 'http://127.0.0.1:1', token: 't' })
export const query = sql\`select \${1} as one from \${sql.identifier('app', 'users')}\`
export const begin = (): Promise<TransactionHandle> => client.begin({ isolation: 'serializable' })
export const guard = (error: unknown) => isDatabaseError(error) && error.sqlstate
// @ts-expect-error: createClient needs a url and a token
createClient({})
export const prisma = new PrismaSluice(client, { transaction: { timeoutMs: 60_000 } })
// @ts-expect-error: a PrismaSluice needs a client, not a URL
new PrismaSluice('postgres://nope')
export const db = drizzle(client)
// @ts-expect-error: a drizzle database has no such method
db.notAMethod()
const kysely = new Kysely<{ users: { id: number } }>({ dialect: new SluiceDialect({ client }) })
export const batch = client.batch([toSqlQuery(kysely.selectFrom('users').select('id'))])
// @ts-expect-error: the dialect needs its client
new SluiceDialect({})
`

// Only the core entry point, checked with the library check on: its own declarations must
// need nothing from Node or an ORM.
const coreUser = `
import { createClient, sql, type QueryResult } from '@sluice/client'
const db = createClient({ url: 'http://127.0.0.1:1', token: 't' })
export const rows: Promise<QueryResult<{ one: number }>> = db.query(sql<{ one: number }>\`select 1 as one\`)
`

async function typecheck(
  project: string,
  moduleResolution: string,
  files: string[],
  skipLibCheck: boolean,
) {
  const module = moduleResolution === 'bundler' ? 'esnext' : moduleResolution
  const config = `tsconfig.${moduleResolution}.${skipLibCheck}.json`
  await writeFile(
    join(project, config),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        lib: ['ES2022', 'DOM'],
        types: [],
        module,
        moduleResolution,
        skipLibCheck,
      },
      files,
    }),
  )
  try {
    await run(process.execPath, [tsc, '-p', config], { cwd: project })
    return ''
  } catch (error: any) {
    return `${moduleResolution}: ${error.stdout}${error.stderr}`
  }
}

describe('the @sluice/client package', () => {
  let work: string
  let project: string
  let packed: Packed
  let t: ListeningGateway

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'sluice-client-pack-'))
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: packageDir,
    })
    packed = (JSON.parse(stdout) as Packed[])[0]!
    project = join(work, 'project')
    await mkdir(project)
    await writeFile(join(project, 'package.json'), '{"name":"user","private":true,"type":"module"}')
    await run(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', join(work, packed.filename)],
      { cwd: project },
    )
    t = await listenTestGateway()
  }, 120_000)
  afterAll(async () => {
    await t?.close()
    await rm(work, { recursive: true, force: true })
  })

  it('packs to at most 100 KB: the client, the adapters and their types, no dependency', async () => {
    expect(packed.size).toBeLessThanOrEqual(100 * 1024)
    const paths = packed.files.map((file) => file.path)
    for (const entry of [
      'edge/index',
      'edge/adapters/prisma/index',
      'edge/adapters/drizzle/index',
      'edge/adapters/kysely/index',
    ]) {
      expect(paths).toContain(`dist/${entry}.js`)
      expect(paths).toContain(`dist/${entry}.d.ts`)
    }
    expect(paths.filter((path) => /examples|server|\.test\./.test(path))).toEqual([])
    const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8'))
    expect(manifest.dependencies).toBeUndefined()
    expect(Object.values(manifest.peerDependenciesMeta)).toEqual(
      Object.keys(manifest.peerDependencies).map(() => ({ optional: true })),
    )
  })

  it('installs into an empty project offline and brings nothing else', async () => {
    const lock = JSON.parse(await readFile(join(project, 'package-lock.json'), 'utf8'))
    expect(Object.keys(lock.packages)).toEqual(['', 'node_modules/@sluice/client'])
    const installed = (await readdir(join(project, 'node_modules'))).filter(
      (name) => name[0] !== '.',
    )
    expect(installed).toEqual(['@sluice'])
  })

  it('is imported from JavaScript and queries a gateway; an adapter needs its ORM', async () => {
    const script = `
      import { createClient, sql } from '@sluice/client'
      const db = createClient({ url: process.argv[2], token: process.argv[3] })
      const [row] = await db.sql\`select \${41}::int4 + 1 as answer, \${sql.unsafe("'raw'")} as raw\`
      let drizzle
      try { await import('@sluice/client/drizzle') } catch (error) { drizzle = error.code + ' ' + /drizzle-orm/.test(error.message) }
      const streaming = await import('@sluice/client/stream')
      const streamed = []
      for await (const r of streaming.createClient({ url: process.argv[2], token: process.argv[3] }).stream\`select generate_series(1, 3) as n\`) streamed.push(r.n)
      console.log(JSON.stringify({ row, drizzle, streamed }))
    `
    await writeFile(join(project, 'use.mjs'), script)
    const { stdout } = await run(process.execPath, ['use.mjs', t.url, t.token], { cwd: project })
    expect(JSON.parse(stdout)).toEqual({
      row: { answer: 42, raw: 'raw' },
      drizzle: 'ERR_MODULE_NOT_FOUND true',
      streamed: [1, 2, 3],
    })
  })

  it('type-checks under moduleResolution node16, nodenext and bundler', async () => {
    // The ORMs a user would have installed beside it: the repository's own copies.
    await mkdir(join(project, 'node_modules/@prisma'))
    for (const name of ['kysely', 'drizzle-orm', '@prisma/driver-adapter-utils']) {
      await symlink(join(root, 'node_modules', name), join(project, 'node_modules', name), 'dir')
    }
    await writeFile(join(project, 'user.ts'), typescriptUser)
    await writeFile(join(project, 'core.ts'), coreUser)
    const failures = await Promise.all([
      typecheck(project, 'node16', ['user.ts'], true),
      typecheck(project, 'nodenext', ['user.ts'], true),
      typecheck(project, 'bundler', ['user.ts'], true),
      typecheck(project, 'nodenext', ['core.ts'], false),
    ])
    expect(failures.filter(Boolean)).toEqual([])
  })
})
