/** The {@link RunContext} of an admitted request. */
import type { Context } from 'hono'
import type { RunContext } from '../engine/run.js'
import type { GatewayEnv } from './env.js'
import { requestSignal } from './node-request.js'

/** Tenant, principal, abort signal (client disconnect) and request id of `c`. */
export function runContext(c: Context<GatewayEnv>): RunContext {
  return {
    tenant: c.get('tenant'),
    principal: c.get('principal'),
    signal: requestSignal(c),
    shutdown: c.get('shutdown'),
    requestId: c.get('requestId'),
    statements: c.get('statementScope'),
  }
}
