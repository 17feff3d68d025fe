/**
 * A peer's credentials checked by one gateway, in-process (`app.request()`, where the
 * app's middleware checks them itself) and over a socket (where the listener checks them
 * before it picks a path).
 */
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HopAuth } from '../../../server/cluster/hop-auth.js'
import { ClusterNode } from '../../../server/cluster/node.js'
import { listenTestGateway, newToken, type ListeningGateway } from '../../helpers/gateway.js'

const SECRET = `${newToken()}${newToken()}`
const ADDRESS = '127.0.0.1:1'
const ADMIN = newToken()

describe("a peer's credentials", () => {
  let t: ListeningGateway
  const peer = new HopAuth('another node', SECRET)
  const node = new ClusterNode({
    address: ADDRESS,
    worker: { index: 0, incarnation: 1, count: 1 },
    nodeSecret: randomBytes(32),
    clusterSecret: SECRET,
  })
  const sign = (method: string, path: string, body?: string) =>
    peer.peer('127.0.0.9:1', {
      to: node.key,
      method,
      path,
      body: body === undefined ? undefined : Buffer.from(body),
    })
  beforeAll(async () => {
    t = await listenTestGateway(
      {},
      { cluster: { node }, server: { adminToken: ADMIN, bodyLimitBytes: 1024 } },
    )
  })
  afterAll(() => t?.close())

  it('pass once in-process: a replay and another body are refused', async () => {
    const listing = sign('GET', '/admin/tenants')
    const ask = () =>
      t.gateway.app.request('/admin/tenants', { headers: { 'x-sluice-forwarded': listing } })
    expect((await ask()).status).toBe(200)
    const replayed = await ask()
    expect(replayed.status).toBe(401)
    expect(((await replayed.json()) as any).error.message).toMatch(/already used/)

    const begun = await t.json('/v1/transactions', {})
    const path = `/v1/transactions/${begun.body.id}/query`
    const signed = sign('POST', path, JSON.stringify({ sql: 'select 1 as n' }))
    const swapped = await t.post(
      path,
      { sql: 'select 2 as n' },
      { headers: { 'x-sluice-forwarded': signed } },
    )
    expect(swapped.status).toBe(401)
    const sent = await t.post(
      path,
      { sql: 'select 1 as n' },
      { headers: { 'x-sluice-forwarded': signed } },
    )
    expect(sent.status).toBe(200)
    expect(((await sent.json()) as any).rows).toEqual([['1']])
    await t.post(`/v1/transactions/${begun.body.id}/rollback`, {})
  })

  it('refuse a body over the limit with PAYLOAD_TOO_LARGE, over a socket', async () => {
    const body = JSON.stringify({ sql: `select '${'x'.repeat(2048)}'` })
    const answer = await fetch(`${t.url}/v1/query`, {
      method: 'POST',
      body,
      headers: {
        authorization: `Bearer ${t.token}`,
        'x-sluice-forwarded': sign('POST', '/v1/query', body),
      },
    })
    expect(answer.status).toBe(413)
    expect(((await answer.json()) as any).error.code).toBe('PAYLOAD_TOO_LARGE')
  })

  it('refuse bad ones on the direct path too, without running the statement', async () => {
    const body = JSON.stringify({ sql: 'select 1 as n' })
    const signed = sign('POST', '/v1/query', JSON.stringify({ sql: 'select 2 as n' }))
    const answer = await fetch(`${t.url}/v1/query`, {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${t.token}`, 'x-sluice-forwarded': signed },
    })
    expect(answer.status).toBe(401)
    const refusal = JSON.stringify(await answer.json())
    expect(refusal).toMatch(/UNAUTHORIZED/)
    for (const part of signed.split(' ').slice(4)) expect(refusal).not.toContain(part)
    // Signed for this body, it is served (its body read once, for the check and the query).
    const good = await fetch(`${t.url}/v1/query`, {
      method: 'POST',
      body,
      headers: {
        authorization: `Bearer ${t.token}`,
        'x-sluice-forwarded': sign('POST', '/v1/query', body),
      },
    })
    expect(good.status).toBe(200)
    expect(((await good.json()) as any).rows).toEqual([['1']])
  })

  it('refuse one that cannot check out before its body arrives (another node, out of time, malformed)', async () => {
    const other = peer.peer('127.0.0.9:1', {
      to: 'another-node',
      method: 'POST',
      path: '/v1/query',
    })
    const late = sign('POST', '/v1/query').replace(
      / (\d+) /,
      (_, at) => ` ${Number(at) - 120_000} `,
    )
    for (const value of [other, late, 'peer x']) {
      // Headers only: the declared body never comes, so an answer means it was not waited for.
      const socket = connect(Number(new URL(t.url).port), '127.0.0.1')
      socket.write(
        `POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nAuthorization: Bearer ${t.token}\r\nx-sluice-forwarded: ${value}\r\n\r\n`,
      )
      const head = await new Promise<string>((resolve, reject) => {
        let text = ''
        socket.on('data', (chunk) => {
          text += chunk.toString()
          if (text.includes('\r\n\r\n')) resolve(text)
        })
        socket.on('error', reject)
      })
      socket.destroy()
      expect(head.split('\r\n')[0], value).toBe('HTTP/1.1 401 Unauthorized')
    }
  })
})
