/**
 * Which nodes make up the cluster, and which of them answer. The candidates come from
 * `server.cluster.peers` and from the addresses of `server.cluster.dns` (a Kubernetes
 * headless service lists its ready pods); each is checked every `heartbeatMs` with a
 * signed `GET /_sluice/peer`, which also tells its key. A peer is live from its first
 * answer until it misses two checks in a row; a candidate that answers with this node's own
 * key is this node. Whoever holds the membership (the primary, or a gateway without
 * workers) passes each change on.
 */
import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { formatHostPort, parseHostPort } from '../config/host-port.js'
import type { ClusterConfig } from '../config/schema.js'
import type { Logger } from '../log/logger.js'
import { unreachable, type PeerClient } from './peer-client.js'
import { nodeKeyOf } from './transaction-id.js'
import type { PeerState } from './view.js'

/** Missed checks in a row after which a peer counts as gone. */
const MISSES = 2

/** Resolves a host name to its addresses. */
export type Lookup = (host: string) => Promise<string[]>

const systemLookup: Lookup = async (host) =>
  (await dnsLookup(host, { all: true })).map((entry) => entry.address)

/** Options of {@link Membership}. */
export interface MembershipOptions {
  /** This node's key. */
  selfKey: string
  cluster: ClusterConfig
  /** Port of the nodes found through `dns` when `dnsPort` is not set (server.port). */
  defaultPort: number
  client: PeerClient
  logger: Logger
  onChange: (peers: PeerState[]) => void
  lookup?: Lookup
}

interface Tracked extends PeerState {
  misses: number
}

/** The cluster's other nodes, checked on a timer. */
export class Membership {
  private readonly options: MembershipOptions
  private readonly lookup: Lookup
  private readonly tracked = new Map<string, Tracked>()
  /** Addresses that turned out to be this node. */
  private readonly selves = new Set<string>()
  private timer: ReturnType<typeof setInterval> | undefined
  private running: Promise<void> | undefined
  private shown = ''

  constructor(options: MembershipOptions) {
    this.options = options
    this.lookup = options.lookup ?? systemLookup
  }

  /** The other nodes now. */
  get peers(): PeerState[] {
    return [...this.tracked.values()].map(({ misses: _misses, ...peer }) => peer)
  }

  /** Checks every candidate once, then keeps checking every `heartbeatMs`. */
  async start(): Promise<void> {
    await this.round()
    this.timer = setInterval(() => void this.round(), this.options.cluster.heartbeatMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** One round of checks (rounds never overlap). */
  round(): Promise<void> {
    this.running ??= this.check().finally(() => (this.running = undefined))
    return this.running
  }

  private async candidates(): Promise<string[] | undefined> {
    const { cluster, defaultPort } = this.options
    const found = new Set<string>()
    try {
      for (const entry of cluster.peers) {
        const parsed = parseHostPort(entry)
        if (typeof parsed === 'string') continue
        const hosts = isIP(parsed.host) ? [parsed.host] : await this.lookup(parsed.host)
        for (const host of hosts) found.add(formatHostPort({ host, port: parsed.port }))
      }
      if (cluster.dns !== undefined) {
        const port = cluster.dnsPort ?? defaultPort
        for (const host of await this.lookup(cluster.dns)) found.add(formatHostPort({ host, port }))
      }
    } catch (error) {
      // DNS failed for a moment: keep the peers known so far rather than drop them all.
      this.options.logger.warn(
        { error: error instanceof Error ? error.message : String(error) },
        'cluster: cannot resolve the peers; keeping the ones known',
      )
      return undefined
    }
    for (const self of this.selves) found.delete(self)
    return [...found]
  }

  private async check(): Promise<void> {
    const { client, cluster, logger, selfKey } = this.options
    const candidates = await this.candidates()
    if (candidates !== undefined) {
      for (const address of this.tracked.keys()) {
        if (!candidates.includes(address)) {
          this.tracked.delete(address)
          logger.info({ peer: address }, 'cluster: a node left the peer list')
        }
      }
      for (const address of candidates) {
        if (!this.tracked.has(address))
          this.tracked.set(address, { address, key: nodeKeyOf(address), live: false, misses: 0 })
      }
    }
    await Promise.all(
      [...this.tracked.values()].map(async (peer) => {
        try {
          const { status, body } = await client.request(
            { address: peer.address },
            'GET',
            '/_sluice/peer',
          )
          const report = body as { key?: unknown; error?: { message?: unknown } }
          if (status !== 200 || typeof report.key !== 'string') {
            // A refusal says why: another secret, or clocks too far apart.
            const why = report.error?.message
            throw new Error(
              `answered ${status}${status === 401 && typeof why === 'string' ? `: ${why}` : ''}`,
            )
          }
          if (report.key === selfKey) {
            this.selves.add(peer.address)
            this.tracked.delete(peer.address)
            return
          }
          if (!peer.live) logger.info({ peer: peer.address }, 'cluster: a node answers')
          Object.assign(peer, {
            key: report.key,
            live: true,
            misses: 0,
            seenAt: new Date().toISOString(),
          })
          delete peer.error
        } catch (error) {
          peer.misses++
          peer.error = unreachable(error, cluster.connectTimeoutMs)
          if (peer.live && peer.misses >= MISSES) {
            peer.live = false
            logger.warn(
              { peer: peer.address, error: peer.error },
              'cluster: a node stopped answering',
            )
          }
        }
      }),
    )
    const shown = JSON.stringify(this.peers.map(({ address, key, live }) => [address, key, live]))
    if (shown !== this.shown) {
      this.shown = shown
      this.options.onChange(this.peers)
    }
  }
}
