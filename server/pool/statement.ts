/**
 * One statement on the wire, as a pg "submittable": pg's Client drives the protocol and
 * calls these handlers. Rows stay PostgreSQL's own text (no parsing). They are either kept
 * for one answer, or handed one by one to a {@link RowSink} (a stream). The connection's
 * wire meter (./wire-meter.ts) counts them against the limits before pg's parser holds any
 * of them; past a limit the connection is discarded and the statement settles as too large.
 */
import type { FieldDescription, QueryResult, WireValue } from '../../src/protocol.js'
import type { MeterLimits, OverLimit, RawRows, WireMeter } from './wire-meter.js'

/** Which limit stopped a statement, and the size of the message that passed it. */
export interface TooLarge {
  kind: OverLimit
  declaredBytes: number
}

/** What a finished statement reports; `tooLarge` is set when a limit was passed. */
export interface StatementOutcome extends QueryResult {
  /** Bytes of the rows, as the wire meter counted them. */
  bytes: number
  tooLarge?: TooLarge
}

/** Where a streaming statement's columns and rows go, as they arrive. */
export interface RowSink extends Partial<RawRows> {
  /** The columns, once, before any row (not called for a statement without rows). */
  fields(fields: FieldDescription[]): void
  /**
   * One row, as text values. A sink with `rawRow` gets PostgreSQL's bytes there instead,
   * straight from the wire meter, and pg never parses them.
   */
  row(values: WireValue[]): void
}

/** Options of {@link Statement}. */
export interface StatementOptions extends MeterLimits {
  text: string
  /** Parameters already in PostgreSQL text form. */
  values?: readonly (string | null)[]
  /** Simple-protocol text (our own BEGIN/COMMIT/DISCARD); user statements never use it. */
  simple?: boolean
  /** Named prepared statement to use on this connection (see ./prepared.ts). */
  name?: string
  /** `name` is already prepared on this connection: bind it without parsing again. */
  prepared?: boolean
  /** A prepared statement to close first (evicted from the connection's cache). */
  close?: string
  /** Stream the rows here instead of keeping them. */
  sink?: RowSink
  /**
   * A simple query written in the same write, after this statement's Sync (the session
   * reset, ./session-reset.ts): PostgreSQL runs it next, and its answer goes to the
   * submittable queued after this one (a `presubmitted` one).
   */
  trailing?: string
  /** Sent already, as the `trailing` query of the statement before: write nothing. */
  presubmitted?: boolean
}

interface PgField {
  name: string
  tableID: number
  columnID: number
  dataTypeID: number
  dataTypeSize: number
  dataTypeModifier: number
}

// pg's Connection, as far as a submittable uses it.
interface WireConnection {
  query(text: string): void
  parse(msg: { text: string; name?: string; types?: unknown[] }): void
  bind(msg: { portal?: string; statement?: string; values?: readonly (string | null)[] }): void
  describe(msg: { type: 'P' | 'S'; name?: string }): void
  execute(msg: { portal?: string; rows?: number }): void
  sync(): void
  close(msg: { type: 'S'; name: string }): void
  sendCopyFail(message: string): void
  stream: { cork?: () => void; uncork?: () => void }
}

const TAG = /^([A-Za-z]+)(?: (\d+))?(?: (\d+))?/

/** Runs one statement and resolves with its result; see {@link StatementOptions}. */
export class Statement implements RawRows {
  readonly text: string
  readonly name: string | undefined
  readonly promise: Promise<StatementOutcome>
  private readonly options: StatementOptions
  private readonly meter: WireMeter | undefined
  private fields: FieldDescription[] = []
  private rows: WireValue[][] = []
  private command = ''
  private rowCount: number | null = null
  private tooLarge: TooLarge | undefined
  /** Rows are dropped from now on (over a limit, or cancelled). */
  private dropping = false
  private resolve!: (outcome: StatementOutcome) => void
  private reject!: (error: unknown) => void
  // pg checks for this to decide whether to wrap the call in a promise of its own.
  callback: ((err: unknown) => void) | undefined

  constructor(options: StatementOptions, meter?: WireMeter) {
    this.options = options
    this.meter = meter
    this.text = options.text
    this.name = options.name
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.callback = () => {}
  }

  /**
   * A cancel is on its way: a stream's sink takes no more rows (a kept result keeps them,
   * in case the statement finishes first).
   */
  cancelling(): void {
    if (this.options.sink) this.dropping = true
  }

  submit(connection: WireConnection): Error | null {
    const { maxRows, maxBytes, maxRowBytes } = this.options
    const raw = this.options.sink?.rawRow === undefined ? undefined : this
    const onOver = (kind: OverLimit, declaredBytes: number) => {
      this.tooLarge = { kind, declaredBytes }
      this.dropping = true
      this.rows = []
    }
    this.meter?.begin({ maxRows, maxBytes, maxRowBytes }, onOver, raw)
    if (this.options.presubmitted) return null
    if (this.options.simple) {
      connection.query(this.text)
      return null
    }
    connection.stream.cork?.()
    try {
      const name = this.name ?? ''
      if (this.options.close !== undefined)
        connection.close({ type: 'S', name: this.options.close })
      if (!this.options.prepared) connection.parse({ text: this.text, name })
      connection.bind({ statement: name, values: this.options.values ?? [] })
      connection.describe({ type: 'P' })
      connection.execute({})
      connection.sync()
      if (this.options.trailing !== undefined) connection.query(this.options.trailing)
    } finally {
      connection.stream.uncork?.()
    }
    return null
  }

  handleRowDescription(msg: { fields: PgField[] }): void {
    this.fields = msg.fields.map((f) => ({
      name: f.name,
      dataTypeID: f.dataTypeID,
      tableID: f.tableID,
      columnID: f.columnID,
      dataTypeSize: f.dataTypeSize,
      dataTypeModifier: f.dataTypeModifier,
    }))
    this.options.sink?.fields(this.fields)
  }

  rawRow(bytes: Buffer, start: number, end: number): void {
    if (!this.dropping) this.options.sink!.rawRow!(bytes, start, end)
  }

  handleDataRow(msg: { fields: WireValue[] }): void {
    if (this.dropping) return
    if (this.options.sink) this.options.sink.row(msg.fields)
    else this.rows.push(msg.fields)
  }

  handleCommandComplete(msg: { text: string }): void {
    const match = TAG.exec(msg.text)
    this.command = match?.[1] ?? msg.text
    const count = match?.[3] ?? match?.[2]
    this.rowCount = count === undefined ? null : Number(count)
  }

  handleEmptyQuery(): void {
    this.command = ''
  }

  handleError(error: unknown): void {
    // Past a limit the connection was closed under the statement: that is why it failed.
    if (this.tooLarge) {
      this.resolve(this.outcome())
      return
    }
    // pg drops the statement as active when an error arrives, so no ReadyForQuery reaches it:
    // settle now. pg holds later statements on this client until PostgreSQL is ready again.
    this.reject(error)
  }

  handleReadyForQuery(): void {
    this.resolve(this.outcome())
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: WireConnection): void {
    connection.sendCopyFail('COPY FROM STDIN is not supported through Sluice')
  }

  handleCopyData(): void {}

  private outcome(): StatementOutcome {
    const outcome: StatementOutcome = {
      command: this.command,
      rowCount: this.rowCount,
      fields: this.fields,
      rows: this.rows,
      bytes: this.meter?.bytes ?? 0,
    }
    if (this.tooLarge) outcome.tooLarge = this.tooLarge
    return outcome
  }
}
