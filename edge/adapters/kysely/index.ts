/**
 * Kysely on Sluice: `import { SluiceDialect } from '@sluice/client/kysely'`. Needs `kysely`
 * (an optional peer dependency of the client package).
 */
export { SluiceDialect, toSqlQuery } from './dialect.js'
export type { SluiceDialectConfig } from './dialect.js'
export { SluiceConnection, SluiceDriver } from './driver.js'
export { PostgresError } from '../postgres-error.js'
