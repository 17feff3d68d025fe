/**
 * The JSON answer of `/v1/query` on the direct path, encoded as its rows arrive
 * (`runQueryInto` in server/engine/run.ts): each row becomes JSON text at once and is then
 * garbage, and the text is kept in byte chunks that are let go as the client reads them. An
 * answer thus costs its JSON once (the tenant's limits bound it) rather than its rows, their
 * JSON and a socket buffer's copy of it all at the same time.
 */
import type { QueryResult, WireValue } from '../../src/protocol.js'
import type { RowSink } from '../pool/statement.js'
import { SEND_CHUNK_CHARS } from './send.js'

/** Gathers one answer's rows as JSON. */
export class JsonAnswer implements RowSink {
  private readonly chunks: Buffer[] = []
  private text = ''
  private count = 0

  fields(): void {
    // The result carries them; only the rows are gathered here.
  }

  row(values: WireValue[]): void {
    const json = JSON.stringify(values)
    this.text += this.count++ === 0 ? json : `,${json}`
    if (this.text.length >= SEND_CHUNK_CHARS) {
      this.chunks.push(Buffer.from(this.text))
      this.text = ''
    }
  }

  /**
   * The whole answer for `result` (whose rows came here), with the same keys in the same
   * order as `JSON.stringify(result)`: one string when it is small, else byte chunks.
   */
  finish(result: QueryResult): string | Buffer[] {
    const { command, rowCount, fields } = result
    const head = `${JSON.stringify({ command, rowCount, fields }).slice(0, -1)},"rows":[`
    if (this.chunks.length === 0) return `${head}${this.text}]}`
    const chunks = [Buffer.from(head), ...this.chunks, Buffer.from(`${this.text}]}`)]
    this.chunks.length = 0
    return chunks
  }
}
