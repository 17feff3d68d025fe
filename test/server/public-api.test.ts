import { describe, expect, expectTypeOf, it } from 'vitest'
import * as server from '../../server/index.js'
import type { Config, Gateway } from '../../server/index.js'
import { databaseUrl, newToken } from '../helpers/gateway.js'

describe('the sluice/server entry point', () => {
  it('builds, serves and closes a gateway from a config, as its example shows', async () => {
    const token = newToken()
    const config = server.singleTenantConfig(
      databaseUrl(),
      token,
      {},
      { allowPrivilegedRole: true },
    )
    expectTypeOf(config).toEqualTypeOf<Config>()
    const gateway = server.createGateway(config)
    expectTypeOf(gateway).toEqualTypeOf<Gateway>()
    await gateway.start()
    const res = await gateway.app.request('/v1/query', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: JSON.stringify({ sql: 'select 1 as one' }),
    })
    expect(((await res.json()) as any).rows).toEqual([['1']])
    await gateway.close(1000)
  })

  it('exports only named functions and classes (no default, no stray values)', () => {
    expect(Object.keys(server).sort()).toEqual([
      'ConfigError',
      'configJsonSchema',
      'createGateway',
      'createLogger',
      'hashToken',
      'loadConfigFile',
      'parseConfig',
      'singleTenantConfig',
      'startEmbedded',
    ])
    expectTypeOf(server.parseConfig).parameter(0).toEqualTypeOf<unknown>()
    expect(() => server.parseConfig({ tenants: {} }, {})).toThrow(server.ConfigError)
  })
})
