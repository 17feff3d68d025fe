import { connect, type AddressInfo, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { message } from '../../../server/wire/messages.js'
import { caught } from '../../helpers/caught.js'
import { admin, backends, eventually } from '../../helpers/gateway.js'
import { RawClient, fieldsOf, frontend } from '../../helpers/raw-pg.js'
import { pgClient, startWireGateway, type WireGateway } from '../../helpers/wire.js'

// What no driver sends: hand-made pipelines, malformed and oversized messages, clients that
// vanish mid-statement. Each must end in a clear error, never a hang, and a clean pool.

describe('the wire protocol, from a hostile or careless client', () => {
  let t: WireGateway
  const table = `wire_raw_${process.pid}`
  const pool = () => t.gateway.tenants.get('main')!.pool

  beforeAll(async () => {
    t = await startWireGateway(
      { pool: { min: 0, max: 2 } },
      { server: { bodyLimitBytes: 64 * 1024 }, wire: { handshakeTimeoutMs: 300 } },
    )
    await admin(`create table ${table} (x int)`)
  })
  afterAll(async () => {
    await admin(`drop table if exists ${table}`)
    await t?.close()
  })

  it('fails a whole pipeline, as PostgreSQL does, when one of its statements is refused', async () => {
    const client = await RawClient.connect(t.pgPort, t.token)
    client.send(
      frontend.parse('', `insert into ${table} values (1)`),
      frontend.bind('', ''),
      frontend.execute(),
      frontend.bind('', 'never_prepared'),
      frontend.execute(),
      frontend.sync(),
    )
    const answer = await client.cycle()
    expect(answer.types).toBe('12CEZ')
    expect(answer.errors).toEqual(['26000'])
    expect(answer.status).toBe('I')
    // The insert ran in the same implicit transaction, which the error rolled back.
    expect(await admin(`select * from ${table}`)).toEqual([])
    client.send(
      frontend.parse('dup', 'select 1'),
      frontend.parse('dup', 'select 2'),
      frontend.sync(),
    )
    expect(await client.cycle()).toMatchObject({ types: '1EZ', errors: ['42P05'] })
    client.send(frontend.terminate())
    await client.closed
  })

  it('leaves the name of a named statement free when its Parse fails or is skipped, as PostgreSQL does', async () => {
    const client = await RawClient.connect(t.pgPort, t.token)
    client.send(frontend.parse('s1', 'selec 1'), frontend.sync())
    expect(await client.cycle()).toMatchObject({ types: 'EZ', errors: ['42601'] })
    client.send(frontend.parse('s1', 'select 1'), frontend.bind('', 's1'), frontend.execute())
    client.send(frontend.sync())
    expect(await client.cycle()).toMatchObject({ types: '12DCZ', errors: [] })
    // Skipped after an earlier error: 's2' is new to the backend, 's3' is not.
    client.send(
      frontend.parse('', 'selec'),
      frontend.parse('s2', 'select 2'),
      frontend.parse('s3', 'select 1'),
      frontend.sync(),
    )
    expect(await client.cycle()).toMatchObject({ types: 'EZ', errors: ['42601'] })
    client.send(frontend.parse('s2', 'select 2'), frontend.parse('s3', 'select 1'))
    client.send(frontend.sync())
    expect(await client.cycle()).toMatchObject({ types: '11Z', errors: [] })
    client.send(frontend.terminate())
  })

  it('answers a Parse of a statement this backend already prepared without asking PostgreSQL', async () => {
    const first = await RawClient.connect(t.pgPort, t.token)
    const second = await RawClient.connect(t.pgPort, t.token)
    const text = `select count(*) from ${table} where x = $1`
    for (const client of [first, second]) {
      client.send(frontend.parse('s1', text), frontend.bind('', 's1', ['1']), frontend.execute())
      client.send(frontend.sync())
      expect(await client.cycle()).toMatchObject({ types: '12DCZ', errors: [] })
    }
    // Sessions borrow the most recently returned backend: both ran on one, prepared once.
    second.send(
      frontend.query(
        "select count(*) from pg_prepared_statements where statement like 'select count(*) from wire_raw%'",
      ),
    )
    const counted = await second.until('Z')
    const row = counted.find((m) => m.type === 'D')!.body
    expect(row.toString('utf8', 6)).toBe('1')
    first.send(frontend.terminate())
    second.send(frontend.terminate())
  })

  it('keeps a readonly token from running a statement bound or sent after COMMIT in the same batch', async () => {
    const client = await RawClient.connect(t.pgPort, t.readonlyToken)
    client.send(
      frontend.parse('', 'commit'),
      frontend.bind('', ''),
      frontend.execute(),
      frontend.parse('', `insert into ${table} values (2)`),
      frontend.bind('', ''),
      frontend.execute(),
      frontend.sync(),
    )
    const answer = await client.cycle()
    expect(answer.errors).toEqual(['25006'])
    expect(answer.status).toBe('I')
    expect(await admin(`select * from ${table}`)).toEqual([])
    client.send(frontend.query('select 1'))
    expect(await client.cycle()).toMatchObject({ types: 'TDCZ', status: 'I' })
    // Nor a Query or a FunctionCall (of nextval, oid 1574, which writes) sent after it.
    await admin(`create sequence ${table}_seq`)
    const [{ oid }] = await admin(`select '${table}_seq'::regclass::oid`)
    const argument = Buffer.alloc(4)
    argument.writeUInt32BE(Number(oid))
    const nextval = message(
      'F',
      Buffer.concat([
        Buffer.from([0, 0, 6, 38, 0, 1, 0, 1, 0, 1, 0, 0, 0, 4]),
        argument,
        Buffer.from([0, 0]),
      ]),
    )
    for (const after of [frontend.query(`insert into ${table} values (2)`), nextval]) {
      client.send(frontend.parse('', 'commit'), frontend.bind('', ''), frontend.execute(), after)
      client.send(frontend.sync())
      expect(await client.cycle()).toMatchObject({ types: '12CEZ', errors: ['25006'] })
      expect(await client.cycle()).toMatchObject({ types: 'Z', status: 'I' })
    }
    expect(await admin(`select * from ${table}`)).toEqual([])
    expect(await admin(`select is_called from ${table}_seq`)).toEqual([{ is_called: false }])
    await admin(`drop sequence ${table}_seq`)
  })

  it('keeps a readonly token from writing after a portal bound to COMMIT in an earlier batch', async () => {
    const client = await RawClient.connect(t.pgPort, t.readonlyToken)
    for (const portal of ['p', '']) {
      client.send(frontend.query('begin'))
      expect(await client.cycle()).toMatchObject({ status: 'T' })
      client.send(frontend.parse('', 'commit'), frontend.bind(portal, ''), frontend.sync())
      expect(await client.cycle()).toMatchObject({ types: '12Z', status: 'T' })
      client.send(frontend.execute(portal), frontend.parse('', `insert into ${table} values (3)`))
      client.send(frontend.bind('', ''), frontend.execute(), frontend.sync())
      expect(await client.cycle()).toMatchObject({ types: 'C1EZ', errors: ['25006'] })
      expect(await admin(`select * from ${table}`)).toEqual([])
    }
    client.send(frontend.query('select 1'))
    expect(await client.cycle()).toMatchObject({ types: 'TDCZ', status: 'I' })
  })

  it('keeps a readonly token from binding an unnamed statement PostgreSQL kept when the Parse after it was skipped', async () => {
    const client = await RawClient.connect(t.pgPort, t.readonlyToken)
    const cycle = async (...messages: Buffer[]) => {
      client.send(...messages, frontend.sync())
      return client.cycle()
    }
    for (const sql of ['begin', 'savepoint a']) {
      client.send(frontend.query(sql))
      expect(await client.cycle()).toMatchObject({ status: 'T' })
    }
    expect(await cycle(frontend.parse('', 'commit'))).toMatchObject({ errors: [] })
    // An error (no such portal), then a Parse PostgreSQL skips: its unnamed statement stays
    // the COMMIT, whatever the gateway saw parsed last.
    expect(await cycle(frontend.execute('nowhere'), frontend.parse('', 'select 1'))).toMatchObject({
      errors: ['34000'],
      status: 'E',
    })
    expect(
      await cycle(
        frontend.parse('back', 'rollback to a'),
        frontend.bind('', 'back'),
        frontend.execute(),
        frontend.bind('', ''),
        frontend.execute(),
        frontend.parse('', `insert into ${table} values (4)`),
        frontend.bind('', ''),
        frontend.execute(),
      ),
    ).toMatchObject({ errors: ['26000'] })
    client.send(frontend.terminate())
    await client.closed
    expect(await admin(`select * from ${table}`)).toEqual([])
  })

  it('ends a session with 08P01 on an unknown message type or a length below its own, and the pool stays clean', async () => {
    for (const bad of [
      Buffer.from([0x7a, 0, 0, 0, 4]),
      Buffer.from([0x51, 0xff, 0xff, 0xff, 0xfe]),
    ]) {
      const client = await RawClient.connect(t.pgPort, t.token)
      client.send(bad)
      const error = await client.next()
      expect(error.type).toBe('E')
      expect(fieldsOf(error.body)).toMatchObject({ S: 'FATAL', C: '08P01' })
      await client.closed
    }
    expect(pool().stats().poolInUse).toBe(0)
  })

  it('ends a session with 54000 on a message over the body limit, without reading it all', async () => {
    const client = await RawClient.connect(t.pgPort, t.token)
    const header = Buffer.alloc(5)
    header[0] = 0x51
    header.writeInt32BE(100 * 1024 * 1024, 1)
    client.send(header, Buffer.alloc(1024))
    const error = await client.next()
    expect(fieldsOf(error.body)).toMatchObject({ S: 'FATAL', C: '54000' })
    await client.closed
  })

  it('refuses a startup it cannot speak, and bytes smuggled after an SSLRequest', async () => {
    const old = await RawClient.open(t.pgPort)
    const v2 = Buffer.alloc(8)
    v2.writeInt32BE(8)
    v2.writeInt32BE(0x00020000, 4)
    old.send(v2)
    expect(fieldsOf((await old.next()).body)).toMatchObject({ C: '08P01' })
    await old.closed

    const ssl = Buffer.alloc(8)
    ssl.writeInt32BE(8)
    ssl.writeInt32BE(80877103, 4)
    const plain = await RawClient.open(t.pgPort)
    plain.send(ssl)
    // No certificate configured: 'N', and the client may go on in the clear.
    expect(
      await new Promise((resolve) => plain.socket.once('data', (d) => resolve(d.toString()))),
    ).toBe('N')
    plain.socket.destroy()

    const smuggler = await RawClient.open(t.pgPort)
    smuggler.send(ssl, frontend.query('select 1'))
    await smuggler.closed
  })

  it('answers a GSSENCRequest then an SSLRequest, as libpq sends them with Kerberos credentials', async () => {
    const request = (code: number) => {
      const packet = Buffer.alloc(8)
      packet.writeInt32BE(8)
      packet.writeInt32BE(code, 4)
      return packet
    }
    const socket = connect(t.pgPort, '127.0.0.1')
    socket.on('error', () => {})
    const answers: string[] = []
    socket.on('data', (data: Buffer) => answers.push(data.toString('latin1', 0, 1)))
    const answered = (n: number) => eventually(() => answers.length >= n)
    socket.write(request(80877104))
    await answered(1)
    socket.write(request(80877103))
    await answered(2)
    // Both declined (no certificate here); then the startup goes on in the clear.
    socket.write(frontend.startup({ user: 'main' }))
    await answered(3)
    expect(answers).toEqual(['N', 'N', 'R'])
    socket.destroy()
  })

  it('closes a connection that never authenticates', async () => {
    const silent = await RawClient.open(t.pgPort)
    await silent.closed
    const halfway = await RawClient.open(t.pgPort)
    halfway.send(frontend.startup({ user: 'main' }))
    expect((await halfway.next()).type).toBe('R')
    await halfway.closed
  })

  it('closes a refused connection whose client keeps its side open and writes on', async () => {
    const socket = connect({ port: t.pgPort, host: '127.0.0.1', allowHalfOpen: true })
    socket.on('error', () => {})
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
    let answer = ''
    socket.on('data', (data: Buffer) => (answer += data.toString('latin1')))
    const v2 = Buffer.alloc(8)
    v2.writeInt32BE(8)
    v2.writeInt32BE(0x00020000, 4)
    socket.write(v2)
    // What it sends after the refusal is dropped, not kept, and it never ends its side.
    const writing = setInterval(() => socket.write(Buffer.alloc(256 * 1024)), 5)
    await closed
    clearInterval(writing)
    expect(answer).toContain('08P01')
  })

  it('opens no session for a client that leaves while it is admitted', async () => {
    const sessions = t.gateway.wire.size
    const resets = pool().stats().sessionResets
    const client = await RawClient.open(t.pgPort)
    // A startup setting is tried on a backend during admission; the client leaves meanwhile.
    client.send(frontend.startup({ user: 'main', options: '-c DateStyle=ISO' }))
    expect((await client.next()).type).toBe('R')
    client.socket.end(frontend.password(t.token))
    await eventually(() => pool().stats().sessionResets > resets)
    expect(t.gateway.wire.size).toBe(sessions)
  })

  it('stops reading a client that sends on while it is admitted', async () => {
    const listener = t.gateway.createPgListener().listen(0, '127.0.0.1')
    const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve))
    await new Promise((resolve) => listener.once('listening', resolve))
    // The pool's backends are busy: admission (a startup setting is tried on one) waits.
    const holders = await Promise.all([1, 2].map(() => RawClient.connect(t.pgPort, t.token)))
    for (const holder of holders) {
      holder.send(frontend.query('begin'))
      expect(await holder.cycle()).toMatchObject({ status: 'T' })
    }
    try {
      const client = await RawClient.open((listener.address() as AddressInfo).port)
      const gateway = await accepted
      client.send(frontend.startup({ user: 'main', options: '-c DateStyle=ISO' }))
      expect((await client.next()).type).toBe('R')
      client.send(frontend.password(t.token))
      const syncs = Buffer.concat(Array.from({ length: 64 * 1024 }, () => frontend.sync()))
      const writing = setInterval(() => client.socket.write(syncs), 5)
      await eventually(() => gateway.isPaused())
      clearInterval(writing)
      client.socket.destroy()
    } finally {
      for (const holder of holders) holder.socket.destroy()
      listener.close()
    }
  })

  it('cancels and discards the backend of a client that vanishes mid-statement', async () => {
    const client = await RawClient.connect(t.pgPort, t.token)
    client.send(frontend.query('select pg_sleep(30)'))
    await eventually(async () =>
      (await backends(t.applicationName)).some((b) => b.state === 'active'),
    )
    client.socket.destroy()
    await eventually(async () =>
      (await backends(t.applicationName)).every((b) => b.state !== 'active'),
    )
    await eventually(() => pool().stats().poolInUse === 0)
  })

  it('frees the backend of a client that stops reading its results', async () => {
    const slow = await startWireGateway({ pool: { min: 0, max: 1 }, statementTimeoutMs: 200 })
    try {
      const client = await RawClient.connect(slow.pgPort, slow.token)
      client.socket.pause()
      // Rows from the first moment (a single generate_series would be computed first).
      const rows = `select repeat('x', 1000) from generate_series(1, 3000) a, generate_series(1, 3000) b`
      client.send(frontend.query(rows))
      // PostgreSQL, blocked writing to the gateway, acts on no cancel: the backend must go.
      await eventually(
        async () =>
          slow.gateway.tenants.get('main')!.pool.stats().poolInUse === 0 &&
          (await backends(slow.applicationName)).every((b) => b.state !== 'active'),
        20_000,
      )
      client.socket.destroy()
    } finally {
      await slow.close()
    }
  })

  it('stops reading a client that sends without reading the answers, even those made without a backend', async () => {
    const listener = t.gateway.createPgListener().listen(0, '127.0.0.1')
    const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve))
    await new Promise((resolve) => listener.once('listening', resolve))
    try {
      const client = await RawClient.connect((listener.address() as AddressInfo).port, t.token)
      const gateway = await accepted
      client.socket.pause()
      // Each Sync is answered (ReadyForQuery) by the gateway itself.
      const syncs = Buffer.concat(Array.from({ length: 64 * 1024 }, () => frontend.sync()))
      const writing = setInterval(() => client.socket.write(syncs), 5)
      await eventually(() => gateway.isPaused())
      clearInterval(writing)
      expect(gateway.writableLength).toBeLessThan(4 * 1024 * 1024)
      client.socket.destroy()
    } finally {
      listener.close()
    }
  })

  it('frees the backend of a client that goes silent in the middle of COPY FROM STDIN', async () => {
    const silent = await startWireGateway({ pool: { min: 0, max: 1 }, statementTimeoutMs: 200 })
    try {
      const client = await RawClient.connect(silent.pgPort, silent.token)
      client.send(frontend.query(`copy ${table} from stdin`))
      expect((await client.next()).type).toBe('G')
      // PostgreSQL, waiting for the client's data, acts on no timeout or cancel.
      const error = await client.next()
      expect(fieldsOf(error.body)).toMatchObject({ S: 'FATAL', C: '08006' })
      await eventually(
        async () =>
          silent.gateway.tenants.get('main')!.pool.stats().poolInUse === 0 &&
          (await backends(silent.applicationName)).every((b) => b.state !== 'active'),
      )
    } finally {
      await silent.close()
    }
  })

  it('rolls back the transaction of a client that vanishes inside it', async () => {
    const client = await RawClient.connect(t.pgPort, t.token)
    client.send(frontend.query(`begin; insert into ${table} values (3)`))
    expect(await client.cycle()).toMatchObject({ status: 'T' })
    client.socket.destroy()
    await eventually(() => pool().stats().poolInUse === 0)
    expect(await admin(`select * from ${table}`)).toEqual([])
    expect((await backends(t.applicationName)).filter((b) => b.state !== 'idle')).toEqual([])
  })
})

describe('wire timeouts and the drain', () => {
  it('answers 53300 when no backend frees up in time, and the session goes on', async () => {
    const t = await startWireGateway({ pool: { min: 0, max: 1, acquireTimeoutMs: 200 } })
    try {
      const holder = await RawClient.connect(t.pgPort, t.token)
      const waiter = await RawClient.connect(t.pgPort, t.token)
      holder.send(frontend.query('begin'))
      expect(await holder.cycle()).toMatchObject({ status: 'T' })
      waiter.send(frontend.query('select 1'))
      expect(await waiter.cycle()).toMatchObject({ types: 'EZ', errors: ['53300'], status: 'I' })
      waiter.send(frontend.parse('', 'select 1'), frontend.bind('', ''), frontend.execute())
      waiter.send(frontend.sync())
      expect(await waiter.cycle()).toMatchObject({ types: 'EZ', errors: ['53300'] })
      // A FunctionCall (of pg_backend_pid, oid 2026, no arguments) is answered as a Query is.
      waiter.send(message('F', Buffer.from([0, 0, 0x07, 0xea, 0, 0, 0, 0, 0, 0])))
      expect(await waiter.cycle()).toMatchObject({ types: 'EZ', errors: ['53300'] })
      holder.send(frontend.query('commit'))
      expect(await holder.cycle()).toMatchObject({ status: 'I' })
      waiter.send(frontend.query('select 1'))
      expect(await waiter.cycle()).toMatchObject({ types: 'TDCZ', errors: [] })
    } finally {
      await t.close()
    }
  })

  it('ends a transaction open longer than transactions.maxTimeoutMs with 25P04', async () => {
    const t = await startWireGateway({
      pool: { min: 0, max: 1 },
      transactions: { maxTimeoutMs: 300, timeoutMs: 300 },
    })
    try {
      const client = await RawClient.connect(t.pgPort, t.token)
      client.send(frontend.query('begin'))
      expect(await client.cycle()).toMatchObject({ status: 'T' })
      client.send(frontend.query('select pg_sleep(5)'))
      const messages = await client.until('E')
      expect(fieldsOf(messages.at(-1)!.body)).toMatchObject({ S: 'FATAL', C: '25P04' })
      await client.closed
      await eventually(() => t.gateway.tenants.get('main')!.pool.stats().poolInUse === 0)
    } finally {
      await t.close()
    }
  })

  it('ends a session idle inside its transaction with 25P03, and rolls it back', async () => {
    const t = await startWireGateway({
      pool: { min: 0, max: 2 },
      transactions: { maxIdleTimeoutMs: 200, idleTimeoutMs: 200 },
    })
    try {
      const client = await RawClient.connect(t.pgPort, t.token)
      client.send(frontend.query('begin'))
      expect(await client.cycle()).toMatchObject({ status: 'T' })
      const error = await client.next()
      expect(fieldsOf(error.body)).toMatchObject({ S: 'FATAL', C: '25P03' })
      await client.closed
      await eventually(() => t.gateway.tenants.get('main')!.pool.stats().poolInUse === 0)
    } finally {
      await t.close()
    }
  })

  it('ends a session idle in the middle of an extended-protocol batch (no Sync) with 25P03', async () => {
    const t = await startWireGateway({
      pool: { min: 0, max: 2 },
      transactions: { maxIdleTimeoutMs: 200, idleTimeoutMs: 200 },
    })
    try {
      const client = await RawClient.connect(t.pgPort, t.token)
      client.send(frontend.parse('', 'select 1'), frontend.bind('', ''), frontend.execute())
      client.send(message('H'))
      expect((await client.until('C')).map((m) => m.type).join('')).toBe('12DC')
      const error = await client.next()
      expect(fieldsOf(error.body)).toMatchObject({ S: 'FATAL', C: '25P03' })
      await client.closed
      await eventually(() => t.gateway.tenants.get('main')!.pool.stats().poolInUse === 0)
    } finally {
      await t.close()
    }
  })

  it('lets a transaction finish during the drain, then ends its session with 57P01', async () => {
    const t = await startWireGateway({ pool: { min: 0, max: 2 } })
    const idle = await RawClient.connect(t.pgPort, t.token)
    const busy = await RawClient.connect(t.pgPort, t.token)
    busy.send(frontend.query('begin'))
    expect(await busy.cycle()).toMatchObject({ status: 'T' })
    const closing = t.gateway.close(10_000)
    // The idle session is told at once.
    expect(fieldsOf((await idle.next()).body)).toMatchObject({ S: 'FATAL', C: '57P01' })
    busy.send(frontend.query('select 1'))
    expect(await busy.cycle()).toMatchObject({ types: 'TDCZ', status: 'T' })
    busy.send(frontend.query('commit'))
    expect(await busy.cycle()).toMatchObject({ status: 'I' })
    expect(fieldsOf((await busy.next()).body)).toMatchObject({ S: 'FATAL', C: '57P01' })
    await closing
    await t.close()
  })

  it('tells a connection that arrives during the drain 57P03, and still serves its CancelRequest', async () => {
    const t = await startWireGateway({ pool: { min: 0, max: 2 } })
    const client = await pgClient(t)
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number }
    const marker = `cancel during the drain ${process.pid}`
    const running = caught(() => client.query(`select pg_sleep(30) -- ${marker}`))
    await eventually(
      async () =>
        (
          await admin(`select 1 from pg_stat_activity where state = 'active' and query like $1`, [
            `%${marker}`,
          ])
        ).length === 1,
    )
    const closing = t.gateway.close(30_000)
    try {
      // As PostgreSQL while it shuts down: a clear refusal, not a connection dropped unanswered.
      expect(await caught(() => pgClient(t))).toMatchObject({ code: '57P03' })
      const cancel = await RawClient.open(t.pgPort)
      cancel.send(frontend.cancel(processID, secretKey))
      await cancel.closed
      expect((await running).code).toBe('57014')
    } finally {
      await closing
      await t.close()
    }
  })
})
