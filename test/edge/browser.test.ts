/**
 * The client in a real browser: headless Chromium (Debian's `chromium`, which .ci/run
 * installs) loads a page from one origin, and the page queries the gateway on another
 * through the edge client. The tenant's `cors.origins` lets one origin in and keeps the
 * other out.
 */
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { build } from 'esbuild'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveGateway, startTestGateway, type TestGateway } from '../helpers/gateway.js'

const CHROMIUM = '/usr/bin/chromium'

const PAGE = `<!doctype html>
<title>sluice in a browser</title>
<script type="module">
  import { createClient } from '/client.js'
  const params = new URLSearchParams(location.search)
  const db = createClient({ url: params.get('gateway'), token: params.get('token'), retry: false })
  try {
    const rows = await db.sql\`select 41 + 1 as n, \${'from the browser'}::text as t\`
    window.result = { rows }
  } catch (error) {
    window.result = { error: error.code, message: error.message }
  }
</script>`

let t: TestGateway
let gateway: Server
let pages: Server
let browser: Browser
let pagePort: number
let gatewayUrl: string

function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port)),
  )
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium)`)
  const bundle = await build({
    entryPoints: ['edge/index.ts'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
  })
  const client = bundle.outputFiles[0]!.text
  pages = createServer((req, res) => {
    if (req.url?.startsWith('/client.js')) {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(client)
    } else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
  })
  pagePort = await listen(pages)
  t = await startTestGateway({ cors: { origins: [`http://127.0.0.1:${pagePort}`] } })
  gateway = serveGateway(t.gateway)
  await new Promise((resolve) => gateway.once('listening', resolve))
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await new Promise((resolve) => gateway?.close(resolve))
  await new Promise((resolve) => pages?.close(resolve))
  await t?.close()
})

async function resultOf(pageOrigin: string): Promise<any> {
  const page = await browser.newPage()
  try {
    const query = new URLSearchParams({ gateway: gatewayUrl, token: t.readonlyToken })
    await page.goto(`${pageOrigin}/?${query}`)
    await page.waitForFunction(() => (window as any).result !== undefined, undefined, {
      timeout: 20_000,
    })
    return await page.evaluate(() => (window as any).result)
  } finally {
    await page.close()
  }
}

describe('the edge client in headless Chromium', () => {
  it('queries the gateway from a page of an origin the tenant allows', async () => {
    const result = await resultOf(`http://127.0.0.1:${pagePort}`)
    expect(result).toEqual({ rows: [{ n: 42, t: 'from the browser' }] })
  })

  it('is kept out by the browser when the page comes from another origin', async () => {
    // localhost and 127.0.0.1 are different origins to a browser.
    const result = await resultOf(`http://localhost:${pagePort}`)
    expect(result.error).toBe('NETWORK_ERROR')
  })
})
