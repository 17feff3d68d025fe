import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { asc, DrizzleQueryError, eq, relations, sql, TransactionRollbackError } from 'drizzle-orm'
import { drizzle as drizzlePg, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import { migrate } from 'drizzle-orm/node-postgres/migrator'
import {
  bigint,
  customType,
  date,
  integer,
  interval,
  jsonb,
  numeric,
  pgTable,
  serial,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core'
import pg from 'pg'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createClient, isGatewayError, type Client } from '../../../edge/index.js'
import {
  DRIZZLE_PARSERS,
  drizzle,
  type SluiceDatabase,
} from '../../../edge/adapters/drizzle/index.js'
import { caught } from '../../helpers/caught.js'
import {
  admin,
  backends,
  databaseUrl,
  eventually,
  type ListeningGateway,
  listenTestGateway,
} from '../../helpers/gateway.js'

// Drizzle through drizzle(client) and a listening gateway, compared result for result with
// drizzle-orm/node-postgres running the same code on the same database.

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  // node-postgres reads a Buffer, Sluice a Uint8Array: the same bytes, compared as such.
  fromDriver: (value) => Uint8Array.from(value),
})

const users = pgTable('drizzle_users', {
  id: bigint('id', { mode: 'bigint' }).primaryKey().generatedAlwaysAsIdentity(),
  email: text('email').notNull().unique(),
  balance: numeric('balance', { precision: 12, scale: 2 }).notNull(),
  profile: jsonb('profile').$type<{ langs: string[]; nested?: unknown }>(),
  avatar: bytea('avatar'),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  tags: text('tags')
    .array()
    .notNull()
    .default(sql`'{}'`),
  externalId: uuid('external_id').notNull().defaultRandom(),
  // Types drizzle reads as PostgreSQL's text: the driver must hand them over untouched.
  born: date('born'),
  localAt: timestamp('local_at', { mode: 'string', precision: 6 }),
  wait: interval('wait'),
  prices: numeric('prices').array(),
})

const posts = pgTable('drizzle_posts', {
  id: serial('id').primaryKey(),
  title: text('title').notNull(),
  scores: integer('scores')
    .array()
    .notNull()
    .default(sql`'{}'`),
  authorId: bigint('author_id', { mode: 'bigint' })
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
})

const usersRelations = relations(users, ({ many }) => ({ posts: many(posts) }))
const postsRelations = relations(posts, ({ one }) => ({
  author: one(users, { fields: [posts.authorId], references: [users.id] }),
}))
const schema = { users, posts, usersRelations, postsRelations }

/** A promise and its resolve, to order steps of concurrent transactions. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

const ada = {
  email: 'ada@example.com',
  balance: '12345.67',
  profile: { langs: ['en', 'fr'], nested: { ok: true, none: null } },
  avatar: new Uint8Array([0, 1, 127, 128, 255]),
  createdAt: new Date('2026-01-02T03:04:05.678Z'),
  tags: ['math', 'say "hi"', 'back\\slash', ''],
  born: '1815-12-10',
  localAt: '2026-01-02 03:04:05.123456',
  wait: '1 day 02:03:04.5',
  prices: ['1.10', '99999999999999999999.99'],
}

describe('Drizzle on drizzle(client)', () => {
  let t: ListeningGateway
  let client: Client
  let db: SluiceDatabase<typeof schema>
  let pool: pg.Pool
  let viaPg: NodePgDatabase<typeof schema>
  const paths: string[] = []

  const noOpenTransaction = async () =>
    (await backends(t.applicationName)).every((b) => !b.state.startsWith('idle in transaction'))

  beforeAll(async () => {
    t = await listenTestGateway()
    // Counts requests by path, to see what one batch costs.
    const fetchCounting = (url: string, init: RequestInit) => {
      paths.push(new URL(url).pathname)
      return fetch(url, init)
    }
    client = createClient({ url: t.url, token: t.token, fetch: fetchCounting })
    db = drizzle(client, { schema })
    pool = new pg.Pool({ connectionString: databaseUrl(), max: 2 })
    viaPg = drizzlePg(pool, { schema })
    await admin('drop table if exists drizzle_posts, drizzle_users')
    await admin(`create table drizzle_users (
      id bigint generated always as identity primary key, email text not null unique,
      balance numeric(12, 2) not null, profile jsonb, avatar bytea,
      created_at timestamptz not null default now(), tags text[] not null default '{}',
      external_id uuid not null default gen_random_uuid(), born date, local_at timestamp(6),
      wait interval, prices numeric[])`)
    await admin(`create table drizzle_posts (
      id serial primary key, title text not null, scores integer[] not null default '{}',
      author_id bigint not null references drizzle_users (id) on delete cascade)`)
  })
  beforeEach(async () => {
    await admin('truncate drizzle_posts, drizzle_users restart identity cascade')
  })
  afterAll(async () => {
    await pool.end()
    await admin('drop table if exists drizzle_posts, drizzle_users')
    await t.close()
  })

  it('creates, reads, updates and deletes every type, result for result as node-postgres', async () => {
    const [created] = await db.insert(users).values(ada).returning()
    expect(created).toMatchObject({ ...ada, id: 1n })
    await db.insert(posts).values([
      { title: 'Notes', scores: [3, 1, 2], authorId: created!.id },
      { title: 'Empty', authorId: created!.id },
    ])
    await db.insert(users).values({ email: 'bob@example.com', balance: '0.10' })

    // Both drivers run each read on the same rows.
    const reads = (d: typeof db | typeof viaPg) => [
      d.select().from(users).orderBy(asc(users.id)),
      d.select().from(users).leftJoin(posts, eq(posts.authorId, users.id)).orderBy(asc(users.id)),
      d
        .select({ email: users.email, title: posts.title, scores: posts.scores })
        .from(users)
        .leftJoin(posts, eq(posts.authorId, users.id))
        .orderBy(asc(users.id), asc(posts.id)),
      d.query.users.findMany({
        with: { posts: { orderBy: asc(posts.id) } },
        orderBy: asc(users.id),
      }),
      d.query.posts.findFirst({ where: eq(posts.title, 'Notes'), with: { author: true } }),
      d
        .execute(sql`select count(*)::int as n, sum(balance) as total from ${users}`)
        .then((r) => r.rows),
    ]
    const [ours, theirs] = [await Promise.all(reads(db)), await Promise.all(reads(viaPg))]
    expect(ours).toEqual(theirs)
    expect((ours[3] as any)[0].posts.map((p: any) => p.scores)).toEqual([[3, 1, 2], []])
    expect((ours[2] as any).at(-1)).toEqual({ email: 'bob@example.com', title: null, scores: null })
    // A left join's missing side is null as a whole, not an object of nulls.
    expect((ours[1] as any).at(-1).drizzle_posts).toBeNull()

    const [updated] = await db
      .update(users)
      .set({ balance: sql`${users.balance} + 0.33`, tags: [...ada.tags, 'new'], avatar: null })
      .where(eq(users.externalId, created!.externalId))
      .returning()
    expect(updated).toMatchObject({ balance: '12346.00', avatar: null, tags: [...ada.tags, 'new'] })
    expect(await db.$count(users)).toBe(await viaPg.$count(users))
    expect(await db.$count(posts, eq(posts.title, 'Notes'))).toBe(1)
    const deleted = await db
      .delete(users)
      .where(eq(users.id, created!.id))
      .returning({ id: users.id })
    expect(deleted).toEqual([{ id: 1n }])
    expect(await admin('select count(*)::int as n from drizzle_posts')).toEqual([{ n: 0 }])
  })

  it('sends a batch as one /v1/batch, mapping each result as its query wants', async () => {
    paths.length = 0
    const [inserted, , selected, relational, raw] = await db.batch([
      db.insert(users).values(ada).returning({ id: users.id, email: users.email }),
      db.insert(posts).values({ title: 'Batched', authorId: sql`lastval()` }),
      db.select({ n: sql<number>`count(*)::int` }).from(users),
      db.query.users.findMany({ with: { posts: true } }),
      db.execute<{ a: number; b: string }>(sql`select 1 as a, 'x' as b`),
    ])
    expect(paths).toEqual(['/v1/batch'])
    expect(raw.rows).toEqual([{ a: 1, b: 'x' }])
    expect(inserted).toEqual([{ id: 1n, email: ada.email }])
    expect(selected).toEqual([{ n: 1 }])
    expect(relational).toEqual(await viaPg.query.users.findMany({ with: { posts: true } }))
    expect(relational[0]!.posts.map((p) => p.title)).toEqual(['Batched'])
  })

  it('rolls a failed batch back whole, with the SQLSTATE where node-postgres has it', async () => {
    const error = await caught(
      db.batch([
        db.insert(users).values({ email: 'a@x', balance: '1' }),
        db.insert(users).values({ email: 'a@x', balance: '2' }),
      ]),
    )
    expect(error).toMatchObject({ code: '23505', constraint: 'drizzle_users_email_key' })
    expect(await db.select().from(users)).toEqual([])
  })

  it('reports a failed query as drizzle does, in a transaction too: DrizzleQueryError, its cause shaped as pg’s', async () => {
    await db.insert(users).values({ email: 'a@x', balance: '1' })
    const failures = [
      (d: typeof db | typeof viaPg) => d.insert(users).values({ email: 'a@x', balance: '2' }),
      // Inside a transaction the cause's message is PostgreSQL's too, without the gateway's note.
      (d: typeof db | typeof viaPg) =>
        d.transaction(async (tx) => {
          await tx.insert(users).values({ email: 'a@x', balance: '2' })
        }),
    ]
    const facts = (e: any) => {
      const { code, constraint, detail, table, schema: s, severity, message } = e.cause
      return { code, constraint, detail, table, schema: s, severity, message }
    }
    for (const fail of failures) {
      const [ours, theirs] = [await caught(fail(db)), await caught(fail(viaPg))]
      expect(ours).toBeInstanceOf(DrizzleQueryError)
      expect(ours.message).toBe(theirs.message)
      expect(facts(ours)).toEqual(facts(theirs))
      expect(ours.cause.code).toBe('23505')
    }
  })

  it("runs drizzle's migrator through the gateway, once", async () => {
    const folder = await mkdtemp(join(tmpdir(), 'sluice-drizzle-migrations-'))
    try {
      await mkdir(join(folder, 'meta'))
      const entries = [
        { idx: 0, version: '7', when: 1767225600000, tag: '0000_tags', breakpoints: true },
      ]
      await writeFile(
        join(folder, 'meta/_journal.json'),
        JSON.stringify({ version: '7', dialect: 'postgresql', entries }),
      )
      await writeFile(
        join(folder, '0000_tags.sql'),
        'create table drizzle_migrated (id int primary key);\n--> statement-breakpoint\ninsert into drizzle_migrated values (1);',
      )
      const config = { migrationsFolder: folder, migrationsSchema: 'drizzle_test_migrations' }
      await migrate(db as never, config)
      await migrate(db as never, config)
      expect(await admin('select id from drizzle_migrated')).toEqual([{ id: 1 }])
      expect(
        await admin('select count(*)::int as n from drizzle_test_migrations.__drizzle_migrations'),
      ).toEqual([{ n: 1 }])
    } finally {
      await admin(
        'drop table if exists drizzle_migrated; drop schema if exists drizzle_test_migrations cascade',
      )
      await rm(folder, { recursive: true, force: true })
    }
  })

  it('shares its parser table read-only: no caller changes what every drizzle database reads', () => {
    expect(() => Object.assign(DRIZZLE_PARSERS, { 1700: Number })).toThrow(TypeError)
    expect(DRIZZLE_PARSERS[1700]).toBeUndefined()
  })

  describe('transactions', () => {
    it('commit and resolve to the callback value, with the isolation level asked for', async () => {
      const level = await db.transaction(
        async (tx) => {
          const [user] = await tx.insert(users).values(ada).returning()
          await tx.insert(posts).values({ title: 'first', authorId: user!.id })
          const { rows } = await tx.execute<{ level: string }>(
            sql`select current_setting('transaction_isolation') as level`,
          )
          return rows[0]!.level
        },
        { isolationLevel: 'serializable' },
      )
      expect(level).toBe('serializable')
      expect(await admin('select title from drizzle_posts')).toEqual([{ title: 'first' }])
    })

    it('honour every setting of the transaction config, as node-postgres', async () => {
      const settings = (d: typeof db | typeof viaPg) =>
        d.transaction(
          async (tx) =>
            (
              await tx.execute(sql`select current_setting('transaction_isolation') as isolation,
                current_setting('transaction_read_only') as read_only,
                current_setting('transaction_deferrable') as deferrable`)
            ).rows,
          { isolationLevel: 'serializable', accessMode: 'read only', deferrable: true },
        )
      const ours = await settings(db)
      expect(ours).toEqual(await settings(viaPg))
      expect(ours).toEqual([{ isolation: 'serializable', read_only: 'on', deferrable: 'on' }])
    })

    it('roll back on a throw and on tx.rollback(), passing the error on', async () => {
      const thrown = new Error('changed my mind')
      const error = await caught(
        db.transaction(async (tx) => {
          await tx.insert(users).values(ada)
          throw thrown
        }),
      )
      expect(error).toBe(thrown)
      const rollback = await caught(
        db.transaction(async (tx) => {
          await tx.insert(users).values(ada)
          tx.rollback()
        }),
      )
      expect(rollback).toBeInstanceOf(TransactionRollbackError)
      expect(await admin('select * from drizzle_users')).toEqual([])
      await eventually(noOpenTransaction)
    })

    it('nest as savepoints: an inner one that throws is undone, the outer one commits', async () => {
      await db.transaction(async (tx) => {
        await tx.insert(users).values({ email: 'outer@x', balance: '1' })
        const error = await caught(
          tx.transaction(async (inner) => {
            await inner.insert(users).values({ email: 'inner@x', balance: '2' })
            await inner.transaction(async (deeper) => {
              await deeper.insert(users).values({ email: 'deeper@x', balance: '3' })
            })
            throw new Error('undo the inner one')
          }),
        )
        expect(error.message).toBe('undo the inner one')
        await tx.transaction(async (inner) => {
          await inner.insert(users).values({ email: 'kept@x', balance: '4' })
        })
      })
      expect(await admin('select email from drizzle_users order by id')).toEqual([
        { email: 'outer@x' },
        { email: 'kept@x' },
      ])
    })

    it('report a failed commit as node-postgres does: DrizzleQueryError, cause.code 40001', async () => {
      // Write skew: each serializable transaction reads what the other writes, so the second
      // to commit fails at COMMIT.
      const skew = async (d: typeof db | typeof viaPg) => {
        const [firstRead, secondWrote, firstDone] = [signal(), signal(), signal()]
        const serializable = { isolationLevel: 'serializable' } as const
        const first = d.transaction(async (tx) => {
          await tx.select().from(users).where(eq(users.email, 'b@x'))
          firstRead.resolve()
          await secondWrote.promise
          await tx.insert(users).values({ email: 'a@x', balance: '1' })
        }, serializable)
        const second = d.transaction(async (tx) => {
          await firstRead.promise
          await tx.select().from(users).where(eq(users.email, 'a@x'))
          await tx.insert(users).values({ email: 'b@x', balance: '1' })
          secondWrote.resolve()
          await firstDone.promise
        }, serializable)
        await first.finally(firstDone.resolve)
        return caught(second)
      }
      const facts = (e: any) => ({ query: e.query, code: e.cause?.code, message: e.cause?.message })
      const ours = await skew(db)
      await admin('truncate drizzle_posts, drizzle_users')
      const theirs = await skew(viaPg)
      expect(ours).toBeInstanceOf(DrizzleQueryError)
      expect(facts(ours)).toEqual(facts(theirs))
      expect(facts(ours)).toMatchObject({ query: 'commit', code: '40001' })
      expect(ours.cause).toMatchObject({ gatewayCode: 'CONFLICT', retryable: true })
    })

    it('refuse to commit after a failed statement was caught: nothing is kept, and it says so', async () => {
      // node-postgres's COMMIT would roll back silently; the gateway's commit fails with 25P02.
      const error = await caught(
        db.transaction(async (tx) => {
          await tx.insert(users).values({ email: 'a@x', balance: '1' })
          await caught(tx.insert(users).values({ email: 'a@x', balance: '1' }))
        }),
      )
      expect(error).toBeInstanceOf(DrizzleQueryError)
      expect(error.cause).toMatchObject({ code: '25P02' })
      expect(await admin('select * from drizzle_users')).toEqual([])
      await eventually(noOpenTransaction)
    })

    it('run read only when asked, refusing writes with SQLSTATE 25006', async () => {
      const error = await caught(
        db.transaction((tx) => tx.insert(users).values(ada), { accessMode: 'read only' }),
      )
      expect(error).toBeInstanceOf(DrizzleQueryError)
      expect(error.cause).toMatchObject({ code: '25006', gatewayCode: 'FORBIDDEN' })
    })

    it('pass on the error of a statement the gateway cut short in a savepoint, not the savepoint rollback’s', async () => {
      // Past its total timeoutMs the gateway cancels the statement and rolls back the whole
      // transaction: there is no savepoint left to roll back to.
      const brief = drizzle(client, { schema, transaction: { timeoutMs: 300 } })
      const error = await caught(
        brief.transaction((tx) =>
          tx.transaction((inner) => inner.execute(sql`select pg_sleep(10)`)),
        ),
      )
      expect(error).toBeInstanceOf(DrizzleQueryError)
      expect(error.query).toBe('select pg_sleep(10)')
      expect(error.cause).toMatchObject({ code: '57014', gatewayCode: 'STATEMENT_TIMEOUT' })
      await eventually(noOpenTransaction)
    })

    it("time out on the gateway's idle timeout: the next statement fails with TX_NOT_FOUND", async () => {
      const short = drizzle(client, { schema, transaction: { idleTimeoutMs: 200 } })
      const error = await caught(
        short.transaction(async (tx) => {
          await tx.insert(users).values(ada)
          await eventually(noOpenTransaction)
          await tx.select().from(users)
        }),
      )
      expect(error).toBeInstanceOf(DrizzleQueryError)
      expect(isGatewayError(error.cause) && error.cause.code).toBe('TX_NOT_FOUND')
      expect(error.cause.message).toMatch(/idle for more than 200 ms/)
      expect(await admin('select * from drizzle_users')).toEqual([])
    })
  })
})
