/**
 * The primary of a node with several workers (`server.workers`): it forks them with
 * node:cluster (they share the node's listening sockets), gives each its index, config,
 * the node's secret and the tenants an operator holds paused, and supervises them. A worker
 * that dies is restarted (with a backoff when it keeps dying), paused where the others are
 * from its start, and the others learn how it died, which is what its transactions' clients
 * are told. It relays the node-wide questions workers ask (an admin action in every worker,
 * a config reload, the aggregated metrics, a peer's nonce to accept once), checks the
 * cluster's peers when there are some, and drains every worker on demand. It serves no request
 * itself; the CLI (server/cli/serve.ts) installs the signals that drive it.
 */
import cluster, { type Worker } from 'node:cluster'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SluiceError } from '../../src/errors.js'
import { ConfigError } from '../config/load.js'
import type { Config } from '../config/schema.js'
import type { Logger } from '../log/logger.js'
import type { ReloadReport } from '../tenants/tenant-set.js'
import { workerProblems } from './address.js'
import { HopAuth, PEER_WINDOW_MS } from './hop-auth.js'
import { Membership } from './membership.js'
import { isSluiceMessage, type NodeRequest, type ToPrimary, type ToWorker } from './messages.js'
import { nodeMetrics } from './node-metrics.js'
import { fromPlainError, toPlainError, type NodeOp, type WorkerAnswer } from './node-ops.js'
import { PeerClient } from './peer-client.js'
import { ReplayGuard } from './replay-guard.js'
import { WorkerAnswers } from './worker-answers.js'
import { nodeKeyOf } from './transaction-id.js'
import {
  GONE_KEPT,
  type ClusterView,
  type GoneWorker,
  type PeerState,
  type WorkerSlot,
} from './view.js'

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

interface Slot extends WorkerSlot {
  worker: Worker
  listening: boolean
  /** The config it was started with. */
  config?: Config
  /** The tenants it was started with paused. */
  paused?: Set<string>
  /** Sends the worker its start, when it asks. */
  hello?: () => void
}

const RESTART_MIN_MS = 100
const RESTART_MAX_MS = 5_000
/** How long the workers have to answer a node-wide question (plus what it waits for). */
const GATHER_MS = 30_000
/** How long the workers have to send their metrics (prom-client's own wait). */
const METRICS_MS = 5_000
/** A worker that ran this long before dying restarts without delay. */
const STABLE_MS = 10_000

/** How a worker ended, as its transactions' clients are told. */
function howItDied(slot: WorkerSlot, code: number | null, signal: string | null): string {
  const how = signal ? `was killed (${signal})` : `exited with code ${code}`
  return `the worker process that held it (worker ${slot.index}, pid ${slot.pid}) ${how} at ${new Date().toISOString()}; its connection closed, so PostgreSQL rolled it back`
}

/** Supervises a node's workers. */
export class Primary {
  private readonly options: PrimaryOptions
  private current: Config
  private readonly nodeSecret = randomBytes(32).toString('hex')
  private readonly slots = new Map<number, Slot>()
  private gone: GoneWorker[] = []
  private peers: PeerState[] = []
  private runDir = ''
  private draining = false
  private started = false
  /** The questions asked of the workers; every message id comes from it. */
  private readonly answers = new WorkerAnswers()
  private readonly restartDelay = new Map<number, number>()
  /** Tenants an operator paused (and did not resume): a worker restarted holds them paused too. */
  private readonly paused = new Set<string>()
  /** The nonces of the peers' requests any worker accepted: a replay fails on every worker. */
  private readonly nonces = new ReplayGuard(PEER_WINDOW_MS)
  /** The node's reloads by result: each worker counts its own, which would add up to more. */
  private readonly reloads = { ok: 0, invalid: 0 }
  private membership: Membership | undefined
  private startup: { resolve: () => void; reject: (error: Error) => void } | undefined
  private exited: (() => void) | undefined
  private exitCodes: (number | null)[] = []
  /** The node's ports, as the workers listen on them. */
  ports: { port: number; pgPort: number | undefined } = { port: 0, pgPort: undefined }

  constructor(options: PrimaryOptions) {
    this.options = options
    this.current = options.config
  }

  /** The config in force (a reload changes it). */
  get config(): Config {
    return this.current
  }

  /** The workers running now. */
  get workers(): WorkerSlot[] {
    return [...this.slots.values()].map(
      ({ worker: _w, listening: _l, hello: _h, config: _c, paused: _p, ...slot }) => slot,
    )
  }

  /**
   * Checks the peers once (so the workers start with the right shares), then forks every
   * worker; resolves once all of them listen, rejects (having stopped them) when one fails.
   */
  async start(): Promise<void> {
    this.runDir = await mkdtemp(join(tmpdir(), `sluice-${process.pid}-`))
    const clusterConfig = this.current.server.cluster
    if (clusterConfig) {
      const auth = new HopAuth(this.nodeSecret, clusterConfig.secret)
      this.membership = new Membership({
        selfKey: nodeKeyOf(this.options.address),
        cluster: clusterConfig,
        defaultPort: this.current.server.port,
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
      for (const slot of this.slots.values()) slot.worker.process.kill('SIGKILL')
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
    const all = [...this.slots.values()]
    const acks = all.map(
      (slot) =>
        new Promise<void>((resolve) => {
          const onMessage = (message: unknown) => {
            if ((message as { type?: string }).type !== 'sluice:draining') return
            slot.worker.off('message', onMessage)
            resolve()
          }
          slot.worker.on('message', onMessage)
          slot.worker.once('exit', () => resolve())
          this.send(slot.worker, { type: 'sluice:drain' })
        }),
    )
    const exited = new Promise<void>((resolve) => {
      this.exited = resolve
      if (this.slots.size === 0) resolve()
    })
    await Promise.race([Promise.all(acks), new Promise((resolve) => setTimeout(resolve, 2000))])
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
    for (const slot of this.slots.values()) slot.worker.process.kill('SIGKILL')
  }

  /**
   * Reads the config file again and applies it in every worker (SIGHUP, POST /admin/reload).
   * A file the node could not start with (invalid, or a pool too small for its workers) is
   * refused: every worker keeps the config in force.
   */
  async reload(): Promise<ReloadReport> {
    const { loadConfig, logger, workers } = this.options
    if (!loadConfig) {
      throw new SluiceError(
        'BAD_REQUEST',
        'nothing to reload: the gateway was started without a config file (--config or SLUICE_CONFIG)',
      )
    }
    let next: Config
    try {
      next = await loadConfig()
      const problems = workerProblems(next, workers)
      if (problems.length > 0) throw new ConfigError(problems)
    } catch (error) {
      if (error instanceof ConfigError) {
        this.reloads.invalid++
        logger.warn(
          { problems: error.problems },
          'config reload refused: the old config keeps serving',
        )
      }
      throw error
    }
    // A worker restarted from now on starts with it.
    this.current = next
    const answers = await this.gather((id, slot) =>
      this.send(slot.worker, { type: 'sluice:apply', id, config: next }),
    )
    const failed = answers.find((a) => !a.ok)
    if (failed && !failed.ok) throw fromPlainError(failed.error)
    this.reloads.ok++
    const first = answers[0]
    return (first?.ok ? first.value : undefined) as ReloadReport
  }

  private view(): ClusterView {
    return { workers: this.workers, gone: this.gone, peers: this.peers }
  }

  private broadcastView(): void {
    const view = this.view()
    for (const slot of this.slots.values()) this.send(slot.worker, { type: 'sluice:view', view })
  }

  /** Runs `op` in one worker, without waiting for its answer. */
  private run(worker: Worker, op: NodeOp): void {
    this.send(worker, { type: 'sluice:run', id: this.answers.id(), op })
  }

  private send(worker: Worker, message: ToWorker): void {
    if (worker.isConnected()) worker.send(message)
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
    this.slots.set(index, slot)
    slot.hello = () => {
      slot.config = this.current
      slot.paused = new Set(this.paused)
      this.send(worker, {
        type: 'sluice:start',
        start: {
          index,
          incarnation,
          count: this.options.workers,
          config: this.current,
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
    if (this.slots.get(slot.index) === slot) this.slots.delete(slot.index)
    if (this.draining) this.exitCodes.push(signal ? 1 : code)
    this.answers.lost(slot.index)
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
    const ranFor = Date.now() - Date.parse(slot.startedAt)
    const delay =
      ranFor >= STABLE_MS
        ? RESTART_MIN_MS
        : Math.min((this.restartDelay.get(slot.index) ?? RESTART_MIN_MS / 2) * 2, RESTART_MAX_MS)
    this.restartDelay.set(slot.index, delay)
    setTimeout(() => {
      if (!this.draining) this.fork(slot.index, slot.restarts + 1)
    }, delay).unref()
  }

  private onMessage(worker: Worker, message: unknown): void {
    if (!isSluiceMessage(message)) return
    const slot = [...this.slots.values()].find((s) => s.worker === worker)
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
        if (this.draining) this.send(worker, { type: 'sluice:drain' })
        if (slot.config !== this.current) {
          slot.config = this.current
          this.send(worker, { type: 'sluice:apply', id: this.answers.id(), config: this.current })
        }
        // It started with the tenants paused then; an operator's pause or resume since did
        // not reach it (only listening workers are asked).
        for (const name of this.paused)
          if (!slot.paused?.has(name)) this.run(worker, { op: 'pause', name, waitMs: 0 })
        for (const name of slot.paused ?? [])
          if (!this.paused.has(name)) this.run(worker, { op: 'resume', name })
        this.broadcastView()
        if (!this.started && [...this.slots.values()].every((s) => s.listening))
          this.startup?.resolve()
        break
      case 'sluice:failed':
        if (!this.started) this.startup?.reject(new Error(m.message))
        break
      case 'sluice:ran':
        this.answers.received(m.id, m.answer)
        break
      case 'sluice:ask':
        void this.answer(m.request).then(
          (value) => this.send(worker, { type: 'sluice:reply', id: m.id, ok: true, value }),
          (error: unknown) =>
            this.send(worker, {
              type: 'sluice:reply',
              id: m.id,
              ok: false,
              error: toPlainError(error),
            }),
        )
        break
      case 'sluice:cancel': {
        const target = this.slots.get(m.worker)
        if (target)
          this.send(target.worker, {
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

  private answer(request: NodeRequest): Promise<unknown> {
    switch (request.kind) {
      case 'broadcast':
        return this.broadcast(request.op)
      case 'reload':
        return this.reload()
      case 'metrics':
        return this.metrics()
      case 'nonce':
        return Promise.resolve(this.nonces.claim(request.nonce, request.signedAt))
    }
  }

  /** The node's metrics, aggregated over its listening workers (./node-metrics.ts). */
  private async metrics(): Promise<string> {
    const answers = await this.gather(
      (id, slot) => this.send(slot.worker, { type: 'sluice:metrics', id }),
      METRICS_MS,
    )
    return nodeMetrics(answers, {
      node: this.options.address,
      reloads: this.reloads,
      logger: this.options.logger,
    })
  }

  /** Runs `op` in every listening worker; one answer each. */
  private broadcast(op: NodeOp): Promise<WorkerAnswer[]> {
    if (op.op === 'pause') this.paused.add(op.name)
    if (op.op === 'resume') this.paused.delete(op.name)
    const waitMs = op.op === 'pause' ? op.waitMs : 0
    return this.gather(
      (id, slot) => this.send(slot.worker, { type: 'sluice:run', id, op }),
      waitMs + GATHER_MS,
    )
  }

  /** Sends one message per listening worker and collects their answers (./worker-answers.ts). */
  private gather(
    send: (id: number, slot: Slot) => void,
    timeoutMs = GATHER_MS,
  ): Promise<WorkerAnswer[]> {
    const targets = [...this.slots.values()].filter((s) => s.listening && s.worker.isConnected())
    return this.answers.gather(targets, send, timeoutMs)
  }
}
