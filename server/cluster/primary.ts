/**
 * The primary of a node with several workers (`server.workers`): it forks them with
 * node:cluster (they share the node's listening sockets), gives each its index, config,
 * the node's secret and the tenants an operator holds paused, and supervises them
 * (./worker-slots.ts). A worker that dies is restarted (./worker-restarts.ts), paused where
 * the others are from its start, and the others learn how it died, which is what its
 * transactions' clients are told. It answers the node-wide questions workers ask
 * (./node-requests.ts; a config reload, ./node-config.ts), checks the cluster's peers when
 * there are some, and drains every worker on demand. It serves no request itself; the CLI
 * (server/cli/serve.ts) installs the signals that drive it.
 */
import cluster, { type Worker } from 'node:cluster'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Config } from '../config/schema.js'
import type { Logger } from '../log/logger.js'
import type { ReloadReport } from '../tenants/tenant-set.js'
import { HopAuth } from './hop-auth.js'
import { Membership } from './membership.js'
import { isSluiceMessage, type ToPrimary } from './messages.js'
import { NodeConfig } from './node-config.js'
import { NodeRequests } from './node-requests.js'
import { PeerClient } from './peer-client.js'
import { nodeKeyOf } from './transaction-id.js'
import {
  GONE_KEPT,
  type ClusterView,
  type GoneWorker,
  type PeerState,
  type WorkerSlot,
} from './view.js'
import { howItDied, RestartDelays } from './worker-restarts.js'
import { WorkerSlots, type Slot } from './worker-slots.js'

/** Options of {@link Primary}. */
export interface PrimaryOptions {
  config: Config
  /** How many workers. */
  workers: number
  /** This node's address, as its peers reach it. */
  address: string
  /** Reads and validates the config file again; absent without a config file. */
  loadConfig?: (() => Promise<Config>) | undefined
  logger: Logger
}

/** Supervises a node's workers. */
export class Primary {
  private readonly options: PrimaryOptions
  private readonly nodeSecret = randomBytes(32).toString('hex')
  private readonly slots = new WorkerSlots()
  private gone: GoneWorker[] = []
  private peers: PeerState[] = []
  private runDir = ''
  private draining = false
  private started = false
  private readonly restartDelays = new RestartDelays()
  private readonly nodeConfig: NodeConfig
  private readonly requests: NodeRequests
  private membership: Membership | undefined
  private startup: { resolve: () => void; reject: (error: Error) => void } | undefined
  private exited: (() => void) | undefined
  private exitCodes: (number | null)[] = []
  /** The node's ports, as the workers listen on them. */
  ports: { port: number; pgPort: number | undefined } = { port: 0, pgPort: undefined }

  constructor(options: PrimaryOptions) {
    this.options = options
    const { config, workers, loadConfig, logger, address } = options
    this.nodeConfig = new NodeConfig({ config, workers, loadConfig, logger, slots: this.slots })
    this.requests = new NodeRequests({
      slots: this.slots,
      address,
      reloads: this.nodeConfig.reloads,
      reload: () => this.reload(),
      logger,
    })
  }

  /** The config in force (a reload changes it). */
  get config(): Config {
    return this.nodeConfig.current
  }

  /** The workers running now. */
  get workers(): WorkerSlot[] {
    return this.slots.list()
  }

  /**
   * Checks the peers once (so the workers start with the right shares), then forks every
   * worker; resolves once all of them listen, rejects (having stopped them) when one fails.
   */
  async start(): Promise<void> {
    this.runDir = await mkdtemp(join(tmpdir(), `sluice-${process.pid}-`))
    const clusterConfig = this.config.server.cluster
    if (clusterConfig) {
      const auth = new HopAuth(this.nodeSecret, clusterConfig.secret)
      this.membership = new Membership({
        selfKey: nodeKeyOf(this.options.address),
        cluster: clusterConfig,
        defaultPort: this.config.server.port,
        client: new PeerClient(this.options.address, auth, clusterConfig.connectTimeoutMs),
        logger: this.options.logger,
        onChange: (peers) => {
          this.peers = peers
          this.broadcastView()
        },
      })
      await this.membership.start()
      this.peers = this.membership.peers
    }
    cluster.on('message', (worker, message) => this.onMessage(worker, message))
    const ready = new Promise<void>((resolve, reject) => (this.startup = { resolve, reject }))
    for (let index = 1; index <= this.options.workers; index++) this.fork(index, 0)
    try {
      await ready
      this.started = true
    } catch (error) {
      this.draining = true
      this.slots.killAll()
      this.membership?.stop()
      await rm(this.runDir, { recursive: true, force: true })
      throw error
    }
  }

  /**
   * Drains every worker (each keeps accepting for `drainGraceMs`, then stops); resolves
   * once each has begun (so /readyz answers 503 everywhere), with a promise of the exit code
   * (0 when every worker exited 0).
   */
  async drain(): Promise<{ exited: Promise<number> }> {
    this.draining = true
    const acked = this.slots.drain()
    const exited = new Promise<void>((resolve) => {
      this.exited = resolve
      if (this.slots.size === 0) resolve()
    })
    await Promise.race([acked, new Promise((resolve) => setTimeout(resolve, 2000))])
    // Wrapped: an async function would wait for a promise it returns.
    return {
      exited: exited.then(async () => {
        this.membership?.stop()
        await rm(this.runDir, { recursive: true, force: true })
        return this.exitCodes.every((code) => code === 0) ? 0 : 1
      }),
    }
  }

  /** Stops every worker now (a second signal): their connections close with them. */
  kill(): void {
    this.draining = true
    this.slots.killAll()
  }

  /**
   * Reads the config file again and applies it in every worker (SIGHUP, POST /admin/reload);
   * refuses a file the node could not start with (./node-config.ts).
   */
  reload(): Promise<ReloadReport> {
    return this.nodeConfig.reload()
  }

  private view(): ClusterView {
    return { workers: this.workers, gone: this.gone, peers: this.peers }
  }

  private broadcastView(): void {
    this.slots.sendAll({ type: 'sluice:view', view: this.view() })
  }

  private fork(index: number, restarts: number): void {
    const worker = cluster.fork()
    const incarnation = randomBytes(4).readUInt32BE()
    const slot: Slot = {
      index,
      incarnation,
      pid: worker.process.pid ?? 0,
      socketPath: join(this.runDir, `worker-${index}-${incarnation.toString(16)}.sock`),
      startedAt: new Date().toISOString(),
      restarts,
      worker,
      listening: false,
    }
    this.slots.add(slot)
    slot.hello = () => {
      slot.config = this.config
      slot.paused = new Set(this.requests.paused)
      this.slots.send(worker, {
        type: 'sluice:start',
        start: {
          index,
          incarnation,
          count: this.options.workers,
          config: this.config,
          address: this.options.address,
          nodeSecret: this.nodeSecret,
          socketPath: slot.socketPath,
          view: this.view(),
          paused: [...slot.paused],
        },
      })
    }
    worker.once('exit', (code, signal) => this.onExit(slot, code, signal))
  }

  private onExit(slot: Slot, code: number | null, signal: string | null): void {
    this.slots.remove(slot)
    if (this.draining) this.exitCodes.push(signal ? 1 : code)
    this.slots.answers.lost(slot.index)
    if (this.draining) {
      if (this.slots.size === 0) this.exited?.()
      return
    }
    if (!this.started && !slot.listening) {
      this.startup?.reject(
        new Error(`worker ${slot.index} exited (${signal ?? `code ${code}`}) before it listened`),
      )
      return
    }
    const why = howItDied(slot, code, signal)
    this.options.logger.error(
      { worker: slot.index, pid: slot.pid, code, signal },
      'worker died: its open transactions are lost; restarting it',
    )
    this.gone = [{ index: slot.index, incarnation: slot.incarnation, why }, ...this.gone].slice(
      0,
      GONE_KEPT,
    )
    this.broadcastView()
    const delay = this.restartDelays.next(slot)
    setTimeout(() => {
      if (!this.draining) this.fork(slot.index, slot.restarts + 1)
    }, delay).unref()
  }

  private onMessage(worker: Worker, message: unknown): void {
    if (!isSluiceMessage(message)) return
    const slot = this.slots.of(worker)
    if (!slot) return
    const m = message as ToPrimary
    switch (m.type) {
      case 'sluice:hello':
        slot.hello?.()
        break
      case 'sluice:listening':
        slot.listening = true
        this.ports = { port: m.port, pgPort: m.pgPort }
        // Started during a drain or a reload: what it was sent came before it could act on it.
        if (this.draining) this.slots.send(worker, { type: 'sluice:drain' })
        if (slot.config !== this.config) {
          slot.config = this.config
          this.slots.send(worker, {
            type: 'sluice:apply',
            id: this.slots.answers.id(),
            config: this.config,
          })
        }
        // It started with the tenants paused then; an operator's pause or resume since did
        // not reach it (only listening workers are asked).
        for (const name of this.requests.paused)
          if (!slot.paused?.has(name)) this.slots.run(worker, { op: 'pause', name, waitMs: 0 })
        for (const name of slot.paused ?? [])
          if (!this.requests.paused.has(name)) this.slots.run(worker, { op: 'resume', name })
        this.broadcastView()
        if (!this.started && [...this.slots.values()].every((s) => s.listening))
          this.startup?.resolve()
        break
      case 'sluice:failed':
        if (!this.started) this.startup?.reject(new Error(m.message))
        break
      case 'sluice:ran':
        this.slots.answers.received(m.id, m.answer)
        break
      case 'sluice:ask':
        this.requests.reply(worker, m.id, m.request)
        break
      case 'sluice:cancel': {
        const target = this.slots.get(m.worker)
        if (target)
          this.slots.send(target.worker, {
            type: 'sluice:cancel',
            processId: m.processId,
            secretKey: m.secretKey,
          })
        break
      }
      default:
        break
    }
  }
}
