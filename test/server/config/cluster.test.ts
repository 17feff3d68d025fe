/** The config of workers and of a cluster: what is checked, what is said, what stays secret. */
import { describe, expect, it } from 'vitest'
import { nodeAddress, workerCount, workerProblems } from '../../../server/cluster/address.js'
import { applyEnv, readServerOverrides } from '../../../server/config/environment.js'
import { ConfigError, parseConfig } from '../../../server/config/load.js'
import { redactText, redactValue, secretsOf } from '../../../server/config/redact.js'

const SECRET = 'a-peer-secret-that-is-long-enough-1234'
const tenant = (max = 10) => ({
  connection: { url: 'postgres://app:pw@db/app' },
  pool: { max, min: 0 },
  tokens: [{ token: 'a-token-of-enough-length' }],
})

const problems = (server: Record<string, unknown>): string[] => {
  try {
    parseConfig({ server, tenants: { acme: tenant() } }, {})
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).problems
  }
  throw new Error('expected the config to be refused')
}

describe('the cluster settings', () => {
  it('takes peers as host:port, with defaults for the checks', () => {
    const config = parseConfig(
      {
        server: {
          cluster: {
            peers: ['10.0.0.1:8080', 'sluice-1.sluice:8080', '[fd00::3]:8080'],
            secret: SECRET,
          },
        },
        tenants: { acme: tenant() },
      },
      {},
    )
    expect(config.server.cluster).toEqual({
      peers: ['10.0.0.1:8080', 'sluice-1.sluice:8080', '[fd00::3]:8080'],
      secret: SECRET,
      heartbeatMs: 1000,
      connectTimeoutMs: 2000,
    })
    expect(config.server.workers).toBe(1)
  })

  it('names each problem: no peers, a bad address, a short secret, no advertise on a wildcard host', () => {
    expect(problems({ cluster: { secret: SECRET } })).toEqual([
      'server.cluster needs its peers: a list in peers (["10.0.0.7:8080", …]) or a DNS name in dns (a Kubernetes headless service)',
    ])
    expect(
      problems({ cluster: { peers: ['10.0.0.1', '[nope]:80', 'db:99999'], secret: SECRET } }),
    ).toEqual([
      'server.cluster.peers.0 ("10.0.0.1"): must be host:port (an IPv6 address in brackets: [fd00::1]:8080)',
      'server.cluster.peers.1 ("[nope]:80"): nope is not an IPv6 address',
      'server.cluster.peers.2 ("db:99999"): port 99999 is out of range: use 1 to 65535',
    ])
    const short = problems({ cluster: { dns: 'sluice', secret: 'short' } })
    expect(short).toHaveLength(1)
    expect(short[0]).toMatch(
      /^server\.cluster\.secret \("\[redacted\]"\): must be at least 32 characters/,
    )
    expect(problems({ host: '0.0.0.0', cluster: { dns: 'sluice', secret: SECRET } })).toEqual([
      'server.cluster.advertise is needed when server.host is 0.0.0.0: the address peers reach this node at, e.g. "${POD_IP}:8080"',
    ])
  })

  it('keeps the peer secret out of every output', () => {
    const config = parseConfig(
      { server: { cluster: { dns: 'sluice', secret: SECRET } }, tenants: { acme: tenant() } },
      {},
    )
    expect(JSON.stringify(redactValue([], config))).not.toContain(SECRET)
    expect(secretsOf(config)).toContain(SECRET)
    expect(redactText(`failed with ${SECRET}`, secretsOf(config))).toBe('failed with [redacted]')
  })

  it('advertises server.host:server.port, or the address given, a host name resolved', async () => {
    const base = { tenants: { acme: tenant() } }
    expect(
      await nodeAddress(parseConfig({ ...base, server: { host: '10.1.2.3', port: 9000 } }, {})),
    ).toBe('10.1.2.3:9000')
    const advertised = parseConfig(
      {
        ...base,
        server: {
          host: '0.0.0.0',
          cluster: { dns: 'sluice', advertise: 'localhost:8080', secret: SECRET },
        },
      },
      {},
    )
    expect(await nodeAddress(advertised)).toMatch(/^(127\.0\.0\.1:8080|\[::1\]:8080)$/)
  })
})

describe('server.workers', () => {
  it('is a number or auto (one per available core), from the file or SLUICE_WORKERS', () => {
    const auto = parseConfig({ server: { workers: 'auto' }, tenants: { acme: tenant() } }, {})
    expect(workerCount(auto)).toBeGreaterThanOrEqual(1)
    expect(problems({ workers: 0 })[0]).toMatch(/^server\.workers \(0\): /)
    const config = parseConfig({ tenants: { acme: tenant() } }, {})
    expect(applyEnv(config, { SLUICE_WORKERS: '4' }).server.workers).toBe(4)
    expect(applyEnv(config, { SLUICE_WORKERS: 'auto' }).server.workers).toBe('auto')
    expect(readServerOverrides({ SLUICE_WORKERS: 'many' }).problems).toEqual([
      'SLUICE_WORKERS ("many") must be a number of workers from 1 to 255, or auto',
    ])
  })

  it('needs a connection of every pool per worker', () => {
    const config = parseConfig(
      {
        server: { workers: 4 },
        tenants: {
          acme: tenant(3),
          big: { ...tenant(8), tokens: [{ token: 'another-token-of-enough-length' }] },
        },
      },
      {},
    )
    expect(workerProblems(config, 4)).toEqual([
      'tenants.acme.pool.max (3) is less than the 4 workers of server.workers: each worker gets its share of the pool and needs at least one connection; raise pool.max or lower server.workers',
    ])
    expect(workerProblems(config, 1)).toEqual([])
  })
})

describe('server.cacheSecret', () => {
  it('is optional, at least 32 characters, and never shown', () => {
    const config = parseConfig({ server: { cacheSecret: SECRET }, tenants: { acme: tenant() } }, {})
    expect(config.server.cacheSecret).toBe(SECRET)
    expect(JSON.stringify(redactValue([], config))).not.toContain(SECRET)
    expect(secretsOf(config)).toContain(SECRET)
    const short = problems({ cacheSecret: 'short' })
    expect(short).toHaveLength(1)
    expect(short[0]).toMatch(
      /^server\.cacheSecret \("\[redacted\]"\): must be at least 32 characters/,
    )
  })

  it('leaves no way to configure peers without the secret their caches derive their key from', () => {
    expect(problems({ cluster: { dns: 'sluice' } })).toEqual([
      expect.stringMatching(/^server\.cluster\.secret is required/),
    ])
  })
})
