/** The per-request variables every gateway handler can read. */
import type { ErrorCode } from '../../src/errors.js'
import type { Hop } from '../cluster/hop-auth.js'
import type { AbortLike } from '../lifecycle/abort.js'
import type { StatementScope } from '../log/statement-scope.js'
import type { Tenant } from '../tenants/tenant.js'
import type { Principal } from '../tenants/tokens.js'

/** Hono environment of the gateway app. */
export interface GatewayEnv {
  Variables: {
    requestId: string
    principal: Principal
    tenant: Tenant
    /** Aborts when the gateway's drain ends. */
    shutdown: AbortLike
    /** Whether the gateway drains now: an answer then closes its keep-alive connection. */
    draining: () => boolean
    /** The body limit in force (bodies are read with it). */
    bodyLimitBytes: number
    /** The CORS headers for an answer from `tenant` (set by the CORS middleware). */
    corsHeaders: (tenant: Tenant | undefined) => Record<string, string>
    /** Set when the response is an error, for logs and metrics. */
    errorCode: ErrorCode
    /** Receives each statement's timing (logs, metrics); set by the request log. */
    statementScope: StatementScope
    /** Sent by another gateway process (a worker of this node, or a peer node). */
    hop: Hop
  }
}
