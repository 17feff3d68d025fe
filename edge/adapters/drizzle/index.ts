/**
 * Drizzle on Sluice: `import { drizzle } from '@sluice/client/drizzle'`. Needs `drizzle-orm`
 * (an optional peer dependency of the client package).
 */
export { drizzle, SluiceDatabase } from './driver.js'
export type { SluiceDrizzleConfig } from './driver.js'
export { DRIZZLE_PARSERS, SluicePreparedQuery } from './prepared-query.js'
export { SluiceSession, SluiceTransaction } from './session.js'
export type { SluiceQueryResult, SluiceQueryResultHKT, SluiceSessionOptions } from './session.js'
export { PostgresError } from '../postgres-error.js'
