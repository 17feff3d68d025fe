/**
 * Generates the Prisma client of the adapter test, offline. `prisma generate` needs no
 * network once PRISMA_SCHEMA_ENGINE_BINARY names an existing file: it only checks that the
 * file is there (it runs no engine to generate), so `/bin/true` does. CHECKPOINT_DISABLE
 * stops its update check. Skipped when the client is newer than the schema.
 *
 * Run by `npm run typecheck` (so the test type-checks) and by the test setup.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const schema = `${root}test/edge/adapters/prisma/schema.prisma`
const output = `${root}test/edge/adapters/prisma/generated/client.ts`

/** Generates the client unless it is up to date; throws with prisma's output on failure. */
export function generatePrismaClient(): void {
  if (existsSync(output) && statSync(output).mtimeMs >= statSync(schema).mtimeMs) return
  const result = spawnSync(
    process.execPath,
    [`${root}node_modules/prisma/build/index.js`, 'generate', '--schema', schema],
    {
      cwd: root,
      encoding: 'utf8',
      env: {
        ...process.env,
        PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? '/bin/true',
        CHECKPOINT_DISABLE: '1',
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
      },
    },
  )
  if (result.status !== 0) {
    throw new Error(`prisma generate failed:\n${result.stdout}${result.stderr}`)
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) generatePrismaClient()
