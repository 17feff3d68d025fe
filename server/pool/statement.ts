/**
 * One statement on the wire, as a pg "submittable": pg's Client drives the protocol and
 * calls these handlers. Rows stay PostgreSQL's own text (no parsing), and the tenant's row
 * and byte limits are counted as rows arrive, so an oversized result is never held whole.
 */
import type { FieldDescription, QueryResult, WireValue } from '../../src/protocol.js'

/** What a finished statement reports; `tooLarge` is set when a limit was passed. */
export interface StatementOutcome extends QueryResult {
  /** Size of the rows as counted against maxBytes. */
  bytes: number
  tooLarge?: 'rows' | 'bytes'
}

/** Options of {@link Statement}. */
export interface StatementOptions {
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
  maxRows?: number
  maxBytes?: number
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
export class Statement {
  readonly text: string
  readonly name: string | undefined
  readonly promise: Promise<StatementOutcome>
  private readonly options: StatementOptions
  private fields: FieldDescription[] = []
  private rows: WireValue[][] = []
  private command = ''
  private rowCount: number | null = null
  private bytes = 0
  private tooLarge: 'rows' | 'bytes' | undefined
  private resolve!: (outcome: StatementOutcome) => void
  private reject!: (error: unknown) => void
  // pg checks for this to decide whether to wrap the call in a promise of its own.
  callback: ((err: unknown) => void) | undefined

  constructor(options: StatementOptions) {
    this.options = options
    this.text = options.text
    this.name = options.name
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.callback = () => {}
  }

  submit(connection: WireConnection): Error | null {
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
  }

  handleDataRow(msg: { fields: WireValue[] }): void {
    if (this.tooLarge) return
    const row = msg.fields
    let size = 8
    for (const value of row) if (value !== null) size += value.length
    this.bytes += size
    if (this.options.maxRows !== undefined && this.rows.length >= this.options.maxRows) {
      this.tooLarge = 'rows'
      this.rows = []
      return
    }
    if (this.options.maxBytes !== undefined && this.bytes > this.options.maxBytes) {
      this.tooLarge = 'bytes'
      this.rows = []
      return
    }
    this.rows.push(row)
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
    // pg drops the statement as active when an error arrives, so no ReadyForQuery reaches it:
    // settle now. pg holds later statements on this client until PostgreSQL is ready again.
    this.reject(error)
  }

  handleReadyForQuery(): void {
    const outcome: StatementOutcome = {
      command: this.command,
      rowCount: this.rowCount,
      fields: this.fields,
      rows: this.rows,
      bytes: this.bytes,
    }
    if (this.tooLarge) outcome.tooLarge = this.tooLarge
    this.resolve(outcome)
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: WireConnection): void {
    connection.sendCopyFail('COPY FROM STDIN is not supported through Sluice')
  }

  handleCopyData(): void {}
}
