/**
 * The JSON answer of `/v1/query` on the direct path, encoded as its rows arrive
 * (`runQueryInto` in server/engine/run.ts): each row goes from PostgreSQL's bytes straight
 * to JSON text (./row-encoder.ts), kept in byte chunks that are let go as the client reads
 * them. An answer thus costs its JSON once (the tenant's limits bound it) rather than its
 * rows, their JSON and a socket buffer's copy of it all at the same time.
 */
import type { QueryResult, WireValue } from '../../src/protocol.js'
import type { RowSink } from '../pool/statement.js'
import { RowEncoder } from './row-encoder.js'
import { SEND_CHUNK_CHARS } from './send.js'

const COMMA = 0x2c

/** Gathers one answer's rows as JSON. */
export class JsonAnswer implements RowSink {
  private readonly chunks: Buffer[] = []
  private readonly encoder = new RowEncoder()
  private count = 0

  fields(): void {
    // The result carries them; only the rows are gathered here.
  }

  rawRow(bytes: Buffer, start: number, end: number): void {
    this.encoder.row(bytes, start, end, this.count++ === 0 ? -1 : COMMA, -1)
    if (this.encoder.length >= SEND_CHUNK_CHARS) this.chunks.push(this.encoder.take())
  }

  row(values: WireValue[]): void {
    const json = JSON.stringify(values)
    this.encoder.text(this.count++ === 0 ? json : `,${json}`)
    if (this.encoder.length >= SEND_CHUNK_CHARS) this.chunks.push(this.encoder.take())
  }

  /**
   * The whole answer for `result` (whose rows came here) as byte chunks, with the same keys
   * in the same order as `JSON.stringify(result)`.
   */
  finish(result: QueryResult): Buffer[] {
    const { command, rowCount, fields } = result
    const head = `${JSON.stringify({ command, rowCount, fields }).slice(0, -1)},"rows":[`
    this.encoder.text(']}')
    const chunks = [Buffer.from(head), ...this.chunks, this.encoder.take(true)]
    this.chunks.length = 0
    return chunks
  }
}
