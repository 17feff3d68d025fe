/**
 * `POST /v1/query` straight on Node's http objects, for speed: the route every serverless
 * caller hits, served without building a Hono context, a web Request or a Response. It
 * runs the same steps as the Hono app with the same code (the request id rule, the request
 * recorder, admission, body reading and validation, `runQuery` or, for `Accept:
 * application/x-ndjson`, `streamQuery`, the error table), so a client cannot tell the two
 * apart; `test/server/http/direct-query.test.ts` compares them response by response.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { CACHE_HEADER } from '../../src/protocol.js'
import { runCachedQuery } from '../engine/cached-query.js'
import { runQueryInto } from '../engine/run.js'
import { streamQuery } from '../engine/stream.js'
import { admit } from '../tenants/admission.js'
import type { Tenant } from '../tenants/tenant.js'
import { bearerToken } from '../tenants/tokens.js'
import { parseBody } from './body.js'
import { corsHeaders } from './cors.js'
import type { HttpDeps } from './deps.js'
import { errorHeaders, toResponseError } from './errors.js'
import { declaredLength, disconnectSignal, readNodeBody } from './node-request.js'
import { quickQueryRequest, quickStreamRequest } from './query-request.js'
import { requestIdOf } from './request-id.js'
import { queryRequestSchema, streamRequestSchema } from './schemas.js'
import { JsonAnswer } from './json-answer.js'
import { sendBody } from './send.js'
import { noteRequestId } from './send-watchdog.js'
import { acceptedStream, writeStream } from './stream-query.js'
import { nodeTarget } from './stream-target.js'

const ROUTE = '/v1/query'

/** Whether the direct path takes `req`; the Hono app serves everything else. */
export function isDirectQuery(req: IncomingMessage): boolean {
  return req.url === ROUTE && req.method === 'POST'
}

/** Builds the direct `/v1/query` handler. */
export function directQuery(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return function directQuery(req, res) {
    const requestId = requestIdOf(req.headers['x-request-id'])
    noteRequestId(res, requestId)
    const record = deps.recorder.start(requestId)
    const signal = disconnectSignal(req, res)
    let tenantName = ''
    let admitted: Tenant | undefined

    const finish = (status: number, code: string) =>
      record.finish({ method: 'POST', route: ROUTE, path: ROUTE, status, code, tenant: tenantName })
    const respond = (status: number, body: string | Buffer[], code: string, extra = {}) => {
      const headers: OutgoingHttpHeaders = {
        'x-request-id': requestId,
        'content-type': 'application/json',
        ...extra,
      }
      // Draining: the client reconnects (elsewhere) for its next request.
      if (deps.lifecycle.draining) headers.connection = 'close'
      Object.assign(headers, corsHeaders(req.headers.origin, admitted, deps.tenants))
      // A client that went away gets nothing (sendBody checks): there is no one to write to.
      sendBody(res, status, headers, body)
      finish(status, code)
    }
    const errorOf = (error: unknown) =>
      toResponseError(error, { aborted: signal.aborted, requestId }, deps.reportBug)

    const request = {
      token: bearerToken(req.headers.authorization),
      declaredBytes: declaredLength(req),
    }
    const streaming = acceptedStream(req.headers.accept)
    let cacheStatus: Record<string, string> = {}
    // A JSON answer's text, or the error code a stream ended with ('' for success).
    const answer = async (): Promise<{ json: string | Buffer[] } | { streamed: string }> =>
      admit(deps, request, async ({ principal, tenant, shutdown }) => {
        tenantName = tenant.name
        admitted = tenant
        const text = await readNodeBody(req, deps.bodyLimitBytes)
        const context = { tenant, principal, signal, shutdown, requestId, statements: record.scope }
        if (streaming === undefined) {
          const body = parseBody(text, queryRequestSchema, undefined, quickQueryRequest)
          if (body.cache !== undefined) {
            const cached = await runCachedQuery(context, { ...body, cache: body.cache })
            cacheStatus = { [CACHE_HEADER]: cached.cache }
            return { json: cached.body }
          }
          const json = new JsonAnswer()
          return { json: json.finish(await runQueryInto(context, body, json)) }
        }
        const body = parseBody(text, streamRequestSchema, undefined, quickStreamRequest)
        const cors = corsHeaders(req.headers.origin, tenant, deps.tenants)
        const streamed = await writeStream(nodeTarget(res, cors), {
          requestId,
          mediaType: streaming,
          request: body,
          run: (sink) => streamQuery(context, body, sink),
          errorOf,
          draining: () => deps.lifecycle.draining,
        })
        return { streamed }
      })

    answer()
      .then(
        (answered) => {
          if ('json' in answered) respond(200, answered.json, '', cacheStatus)
          else finish(200, answered.streamed)
        },
        (error: unknown) => {
          const sluice = errorOf(error)
          const body = JSON.stringify(sluice.toBody())
          respond(sluice.status, body, sluice.code, errorHeaders(sluice))
        },
      )
      .catch((error: unknown) => deps.reportBug(error, requestId))
  }
}
