/**
 * The drain a load balancer can use, over real sockets against `sluice serve` as a child
 * process (alone, and as the primary of two workers): SIGTERM turns /readyz 503 at once, the listener keeps accepting for
 * drainGraceMs and answers new work SHUTTING_DOWN with `Connection: close`, an open
 * transaction may still commit, keep-alive clients never see a reset, a long statement is
 * cut as SHUTTING_DOWN when the grace ends, and the process exits 0 with every backend gone.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../server/embedded/free-port.js'
import { killChildren, startSluice } from '../helpers/cli.js'
import { admin, backends, databaseUrl, newToken } from '../helpers/gateway.js'

const GRACE_MS = 1500

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: any
}

/** One request over `agent` (a keep-alive agent, or a fresh socket without one). */
function call(port: number, path: string, token: string, body?: unknown, agent?: Agent) {
  return new Promise<Answer>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: payload === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${token}` },
        ...(agent ? { agent } : { agent: false }),
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }),
        )
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

// With workers, each worker drains the same way and the primary exits once they all did;
// the transaction's requests, on fresh connections, land on either worker.
describe.each([1, 2])('the drain, over real sockets, with %i worker(s)', (workers) => {
  let dir: string
  const applicationName = `sluice-drain-${newToken().slice(0, 8).toLowerCase()}`
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-drain-'))
    await admin('create table if not exists drain_rows (id int)')
    await admin('truncate drain_rows')
  })
  afterEach(() => killChildren())
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
    await admin('drop table if exists drain_rows')
  })

  it('keeps serving what it should during the grace, refuses the rest cleanly, and loses nothing', async () => {
    const port = await freePort()
    const token = newToken()
    const config = join(dir, 'sluice.json')
    await writeFile(
      config,
      JSON.stringify({
        server: { port, drainGraceMs: GRACE_MS, log: { level: 'warn' }, workers },
        tenants: {
          main: {
            connection: { url: databaseUrl() },
            pool: { min: 2, max: 8 },
            tokens: [{ token }],
            session: { applicationName },
            allowPrivilegedRole: true,
          },
        },
      }),
    )
    const sluice = startSluice(['--config', config])
    await sluice.printed(`listening on http://127.0.0.1:${port}`)

    // Before SIGTERM: an open transaction with a row in it, and a statement that outlasts
    // the grace.
    const tx = (await call(port, '/v1/transactions', token, {})).body
    await call(port, `/v1/transactions/${tx.id}/query`, token, {
      sql: 'insert into drain_rows values (1)',
    })
    const long = call(port, '/v1/query', token, { sql: 'select pg_sleep(30)' })

    // Keep-alive clients sending one request after another, until told to go elsewhere.
    const outcomes: string[] = []
    const agent = new Agent({ keepAlive: true, maxSockets: 8 })
    const loops = Array.from({ length: 8 }, async () => {
      for (;;) {
        try {
          const answer = await call(port, '/v1/query', token, { sql: 'select 1' }, agent)
          if (answer.status === 200) {
            outcomes.push('200')
            continue
          }
          outcomes.push(
            `${answer.status} ${answer.body.error?.code} retry-after=${answer.headers['retry-after']} connection=${answer.headers.connection}`,
          )
          return
        } catch (error) {
          outcomes.push(`socket error ${(error as NodeJS.ErrnoException).code}`)
          return
        }
      }
    })
    while (outcomes.length < 40) await new Promise((resolve) => setImmediate(resolve))

    sluice.child.kill('SIGTERM')
    await sluice.printed('draining for')

    // Ready no more, at once; new connections are still accepted and refused cleanly.
    const ready = await call(port, '/readyz', token)
    expect(ready.status).toBe(503)
    expect(ready.body.error.code).toBe('SHUTTING_DOWN')
    const fresh = await call(port, '/v1/query', token, { sql: 'select 1' })
    expect(fresh.status).toBe(503)
    expect(fresh.body.error).toMatchObject({ code: 'SHUTTING_DOWN', retryable: true })
    expect(fresh.headers['retry-after']).toBe('1')
    expect(fresh.headers.connection).toBe('close')
    // The same through the Hono app's routes.
    const begin = await call(port, '/v1/transactions', token, {})
    expect(begin.body.error.code).toBe('SHUTTING_DOWN')
    expect(begin.headers.connection).toBe('close')

    // The open transaction may still query and commit during the grace.
    const inside = await call(port, `/v1/transactions/${tx.id}/query`, token, {
      sql: 'insert into drain_rows values (2)',
    })
    expect(inside.status).toBe(200)
    const commit = await call(port, `/v1/transactions/${tx.id}/commit`, token, {})
    expect(commit.body).toEqual({ committed: true })

    await Promise.all(loops)
    agent.destroy()
    // Every keep-alive client got answers, then one clean refusal; none saw a reset.
    const refusals = outcomes.filter((o) => o !== '200')
    expect(refusals).toEqual(
      Array.from({ length: 8 }, () => '503 SHUTTING_DOWN retry-after=1 connection=close'),
    )

    // The long statement is cut when the grace ends, as SHUTTING_DOWN (not a timeout).
    const cut = await long
    expect(cut.status).toBe(503)
    expect(cut.body.error).toMatchObject({ code: 'SHUTTING_DOWN', retryable: true })

    const run = await sluice.exited
    expect(run.code, run.stdout + run.stderr).toBe(0)
    expect(await backends(applicationName)).toEqual([])
    expect((await admin('select id from drain_rows order by id')).map((r) => r.id)).toEqual([1, 2])
  })
})
