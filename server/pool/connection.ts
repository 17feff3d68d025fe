/**
 * One PostgreSQL connection as the pool sees it: a pg Client plus the facts the pool
 * decides on (age, idle time, whether it broke or was cancelled).
 */
import { connect as netConnect } from 'node:net'
import pg from 'pg'
import { PreparedStatements, isStalePlan, type PreparedOptions } from './prepared.js'
import { Statement, type StatementOptions, type StatementOutcome } from './statement.js'

/** Where to send a cancel request: the server's address, as the connection used it. */
export interface CancelTarget {
  host: string
  port: number
}

let nextId = 1

// Set by pg from BackendKeyData; not in @types/pg.
interface BackendKey {
  processID: number | null
  secretKey: number | null
}

/** A pooled connection. Created by {@link openConnection}. */
export class Connection {
  readonly id = nextId++
  readonly client: pg.Client
  readonly createdAt = Date.now()
  /** When the pool recycles it (lifetime minus jitter). */
  readonly expiresAt: number
  lastUsedAt = Date.now()
  /** The socket failed or closed: never reuse. */
  broken = false
  /** A cancel request was sent: it may still land, so never reuse. */
  cancelled = false
  /** The named prepared statements of this session. */
  readonly prepared: PreparedStatements
  private readonly cancelTarget: CancelTarget

  constructor(
    client: pg.Client,
    lifetimeMs: number,
    cancelTarget: CancelTarget,
    prepared: PreparedOptions = { threshold: null, max: 0 },
  ) {
    this.client = client
    this.cancelTarget = cancelTarget
    this.prepared = new PreparedStatements(`sluice_${this.id}`, prepared)
    // Up to 5% earlier, so connections opened together do not all recycle together.
    this.expiresAt = this.createdAt + lifetimeMs * (1 - Math.random() * 0.05)
    const markBroken = () => {
      this.broken = true
    }
    client.on('error', markBroken)
    client.on('end', markBroken)
  }

  /** Backend process id (pg_stat_activity.pid). */
  get pid(): number {
    return (this.client as unknown as BackendKey).processID ?? 0
  }

  /** 'I' idle, 'T' in a transaction, 'E' in a failed transaction (from ReadyForQuery). */
  get transactionStatus(): string | null {
    return this.client.getTransactionStatus()
  }

  /** Runs one statement, unnamed. */
  run(options: StatementOptions): Promise<StatementOutcome> {
    const statement = new Statement(options)
    this.client.query(statement as unknown as pg.QueryConfig)
    return statement.promise
  }

  /**
   * Runs one statement as a named prepared statement once its text is used often enough
   * (./prepared.ts). Only for a statement alone in its implicit transaction: when its plan
   * went stale it is run again unnamed, which inside a transaction would be too late.
   */
  async runPrepared(options: StatementOptions): Promise<StatementOutcome> {
    const plan = this.prepared.plan(options.text)
    if (plan.name === undefined) return this.run(options)
    try {
      return await this.run({ ...options, ...plan })
    } catch (error) {
      if (!isStalePlan(error)) throw error
      this.prepared.forget(options.text)
      return this.run(options)
    }
  }

  /** Runs gateway-owned SQL (BEGIN, COMMIT, DISCARD ALL…) with the simple protocol. */
  async simple(text: string): Promise<void> {
    await this.run({ text, simple: true })
  }

  /**
   * Asks PostgreSQL to cancel whatever this connection runs: a real CancelRequest on a new
   * socket, as libpq's PQcancel sends. The connection is never reused afterwards, since a
   * late cancel could otherwise hit the next request's statement.
   */
  cancel(): Promise<void> {
    this.cancelled = true
    const { processID: pid, secretKey: key } = this.client as unknown as BackendKey
    if (pid == null || key == null) return Promise.resolve()
    return new Promise((resolve) => {
      const socket = netConnect(this.cancelTarget.port, this.cancelTarget.host)
      const done = () => {
        clearTimeout(timer)
        socket.destroy()
        resolve()
      }
      const timer = setTimeout(done, 2000)
      socket.once('error', done)
      socket.once('close', done)
      socket.once('connect', () => {
        const message = Buffer.alloc(16)
        message.writeInt32BE(16, 0)
        message.writeInt32BE(80877102, 4)
        message.writeInt32BE(pid, 8)
        message.writeInt32BE(key, 12)
        socket.end(message)
      })
    })
  }

  /** Closes the connection; never throws. */
  async close(): Promise<void> {
    this.broken = true
    try {
      await this.client.end()
    } catch {
      // Already gone: nothing to release.
    }
  }
}

/** Opens a connection and waits for PostgreSQL to accept it. */
export async function openConnection(
  config: pg.ClientConfig,
  lifetimeMs: number,
  cancelTarget: CancelTarget,
  prepared?: PreparedOptions,
): Promise<Connection> {
  const client = new pg.Client(config)
  // An error before connect() settles is reported by connect(); this keeps it from crashing us.
  client.on('error', () => {})
  await client.connect()
  return new Connection(client, lifetimeMs, cancelTarget, prepared)
}
