/**
 * Checks the schema alone cannot express: connection URLs read in full, keys that depend on
 * each other, tokens unique across tenants and apart from the server's secrets. They read the raw input, section by section,
 * so they report alongside the schema's own problems instead of waiting for those to be
 * fixed first.
 */
import { hash } from 'node:crypto'
import { parseConnectionUrl } from './connection-url.js'
import { isWildcardHost, parseHostPort } from './host-port.js'
import { show, type Problem } from './problem.js'
import { poolSchema, transactionsSchema } from './schema.js'

type Raw = Record<string, unknown>

const isObject = (value: unknown): value is Raw =>
  value !== null && typeof value === 'object' && !Array.isArray(value)

function checkConnection(at: string, connection: Raw): Problem[] {
  const problems: Problem[] = []
  const { url } = connection
  let urlSslmode: string | undefined
  if (url === undefined && connection.host === undefined) {
    problems.push({
      at,
      text: `${at} needs a url or a host (e.g. "url": "postgres://user:\${DB_PASSWORD}@db:5432/app")`,
    })
  }
  if (typeof url === 'string' && url !== '') {
    const parsed = parseConnectionUrl(url, { hostOptional: typeof connection.host === 'string' })
    const where = `${at}.url`
    if (parsed.ok) urlSslmode = parsed.url.sslmode
    else
      for (const problem of parsed.problems)
        problems.push({ at: where, text: `${where} (${show(['url'], url)}): ${problem}` })
  }
  if (connection.ca !== undefined && connection.caFile !== undefined) {
    problems.push({ at, text: `${at} has both ca and caFile: keep one` })
  }
  const sslmode = connection.sslmode ?? urlSslmode
  if (sslmode === 'verify-ca' && connection.ca === undefined && connection.caFile === undefined) {
    problems.push({
      at,
      text: `${at}: sslmode verify-ca needs the CA (ca or caFile): without one, any certificate a public CA signed for anyone would pass; use verify-full to check the host name instead`,
    })
  }
  return problems
}

function checkLimits(at: string, tenant: Raw): Problem[] {
  const problems: Problem[] = []
  const pool = poolSchema.safeParse(tenant.pool ?? {})
  if (pool.success && pool.data.min > pool.data.max) {
    problems.push({
      at: `${at}.pool.min`,
      text: `${at}.pool.min (${pool.data.min}) is greater than ${at}.pool.max (${pool.data.max}): lower min or raise max`,
    })
  }
  const transactions = transactionsSchema.safeParse(tenant.transactions ?? {})
  if (transactions.success) {
    const t = transactions.data
    if (t.idleTimeoutMs > t.maxIdleTimeoutMs) {
      problems.push({
        at: `${at}.transactions.idleTimeoutMs`,
        text: `${at}.transactions.idleTimeoutMs (${t.idleTimeoutMs}) is greater than ${at}.transactions.maxIdleTimeoutMs (${t.maxIdleTimeoutMs})`,
      })
    }
    if (t.timeoutMs > t.maxTimeoutMs) {
      problems.push({
        at: `${at}.transactions.timeoutMs`,
        text: `${at}.transactions.timeoutMs (${t.timeoutMs}) is greater than ${at}.transactions.maxTimeoutMs (${t.maxTimeoutMs})`,
      })
    }
  }
  return problems
}

// The cluster's addresses read as host:port, and this node can say which one it is.
function checkCluster(server: Raw): Problem[] {
  const cluster = server.cluster
  if (!isObject(cluster)) return []
  const at = 'server.cluster'
  const problems: Problem[] = []
  const peers = Array.isArray(cluster.peers) ? cluster.peers : []
  peers.forEach((peer: unknown, i) => {
    if (typeof peer !== 'string') return
    const parsed = parseHostPort(peer)
    if (typeof parsed === 'string')
      problems.push({
        at: `${at}.peers.${i}`,
        text: `${at}.peers.${i} (${show([], peer)}): ${parsed}`,
      })
  })
  if (peers.length === 0 && cluster.dns === undefined) {
    problems.push({
      at,
      text: `${at} needs its peers: a list in peers (["10.0.0.7:8080", …]) or a DNS name in dns (a Kubernetes headless service)`,
    })
  }
  if (typeof cluster.advertise === 'string') {
    const parsed = parseHostPort(cluster.advertise)
    if (typeof parsed === 'string')
      problems.push({
        at: `${at}.advertise`,
        text: `${at}.advertise (${show([], cluster.advertise)}): ${parsed}`,
      })
  } else if (cluster.advertise === undefined) {
    const host = typeof server.host === 'string' ? server.host : '127.0.0.1'
    if (isWildcardHost(host)) {
      problems.push({
        at: `${at}.advertise`,
        text: `${at}.advertise is needed when server.host is ${host}: the address peers reach this node at, e.g. "\${POD_IP}:8080"`,
      })
    }
  }
  return problems
}

/** The sha256 of a token entry (`{ token }` or `{ sha256 }`), as the token index keys it. */
function tokenDigest(entry: unknown): string | undefined {
  if (!isObject(entry)) return undefined
  if (typeof entry.token === 'string') return hash('sha256', entry.token, 'hex')
  return typeof entry.sha256 === 'string' ? entry.sha256.toLowerCase() : undefined
}

/**
 * The tokens of a (substituted) config document, or of a config: each unique across tenants
 * (the token decides the tenant), and none also the admin token or a server secret (its
 * holder, a readonly one too, would hold that). Compared by sha256, as the token index keys
 * them (server/tenants/tokens.ts): a token written plainly in one place and as its sha256 in
 * another is the same token.
 */
export function checkTokens(input: unknown): Problem[] {
  const problems: Problem[] = []
  const server = isObject(input) && isObject(input.server) ? input.server : {}
  const secrets = new Map<string, string>()
  for (const [at, secret] of [
    ['server.adminToken', server.adminToken],
    ['server.cluster.secret', isObject(server.cluster) ? server.cluster.secret : undefined],
    ['server.cacheSecret', server.cacheSecret],
  ] as const) {
    if (typeof secret === 'string' && secret !== '') secrets.set(hash('sha256', secret, 'hex'), at)
  }
  const seenTokens = new Map<string, string>()
  const tenants = isObject(input) && isObject(input.tenants) ? input.tenants : {}
  for (const [name, tenant] of Object.entries(tenants)) {
    const tokens = isObject(tenant) && Array.isArray(tenant.tokens) ? tenant.tokens : []
    tokens.forEach((entry: unknown, i) => {
      const digest = tokenDigest(entry)
      if (digest === undefined) return
      const at = `tenants.${name}.tokens.${i}`
      const other = seenTokens.get(digest)
      if (other !== undefined) {
        problems.push({
          at,
          text: `${at} ("[redacted]") repeats ${other}: every token must be unique, since the token decides the tenant`,
        })
      }
      const secret = secrets.get(digest)
      if (secret !== undefined) {
        problems.push({
          at,
          text: `${at} ("[redacted]") is also ${secret}: a tenant token must be a secret of its own, or whoever holds it holds that too (generate one with \`npm start -- token\`)`,
        })
      }
      seenTokens.set(digest, at)
    })
  }
  return problems
}

/** The problems of a (substituted) config document that span several keys. */
export function crossCheck(input: unknown): Problem[] {
  const problems: Problem[] = []
  if (isObject(input) && isObject(input.server)) problems.push(...checkCluster(input.server))
  const tenants = isObject(input) && isObject(input.tenants) ? input.tenants : {}
  for (const [name, tenant] of Object.entries(tenants)) {
    if (!isObject(tenant)) continue
    const at = `tenants.${name}`
    problems.push(...checkLimits(at, tenant))
    if (isObject(tenant.connection))
      problems.push(...checkConnection(`${at}.connection`, tenant.connection))
  }
  problems.push(...checkTokens(input))
  return problems
}
