/**
 * `POST /v1/query` straight on Node's http objects, for speed: the route every serverless
 * caller hits, served without building a Hono context, a web Request or a Response. It
 * runs the same steps as the Hono app with the same code (the request id rule, the request
 * recorder, admission, body reading and validation, `runQuery`, the error table), so a
 * client cannot tell the two apart; `test/server/http/direct-query.test.ts` compares them
 * response by response.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { CACHE_HEADER } from '../../src/protocol.js'
import { runCachedQuery } from '../engine/cached-query.js'
import { runQuery } from '../engine/run.js'
import { admit } from '../tenants/admission.js'
import { bearerToken } from '../tenants/tokens.js'
import { parseBody } from './body.js'
import type { HttpDeps } from './deps.js'
import { errorHeaders, toResponseError } from './errors.js'
import { declaredLength, disconnectSignal, readNodeBody } from './node-request.js'
import { quickQueryRequest } from './query-request.js'
import { requestIdOf } from './request-id.js'
import { queryRequestSchema } from './schemas.js'

const ROUTE = '/v1/query'

/** Whether the direct path takes `req`; the Hono app serves everything else. */
export function isDirectQuery(req: IncomingMessage): boolean {
  return req.url === ROUTE && req.method === 'POST'
}

/** Builds the direct `/v1/query` handler. */
export function directQuery(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return function directQuery(req, res) {
    const requestId = requestIdOf(req.headers['x-request-id'])
    const record = deps.recorder.start(requestId)
    const signal = disconnectSignal(req, res)
    let tenantName = ''

    const respond = (status: number, body: string, code: string, extra = {}) => {
      const headers: OutgoingHttpHeaders = {
        'x-request-id': requestId,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        ...extra,
      }
      // A client that went away gets nothing: there is no one to write to.
      if (!res.destroyed) res.writeHead(status, headers).end(body)
      record.finish({ method: 'POST', route: ROUTE, path: ROUTE, status, code, tenant: tenantName })
    }

    const request = {
      token: bearerToken(req.headers.authorization),
      declaredBytes: declaredLength(req),
    }
    let cacheStatus: Record<string, string> = {}
    const answer = async (): Promise<string> =>
      admit(deps, request, async ({ principal, tenant }) => {
        tenantName = tenant.name
        const text = await readNodeBody(req, deps.bodyLimitBytes)
        const body = parseBody(text, queryRequestSchema, undefined, quickQueryRequest)
        const context = { tenant, principal, signal, requestId, statements: record.scope }
        if (body.cache === undefined) return JSON.stringify(await runQuery(context, body))
        const cached = await runCachedQuery(context, { ...body, cache: body.cache })
        cacheStatus = { [CACHE_HEADER]: cached.cache }
        return cached.body
      })

    answer()
      .then(
        (body) => respond(200, body, '', cacheStatus),
        (error: unknown) => {
          const sluice = toResponseError(
            error,
            { aborted: signal.aborted, requestId },
            deps.reportBug,
          )
          const body = JSON.stringify(sluice.toBody())
          respond(sluice.status, body, sluice.code, errorHeaders(sluice))
        },
      )
      .catch((error: unknown) => deps.reportBug(error, requestId))
  }
}
