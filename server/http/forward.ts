/**
 * Requests for a transaction held elsewhere, passed on to its owner and answered as if it
 * were here. A transaction id names the worker and node that hold it
 * (server/cluster/transaction-id.ts): a request that lands on another worker of the node
 * goes to the owner's Unix socket, one that lands on another node goes to that node over
 * HTTP (where its own worker routing takes over). The request is admitted here first
 * (token, body limit, counted in flight so a drain waits for it) and the id's tag must
 * match the token, so nothing is forwarded for a token that did not begin the transaction.
 * Answers are piped, so a streamed one passes through at the client's pace, and a client
 * that goes away closes the forwarded request, which cancels the owner's statement as its
 * own client's disconnect would. A request's body is piped to another worker too, but read
 * first (up to `server.bodyLimitBytes`) for a peer node: the signature between nodes covers
 * the exact body bytes (server/cluster/hop-auth.ts), and the receiving node checks them
 * before it acts (./hop-credentials.ts). An owner that is gone or cannot be reached answers
 * TX_NOT_FOUND saying why.
 */
import {
  Agent,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http'
import { Counter } from 'prom-client'
import type { SluiceError } from '../../src/errors.js'
import { HOP_HEADER } from '../cluster/hop-auth.js'
import type { Location } from '../cluster/node.js'
import { transactionNotFound } from '../engine/open-transaction.js'
import { admit } from '../tenants/admission.js'
import type { Tenant } from '../tenants/tenant.js'
import { bearerToken } from '../tenants/tokens.js'
import { corsHeaders } from './cors.js'
import type { HttpDeps } from './deps.js'
import { errorHeaders, toResponseError } from './errors.js'
import { nodeHop } from './hop-credentials.js'
import { declaredLength, disconnectSignal, keptBody, readNodeBytes } from './node-request.js'
import { requestIdOf } from './request-id.js'
import { noteRequestId } from './send-watchdog.js'
import { sendBody } from './send.js'

const TRANSACTION_PATH = /^\/v1\/transactions\/([^/?#]+)\/(query|commit|rollback)(?:\?.*)?$/

// Hop-by-hop headers (RFC 9110 7.6.1): each connection has its own. `expect` too: this
// side already answered a `100-continue`.
const HOP_BY_HOP = new Set([
  'expect',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'transfer-encoding',
])

/** How long to wait for the primary to explain a worker that does not answer. */
const EXPLAIN_WAIT_MS = 1000

type Target =
  | { kind: 'worker'; socketPath: string }
  /** `key`: the node's, which the signature names as its destination. */
  | { kind: 'peer'; address: string; key: string }

function passHeaders(
  headers: IncomingHttpHeaders,
  drop: Set<string>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !drop.has(name)) out[name] = value
  }
  return out
}

/** Why a request to a worker or a peer failed before its answer began, in a few words. */
function failure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code
  return code ?? (error instanceof Error ? error.message : String(error))
}

/**
 * Builds the forwarder: given a request, answers `true` when it took it (a transaction held
 * elsewhere), `false` when the request is for this process.
 */
export function createForwarder(
  deps: HttpDeps,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { cluster, lifecycle } = deps
  const agents = new Map<string, Agent>()
  // The tenant a request was admitted for, for an error answered here: its log line and
  // its CORS headers (a page reads the error as it would have read a local one).
  const tenantOf = new WeakMap<IncomingMessage, Tenant>()
  const forwarded = new Counter({
    name: 'sluice_forwarded_requests_total',
    help: 'Transaction requests passed on to the worker or node that holds the transaction, by hop (worker, peer) and outcome (answered, gone, unreachable, client-closed)',
    labelNames: ['hop', 'outcome'],
    registers: [deps.metrics.registry],
  })

  // A node that stops answering (two missed checks) may hold our requests on sockets that
  // stay open without a sound (a machine gone, a partition): ending them ends those requests,
  // which then answer TX_NOT_FOUND saying why, rather than waiting for TCP to give up.
  cluster.onChange(() => {
    for (const peer of cluster.view.peers) {
      const agent = peer.live ? undefined : agents.get(peer.address)
      if (!agent) continue
      agent.destroy()
      agents.delete(peer.address)
    }
  })

  const agentOf = (key: string): Agent => {
    let agent = agents.get(key)
    if (!agent) {
      // Each restart of a worker has a socket of its own: forget those of the past.
      if (agents.size >= 64) {
        for (const old of agents.values()) old.destroy()
        agents.clear()
      }
      agent = new Agent({ keepAlive: true })
      agents.set(key, agent)
    }
    return agent
  }

  /**
   * Sends `req` to `target` (with `body` when it was read already, else piping it) and its
   * answer back; resolves when the answer is over.
   */
  const pipe = (
    target: Target,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    body: Buffer | undefined,
  ): Promise<void> =>
    new Promise((resolve, reject) => {
      const path = req.url ?? '/'
      const headers = passHeaders(req.headers, HOP_BY_HOP)
      headers['x-request-id'] = requestId
      headers[HOP_HEADER] =
        target.kind === 'worker'
          ? cluster.auth.worker()
          : cluster.auth.peer(cluster.address, { to: target.key, method: 'POST', path, body })
      if (body !== undefined) headers['content-length'] = String(body.length)
      else if (req.headers['transfer-encoding'] !== undefined)
        headers['transfer-encoding'] = 'chunked'
      const where =
        target.kind === 'worker'
          ? { socketPath: target.socketPath }
          : (() => {
              const at = target.address.lastIndexOf(':')
              return {
                host: target.address.slice(0, at).replace(/^\[|\]$/g, ''),
                port: Number(target.address.slice(at + 1)),
              }
            })()
      const upstream = request({
        ...where,
        method: 'POST',
        path,
        headers,
        agent: agentOf(target.kind === 'worker' ? target.socketPath : target.address),
      })
      let answered = false
      upstream.on('socket', (socket) => {
        if (!socket.connecting) return
        const timer = setTimeout(
          () => upstream.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
          deps.forwardTimeoutMs,
        )
        socket.once('connect', () => clearTimeout(timer))
        socket.once('close', () => clearTimeout(timer))
      })
      upstream.on('response', (answer) => {
        answered = true
        const out = passHeaders(answer.headers, HOP_BY_HOP)
        // Draining here: the client reconnects (elsewhere) for its next request.
        if (lifecycle.draining) out.connection = 'close'
        res.writeHead(answer.statusCode ?? 502, out)
        answer.pipe(res)
        answer.once('end', () => resolve())
        answer.once('aborted', () => {
          res.destroy()
          resolve()
        })
        answer.once('error', () => {
          res.destroy()
          resolve()
        })
      })
      upstream.on('error', (error) => {
        if (answered) {
          res.destroy()
          resolve()
        } else reject(Object.assign(error, { unreachable: true }))
      })
      // The client went away: closing the forwarded request cancels the owner's work.
      res.once('close', () => {
        if (!res.writableFinished) upstream.destroy()
        resolve()
      })
      if (body !== undefined) upstream.end(body)
      else req.pipe(upstream)
    })

  /** Where `location` sends a request that came by `hop`, or why it cannot go. */
  const targetOf = (
    location: Exclude<Location, { at: 'here' }>,
    hop: string | undefined,
  ): Target | string => {
    if (location.at === 'gone') return location.why
    if (location.at === 'worker' && hop !== 'worker')
      return { kind: 'worker', socketPath: location.socketPath }
    if (location.at === 'peer' && hop === undefined)
      return { kind: 'peer', address: location.address, key: location.key }
    return 'it was sent on to a gateway process that does not hold it (the cluster changed meanwhile)'
  }

  const answer = async (
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
    location: Exclude<Location, { at: 'here' }>,
    requestId: string,
  ): Promise<string> => {
    const hop = await nodeHop(cluster, req, deps.bodyLimitBytes)
    const credentials = {
      token: bearerToken(req.headers.authorization),
      declaredBytes: declaredLength(req),
      continuesTransaction: true,
    }
    return admit(deps, credentials, async ({ principal, tenant }) => {
      tenantOf.set(req, tenant)
      // Only the token that began it may reach it, or learn what became of it.
      if (!cluster.ids.verify(id, principal.tokenHash)) throw transactionNotFound(id)
      const target = targetOf(location, hop?.hop)
      if (typeof target === 'string') throw transactionNotFound(id, target)
      // A peer's request was read to check its signature; one for a peer is read to sign it.
      const body =
        keptBody(req) ??
        (target.kind === 'peer' ? await readNodeBytes(req, deps.bodyLimitBytes) : undefined)
      try {
        await pipe(target, req, res, requestId, body)
        return res.writableFinished ? 'answered' : 'client-closed'
      } catch (error) {
        // A worker that just died: the primary is about to say how.
        if (target.kind === 'worker') await cluster.nextView(EXPLAIN_WAIT_MS)
        const now = cluster.locate(id)
        if (now.at === 'gone') throw transactionNotFound(id, now.why)
        const what =
          target.kind === 'worker'
            ? 'the worker process that held it cannot be reached'
            : `the node that held it (${target.address}) cannot be reached`
        throw Object.assign(
          transactionNotFound(
            id,
            `${what} (${failure(error)}); when a gateway process goes away, its transactions are rolled back`,
          ),
          { unreachable: true },
        )
      }
    })
  }

  return function forward(req, res) {
    const url = req.url
    if (req.method !== 'POST' || url === undefined || !url.startsWith('/v1/transactions/'))
      return false
    const match = TRANSACTION_PATH.exec(url)
    if (!match) return false
    const id = match[1]!
    const location = cluster.locate(id)
    if (location.at === 'here') return false
    const requestId = requestIdOf(req.headers['x-request-id'])
    noteRequestId(res, requestId)
    const hopLabel = location.at === 'peer' ? 'peer' : 'worker'
    const signal = disconnectSignal(req, res)
    answer(req, res, id, location, requestId).then(
      (outcome) => forwarded.inc({ hop: hopLabel, outcome }),
      (error: unknown) => {
        const outcome = (error as { unreachable?: boolean }).unreachable ? 'unreachable' : 'gone'
        forwarded.inc({ hop: hopLabel, outcome })
        if (res.headersSent) {
          res.destroy()
          return
        }
        const sluice: SluiceError = toResponseError(
          error,
          { aborted: signal.aborted, requestId },
          deps.reportBug,
        )
        const record = deps.recorder.start(requestId)
        const headers: Record<string, string> = {
          'x-request-id': requestId,
          'content-type': 'application/json',
          ...errorHeaders(sluice),
          ...corsHeaders(req.headers.origin, tenantOf.get(req), deps.tenants),
        }
        if (lifecycle.draining) headers.connection = 'close'
        // The rest of the body is read and dropped, so the answer can be sent.
        req.resume()
        sendBody(res, sluice.status, headers, JSON.stringify(sluice.toBody()))
        record.finish({
          method: 'POST',
          route: `/v1/transactions/:id/${match[2]}`,
          path: url,
          status: sluice.status,
          code: sluice.code,
          tenant: tenantOf.get(req)?.name ?? '',
        })
      },
    )
    return true
  }
}
