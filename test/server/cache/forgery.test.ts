/**
 * The invalidation channel against its hostile users. Anyone who can connect to the
 * database can LISTEN and NOTIFY on `sluice_cache`: here the tenant's own (unprivileged)
 * role, and a readonly token through the gateway. Two gateways share the database and the
 * channel's key; the far one reaches PostgreSQL through a proxy the test pauses (a network
 * cut), so it keeps its old value and its lease for up to a second while it hears nothing.
 * The attacker listens, and answers each write's invalidation with a message meant to make
 * the writer stop waiting for the far gateway: a forged ack, hello or bye, unsigned or signed
 * with another key, or a genuine message of the far gateway's sent again. None may shorten
 * the wait: the far gateway never answers the written key with its old value.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChannelSigner, channelKey } from '../../../server/cache/signature.js'
import {
  createDatabase,
  post,
  startPausableProxy,
  type PausableProxy,
  type TestDatabase,
} from '../../helpers/cache.js'
import {
  admin,
  eventually,
  listenTestGateway,
  newToken,
  type ListeningGateway,
} from '../../helpers/gateway.js'

const cacheSecret = newToken() + newToken()
const role = `cache_forger_${randomBytes(4).toString('hex')}`
const password = newToken()
let db: TestDatabase
let proxy: PausableProxy
let near: ListeningGateway
let far: ListeningGateway
let attacker: pg.Client
/** Every payload the attacker heard, in order, and the ones it sent. */
const heard: string[] = []
const sent = new Set<string>()
/** What the attacker sends back when it hears a payload (none when it returns []). */
let respond: (payload: string) => string[] = () => []

const read = { sql: 'select v from kv where k = 1', cache: { ttlMs: 600_000 } }
const cacheOf = (t: ListeningGateway) => t.gateway.tenants.get('main')!.cache!
const asRole = (url: string) => {
  const parsed = new URL(url)
  parsed.username = role
  parsed.password = password
  return parsed.toString()
}
/** The member ids the attacker has heard on the channel. */
const memberIds = () =>
  new Set(heard.flatMap((p) => (/^[hk] [a-z0-9]+ /.test(p) ? [p.split(' ')[1]!] : [])))

async function notify(payload: string): Promise<void> {
  sent.add(payload)
  await attacker.query('select pg_notify($1, $2)', ['sluice_cache', payload])
}

beforeAll(async () => {
  db = await createDatabase('cache_forge')
  await admin(`create role ${role} login password '${password}'`)
  await db.sql(`create table kv (k int primary key, v text); insert into kv values (1, 'v0');
    grant select, update on kv to ${role}`)
  attacker = new pg.Client({ connectionString: asRole(db.url) })
  await attacker.connect()
  attacker.on('notification', (n) => {
    heard.push(n.payload!)
    for (const forged of respond(n.payload!)) void notify(forged).catch(() => {})
  })
  await attacker.query('listen sluice_cache')
  proxy = await startPausableProxy(Number(new URL(db.url).port))
  const proxied = new URL(asRole(db.url))
  proxied.port = String(proxy.port)
  const options = { server: { cacheSecret } }
  near = await listenTestGateway(
    { connection: { url: asRole(db.url) }, allowPrivilegedRole: false, cache: { enabled: true } },
    options,
  )
  far = await listenTestGateway(
    {
      connection: { url: proxied.toString() },
      allowPrivilegedRole: false,
      cache: { enabled: true },
    },
    options,
  )
  await eventually(() => cacheOf(near).live && cacheOf(far).live)
}, 60_000)

afterAll(async () => {
  respond = () => []
  proxy?.resume()
  await Promise.all([near?.close(), far?.close(), attacker?.end()])
  await proxy?.close()
  await db?.drop()
  await admin(`drop role if exists ${role}`)
})

let version = 0

/**
 * Caches the current value in the far gateway, cuts it off, writes a new value through the
 * near one while `respond` answers the channel, and reads through the far gateway a read
 * decided while the cut lasts. Resolves with that read's answer and how long the write took.
 */
async function writeWhileFarIsCut(): Promise<{ late: any; writeMs: number; value: string }> {
  const old = `v${version}`
  const value = `v${++version}`
  expect((await post(far.url, '/v1/query', read, far.token)).body.rows).toEqual([[old]])
  expect((await post(far.url, '/v1/query', read, far.token)).cache).toBe('hit')
  proxy.pause()
  try {
    const started = performance.now()
    const write = await post(
      near.url,
      '/v1/query',
      { sql: 'update kv set v = $1 where k = 1', params: [value] },
      near.token,
    )
    const writeMs = performance.now() - started
    expect(write.status).toBe(200)
    const before = cacheOf(far).stats()
    const late = post(far.url, '/v1/query', read, far.token)
    // Decided (hit, or bypass to the database, which waits for the cut to heal).
    await eventually(() => {
      const now = cacheOf(far).stats()
      return now.hits + now.bypasses > before.hits + before.bypasses
    })
    return { late, writeMs, value }
  } finally {
    respond = () => []
    proxy.resume()
  }
}

/** Waits until both gateways serve from memory again (the forgeries stopped 2 s ago). */
async function settle(): Promise<void> {
  await eventually(() => cacheOf(near).live && cacheOf(far).live, 15_000)
}

const otherKey = new ChannelSigner(channelKey(newToken() + newToken()))
const unsigned = { sign: (body: string) => body }
const forgeries: [
  string,
  { sign(body: string): string },
  (member: string, writer: string, seq: string) => string,
][] = [
  ['an unsigned ack', unsigned, (member, writer, seq) => `a ${member} ${writer}:${seq}`],
  [
    'an ack signed with another key',
    otherKey,
    (member, writer) => `a ${member} ${writer}:999999999`,
  ],
  ['a hello signed with another key', otherKey, (member) => `h ${member} 999999999`],
  ['an unsigned bye', unsigned, (member) => `b ${member}`],
]

describe('a forged message on the invalidation channel', () => {
  it.each(forgeries)(
    'cannot make a write stop waiting for a gateway that still holds the old value: %s',
    async (_name, signer, forge) => {
      const rejected = cacheOf(near).stats().rejected.signature
      respond = (payload) => {
        const [type, writer, seq] = payload.split(' ')
        if (type !== 'i') return []
        return [...memberIds()]
          .filter((id) => id !== writer)
          .map((member) => signer.sign(forge(member, writer!, seq!)))
      }
      const { late, writeMs, value } = await writeWhileFarIsCut()
      expect(await late).toMatchObject({ status: 200, body: { rows: [[value]] } })
      // The write waited until the far gateway's lease was surely gone, not less.
      expect(writeMs).toBeGreaterThanOrEqual(1000)
      expect(cacheOf(near).stats().rejected.signature).toBeGreaterThan(rejected)
      await settle()
    },
  )

  it('that is a genuine hello, tick or ack sent again is ignored the same way', async () => {
    const writerId = (payload: string) => payload.split(' ')[1]
    const replays = cacheOf(near).stats().rejected.replay
    respond = (payload) => {
      if (!payload.startsWith('i ')) return []
      const writer = writerId(payload)
      // Every hello, the latest tick and the latest ack each other member sent.
      const others = heard.filter(
        (p) => /^[hka] /.test(p) && writerId(p) !== writer && !sent.has(p),
      )
      const latest = (type: string) => others.filter((p) => p.startsWith(type)).slice(-1)
      return [...others.filter((p) => p.startsWith('h ')), ...latest('k '), ...latest('a ')]
    }
    const { late, writeMs, value } = await writeWhileFarIsCut()
    expect(await late).toMatchObject({ status: 200, body: { rows: [[value]] } })
    expect(writeMs).toBeGreaterThanOrEqual(1000)
    // Taken for what they are: old ticks.
    expect(cacheOf(near).stats().rejected.replay).toBeGreaterThanOrEqual(replays + 2)
    await settle()
  })
})

describe('the channel and token holders', () => {
  it("hears a readonly token's pg_notify, and ignores it unless it is a trigger's drop", async () => {
    const rejected = cacheOf(near).stats().rejected.signature
    const [member] = [...memberIds()]
    const forged = await post(
      near.url,
      '/v1/query',
      { sql: 'select pg_notify($1, $2)', params: ['sluice_cache', `a ${member} ${member}:1`] },
      near.readonlyToken,
    )
    // PostgreSQL lets a READ ONLY transaction notify: readonly tokens reach the channel.
    expect(forged.status).toBe(200)
    await eventually(() => cacheOf(near).stats().rejected.signature > rejected)
    await settle()
  })

  it("still takes the triggers' unsigned messages, which only ever drop entries", async () => {
    const [row] = await db.sql<{ oid: string }>(`select 'kv'::regclass::oid::text as oid`)
    const oid = row!.oid
    for (const g of [near, far]) await post(g.url, '/v1/query', read, g.token)
    for (const g of [near, far])
      expect((await post(g.url, '/v1/query', read, g.token)).cache).toBe('hit')
    const drop = await post(
      near.url,
      '/v1/query',
      { sql: 'select pg_notify($1, $2)', params: ['sluice_cache', `t ${oid}`] },
      near.readonlyToken,
    )
    expect(drop.status).toBe(200)
    for (const g of [near, far]) {
      await eventually(() => cacheOf(g).stats().entries === 0)
      // Dropped, and nothing else: the cache still answers from memory.
      expect((await post(g.url, '/v1/query', read, g.token)).cache).toBe('miss')
      expect((await post(g.url, '/v1/query', read, g.token)).cache).toBe('hit')
    }
    await notify('d')
    for (const g of [near, far]) await eventually(() => cacheOf(g).stats().entries === 0)
  })
})
