import { PrismaPg } from '@prisma/adapter-pg'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createClient, type ClientOptions } from '../../../edge/index.js'
import {
  PRISMA_PARSERS,
  PrismaSluice,
  type PrismaSluiceOptions,
} from '../../../edge/adapters/prisma/index.js'
import { caught } from '../../helpers/caught.js'
import {
  admin,
  backends,
  databaseUrl,
  eventually,
  type ListeningGateway,
  listenTestGateway,
} from '../../helpers/gateway.js'
import { Prisma, PrismaClient } from './prisma/generated/client.js'

// Prisma 7 through PrismaSluice and a listening gateway, beside Prisma's own pg adapter on the
// same database: same rows, same errors. The schema is ./prisma/schema.prisma.

/** An error's Prisma code and the driver adapter error's cause, without stacks or class names. */
function prismaFacts(error: any): unknown {
  const { driverAdapterError, ...meta } = error.meta ?? {}
  return { code: error.code, meta, cause: { ...driverAdapterError?.cause } }
}

describe('Prisma 7 on PrismaSluice', () => {
  let t: ListeningGateway
  let prisma: PrismaClient
  let viaPg: PrismaClient

  const sluice = (options: Partial<ClientOptions> = {}, adapter: PrismaSluiceOptions = {}) =>
    new PrismaClient({
      adapter: new PrismaSluice(createClient({ url: t.url, token: t.token, ...options }), adapter),
    })

  /** True once the gateway's backends hold no open transaction. */
  const noOpenTransaction = async () =>
    (await backends(t.applicationName)).every((b) => !b.state.startsWith('idle in transaction'))

  beforeAll(async () => {
    t = await listenTestGateway()
    await admin('drop table if exists prisma_posts, prisma_users')
    await admin(`create table prisma_users (
      id bigserial primary key, email text not null unique, balance numeric(12, 2) not null,
      profile jsonb, avatar bytea, created_at timestamptz(3) not null default now(),
      tags text[] not null default '{}', external_id uuid not null unique default gen_random_uuid())`)
    await admin(`create table prisma_posts (
      id serial primary key, title text not null, scores int[] not null default '{}',
      author_id bigint not null references prisma_users (id) on delete cascade,
      published_at timestamp(3))`)
    prisma = sluice()
    viaPg = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl() }) })
  })
  beforeEach(async () => {
    await admin('truncate prisma_posts, prisma_users restart identity cascade')
  })
  afterAll(async () => {
    await prisma.$disconnect()
    await viaPg.$disconnect()
    await admin('drop table if exists prisma_posts, prisma_users')
    await t.close()
  })

  const ada = {
    email: 'ada@example.com',
    balance: new Prisma.Decimal('12345.67'),
    profile: { langs: ['en', 'fr'], nested: { ok: true, none: null } },
    avatar: new Uint8Array([0, 1, 127, 128, 255]),
    createdAt: new Date('2026-01-02T03:04:05.678Z'),
    tags: ['math', 'say "hi"', 'back\\slash', ''],
  }

  it('creates, reads, updates and deletes every type, reading what adapter-pg reads', async () => {
    const created = await prisma.user.create({
      data: {
        ...ada,
        posts: { create: [{ title: 'Notes', scores: [3, 1, 2] }, { title: 'Empty' }] },
      },
      include: { posts: { orderBy: { id: 'asc' } } },
    })
    expect(typeof created.id).toBe('bigint')
    expect(created.balance.toFixed(2)).toBe('12345.67')
    expect(created).toMatchObject({ ...ada, balance: expect.anything() })
    expect(created.externalId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    )
    expect(created.posts.map((p) => [p.title, p.scores, p.authorId])).toEqual([
      ['Notes', [3, 1, 2], created.id],
      ['Empty', [], created.id],
    ])

    // PostgreSQL holds exactly what was sent.
    const [stored] = await admin(
      `select id::text, balance::text, profile, avatar, created_at, tags, external_id::text from prisma_users`,
    )
    expect(stored).toEqual({
      id: String(created.id),
      balance: '12345.67',
      profile: ada.profile,
      avatar: Buffer.from(ada.avatar),
      created_at: ada.createdAt,
      tags: ada.tags,
      external_id: created.externalId,
    })

    // Row for row what Prisma's own pg adapter reads, with a join strategy and without.
    for (const relationLoadStrategy of ['join', 'query'] as const) {
      const query = {
        include: { posts: { orderBy: { id: 'asc' } } },
        relationLoadStrategy,
      } as const
      expect(await prisma.user.findMany(query)).toEqual(await viaPg.user.findMany(query))
    }

    const updated = await prisma.user.update({
      where: { externalId: created.externalId },
      data: {
        balance: { increment: '0.33' },
        tags: { push: 'new' },
        profile: { replaced: 1 },
        avatar: null,
      },
    })
    expect(updated.balance.toString()).toBe('12346')
    expect(updated.tags).toEqual([...ada.tags, 'new'])
    expect(updated.profile).toEqual({ replaced: 1 })
    expect(updated.avatar).toBeNull()

    await prisma.user.delete({ where: { id: created.id } })
    expect(await prisma.post.count()).toBe(0)
  })

  it('filters and counts across the relation', async () => {
    await prisma.user.create({
      data: { ...ada, posts: { create: [{ title: 'A', scores: [1, 2] }, { title: 'B' }] } },
    })
    await prisma.user.create({ data: { email: 'bob@example.com', balance: 1 } })
    const found = await prisma.user.findMany({
      where: { posts: { some: { scores: { has: 2 } } } },
      select: { email: true, _count: { select: { posts: true } } },
    })
    expect(found).toEqual([{ email: ada.email, _count: { posts: 2 } }])
    const raw = await prisma.$queryRaw<{ n: bigint; total: Prisma.Decimal }[]>`
      select count(*) as n, sum(balance) as total from prisma_users where balance > ${0}`
    expect(raw[0]!.n).toBe(2n)
    expect(raw[0]!.total.toString()).toBe('12346.67')
  })

  it("reads a timestamp without time zone as UTC, as adapter-pg does, whatever the process's zone", async () => {
    // Node reads TZ again when it changes: the engine now runs where UTC is hours ahead.
    const zone = process.env.TZ
    process.env.TZ = 'America/New_York'
    try {
      const read = (client: PrismaClient) => client.$queryRaw<{ at: Date; ats: Date[] }[]>`
        select '2026-03-08 02:30:00.123'::timestamp as at,
          array['2026-01-01 01:02:03'::timestamp, null] as ats`
      const [ours, theirs] = [await read(prisma), await read(viaPg)]
      expect(ours).toEqual(theirs)
      expect(ours).toEqual([
        { at: new Date('2026-03-08T02:30:00.123Z'), ats: [new Date('2026-01-01T01:02:03Z'), null] },
      ])

      // Written and read through the models too, also nested in a relation join's JSON.
      const publishedAt = new Date('2026-03-08T02:30:00.123Z')
      await prisma.user.create({
        data: { ...ada, posts: { create: { title: 'Dated', publishedAt } } },
      })
      expect(await admin('select published_at::text as at from prisma_posts')).toEqual([
        { at: '2026-03-08 02:30:00.123' },
      ])
      for (const relationLoadStrategy of ['join', 'query'] as const) {
        const query = { include: { posts: true }, relationLoadStrategy } as const
        const [mine, pgs] = [await prisma.user.findMany(query), await viaPg.user.findMany(query)]
        expect(mine).toEqual(pgs)
        expect(mine[0]!.posts[0]!.publishedAt).toEqual(publishedAt)
      }
    } finally {
      if (zone === undefined) delete process.env.TZ
      else process.env.TZ = zone
    }
  })

  it('maps PostgreSQL errors exactly as adapter-pg does (23505 is P2002)', async () => {
    const { id } = await prisma.user.create({ data: ada })
    const failures = [
      (client: PrismaClient) => client.user.create({ data: { ...ada } }),
      (client: PrismaClient) => client.post.create({ data: { title: 'x', authorId: id + 100n } }),
      (client: PrismaClient) =>
        client.$executeRaw`insert into prisma_users (email, balance) values ('n', null)`,
      (client: PrismaClient) => client.$queryRaw`select * from prisma_nothing`,
    ]
    const codes = []
    for (const fail of failures) {
      const [ours, theirs] = [await caught(fail(prisma)), await caught(fail(viaPg))]
      expect(ours).toBeInstanceOf(Prisma.PrismaClientKnownRequestError)
      expect(prismaFacts(ours)).toEqual(prismaFacts(theirs))
      codes.push(ours.code)
    }
    expect(codes).toEqual(['P2002', 'P2003', 'P2010', 'P2010'])
    expect(prismaFacts(await caught(failures[0]!(prisma)))).toMatchObject({
      meta: { modelName: 'User' },
      cause: { kind: 'UniqueConstraintViolation', originalCode: '23505', table: 'prisma_users' },
    })
  })

  it('runs $transaction([…]) all or nothing, and createMany in one statement', async () => {
    const [first, second, count] = await prisma.$transaction([
      prisma.user.create({ data: { email: 'a@x', balance: 1 } }),
      prisma.user.create({ data: { email: 'b@x', balance: 2 } }),
      prisma.user.count(),
    ])
    expect([first.email, second.email, count]).toEqual(['a@x', 'b@x', 2])

    const error = await caught(
      prisma.$transaction([
        prisma.user.create({ data: { email: 'c@x', balance: 3 } }),
        prisma.user.create({ data: { email: 'a@x', balance: 4 } }),
      ]),
    )
    expect(error.code).toBe('P2002')
    expect(await prisma.user.count()).toBe(2)

    const { count: many } = await prisma.user.createMany({
      data: [3, 4, 5].map((n) => ({ email: `${n}@x`, balance: n, tags: [`t${n}`] })),
    })
    expect(many).toBe(3)
    expect(await prisma.user.count({ where: { tags: { isEmpty: false } } })).toBe(3)
  })

  it('splits a createMany past the gateway’s body limit into statements of maxBindValues parameters', async () => {
    // A gateway taking 64 KiB bodies: 2,000 rows of 3 values do not fit one statement.
    const strict = await listenTestGateway({}, { server: { bodyLimitBytes: 64 * 1024 } })
    const on = (options: PrismaSluiceOptions) =>
      new PrismaClient({
        adapter: new PrismaSluice(createClient({ url: strict.url, token: strict.token }), options),
      })
    const [whole, split] = [on({}), on({ maxBindValues: 900 })]
    const data = Array.from({ length: 2000 }, (_, n) => ({
      email: `user-${n}@example.com`,
      balance: n,
      tags: ['a'],
    }))
    try {
      expect(await caught(whole.user.createMany({ data }))).toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
      })
      expect(await split.user.createMany({ data })).toEqual({ count: 2000 })
      expect(await admin('select count(*)::int as n from prisma_users')).toEqual([{ n: 2000 }])
    } finally {
      await whole.$disconnect()
      await split.$disconnect()
      await strict.close()
    }
  })

  it("passes the error of a statement the gateway cut short on, not the rollback's", async () => {
    // Past its total timeoutMs the gateway cancels the running statement and rolls back:
    // Prisma's rollback then finds the transaction gone, which must not hide the real error.
    const brief = sluice({}, { transaction: { timeoutMs: 300 } })
    try {
      const error = await caught(
        brief.$transaction([brief.user.count(), brief.$queryRaw`select pg_sleep(10)`]),
      )
      expect(error.code).toBe('P2010')
      expect(error.meta.driverAdapterError.cause.originalCode).toBe('57014')
    } finally {
      await brief.$disconnect()
    }
  })

  it('runs a script all or nothing, and works in another PostgreSQL schema when told to', async () => {
    const options = { schema: 'prisma_other' }
    const factory = new PrismaSluice(createClient({ url: t.url, token: t.token }), options)
    const adapter = await factory.connect()
    expect(adapter.getConnectionInfo?.()).toEqual({
      schemaName: 'prisma_other',
      supportsRelationJoins: true,
    })
    const error = await caught(
      adapter.executeScript('create schema prisma_other; create table prisma_nowhere.t (id int)'),
    )
    expect(error.cause).toMatchObject({ kind: 'postgres', originalCode: '3F000' })
    expect(await admin(`select 1 from pg_namespace where nspname = 'prisma_other'`)).toEqual([])

    await adapter.executeScript(`create schema prisma_other;
      create table prisma_other.prisma_users (like public.prisma_users including all)`)
    const other = new PrismaClient({ adapter: factory })
    try {
      await other.user.create({ data: { email: 'elsewhere@x', balance: 1 } })
      expect(await admin('select email from prisma_other.prisma_users')).toEqual([
        { email: 'elsewhere@x' },
      ])
      expect(await admin('select * from public.prisma_users')).toEqual([])
    } finally {
      await other.$disconnect()
      await admin('drop schema if exists prisma_other cascade')
    }
  })

  it('shares its parser table read-only: no caller changes what every Prisma client reads', () => {
    expect(() => Object.assign(PRISMA_PARSERS, { 1700: Number })).toThrow(TypeError)
    expect(PRISMA_PARSERS[1700]).toBeUndefined()
  })

  describe('interactive transactions', () => {
    it('commit and return the callback value, at the isolation level asked for', async () => {
      const result = await prisma.$transaction(
        async (tx) => {
          const user = await tx.user.create({ data: { email: 'a@x', balance: 1 } })
          await tx.post.create({ data: { title: 'first', authorId: user.id } })
          const [row] = await tx.$queryRaw<{ level: string }[]>`
            select current_setting('transaction_isolation') as level`
          return row!.level
        },
        { isolationLevel: Prisma.TransactionIsolationLevel.Serializable },
      )
      expect(result).toBe('serializable')
      expect(await admin('select title from prisma_posts')).toEqual([{ title: 'first' }])

      // Every level Prisma offers runs as with adapter-pg (read uncommitted as read committed).
      const levels = Object.values(Prisma.TransactionIsolationLevel)
      const runs = (client: PrismaClient) =>
        Promise.all(
          levels.map((isolationLevel) =>
            client.$transaction(
              (tx) => tx.$queryRaw<{ level: string }[]>`
                select current_setting('transaction_isolation') as level`,
              { isolationLevel },
            ),
          ),
        )
      const [ours, theirs] = [await runs(prisma), await runs(viaPg)]
      expect(ours.slice(1)).toEqual(theirs.slice(1))
      expect(ours.flat().map((row) => row.level)).toEqual([
        'read committed',
        'read committed',
        'repeatable read',
        'serializable',
      ])
    })

    it('roll back when the callback throws, and pass its error on', async () => {
      const thrown = new Error('changed my mind')
      const error = await caught(
        prisma.$transaction(async (tx) => {
          await tx.user.create({ data: { email: 'a@x', balance: 1 } })
          throw thrown
        }),
      )
      expect(error).toBe(thrown)
      expect(await admin('select * from prisma_users')).toEqual([])
      await eventually(noOpenTransaction)
    })

    it('roll back on a database error inside, which is P2002 there too', async () => {
      const error = await caught(
        prisma.$transaction(async (tx) => {
          await tx.user.create({ data: { email: 'a@x', balance: 1 } })
          await tx.user.create({ data: { email: 'a@x', balance: 2 } })
        }),
      )
      expect(error.code).toBe('P2002')
      expect(await admin('select * from prisma_users')).toEqual([])
    })

    it('map an error inside as adapter-pg does, without the gateway’s note on the aborted transaction', async () => {
      // 42703's column and every originalMessage come from PostgreSQL's message text.
      const fail = (client: PrismaClient) =>
        client.$transaction(async (tx) => {
          await tx.$queryRaw`select nope from prisma_users`
        })
      const [ours, theirs] = [await caught(fail(prisma)), await caught(fail(viaPg))]
      expect(prismaFacts(ours)).toEqual(prismaFacts(theirs))
      expect(prismaFacts(ours)).toMatchObject({
        cause: { kind: 'ColumnNotFound', column: 'nope', originalCode: '42703' },
      })
    })

    it("time out on Prisma's timeout: rolled back at the gateway, then P2028", async () => {
      let inner: any
      const outer = await caught(
        prisma.$transaction(
          async (tx) => {
            await tx.user.create({ data: { email: 'a@x', balance: 1 } })
            // Prisma rolls back when its timeout passes: wait for the gateway to see it.
            await eventually(noOpenTransaction)
            inner = await caught(tx.user.count())
            throw inner
          },
          { timeout: 200 },
        ),
      )
      expect(inner.code).toBe('P2028')
      expect(outer).toBe(inner)
      expect(await admin('select * from prisma_users')).toEqual([])
    })

    it("time out on the gateway's idle timeout: the next statement fails with TX_NOT_FOUND", async () => {
      const short = sluice({}, { transaction: { idleTimeoutMs: 200 } })
      try {
        const error = await caught(
          short.$transaction(
            async (tx) => {
              await tx.user.create({ data: { email: 'a@x', balance: 1 } })
              await eventually(noOpenTransaction)
              await tx.user.count()
            },
            { timeout: 30_000 },
          ),
        )
        // Prisma passes the gateway's error on as a known request error with its code.
        expect(error).toBeInstanceOf(Prisma.PrismaClientKnownRequestError)
        expect(error.code).toBe('TX_NOT_FOUND')
        expect(error.message).toMatch(/rolled back after being idle for more than 200 ms/)
        expect(await admin('select * from prisma_users')).toEqual([])
      } finally {
        await short.$disconnect()
      }
    })

    it('nest as savepoints: an inner one that throws is undone, the outer one commits', async () => {
      await prisma.$transaction(async (tx) => {
        await tx.user.create({ data: { email: 'outer@x', balance: 1 } })
        const error = await caught(
          tx.$transaction(async (inner) => {
            await inner.user.create({ data: { email: 'inner@x', balance: 2 } })
            throw new Error('undo the inner one')
          }),
        )
        expect(error.message).toBe('undo the inner one')
        await tx.$transaction(async (inner) => {
          await inner.user.create({ data: { email: 'kept@x', balance: 3 } })
        })
      })
      const emails = await admin('select email from prisma_users order by id')
      expect(emails).toEqual([{ email: 'outer@x' }, { email: 'kept@x' }])
    })
  })
})
