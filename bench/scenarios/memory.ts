/**
 * Memory: the gateway's resident set with 1,000 configured tenants (pools with min 0, so
 * nothing connects until a request comes), and while 5,000 kept-alive HTTP clients each
 * send a query at once and then stay connected.
 */
import { connect, type Socket } from 'node:net'
import type { ConfigInput } from '../../server/config/schema.js'
import { startGateway } from '../lib/gateway.js'
import { rssMiB, sleep } from '../lib/system.js'

/** What was measured. */
export interface MemoryResult {
  /** A gateway with one tenant, before any load. */
  baselineRssMiB: number
  tenants: number
  tenantsRssMiB: number
  /** Backends the 1,000-tenant gateway opened (should be 0: pools are lazy). */
  tenantsBackends: number
  clients: number
  clientsConnected: number
  clientsAnswered: number
  /** Peak RSS of the gateway while the clients' queries ran. */
  clientsPeakRssMiB: number
  /** RSS with every client answered and still connected. */
  clientsIdleRssMiB: number
  /** RSS of the same gateway before the clients came. */
  clientsBeforeRssMiB: number
}

/** The config of a gateway with `count` lazy tenants on `url`. */
export function manyTenants(url: string, count: number): ConfigInput {
  const tenants: ConfigInput['tenants'] = {}
  for (let i = 0; i < count; i++) {
    tenants[`t${i}`] = {
      allowPrivilegedRole: true,
      connection: { url },
      pool: { min: 0, max: 5 },
      tokens: [{ token: `bench-tenant-token-${i.toString().padStart(6, '0')}` }],
      session: { applicationName: 'bench-many-tenants' },
    }
  }
  return { tenants }
}

async function openClients(port: number, count: number): Promise<Socket[]> {
  const sockets: Socket[] = []
  const batch = 250
  for (let i = 0; i < count; i += batch) {
    const opened = await Promise.allSettled(
      Array.from(
        { length: Math.min(batch, count - i) },
        () =>
          new Promise<Socket>((resolve, reject) => {
            const socket = connect({ port, host: '127.0.0.1', noDelay: true })
            socket.once('connect', () => resolve(socket))
            socket.once('error', reject)
          }),
      ),
    )
    for (const o of opened) if (o.status === 'fulfilled') sockets.push(o.value)
  }
  return sockets
}

/** Sends one query on each socket; resolves with how many got a 200 in `timeoutMs`. */
async function queryOnEach(sockets: Socket[], token: string, timeoutMs: number): Promise<number> {
  const body = JSON.stringify({ sql: 'select 1 as n' })
  const request =
    `POST /v1/query HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n` +
    `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  let answered = 0
  await Promise.race([
    Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            let seen = ''
            const onData = (chunk: Buffer) => {
              seen += chunk.toString('latin1')
              if (seen.includes('\r\n\r\n')) {
                if (seen.startsWith('HTTP/1.1 200')) answered++
                socket.off('data', onData)
                resolve()
              }
            }
            socket.on('data', onData)
            socket.once('close', () => resolve())
            socket.write(request)
          }),
      ),
    ),
    sleep(timeoutMs),
  ])
  return answered
}

/** Runs both memory measurements. */
export async function runMemory(
  options: {
    databaseUrl: string
    tenants: number
    clients: number
    gatewayPid: number
    gatewayPort: number
    token: string
    countBackends: (applicationName: string) => Promise<number>
  },
  log: (line: string) => void,
): Promise<MemoryResult> {
  const baselineGateway = await startGateway(manyTenants(options.databaseUrl, 1))
  await sleep(1500)
  const baselineRssMiB = await rssMiB(baselineGateway.pid)
  await baselineGateway.stop()

  const many = await startGateway(manyTenants(options.databaseUrl, options.tenants))
  await sleep(1500)
  const tenantsRssMiB = await rssMiB(many.pid)
  const tenantsBackends = await options.countBackends('bench-many-tenants')
  await many.stop()
  log(
    `memory: 1 tenant ${baselineRssMiB.toFixed(1)} MiB, ${options.tenants} tenants ${tenantsRssMiB.toFixed(1)} MiB (${tenantsBackends} backends)`,
  )

  const clientsBeforeRssMiB = await rssMiB(options.gatewayPid)
  const sockets = await openClients(options.gatewayPort, options.clients)
  let peak = await rssMiB(options.gatewayPid)
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rssMiB(options.gatewayPid))
      await sleep(20)
    }
  })()
  const answered = await queryOnEach(sockets, options.token, 60_000)
  sampling = false
  await sampler
  const clientsIdleRssMiB = await rssMiB(options.gatewayPid)
  peak = Math.max(peak, clientsIdleRssMiB)
  for (const socket of sockets) socket.destroy()
  log(
    `memory: ${sockets.length} kept-alive clients, ${answered} answered; RSS before ${clientsBeforeRssMiB.toFixed(1)} MiB, peak ${peak.toFixed(1)} MiB, idle-connected ${clientsIdleRssMiB.toFixed(1)} MiB`,
  )
  return {
    baselineRssMiB,
    tenants: options.tenants,
    tenantsRssMiB,
    tenantsBackends,
    clients: options.clients,
    clientsConnected: sockets.length,
    clientsAnswered: answered,
    clientsPeakRssMiB: peak,
    clientsIdleRssMiB,
    clientsBeforeRssMiB,
  }
}
