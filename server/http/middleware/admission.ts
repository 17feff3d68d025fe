/**
 * The Hono side of admission (server/tenants/admission.ts): the same steps as every other
 * entry point, then `principal`, `tenant` and the body limit on the context.
 */
import type { Context, MiddlewareHandler } from 'hono'
import { admit, type AdmissionDeps } from '../../tenants/admission.js'
import type { GatewayEnv } from '../env.js'
import { declaredBodyLength } from '../node-request.js'

/** Where a route's caller presents its token, and what to say when it did not. */
export interface Credentials {
  token: string | undefined
  howToAuthenticate?: string
}

/** Options of {@link admission}. */
export interface AdmissionOptions {
  /** Reads the token (the Bearer header for `/v1`, Neon's headers for `/sql`). */
  credentials: (c: Context<GatewayEnv>) => Credentials
  /** True for requests that continue an open transaction (they may finish during a drain). */
  continuesTransaction?: (c: Context<GatewayEnv>) => boolean
}

/** Admits each request, or throws the admission's error. */
export function admission(
  deps: AdmissionDeps,
  options: AdmissionOptions,
): MiddlewareHandler<GatewayEnv> {
  return async function admission(c, next) {
    const request = {
      ...options.credentials(c),
      declaredBytes: declaredBodyLength(c),
      continuesTransaction: options.continuesTransaction?.(c) ?? false,
    }
    await admit(deps, request, async ({ principal, tenant, shutdown }) => {
      c.set('principal', principal)
      c.set('tenant', tenant)
      c.set('shutdown', shutdown)
      c.set('bodyLimitBytes', deps.bodyLimitBytes)
      await next()
    })
  }
}
