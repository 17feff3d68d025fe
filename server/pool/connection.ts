/**
 * One PostgreSQL connection as the pool sees it: a pg Client plus the facts the pool
 * decides on (age, idle time, whether it broke or was cancelled), the wire meter that counts
 * its results before pg reads them (./wire-meter.ts), the flow control of a streaming
 * statement (pausing the socket pg reads), and raw access to its socket for the
 * PostgreSQL protocol relay (server/wire/).
 */
import { EventEmitter } from 'node:events'
import type pg from 'pg'
import { sendCancelRequest, type CancelTarget } from './cancel-request.js'
import { wireOf, type BackendKey, type PgInternals } from './pg-internals.js'
import { PreparedStatements, isStalePlan, type PreparedOptions } from './prepared.js'
import { resetSqlFor } from './session-reset.js'
import {
  Statement,
  type RowSink,
  type StatementOptions,
  type StatementOutcome,
} from './statement.js'
import { WireMeter } from './wire-meter.js'
import { meterClient, type RawReader, type RawSocket } from './wire-tap.js'

// Where the relay (server/wire/relay.ts) has always found it.
export type { RawReader } from './wire-tap.js'

/** What the pool's release needs of a session reset's answer: its rows (the last counts SQL-level prepared statements). */
export type ResetOutcome = Pick<StatementOutcome, 'rows'>

let nextId = 1

/** A pooled connection, made by ./open-connection.ts around a pg Client not yet connected. */
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
  /** The ParameterStatus values PostgreSQL reported at startup (server_version, TimeZone…). */
  readonly parameters: ReadonlyMap<string, string>
  private readonly cancelTarget: CancelTarget
  /** Who reads the socket while it is detached from pg. */
  private raw: RawReader | undefined
  private readonly meter: WireMeter
  /** The statement most recently sent. */
  private current: Statement | undefined
  /** The session reset sent with the last statement, until the pool's release takes it. */
  private pipelinedReset: Promise<ResetOutcome> | undefined
  /** That reset's answer, when it came before the release (the wire protocol's reset). */
  private answeredReset: ResetOutcome | undefined
  private paused = false
  /**
   * Its socket was dropped without PostgreSQL's word ({@link discard}, or {@link close} giving
   * up after `giveUpAfterMs`): {@link ended} then proves nothing about what PostgreSQL still
   * runs.
   */
  abandoned = false
  /**
   * Resolves once the socket closed. After a graceful close (./closing.ts retires with
   * {@link close}: Terminate behind whatever was sent), PostgreSQL has finished every
   * statement it was sent: what they wrote has committed or never will. Not so when the close
   * gave up ({@link abandoned}).
   */
  readonly ended: Promise<void>

  constructor(
    client: pg.Client,
    lifetimeMs: number,
    cancelTarget: CancelTarget,
    prepared: PreparedOptions = { threshold: null, max: 0 },
    parameters: ReadonlyMap<string, string> = new Map(),
  ) {
    this.client = client
    this.parameters = parameters
    this.cancelTarget = cancelTarget
    // Before connect(): the meter must see the stream from its first message.
    const parserInput = new EventEmitter()
    this.meter = new WireMeter(
      (bytes) => parserInput.emit('data', bytes),
      () => this.discard(),
    )
    meterClient(client, this.meter, parserInput, () => this.raw)
    this.prepared = new PreparedStatements(`sluice_${this.id}`, prepared)
    // Up to 5% earlier, so connections opened together do not all recycle together.
    this.expiresAt = this.createdAt + lifetimeMs * (1 - Math.random() * 0.05)
    const markBroken = () => {
      this.broken = true
    }
    client.on('error', markBroken)
    client.on('end', markBroken)
    this.ended = new Promise((resolve) => client.once('end', () => resolve()))
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
    const statement = new Statement(options, this.meter)
    this.current = statement
    this.client.query(statement as unknown as pg.QueryConfig)
    if (options.trailing !== undefined) {
      // Its answer comes after the statement's, to this receiver queued behind it.
      const reset = new Statement(
        { text: options.trailing, simple: true, presubmitted: true },
        this.meter,
      )
      this.client.query(reset as unknown as pg.QueryConfig)
      reset.promise.catch(() => {})
      this.pipelinedReset = reset.promise
    }
    return statement.promise
  }

  /**
   * The session reset that went out with the last statement (see {@link runPrepared}), for
   * the pool's release to wait for instead of sending one; once only.
   */
  takePipelinedReset(): Promise<ResetOutcome> | undefined {
    const answered = this.answeredReset
    const reset = answered ? Promise.resolve(answered) : this.pipelinedReset
    this.pipelinedReset = undefined
    this.answeredReset = undefined
    return reset
  }

  /** The answer of the reset that went out with the last statement, if it came already. */
  get resetAnswer(): ResetOutcome | undefined {
    return this.answeredReset
  }

  /**
   * Records a session reset that another path sent on this connection's socket while it was
   * detached (the wire protocol's, behind a client's last Sync: server/wire/client-cycle.ts), for
   * the pool's release to take as above.
   */
  resetSentWithLastStatement(outcome: ResetOutcome): void {
    this.pipelinedReset = undefined
    this.answeredReset = outcome
  }

  /**
   * Runs one statement and hands its rows to `sink` as they arrive. The caller paces them
   * with {@link pauseReading} and {@link resumeReading}.
   */
  async stream(options: StatementOptions, sink: RowSink): Promise<StatementOutcome> {
    try {
      return await this.run({ ...options, sink })
    } finally {
      // The sink may have paused after the last row and will not resume a finished stream.
      this.resumeReading()
    }
  }

  /**
   * Stops reading from PostgreSQL: the rows already received are still delivered, then the
   * socket's buffers fill and PostgreSQL waits (TCP backpressure). Its statement timeout
   * still runs.
   */
  pauseReading(): void {
    if (this.paused) return
    this.paused = true
    wireOf(this.client)?.pause()
  }

  /** Reads from PostgreSQL again after {@link pauseReading}. */
  resumeReading(): void {
    if (!this.paused) return
    this.paused = false
    wireOf(this.client)?.resume()
  }

  /**
   * Stops whatever this connection runs, at once: a cancel request for PostgreSQL, and the
   * socket closed so that nothing more is read. The connection is never reused.
   */
  discard(): void {
    this.broken = true
    // Closed without PostgreSQL's word: `ended` says nothing of what it still runs.
    this.abandoned = true
    void this.cancel()
    wireOf(this.client)?.destroy()
  }

  /**
   * Runs one statement as a named prepared statement once its text is used often enough
   * (./prepared.ts). Only for a statement alone in its implicit transaction, and the last of
   * its borrow: when its plan went stale it is run again unnamed, which inside a
   * transaction would be too late.
   */
  async runPrepared(options: StatementOptions): Promise<StatementOutcome> {
    // The borrow ends with this statement, so the session reset that ends every borrow
    // (./session-reset.ts) goes out in the same write: one write and one wake-up of the
    // backend fewer per request. A statement in a transaction cannot take it along.
    const plan = this.prepared.plan(options.text)
    // Chosen once the plan is made: a statement named now is one of ours to keep.
    const pipelined = { ...options, trailing: resetSqlFor(this) }
    if (plan.name === undefined) return this.run(pipelined)
    try {
      return await this.run({ ...pipelined, ...plan })
    } catch (error) {
      if (!isStalePlan(error)) throw error
      this.prepared.forget(options.text)
      return this.run(pipelined)
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
    // PostgreSQL acts on a cancel only once it can write again: a paused stream reads on,
    // dropping its rows.
    this.current?.cancelling()
    this.resumeReading()
    const { processID: pid, secretKey: key } = this.client as unknown as BackendKey
    if (pid == null || key == null) return Promise.resolve()
    return sendCancelRequest(this.cancelTarget, pid, key)
  }

  // ---- Raw access, for the PostgreSQL protocol relay (server/wire/) ----

  /**
   * Lends the socket itself: pg's parser stops seeing the bytes PostgreSQL sends, which go to
   * `reader` instead (with the socket's close and drain), until {@link attach}. Only for a
   * borrowed connection at a ReadyForQuery boundary (pg's parser holds no partial message
   * then), with nothing queued on the client.
   */
  detach(reader: RawReader): RawSocket {
    const { stream } = (this.client as unknown as PgInternals).connection
    if (this.raw) throw new Error('connection already detached')
    this.raw = reader
    return { stream }
  }

  /**
   * Gives the socket back to pg at a ReadyForQuery boundary, with the transaction status
   * PostgreSQL last reported on it ('I', 'T' or 'E'), so the pool's release sees the truth.
   */
  attach(transactionStatus: string): void {
    const internals = this.client as unknown as PgInternals
    if (!this.raw) return
    this.raw = undefined
    internals.connection.stream.resume()
    internals._txStatus = transactionStatus
  }

  /**
   * Closes the connection; never throws. With `giveUpAfterMs`: when PostgreSQL has not closed
   * its side by then (a network gone silent never answers the Terminate), the socket is
   * dropped and the connection marked {@link abandoned}.
   */
  async close(giveUpAfterMs?: number): Promise<void> {
    this.broken = true
    const ending = this.client.end().catch(() => {
      // Already gone: nothing to release.
    })
    if (giveUpAfterMs === undefined) return ending
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = await Promise.race([
      ending.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), giveUpAfterMs))),
    ])
    clearTimeout(timer)
    if (late) {
      this.abandoned = true
      wireOf(this.client)?.destroy()
    }
  }
}
