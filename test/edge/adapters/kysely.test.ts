import {
  Kysely,
  Migrator,
  PostgresDialect,
  type Migration,
  sql,
  type ColumnType,
  type Generated,
  type Selectable,
} from 'kysely'
import { jsonArrayFrom } from 'kysely/helpers/postgres'
import pg from 'pg'
import Cursor from 'pg-cursor'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createClient, isGatewayError, type Client } from '../../../edge/index.js'
import { createClient as createStreamingClient } from '../../../edge/streaming.js'
import { SluiceDialect, toSqlQuery } from '../../../edge/adapters/kysely/index.js'
import { caught } from '../../helpers/caught.js'
import {
  admin,
  backends,
  databaseUrl,
  eventually,
  type ListeningGateway,
  listenTestGateway,
} from '../../helpers/gateway.js'

// Kysely through SluiceDialect and a listening gateway, compared result for result with
// Kysely's own PostgresDialect (node-postgres) running the same code on the same database.

interface Database {
  kysely_users: {
    id: Generated<string>
    email: string
    balance: string
    profile: { langs: string[]; nested?: unknown } | null
    avatar: Uint8Array | null
    created_at: ColumnType<Date, Date | undefined, Date>
    tags: ColumnType<string[], string[] | undefined, string[]>
    external_id: Generated<string>
  }
  kysely_posts: {
    id: Generated<number>
    title: string
    scores: ColumnType<number[], number[] | undefined, number[]>
    author_id: string
  }
}

/** A promise and its resolve, to order steps of concurrent transactions. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

/** Buffers (node-postgres) and Uint8Arrays (Sluice) compare as bytes. */
function bytes<T>(rows: T): T {
  return JSON.parse(
    JSON.stringify(rows, (_, v) =>
      v?.type === 'Buffer' ? { bytes: v.data } : v instanceof Uint8Array ? { bytes: [...v] } : v,
    ),
  )
}

const ada = {
  email: 'ada@example.com',
  balance: '12345.67',
  profile: { langs: ['en', 'fr'], nested: { ok: true, none: null } },
  avatar: new Uint8Array([0, 1, 127, 128, 255]),
  created_at: new Date('2026-01-02T03:04:05.678Z'),
  tags: ['math', 'say "hi"', 'back\\slash', ''],
}

describe('Kysely on SluiceDialect', () => {
  let t: ListeningGateway
  let client: Client
  let db: Kysely<Database>
  let viaPg: Kysely<Database>

  const noOpenTransaction = async () =>
    (await backends(t.applicationName)).every((b) => !b.state.startsWith('idle in transaction'))

  beforeAll(async () => {
    t = await listenTestGateway()
    client = createClient({ url: t.url, token: t.token })
    db = new Kysely<Database>({ dialect: new SluiceDialect({ client }) })
    viaPg = new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({ connectionString: databaseUrl(), max: 2 }),
      }),
    })
    await admin('drop table if exists kysely_posts, kysely_users')
    await admin(`create table kysely_users (
      id bigint generated always as identity primary key, email text not null unique,
      balance numeric(12, 2) not null, profile jsonb, avatar bytea,
      created_at timestamptz not null default now(), tags text[] not null default '{}',
      external_id uuid not null default gen_random_uuid())`)
    await admin(`create table kysely_posts (
      id serial primary key, title text not null, scores integer[] not null default '{}',
      author_id bigint not null references kysely_users (id) on delete cascade)`)
  })
  beforeEach(async () => {
    await admin('truncate kysely_posts, kysely_users restart identity cascade')
  })
  afterAll(async () => {
    await db.destroy()
    await viaPg.destroy()
    await admin('drop table if exists kysely_posts, kysely_users')
    await t.close()
  })

  it('creates, reads, updates and deletes every type, result for result as PostgresDialect', async () => {
    const created = await db
      .insertInto('kysely_users')
      .values(ada)
      .returningAll()
      .executeTakeFirstOrThrow()
    expect(created).toMatchObject({ ...ada, id: '1' })
    const inserted = await db
      .insertInto('kysely_posts')
      .values([
        { title: 'Notes', scores: [3, 1, 2], author_id: created.id },
        { title: 'Empty', author_id: created.id },
      ])
      .executeTakeFirstOrThrow()
    expect(inserted.numInsertedOrUpdatedRows).toBe(2n)
    await db
      .insertInto('kysely_users')
      .values({ email: 'bob@example.com', balance: '0.10' })
      .execute()

    const reads = (k: Kysely<Database>) => [
      k.selectFrom('kysely_users').selectAll().orderBy('id').execute(),
      k
        .selectFrom('kysely_users as u')
        .leftJoin('kysely_posts as p', 'p.author_id', 'u.id')
        .select(['u.email', 'p.title', 'p.scores'])
        .orderBy('u.id')
        .orderBy('p.id')
        .execute(),
      k
        .selectFrom('kysely_users as u')
        .select((eb) => [
          'u.email',
          jsonArrayFrom(
            eb
              .selectFrom('kysely_posts as p')
              .select(['p.title', 'p.scores'])
              .whereRef('p.author_id', '=', 'u.id')
              .orderBy('p.id'),
          ).as('posts'),
        ])
        .orderBy('u.id')
        .execute(),
      sql<{
        n: number
        total: string
      }>`select count(*)::int as n, sum(balance) as total from kysely_users`
        .execute(k)
        .then((r) => r.rows),
    ]
    const [ours, theirs] = [await Promise.all(reads(db)), await Promise.all(reads(viaPg))]
    expect(bytes(ours)).toEqual(bytes(theirs))
    expect((ours[2] as any)[0].posts).toEqual([
      { title: 'Notes', scores: [3, 1, 2] },
      { title: 'Empty', scores: [] },
    ])

    const updated = await db
      .updateTable('kysely_users')
      .set({ balance: sql`balance + 0.33`, tags: [...ada.tags, 'new'], avatar: null })
      .where('external_id', '=', created.external_id)
      .returning(['balance', 'tags', 'avatar'])
      .executeTakeFirstOrThrow()
    expect(updated).toEqual({ balance: '12346.00', tags: [...ada.tags, 'new'], avatar: null })
    const deleted = await db
      .deleteFrom('kysely_users')
      .where('id', '=', created.id)
      .executeTakeFirst()
    expect(deleted.numDeletedRows).toBe(1n)
    expect(await admin('select count(*)::int as n from kysely_posts')).toEqual([{ n: 0 }])
  })

  it("runs Kysely queries as one client batch, typed by each query's rows", async () => {
    const [, , users] = await client.batch([
      toSqlQuery(db.insertInto('kysely_users').values(ada)),
      toSqlQuery(
        db
          .insertInto('kysely_posts')
          .values({ title: 'Batched', author_id: sql<string>`lastval()` }),
      ),
      toSqlQuery(db.selectFrom('kysely_users').select(['id', 'email'])),
    ])
    const rows: Pick<Selectable<Database['kysely_users']>, 'id' | 'email'>[] = users.rows
    expect(rows).toEqual([{ id: '1', email: ada.email }])

    const error = await caught(
      client.batch([
        toSqlQuery(db.insertInto('kysely_users').values({ email: 'new@x', balance: '1' })),
        toSqlQuery(db.insertInto('kysely_users').values({ email: ada.email, balance: '1' })),
      ]),
    )
    expect(error).toMatchObject({ sqlstate: '23505', statementIndex: 1 })
    expect(await db.selectFrom('kysely_users').select('email').execute()).toEqual([
      { email: ada.email },
    ])
  })

  it('reports a database error as PostgresDialect does, in a transaction too: code is the SQLSTATE', async () => {
    await db.insertInto('kysely_users').values(ada).execute()
    const failures = [
      (k: Kysely<Database>) => k.insertInto('kysely_users').values(ada).execute(),
      // Inside a transaction the message is PostgreSQL's too, without the gateway's note.
      (k: Kysely<Database>) =>
        k.transaction().execute((trx) => trx.insertInto('kysely_users').values(ada).execute()),
    ]
    const facts = (e: any) => {
      const { code, constraint, detail, table, schema, severity, message } = e
      return { code, constraint, detail, table, schema, severity, message }
    }
    for (const fail of failures) {
      const [ours, theirs] = [await caught(fail(db)), await caught(fail(viaPg))]
      expect(facts(ours)).toEqual(facts(theirs))
      expect(ours.code).toBe('23505')
    }
  })

  it("runs Kysely's Migrator through the dialect: lock, introspection, migrations, once", async () => {
    const migrations: Record<string, Migration> = {
      '0001_tags': {
        up: (k) => k.schema.createTable('kysely_migrated').addColumn('id', 'integer').execute(),
        down: (k) => k.schema.dropTable('kysely_migrated').execute(),
      },
      '0002_rows': {
        up: async (k) => {
          await sql`insert into kysely_migrated values (1)`.execute(k)
        },
      },
    }
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => migrations },
      migrationTableName: 'kysely_test_migrations',
      migrationLockTableName: 'kysely_test_migrations_lock',
    })
    try {
      const first = await migrator.migrateToLatest()
      expect(first.error).toBeUndefined()
      expect(first.results?.map((r) => [r.migrationName, r.status])).toEqual([
        ['0001_tags', 'Success'],
        ['0002_rows', 'Success'],
      ])
      expect((await migrator.migrateToLatest()).results).toEqual([])
      expect(await admin('select id from kysely_migrated')).toEqual([{ id: 1 }])
    } finally {
      await admin(
        'drop table if exists kysely_migrated, kysely_test_migrations, kysely_test_migrations_lock',
      )
    }
  })

  describe('transactions', () => {
    it('commit and resolve to the callback value, with the isolation level asked for', async () => {
      const level = await db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute(async (trx) => {
          const user = await trx
            .insertInto('kysely_users')
            .values(ada)
            .returning('id')
            .executeTakeFirstOrThrow()
          await trx
            .insertInto('kysely_posts')
            .values({ title: 'first', author_id: user.id })
            .execute()
          const { rows } = await sql<{
            level: string
          }>`select current_setting('transaction_isolation') as level`.execute(trx)
          return rows[0]!.level
        })
      expect(level).toBe('repeatable read')
      expect(await admin('select title from kysely_posts')).toEqual([{ title: 'first' }])
    })

    it('honour the access mode asked for and the dialect’s deferrable', async () => {
      const deferring = new Kysely<Database>({
        dialect: new SluiceDialect({ client, transaction: { deferrable: true } }),
      })
      const settings = await deferring
        .transaction()
        .setIsolationLevel('serializable')
        .setAccessMode('read only')
        .execute(async (trx) => {
          const { rows } = await sql`select current_setting('transaction_isolation') as isolation,
            current_setting('transaction_read_only') as read_only,
            current_setting('transaction_deferrable') as deferrable`.execute(trx)
          return rows
        })
      expect(settings).toEqual([{ isolation: 'serializable', read_only: 'on', deferrable: 'on' }])
    })

    it('roll back when the callback throws, and pass its error on', async () => {
      const thrown = new Error('changed my mind')
      const error = await caught(
        db.transaction().execute(async (trx) => {
          await trx.insertInto('kysely_users').values(ada).execute()
          throw thrown
        }),
      )
      expect(error).toBe(thrown)
      expect(await admin('select * from kysely_users')).toEqual([])
      await eventually(noOpenTransaction)
    })

    it('keep savepoints in a controlled transaction: roll back to one, release another, commit', async () => {
      const trx = await db.startTransaction().setIsolationLevel('serializable').execute()
      await trx.insertInto('kysely_users').values({ email: 'kept@x', balance: '1' }).execute()
      const before = await trx.savepoint('before "dup"').execute()
      const error = await caught(
        before.insertInto('kysely_users').values({ email: 'kept@x', balance: '2' }).execute(),
      )
      expect(error.code).toBe('23505')
      const restored = await before.rollbackToSavepoint('before "dup"').execute()
      const second = await restored.savepoint('second').execute()
      await second.insertInto('kysely_users').values({ email: 'also@x', balance: '3' }).execute()
      await (await second.releaseSavepoint('second').execute()).commit().execute()
      expect(await admin('select email from kysely_users order by id')).toEqual([
        { email: 'kept@x' },
        { email: 'also@x' },
      ])
    })

    it('throw AbortedTransactionError on committing after a failed statement, as PostgresDialect', async () => {
      const trx = await db.startTransaction().execute()
      await trx.insertInto('kysely_users').values({ email: 'a@x', balance: '1' }).execute()
      await caught(trx.insertInto('kysely_users').values({ email: 'a@x', balance: '1' }).execute())
      const error = await caught(trx.commit().execute())
      expect(error.name).toBe('AbortedTransactionError')
      expect(await admin('select * from kysely_users')).toEqual([])
    })

    it('report a failed commit as PostgresDialect does (40001), callback or controlled', async () => {
      // Write skew: each serializable transaction reads what the other writes, so the second
      // to commit fails at COMMIT; Kysely then rolls back, or the caller does.
      const skew = async (k: Kysely<Database>, controlled: boolean) => {
        const [firstRead, secondWrote, firstDone] = [signal(), signal(), signal()]
        const insert = (trx: Kysely<Database>, email: string) =>
          trx.insertInto('kysely_users').values({ email, balance: '1' }).execute()
        const read = (trx: Kysely<Database>, email: string) =>
          trx.selectFrom('kysely_users').selectAll().where('email', '=', email).execute()
        const first = k
          .transaction()
          .setIsolationLevel('serializable')
          .execute(async (trx) => {
            await read(trx, 'b@x')
            firstRead.resolve()
            await secondWrote.promise
            await insert(trx, 'a@x')
          })
        const secondWork = async (trx: Kysely<Database>) => {
          await firstRead.promise
          await read(trx, 'a@x')
          await insert(trx, 'b@x')
          secondWrote.resolve()
          await firstDone.promise
        }
        const second = controlled
          ? (async () => {
              const trx = await k.startTransaction().setIsolationLevel('serializable').execute()
              await secondWork(trx)
              try {
                await trx.commit().execute()
              } catch (error) {
                await trx.rollback().execute()
                throw error
              }
            })()
          : k.transaction().setIsolationLevel('serializable').execute(secondWork)
        await first.finally(firstDone.resolve)
        const error = await caught(second)
        await admin('truncate kysely_posts, kysely_users restart identity cascade')
        return error
      }
      const facts = (e: any) => ({ code: e.code, message: e.message })
      for (const controlled of [false, true]) {
        const ours = await skew(db, controlled)
        expect(facts(ours)).toEqual(facts(await skew(viaPg, controlled)))
        expect(ours).toMatchObject({ code: '40001', gatewayCode: 'CONFLICT', retryable: true })
      }
      await eventually(noOpenTransaction)
    })

    it('run read only when asked, refusing writes with SQLSTATE 25006', async () => {
      const error = await caught(
        db
          .transaction()
          .setAccessMode('read only')
          .execute((trx) => trx.insertInto('kysely_users').values(ada).execute()),
      )
      expect(error).toMatchObject({ code: '25006', gatewayCode: 'FORBIDDEN' })
    })

    it("pass on the error of a statement the gateway cut short, not the rollback's", async () => {
      // Past its total timeoutMs the gateway cancels the statement and rolls back itself.
      const brief = new Kysely<Database>({
        dialect: new SluiceDialect({ client, transaction: { timeoutMs: 300 } }),
      })
      const error = await caught(
        brief.transaction().execute((trx) => sql`select pg_sleep(10)`.execute(trx)),
      )
      expect(error).toMatchObject({ code: '57014', gatewayCode: 'STATEMENT_TIMEOUT' })
    })

    it("time out on the gateway's idle timeout: the next statement fails with TX_NOT_FOUND", async () => {
      const short = new Kysely<Database>({
        dialect: new SluiceDialect({ client, transaction: { idleTimeoutMs: 200 } }),
      })
      const error = await caught(
        short.transaction().execute(async (trx) => {
          await trx.insertInto('kysely_users').values(ada).execute()
          await eventually(noOpenTransaction)
          await trx.selectFrom('kysely_users').selectAll().execute()
        }),
      )
      expect(isGatewayError(error) && error.code).toBe('TX_NOT_FOUND')
      expect(error.message).toMatch(/idle for more than 200 ms/)
      expect(await admin('select * from kysely_users')).toEqual([])
    })
  })

  it('streams a result, fetched whole through a plain client or in a transaction', async () => {
    await db
      .insertInto('kysely_users')
      .values([1, 2, 3, 4, 5].map((n) => ({ email: `${n}@x`, balance: String(n) })))
      .execute()
    const emails = async (k: Kysely<Database>) => {
      const seen: string[] = []
      const query = k.selectFrom('kysely_users').select('email').orderBy('id')
      for await (const row of query.stream(2)) seen.push(row.email)
      return seen
    }
    const all = ['1@x', '2@x', '3@x', '4@x', '5@x']
    expect(await emails(db)).toEqual(all)
    expect(await db.transaction().execute(emails)).toEqual(all)
  })

  it('streams rows as they arrive with a streaming client: past maxRows, typed as PostgresDialect', async () => {
    // A tenant whose answers hold 3 rows at most: only a real stream reads 50.
    const small = await listenTestGateway({ maxRows: 3 })
    const viaCursor = new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({ connectionString: databaseUrl(), max: 1 }),
        cursor: Cursor,
      }),
    })
    try {
      const streaming = new Kysely<Database>({
        dialect: new SluiceDialect({
          client: createStreamingClient({ url: small.url, token: small.token }),
        }),
      })
      await db
        .insertInto('kysely_users')
        .values(Array.from({ length: 50 }, (_, n) => ({ ...ada, email: `${n}@x` })))
        .execute()
      const query = (k: Kysely<Database>) =>
        k.selectFrom('kysely_users').selectAll().orderBy('id').stream(7)
      const ours: unknown[] = []
      const theirs: unknown[] = []
      for await (const row of query(streaming)) ours.push(row)
      for await (const row of query(viaCursor)) theirs.push(row)
      expect(ours).toHaveLength(50)
      expect(bytes(ours)).toEqual(bytes(theirs))

      // Leaving early ends the request; a failure is a PostgresError, as from a query.
      for await (const row of query(streaming)) if (row.email === '2@x') break
      const error = await caught(
        (async () => {
          const failing = streaming
            .selectFrom('kysely_users')
            .select(sql<number>`1 / (10 - id)`.as('r'))
            .orderBy('id')
          for await (const row of failing.stream(2)) void row
        })(),
      )
      expect(error).toMatchObject({ name: 'PostgresError', code: '22012' })
      await eventually(async () =>
        (await backends(small.applicationName)).every((b) => b.state === 'idle'),
      )
    } finally {
      await viaCursor.destroy()
      await small.close()
    }
  })
})
