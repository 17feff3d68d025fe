/**
 * Prisma 7 on Sluice: `import { PrismaSluice } from '@sluice/client/prisma'`. Needs Prisma 7
 * (`@prisma/client`; the adapter's types come from `@prisma/driver-adapter-utils`), both
 * optional peer dependencies of the client package.
 */
export { PrismaSluice } from './adapter.js'
export type { PrismaSluiceOptions } from './adapter.js'
export { DriverAdapterError } from './errors.js'
export { PRISMA_PARSERS } from './columns.js'
