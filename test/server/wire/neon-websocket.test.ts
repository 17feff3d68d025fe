import { execFile } from 'node:child_process'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Client, Pool, neonConfig } from '@neondatabase/serverless'
import { PrismaNeon } from '@prisma/adapter-neon'
import { eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/neon-serverless'
import { integer, pgTable, text } from 'drizzle-orm/pg-core'
import { Kysely, PostgresDialect } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import ws from 'ws'
import { caught } from '../../helpers/caught.js'
import { admin } from '../../helpers/gateway.js'
import { startWireGateway, type WireGateway } from '../../helpers/wire.js'

// Neon's serverless driver in Node, pointed at the gateway's /v2 WebSocket endpoint with
// neonConfig.wsProxy, and the ORMs built on its Pool: what an edge function runs unchanged.

const suffix = `${process.pid}`
const accounts = pgTable(`wire_neon_accounts_${suffix}`, {
  id: integer('id').primaryKey(),
  owner: text('owner').notNull(),
  balance: integer('balance').notNull(),
})

describe("Neon's driver and the ORMs on it, over the /v2 WebSocket", () => {
  let t: WireGateway
  let url: string
  beforeAll(async () => {
    t = await startWireGateway({ pool: { min: 0, max: 4 } })
    neonConfig.webSocketConstructor = ws
    neonConfig.useSecureWebSocket = false
    neonConfig.wsProxy = (host, port) => `${t.httpHost}/v2?address=${host}:${port}`
    // The host is never resolved: the WebSocket goes to wsProxy, the token picks the tenant.
    url = `postgresql://sluice:${t.token}@db.example.invalid/main`
    await admin(
      `create table ${`wire_neon_accounts_${suffix}`} (id int primary key, owner text not null, balance int not null)`,
    )
  })
  afterAll(async () => {
    await admin(`drop table if exists wire_neon_accounts_${suffix}`)
    await t?.close()
  })

  it.each([{ pipelineConnect: 'password' as const }, { pipelineConnect: false as const }])(
    'runs Pool and Client queries and transactions (pipelineConnect $pipelineConnect)',
    async ({ pipelineConnect }) => {
      neonConfig.pipelineConnect = pipelineConnect
      const pool = new Pool({ connectionString: url })
      try {
        expect((await pool.query('select $1::int + 1 as n', [41])).rows).toEqual([{ n: 42 }])
        const client = await pool.connect()
        try {
          await client.query('begin')
          await client.query('create temp table wire_neon_tmp (x int) on commit drop')
          await client.query('insert into wire_neon_tmp values (1), (2)')
          expect((await client.query('select sum(x)::int as s from wire_neon_tmp')).rows).toEqual([
            { s: 3 },
          ])
          await client.query('commit')
        } finally {
          client.release()
        }
        const error = await caught(() => pool.query('select 1/0'))
        expect(error.code).toBe('22012')
      } finally {
        await pool.end()
        neonConfig.pipelineConnect = 'password'
      }
      const client = new Client(url)
      await client.connect()
      try {
        const named = { name: 'neon_named', text: 'select $1::text as v' }
        expect((await client.query({ ...named, values: ['a'] })).rows).toEqual([{ v: 'a' }])
        expect((await client.query({ ...named, values: ['b'] })).rows).toEqual([{ v: 'b' }])
      } finally {
        await client.end()
      }
    },
  )

  it('refuses a wrong token with 28P01', async () => {
    const client = new Client(`postgresql://sluice:wrong-token-wrong-token@db.example.invalid/main`)
    client.on('error', () => {})
    // With pipelineConnect, connect() resolves at once: the first query learns the answer.
    const error = await caught(async () => {
      await client.connect()
      await client.query('select 1')
    })
    expect(error.code).toBe('28P01')
  })

  it('runs Drizzle neon-serverless transactions, rolled back on error', async () => {
    const pool = new Pool({ connectionString: url })
    const db = drizzle({ client: pool })
    try {
      await db.insert(accounts).values([
        { id: 1, owner: 'ann', balance: 100 },
        { id: 2, owner: 'bob', balance: 0 },
      ])
      await db.transaction(async (tx) => {
        await tx
          .update(accounts)
          .set({ balance: sql`${accounts.balance} - 30` })
          .where(eq(accounts.id, 1))
        await tx
          .update(accounts)
          .set({ balance: sql`${accounts.balance} + 30` })
          .where(eq(accounts.id, 2))
      })
      const failed = await caught(() =>
        db.transaction(async (tx) => {
          await tx.update(accounts).set({ balance: 0 }).where(eq(accounts.id, 1))
          await tx.execute(sql`select 1/0`)
        }),
      )
      expect(failed.cause.code).toBe('22012')
      const rows = await db.select().from(accounts).orderBy(accounts.id)
      expect(rows.map((r) => r.balance)).toEqual([70, 30])
    } finally {
      await pool.end()
    }
  })

  it("runs Kysely's PostgresDialect on Neon's Pool, transactions included", async () => {
    interface Database {
      [table: string]: { id: number; owner: string; balance: number }
    }
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new Pool({ connectionString: url }) as any }),
    })
    const table = `wire_neon_accounts_${suffix}`
    try {
      await db.transaction().execute(async (tx) => {
        await tx.insertInto(table).values({ id: 3, owner: 'kit', balance: 5 }).execute()
        await tx
          .updateTable(table)
          .set((eb) => ({ balance: eb('balance', '+', 1) }))
          .where('id', '=', 3)
          .execute()
      })
      const row = await db
        .selectFrom(table)
        .select(['owner', 'balance'])
        .where('id', '=', 3)
        .executeTakeFirstOrThrow()
      expect(row).toEqual({ owner: 'kit', balance: 6 })
    } finally {
      await db.destroy()
    }
  })

  it('runs Prisma with PrismaNeon, an interactive transaction included', async () => {
    // `prisma generate` runs offline: the schema engine is not needed to generate a client.
    const dir = join(process.cwd(), 'node_modules', '.sluice-test', `prisma-${suffix}`)
    await mkdir(dir, { recursive: true })
    await writeFile(
      join(dir, 'schema.prisma'),
      `generator client {
  provider     = "prisma-client"
  output       = "./generated"
  runtime      = "nodejs"
  moduleFormat = "esm"
}
datasource db {
  provider = "postgresql"
}
model Account {
  id      Int    @id
  owner   String
  balance Int
  @@map("wire_neon_accounts_${suffix}")
}
`,
    )
    await new Promise<void>((resolve, reject) =>
      execFile(
        join(process.cwd(), 'node_modules', '.bin', 'prisma'),
        ['generate', '--schema', join(dir, 'schema.prisma')],
        {
          env: {
            ...process.env,
            PRISMA_SCHEMA_ENGINE_BINARY: '/bin/true',
            PRISMA_HIDE_UPDATE_MESSAGE: '1',
            CHECKPOINT_DISABLE: '1',
          },
          timeout: 60_000,
        },
        (error, _stdout, stderr) => (error ? reject(new Error(stderr)) : resolve()),
      ),
    )
    const { PrismaClient } = await import(join(dir, 'generated', 'client.ts'))
    const prisma = new PrismaClient({ adapter: new PrismaNeon({ connectionString: url }) })
    try {
      await prisma.account.create({ data: { id: 10, owner: 'pat', balance: 50 } })
      await prisma.$transaction(async (tx: any) => {
        const pat = await tx.account.findUniqueOrThrow({ where: { id: 10 } })
        await tx.account.update({ where: { id: 10 }, data: { balance: pat.balance + 1 } })
      })
      const failed = await caught(() =>
        prisma.$transaction(async (tx: any) => {
          await tx.account.update({ where: { id: 10 }, data: { balance: 0 } })
          throw new Error('changed my mind')
        }),
      )
      expect(failed.message).toBe('changed my mind')
      expect(await prisma.account.findUnique({ where: { id: 10 } })).toEqual({
        id: 10,
        owner: 'pat',
        balance: 51,
      })
    } finally {
      await prisma.$disconnect()
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
