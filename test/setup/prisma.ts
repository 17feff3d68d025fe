/**
 * Vitest global setup: the Prisma client of the adapter test, generated offline when the
 * schema is newer than it (see scripts/prisma-generate.ts). `npm run typecheck` does the
 * same first, so that the test type-checks in a fresh clone.
 */
import { generatePrismaClient } from '../../scripts/prisma-generate.js'

export default function setup(): void {
  generatePrismaClient()
}
