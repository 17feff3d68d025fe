/**
 * The small HTTP API that the Worker and Lambda examples serve, on Web `Request` and
 * `Response` only. `GET /` runs one fixed query for anyone; `POST /query`, `/batch` and
 * `/transaction` relay statements for callers holding the gateway token (they could
 * reach the gateway directly anyway), to exercise the client inside each runtime.
 */
import type { Client } from '../client.js'
import { isClientError, isGatewayError } from '../errors.js'
import type { QueryResult } from '../result.js'

interface Statement {
  sql: string
  params?: unknown[]
}

// bigint and bytes have no JSON form of their own.
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return Array.from(value)
  return value
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body, replacer), {
    status,
    headers: { 'content-type': 'application/json' },
  })
}

const shape = ({ command, rowCount, rows }: QueryResult<unknown>) => ({ command, rowCount, rows })

// Compares every character, so the time taken does not reveal how much of a guess matched.
function sameSecret(given: string, expected: string): boolean {
  let diff = given.length ^ expected.length
  for (let i = 0; i < given.length; i++) {
    diff |= given.charCodeAt(i) ^ expected.charCodeAt(i % Math.max(expected.length, 1))
  }
  return diff === 0
}

/**
 * The client's errors as JSON: the gateway's status and code, or 502/504 for the client's;
 * a body that is not JSON is a 400.
 */
function errorResponse(error: unknown): Response {
  if (isGatewayError(error)) {
    const { code, message, statementIndex } = error
    const sqlstate = (error as { sqlstate?: string }).sqlstate
    return json({ error: { code, message, sqlstate, statementIndex } }, error.status ?? 500)
  }
  if (isClientError(error)) {
    const { code, message } = error
    return json({ error: { code, message } }, code === 'CLIENT_TIMEOUT' ? 504 : 502)
  }
  if (error instanceof SyntaxError) {
    return json({ error: { code: 'BAD_REQUEST', message: 'the body is not valid JSON' } }, 400)
  }
  throw error
}

/** Answers one request of the example API with `db`; `token` guards the relaying routes. */
export async function handleExample(
  request: Request,
  db: Client,
  token: string,
): Promise<Response> {
  const { pathname } = new URL(request.url)
  try {
    if (request.method === 'GET' && pathname === '/') {
      const [row] = await db.sql`select now() as now, current_setting('server_version') as version`
      return json(row)
    }
    if (request.method !== 'POST' || !['/query', '/batch', '/transaction'].includes(pathname)) {
      return json({ error: { code: 'NOT_FOUND', message: `no route ${pathname}` } }, 404)
    }
    const given = request.headers.get('authorization')?.replace(/^Bearer /, '') ?? ''
    if (!sameSecret(given, token)) {
      return json({ error: { code: 'UNAUTHORIZED', message: 'send the gateway token' } }, 401)
    }
    const body = (await request.json()) as Statement & { statements?: Statement[] }
    const statements = body.statements ?? []
    if (pathname === '/query') return json(shape(await db.query(body.sql, body.params)))
    if (pathname === '/batch') {
      const results = await db.batch(
        statements.map((s) => ({ text: s.sql, values: s.params ?? [] })),
      )
      return json({ results: results.map(shape) })
    }
    const results = await db.transaction(async (tx) => {
      const done: QueryResult<unknown>[] = []
      for (const s of statements) done.push(await tx.query(s.sql, s.params))
      return done
    })
    return json({ results: results.map(shape) })
  } catch (error) {
    return errorResponse(error)
  }
}
