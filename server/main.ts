/**
 * The `npm start` entry: picks the database (config file, DATABASE_URL, or the embedded
 * server), builds the gateway, listens, and drains on SIGTERM/SIGINT. The only module that
 * reads the environment, listens or installs signal handlers.
 */
import { randomBytes } from 'node:crypto'
import { serve } from '@hono/node-server'
import { ConfigError, loadConfigFile, singleTenantConfig } from './config/load.js'
import type { Config } from './config/schema.js'
import { redactText } from './config/redact.js'
import { startEmbedded, type EmbeddedDatabase } from './embedded.js'
import { createGateway } from './gateway.js'

const HELP = `Usage: npm start [-- --config FILE]

Runs the Sluice gateway. The database comes from, first match wins:
  --config FILE / SLUICE_CONFIG=FILE   a multi-tenant JSON config (see docs/configuration.md)
  DATABASE_URL                          one tenant "default" on that database
  (neither)                             an embedded PostgreSQL kept in ./.sluice/

Environment: PORT (8080), HOST (127.0.0.1), SLUICE_TOKEN (token of tenant "default";
generated and printed when unset).`

interface Args {
  config: string | undefined
  help: boolean
}

function parseArgs(argv: string[]): Args {
  const args: Args = { config: undefined, help: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') args.help = true
    else if (arg === '--config') args.config = argv[++i]
    else if (arg.startsWith('--config=')) args.config = arg.slice('--config='.length)
    else if (arg !== 'serve') throw new ConfigError([`unknown argument "${arg}" (see --help)`])
  }
  return args
}

function serverOverrides(env: NodeJS.ProcessEnv): { host?: string; port?: number } {
  const out: { host?: string; port?: number } = {}
  if (env.HOST) out.host = env.HOST
  if (env.PORT) {
    const port = Number(env.PORT)
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new ConfigError([
        `PORT (${JSON.stringify(env.PORT)}) must be a port number from 0 to 65535`,
      ])
    }
    out.port = port
  }
  return out
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (args.help) {
    console.log(HELP)
    return
  }
  const env = process.env
  const overrides = serverOverrides(env)
  const configFile = args.config ?? env.SLUICE_CONFIG
  let config: Config
  let embedded: EmbeddedDatabase | undefined
  let printedToken: string | undefined
  if (configFile) {
    config = await loadConfigFile(configFile, env)
    config.server = { ...config.server, ...overrides }
  } else {
    const token = env.SLUICE_TOKEN ?? randomBytes(24).toString('base64url')
    if (!env.SLUICE_TOKEN) printedToken = token
    let url = env.DATABASE_URL
    if (!url) {
      console.log(
        'sluice: no config file and no DATABASE_URL: starting the embedded PostgreSQL in ./.sluice/',
      )
      embedded = await startEmbedded(
        '.sluice',
        env.SLUICE_DEBUG ? (line) => process.stderr.write(line) : undefined,
      )
      url = embedded.url
    }
    config = singleTenantConfig(url, token, overrides)
  }

  const gateway = createGateway(config, {
    onPoolEvent: (tenant, event) => {
      if (event.type === 'connect-failed') {
        const reason = event.error instanceof Error ? event.error.message : String(event.error)
        console.warn(
          `sluice: tenant ${tenant}: cannot connect to the database: ${redactText(reason)}`,
        )
      } else if (event.type === 'lost')
        console.warn(`sluice: tenant ${tenant}: connection ${event.pid} lost`)
    },
  })
  await gateway.start()
  const { host, port } = config.server
  const server = serve({ fetch: gateway.app.fetch, hostname: host, port }, (info) => {
    const base = `http://${host}:${info.port}`
    for (const [name, tenant] of Object.entries(config.tenants)) {
      console.log(`sluice: tenant ${name}: pool min ${tenant.pool.min}, max ${tenant.pool.max}`)
    }
    if (printedToken) {
      console.log(
        `sluice: token of tenant "default" (set SLUICE_TOKEN to choose one): ${printedToken}`,
      )
      console.log(
        `sluice: try: curl -s ${base}/v1/query -H 'Authorization: Bearer ${printedToken}' -d '{"sql":"select now() as t"}'`,
      )
    }
    console.log(`sluice: listening on ${base}`)
  })

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    console.log(`sluice: ${signal}: draining (up to ${config.server.shutdownGraceMs} ms)`)
    server.close()
    const closeIdle = setInterval(
      () => (server as { closeIdleConnections?: () => void }).closeIdleConnections?.(),
      100,
    )
    await gateway.close()
    clearInterval(closeIdle)
    ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
    await embedded?.stop()
    console.log('sluice: stopped')
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    for (const problem of error.problems) console.error(`sluice: config: ${problem}`)
    process.exit(2)
  }
  console.error(
    `sluice: cannot start: ${redactText(error instanceof Error ? error.message : String(error))}`,
  )
  process.exit(1)
})
