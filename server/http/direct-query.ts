/**
 * `POST /v1/query` straight on Node's http objects, for speed: the route every serverless
 * caller hits, served without building a Hono context, a web Request or a Response. It
 * runs the same steps as the Hono app, in the same order and with the same shared code
 * (request id, request log and metrics, the drain, the body limit, authentication, body
 * validation, `runQuery`, the error table), so a client cannot tell the two apart;
 * `test/server/http/direct-query.test.ts` compares them response by response. Requests it
 * does not take (chunked bodies, other routes) go to the Hono app (./listener.ts).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { RequestBarrier } from '../lifecycle/request-barrier.js'
import type { TokenIndex } from '../tenants/tokens.js'
import type { Lifecycle } from '../lifecycle/lifecycle.js'
import type { RequestRecorder } from '../log/request-log.js'
import { runQuery } from '../engine/run.js'
import type { Tenant } from '../tenants/tenant.js'
import { tenantOf } from './middleware/authenticate.js'
import { parseBody } from './body.js'
import { payloadTooLarge } from './middleware/body-limit.js'
import { toResponseError, type ReportBug } from './errors.js'
import { declaredTooLarge, disconnectSignal, readNodeBody } from './node-request.js'
import { quickQueryRequest } from './query-request.js'
import { queryRequestSchema } from './schemas.js'

/** What the direct path needs from the gateway. */
export interface DirectQueryDeps {
  tokens: TokenIndex
  tenants: ReadonlyMap<string, Tenant>
  lifecycle: Lifecycle
  bodyLimitBytes: number
  requests: { barrier: RequestBarrier; recorder: RequestRecorder }
  reportBug: ReportBug
}

const ROUTE = '/v1/query'

/** Whether the direct path takes `req`; the Hono app serves everything else. */
export function isDirectQuery(req: IncomingMessage): boolean {
  return (
    req.url === ROUTE && req.method === 'POST' && req.headers['transfer-encoding'] === undefined
  )
}

// As hono/request-id: a caller's id is kept when it is short and plain, else a new one.
const PLAIN_ID = /[^\w\-=]/

function requestIdOf(header: string | string[] | undefined): string {
  if (typeof header === 'string' && header !== '' && header.length <= 255 && !PLAIN_ID.test(header))
    return header
  return crypto.randomUUID()
}

/** Builds the direct `/v1/query` handler. */
export function directQuery(
  deps: DirectQueryDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { lifecycle, requests } = deps

  return function directQuery(req, res) {
    const requestId = requestIdOf(req.headers['x-request-id'])
    const record = requests.recorder.start(requestId)
    const signal = disconnectSignal(req, res)
    let tenantName = ''

    const answer = async (): Promise<string> => {
      lifecycle.assertServing()
      return lifecycle.track(async () => {
        // isDirectQuery() took only declared lengths, so this is never undefined.
        if (declaredTooLarge(req, deps.bodyLimitBytes)) throw payloadTooLarge(deps.bodyLimitBytes)
        const principal = deps.tokens.authenticate(req.headers.authorization)
        const tenant = tenantOf(deps, principal)
        tenantName = tenant.name
        const body = parseBody(
          await readNodeBody(req),
          queryRequestSchema,
          undefined,
          quickQueryRequest,
        )
        const context = { tenant, principal, signal, requestId, statements: record.scope }
        return JSON.stringify(await runQuery(context, body))
      })
    }

    const respond = (status: number, body: string, code: string, retryAfter?: number) => {
      const headers: OutgoingHttpHeaders = {
        'x-request-id': requestId,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      }
      if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter)
      // A client that went away gets nothing: there is no one to write to.
      if (!res.destroyed) res.writeHead(status, headers).end(body)
      record.finish({
        method: 'POST',
        route: ROUTE,
        path: ROUTE,
        status,
        code,
        tenant: tenantName,
      })
    }

    const served = answer()
      .then(
        (body) => respond(200, body, ''),
        (error: unknown) => {
          const sluice = toResponseError(
            error,
            { aborted: signal.aborted, requestId },
            deps.reportBug,
          )
          respond(sluice.status, JSON.stringify(sluice.toBody()), sluice.code, sluice.retryAfter)
        },
      )
      .catch((error: unknown) => deps.reportBug(error, requestId))
    void requests.barrier.track(served)
  }
}
