/**
 * An AWS Lambda handler (Node.js 20+ runtime) behind API Gateway that queries PostgreSQL
 * through Sluice with the edge client. It takes HTTP API (payload 2.0) and REST API
 * (payload 1.0) events, and reads `SLUICE_URL` and `SLUICE_TOKEN` from the environment;
 * without them it answers `500 NOT_CONFIGURED`, as the Worker does. `npm run build:lambda`
 * bundles it into `dist/lambda/lambda.mjs` (handler `lambda.handler`).
 */
import { createClient, type Client, type ClientOptions } from '../client.js'
import { handleExample } from './example-api.js'

/** The parts of an API Gateway proxy event (payload 1.0 or 2.0) the handler reads. */
export interface ApiGatewayEvent {
  /** Payload 2.0. */
  rawPath?: string
  rawQueryString?: string
  requestContext?: { http?: { method: string } }
  /** Payload 1.0. */
  path?: string
  httpMethod?: string
  headers?: Record<string, string | undefined> | null
  body?: string | null
  isBase64Encoded?: boolean
}

/** What API Gateway expects back. */
export interface ApiGatewayResult {
  statusCode: number
  headers: Record<string, string>
  body: string
}

function toRequest(event: ApiGatewayEvent): Request {
  const method = event.requestContext?.http?.method ?? event.httpMethod ?? 'GET'
  const path = event.rawPath ?? event.path ?? '/'
  const query = event.rawQueryString ? `?${event.rawQueryString}` : ''
  const headers = new Headers()
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers.set(name, value)
  }
  const body =
    event.body === undefined || event.body === null || method === 'GET' || method === 'HEAD'
      ? null
      : event.isBase64Encoded
        ? Uint8Array.from(atob(event.body), (c) => c.charCodeAt(0))
        : event.body
  return new Request(`https://lambda.invalid${path}${query}`, { method, headers, body })
}

/** Builds a handler on the given client settings (tests pass a gateway's URL and token). */
export function createHandler(
  options: ClientOptions,
): (event: ApiGatewayEvent) => Promise<ApiGatewayResult> {
  // Created once per execution environment and reused by every invocation.
  const client: Client = createClient(options)
  return async function handler(event) {
    const response = await handleExample(toRequest(event), client, options.token)
    return {
      statusCode: response.status,
      headers: Object.fromEntries(response.headers),
      body: await response.text(),
    }
  }
}

// Lambda runs Node, but this file is checked as runtime-neutral: read env without Node types.
const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env

let handle: ReturnType<typeof createHandler> | undefined

function notConfigured(): ApiGatewayResult {
  const message = "set SLUICE_URL and SLUICE_TOKEN in the function's environment variables"
  return {
    statusCode: 500,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error: { code: 'NOT_CONFIGURED', message } }),
  }
}

/** The Lambda entry point: `handler` of `dist/lambda/lambda.mjs` (`npm run build:lambda`). */
export async function handler(event: ApiGatewayEvent): Promise<ApiGatewayResult> {
  const url = env?.SLUICE_URL
  const token = env?.SLUICE_TOKEN
  if (!url || !token) return notConfigured()
  // Created once per execution environment and reused by every invocation.
  handle ??= createHandler({ url, token })
  return handle(event)
}
