/**
 * The gateway's public surface (`sluice/server`): build a gateway from a validated config
 * and serve its Node listener (or its Hono app, `gateway.app.fetch`, which answers the same
 * but without the direct `/v1/query` path). `server/main.ts` is the CLI built on this.
 *
 * @example
 * import { createServer } from 'node:http'
 * import { createGateway, loadConfigFile } from 'sluice/server'
 * const gateway = createGateway(await loadConfigFile('sluice.json'))
 * await gateway.start()
 * createServer(gateway.listener).listen(8080)
 */
export { createGateway } from './gateway.js'
export type { Gateway, GatewayOptions } from './gateway.js'
export { ConfigError, loadConfigFile, parseConfig, singleTenantConfig } from './config/load.js'
export { configJsonSchema } from './config/json-schema.js'
export type {
  Config,
  ConfigInput,
  ConnectionConfig,
  LogConfig,
  PoolConfig,
  TenantConfig,
  TokenConfig,
} from './config/schema.js'
export { hashToken } from './tenants/tokens.js'
export type { Principal, Role } from './tenants/tokens.js'
export { createLogger } from './log/logger.js'
export type { Logger } from './log/logger.js'
export type { PoolEvent } from './pool/pool-event.js'
export type { PoolStats } from './pool/stats.js'
export { startEmbedded } from './embedded/postgres.js'
export type { EmbeddedDatabase } from './embedded/postgres.js'
