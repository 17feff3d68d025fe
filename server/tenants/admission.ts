/**
 * The one way in. Every entry point (the Hono app's `/v1` routes, the direct `/v1/query`
 * path, Neon's `/sql`, and any listener added later) admits a request through
 * {@link admit}, which runs the same steps in the same order: the drain check, the body
 * limit, authentication, the tenant; then the work, counted in flight so a drain or a
 * reload can wait for it.
 */
import { payloadTooLarge, unauthorized } from '../errors.js'
import type { AbortLike } from '../lifecycle/abort.js'
import type { Ticket } from '../lifecycle/in-flight.js'
import type { Lifecycle } from '../lifecycle/lifecycle.js'
import type { Tenant } from './tenant.js'
import type { Principal, TokenIndex } from './tokens.js'

/** What admission needs from the gateway. */
export interface AdmissionDeps {
  lifecycle: Lifecycle
  tokens: TokenIndex
  tenants: ReadonlyMap<string, Tenant>
  bodyLimitBytes: number
}

/** What an entry point knows of a request before admitting it. */
export interface AdmissionRequest {
  /** The token presented, from whatever header or packet the entry point reads it. */
  token: string | undefined
  /** What to tell a caller who presented no token. @default the Bearer header's wording */
  howToAuthenticate?: string
  /** The body's declared length in bytes, when declared (readers enforce the rest). */
  declaredBytes?: number | undefined
  /** Continues an open transaction, which may still finish while the gateway drains. */
  continuesTransaction?: boolean
}

/** An admitted request's caller and tenant, and the signal of the gateway's stop. */
export interface Admitted {
  principal: Principal
  tenant: Tenant
  /** Aborts when the drain ends: pass it to the engine (RunContext.shutdown). */
  shutdown: AbortLike
}

/** An admitted request held open by a ticket rather than a promise (see {@link enter}). */
export interface Entered extends Admitted {
  /** Ends the request's count in flight; idempotent. */
  ticket: Ticket
}

/**
 * Admits `request` (or throws SHUTTING_DOWN, PAYLOAD_TOO_LARGE or UNAUTHORIZED, in that
 * order) and counts it in flight until its ticket ends: for entry points whose work is no
 * single promise (a wire transaction lasts from its borrow to the backend's release).
 */
export function enter(deps: AdmissionDeps, request: AdmissionRequest): Entered {
  if (!request.continuesTransaction) deps.lifecycle.assertServing()
  if (request.declaredBytes !== undefined && request.declaredBytes > deps.bodyLimitBytes)
    throw payloadTooLarge(deps.bodyLimitBytes)
  if (request.token === undefined) throw unauthorized(request.howToAuthenticate)
  const principal = deps.tokens.lookup(request.token)
  // A reload may have removed the tenant since the token index was read.
  const tenant = principal && deps.tenants.get(principal.tenant)
  if (!principal || !tenant) throw unauthorized('unknown token')
  const ticket = deps.lifecycle.requests.begin()
  return { principal, tenant, shutdown: deps.lifecycle.stopping, ticket }
}

/**
 * Admits `request` (as {@link enter}) and runs `work` while counting it in flight.
 */
export async function admit<T>(
  deps: AdmissionDeps,
  request: AdmissionRequest,
  work: (admitted: Admitted) => Promise<T>,
): Promise<T> {
  const { ticket, ...admitted } = enter(deps, request)
  try {
    return await work(admitted)
  } finally {
    ticket.end()
  }
}
