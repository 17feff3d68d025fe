/**
 * A Cloudflare Worker that queries PostgreSQL through Sluice with the edge client: no
 * driver, no socket, no nodejs_compat. The gateway's URL and token come from the Worker's
 * environment (`wrangler.toml` vars, `.dev.vars` or `wrangler secret put SLUICE_TOKEN`).
 * `npm run dev:worker` runs it locally.
 */
import { createClient, type Client } from '../client.js'
import { handleExample } from './example-api.js'

/** The Worker's bindings. */
export interface Env {
  SLUICE_URL: string
  SLUICE_TOKEN: string
}

// One client per isolate, reused across requests (it holds no connection, only settings).
let client: Client | undefined

/** The Worker's module: `fetch` answers the example API of ./example-api.ts. */
export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    if (!env.SLUICE_URL || !env.SLUICE_TOKEN) {
      const message = 'set SLUICE_URL and SLUICE_TOKEN (wrangler secret put, or .dev.vars locally)'
      return Response.json({ error: { code: 'NOT_CONFIGURED', message } }, { status: 500 })
    }
    client ??= createClient({ url: env.SLUICE_URL, token: env.SLUICE_TOKEN })
    return handleExample(request, client, env.SLUICE_TOKEN)
  },
}
