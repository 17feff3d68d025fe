/** Lifecycle middleware: refuses new work while draining, and counts the rest in flight. */
import type { Context, MiddlewareHandler } from 'hono'
import type { Lifecycle } from '../../lifecycle/lifecycle.js'
import type { GatewayEnv } from '../env.js'

/**
 * Throws SHUTTING_DOWN while the gateway drains, except for requests `mayFinish` lets
 * through (those that continue an open transaction); counts every request it admits.
 */
export function serving(
  lifecycle: Lifecycle,
  mayFinish: (c: Context<GatewayEnv>) => boolean = () => false,
): MiddlewareHandler<GatewayEnv> {
  return async function serving(c, next) {
    if (!mayFinish(c)) lifecycle.assertServing()
    await lifecycle.track(next)
  }
}
