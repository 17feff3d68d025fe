/**
 * `POST /sql`: Neon's HTTP protocol, so `@neondatabase/serverless`'s `neon()`, Drizzle's
 * `neon-http` driver and the ORMs built on them run against Sluice unchanged (see
 * docs/neon.md). The statements run through the same engine as `/v1/query` and
 * `/v1/batch`, under the same tenant, role, limits and lifecycle; only the envelope differs,
 * errors included, which this route renders itself in Neon's shape.
 */
import { Hono } from 'hono'
import { checkStatement, runBatch, runQuery, type StatementNames } from '../../engine/run.js'
import type { HttpDeps } from '../deps.js'
import type { GatewayEnv } from '../env.js'
import { admission } from '../middleware/admission.js'
import { neonCredentials } from '../neon/auth.js'
import { renderNeonError } from '../neon/error.js'
import { NEON_HEADERS } from '../neon/protocol.js'
import { paramToText, readNeonOptions, readNeonPayload } from '../neon/request.js'
import { neonResultJson } from '../neon/result.js'
import { runContext } from '../run-context.js'
import { textBody } from '../send.js'

function jsonResponse(text: string, headers: Record<string, string> = {}): Response {
  return new Response(textBody(text), {
    status: 200,
    headers: {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(text)),
      ...headers,
    },
  })
}

// Refusals name Neon's fields (`queries.1.query`) and its way to run several statements.
const TRANSACTION = 'sql.transaction() (a {"queries": [...]} request)'
const NEON_NAMES: StatementNames = {
  sql: 'query',
  several: `use ${TRANSACTION} to run several in one transaction`,
  control: `use ${TRANSACTION}, which runs its queries in one transaction`,
}

/** The `/sql` route: the same admission as `/v1`, Neon's credentials and error shape. */
export function neonSqlRoute(deps: HttpDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>()
  app.onError((error, c) => renderNeonError(error, c, deps.reportBug))
  app.post('/sql', admission(deps, { credentials: neonCredentials }), async function neonSql(c) {
    const options = readNeonOptions(c)
    const payload = await readNeonPayload(c)
    const context = runContext(c)
    const formatOf = (arrayMode: boolean | undefined) => ({
      arrayMode: arrayMode ?? options.arrayMode,
      rawTextOutput: options.rawTextOutput,
    })
    if ('query' in payload) {
      const request = { sql: payload.query, params: (payload.params ?? []).map(paramToText) }
      checkStatement(request, NEON_NAMES)
      const result = await runQuery(context, request)
      return jsonResponse(neonResultJson(result, formatOf(payload.arrayMode)))
    }
    // Neon echoes the transaction options it applied.
    const echoed: Record<string, string> = {}
    if (options.readOnly) echoed[NEON_HEADERS.readOnly] = 'true'
    if (options.deferrable) echoed[NEON_HEADERS.deferrable] = 'true'
    const level = c.req.header(NEON_HEADERS.isolationLevel)
    if (level !== undefined) echoed[NEON_HEADERS.isolationLevel] = level
    if (payload.queries.length === 0) return jsonResponse('{"results":[]}', echoed)
    const statements = payload.queries.map((q) => ({
      sql: q.query,
      params: (q.params ?? []).map(paramToText),
    }))
    statements.forEach((s, i) => checkStatement(s, { ...NEON_NAMES, where: `queries.${i}.` }))
    const { results } = await runBatch(context, {
      statements,
      isolation: options.isolation,
      readOnly: options.readOnly,
      ...(options.deferrable ? { deferrable: true } : {}),
    })
    const texts = results.map((result, i) =>
      neonResultJson(result, formatOf(payload.queries[i]!.arrayMode)),
    )
    return jsonResponse(`{"results":[${texts.join(',')}]}`, echoed)
  })
  return app
}
