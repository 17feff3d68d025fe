import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, isClientError, isGatewayError, type Fetch } from '../../edge/index.js'
import { backoff, neverSent } from '../../edge/retry.js'
import { caught } from '../helpers/caught.js'
import { admin, type ListeningGateway, listenTestGateway } from '../helpers/gateway.js'

/** A URL on 127.0.0.1 where nothing listens (a port taken and released again). */
async function deadUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}`
}

/** The runtime's fetch, counting calls and letting a test act on each answer. */
function counting(onAnswer: (n: number, response: Response) => Promise<void> | void = () => {}) {
  const calls = { n: 0 }
  const fetch: Fetch = async (url, init) => {
    const n = ++calls.n
    const response = await globalThis.fetch(url, init)
    await onAnswer(n, response.clone())
    return response
  }
  return { calls, fetch }
}

// Each test leaves the pool free and touches only rows of its own, so the tests pass alone,
// shuffled (vitest --sequence.shuffle) and beside any other file.
describe('retries', () => {
  let t: ListeningGateway
  const table = `edge_retry_${process.pid}`

  beforeAll(async () => {
    // One connection and a short acquire timeout, so a held transaction starves a query.
    t = await listenTestGateway({
      pool: { min: 1, max: 1, acquireTimeoutMs: 200 },
      transactions: { maxOpenShare: 1 },
    })
    await admin(`create table ${table} (id int primary key)`)
  })
  afterAll(async () => {
    await admin(`drop table if exists ${table}`)
    await t.close()
  })

  it('retries an answer marked retryable (POOL_TIMEOUT) after its Retry-After, then succeeds', async () => {
    const begin = await t.json('/v1/transactions', {})
    expect(begin.status).toBe(201)
    const release = () => t.json(`/v1/transactions/${begin.body.id}/rollback`, {})
    try {
      const { calls, fetch } = counting(async (n, response) => {
        if (n !== 1) return
        // The first attempt found the pool busy: free it, so the retry finds a connection.
        expect(await response.json()).toMatchObject({
          error: { code: 'POOL_TIMEOUT', retryable: true },
        })
        expect(response.headers.get('retry-after')).toBe('1')
        await release()
      })
      const db = createClient({ url: t.url, token: t.token, fetch })
      const { rows } = await db.query('select 1 as one')
      expect(rows).toEqual([{ one: 1 }])
      expect(calls.n).toBe(2)
    } finally {
      // Whatever happened above, the next test finds the connection free.
      await release()
    }
  })

  it('gives up without waiting when the Retry-After would pass the deadline', async () => {
    const begin = await t.json('/v1/transactions', {})
    try {
      const { calls, fetch } = counting()
      const db = createClient({ url: t.url, token: t.token, fetch, timeoutMs: 800 })
      const error = await caught(db.query('select 1'))
      expect(isGatewayError(error)).toBe(true)
      expect(error.code).toBe('POOL_TIMEOUT')
      expect(calls.n).toBe(1)
    } finally {
      await t.json(`/v1/transactions/${begin.body.id}/rollback`, {})
    }
  })

  it('never retries an answer that is not retryable', async () => {
    const { calls, fetch } = counting()
    const db = createClient({ url: t.url, token: t.token, fetch })
    const error = await caught(db.query('select * from no_such_table'))
    expect(error.code).toBe('DATABASE_ERROR')
    expect(calls.n).toBe(1)
  })

  it('retries a request that never reached the gateway (connection refused), up to the limit', async () => {
    const { calls, fetch } = counting()
    const db = createClient({
      url: await deadUrl(),
      token: t.token,
      fetch,
      retry: { retries: 3, baseDelayMs: 1, maxDelayMs: 5 },
    })
    const error = await caught(db.query('select 1'))
    expect(isClientError(error)).toBe(true)
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', retryable: true })
    expect(calls.n).toBe(4)
  })

  it('does not retry when retries are off', async () => {
    const { calls, fetch } = counting()
    const db = createClient({ url: await deadUrl(), token: t.token, fetch, retry: false })
    expect((await caught(db.query('select 1'))).code).toBe('NETWORK_ERROR')
    expect(calls.n).toBe(1)
  })

  it("stops waiting for a retry when the call's signal aborts, with the signal's reason", async () => {
    const controller = new AbortController()
    const reason = new Error('the caller gave up')
    let calls = 0
    const refusedThenAbort: Fetch = async (url, init) => {
      calls++
      try {
        return await globalThis.fetch(url, init)
      } finally {
        // After the client has seen the refusal and begun its minute-long wait.
        setTimeout(() => controller.abort(reason))
      }
    }
    const db = createClient({
      url: await deadUrl(),
      token: t.token,
      fetch: refusedThenAbort,
      timeoutMs: 120_000,
      retry: { retries: 1, baseDelayMs: 60_000, maxDelayMs: 60_000 },
    })
    expect(await caught(db.query('select 1', [], { signal: controller.signal }))).toBe(reason)
    expect(calls).toBe(1)
  })

  it('never retries a statement whose answer was lost after it was sent', async () => {
    let calls = 0
    const losesAnswers: Fetch = async (url, init) => {
      calls++
      await globalThis.fetch(url, init)
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      })
    }
    const db = createClient({ url: t.url, token: t.token, fetch: losesAnswers })
    const error = await caught(db.query(`insert into ${table} values (1)`))
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', retryable: false })
    expect(calls).toBe(1)
    expect(await admin(`select id from ${table} where id = 1`)).toEqual([{ id: 1 }])
  })

  it('does not retry a retryable CONFLICT inside an interactive transaction, and rolls back', async () => {
    await admin(`insert into ${table} values (100)`)
    const { calls, fetch } = counting()
    const db = createClient({ url: t.url, token: t.token, fetch })
    const error = await caught(
      db.transaction(
        async (tx) => {
          await tx.query(`select * from ${table}`)
          // Another session changes the row after this transaction's snapshot was taken.
          await admin(`update ${table} set id = 101 where id = 100`)
          await tx.query(`update ${table} set id = 102 where id = 101 or id = 100`)
        },
        { isolation: 'repeatable read' },
      ),
    )
    expect(error).toMatchObject({ code: 'CONFLICT', sqlstate: '40001', retryable: true })
    // begin, select, update (not retried), rollback
    expect(calls.n).toBe(4)
    expect(await admin(`select id from ${table} where id between 100 and 102`)).toEqual([
      { id: 101 },
    ])
  })
})

describe('backoff', () => {
  const policy = { retries: 5, baseDelayMs: 100, maxDelayMs: 1000 }

  it('doubles each time up to the cap, with up to half of it random', () => {
    for (const [attempt, cap] of [
      [0, 100],
      [1, 200],
      [2, 400],
      [3, 800],
      [4, 1000],
      [9, 1000],
    ] as const) {
      for (let i = 0; i < 50; i++) {
        const wait = backoff(policy, attempt)
        expect(wait).toBeGreaterThanOrEqual(cap / 2)
        expect(wait).toBeLessThanOrEqual(cap)
      }
    }
  })

  it("never waits less than the gateway's Retry-After", () => {
    expect(backoff(policy, 0, 2)).toBe(2000)
  })
})

describe('neverSent', () => {
  it('recognises failures to connect in Node, Bun and Deno shapes, and nothing else', () => {
    const node = new TypeError('fetch failed', {
      cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
    })
    const bun = Object.assign(new Error('Unable to connect'), { code: 'ConnectionRefused' })
    const deno = new TypeError(
      'error sending request: tcp connect error: Connection refused (os error 111)',
    )
    const reset = new TypeError('fetch failed', {
      cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }),
    })
    expect([node, bun, deno].map(neverSent)).toEqual([true, true, true])
    expect(neverSent(reset)).toBe(false)
    expect(neverSent(undefined)).toBe(false)
  })
})
