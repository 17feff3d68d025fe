/**
 * The two formats of a streamed result (docs/protocol.md "Streaming results"), chosen by the
 * request's `Accept` header:
 *
 * - NDJSON (`application/x-ndjson`): every line JSON; rows as arrays of PostgreSQL's text
 *   values, or as objects keyed by column name (`rowMode: "object"`).
 * - COPY text (`application/x-sluice-copy-text`): rows as lines of PostgreSQL's COPY text
 *   format (tab-separated values, `\N` for NULL, backslash escapes), always in column order;
 *   the first and last lines are the same JSON as NDJSON's after a backslash, which no row
 *   line can begin with (a backslash in a value is always followed by another backslash or
 *   by `t`, `n`, `r` or `N`). Much cheaper to read than JSON: a client splits lines and
 *   values instead of parsing a JSON string per value.
 */
import { SluiceError, type ErrorBody } from '../../src/errors.js'
import {
  COPY_TEXT_MEDIA_TYPE,
  NDJSON_MEDIA_TYPE,
  type FieldDescription,
  type StreamEnd,
  type WireValue,
} from '../../src/protocol.js'
import type { RowEncoder } from './row-encoder.js'

/** How one format prints a stream's lines. */
export interface StreamFormat {
  readonly mediaType: string
  /** The first line. */
  head(fields: FieldDescription[]): string
  /** Readies `encoder` for the rows of these fields. */
  prepare(encoder: RowEncoder, fields: FieldDescription[]): void
  /** Appends one row from its DataRow body. */
  rawRow(encoder: RowEncoder, bytes: Buffer, start: number, end: number): void
  /** One row of values already decoded (with the object keys {@link prepare} set, if any). */
  row(values: WireValue[], keys: Buffer[] | undefined): string
  /** The last line: the summary, or the error that ended the stream. */
  end(last: StreamEnd | ErrorBody): string
}

const NEWLINE = 0x0a

/** NDJSON with rows as arrays or, in `object` mode, keyed by column name. */
export function ndjsonFormat(rowMode: 'array' | 'object'): StreamFormat {
  return {
    mediaType: NDJSON_MEDIA_TYPE,
    head: (fields) => `${JSON.stringify({ fields })}\n`,
    prepare(encoder, fields) {
      if (rowMode === 'object')
        encoder.keys = fields.map((f) => Buffer.from(`${JSON.stringify(f.name)}:`))
    },
    rawRow: (encoder, bytes, start, end) => encoder.row(bytes, start, end, -1, NEWLINE),
    row: (values, keys) =>
      keys === undefined
        ? `${JSON.stringify(values)}\n`
        : `{${values.map((v, i) => keys[i]!.toString() + JSON.stringify(v)).join(',')}}\n`,
    end: (last) => `${JSON.stringify(last)}\n`,
  }
}

/** A value as COPY text escapes it. */
function copyTextValue(value: WireValue): string {
  if (value === null) return '\\N'
  return /[\\\t\n\r]/.test(value)
    ? value.replace(/[\\\t\n\r]/g, (c) =>
        c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
      )
    : value
}

/** COPY text lines; the first and last lines are JSON after a backslash. */
export const COPY_TEXT_FORMAT: StreamFormat = {
  mediaType: COPY_TEXT_MEDIA_TYPE,
  head: (fields) => `\\${JSON.stringify({ fields })}\n`,
  prepare() {},
  rawRow: (encoder, bytes, start, end) => encoder.copyTextRow(bytes, start, end),
  row: (values) => `${values.map(copyTextValue).join('\t')}\n`,
  end: (last) => `\\${JSON.stringify(last)}\n`,
}

const STREAM_TYPES = [COPY_TEXT_MEDIA_TYPE, NDJSON_MEDIA_TYPE] as const

/** Which streamed media type an `Accept` header asks for, if any. */
export type StreamMediaType = (typeof STREAM_TYPES)[number]

/**
 * The streamed media type an `Accept` header prefers (highest `q`, then the first listed),
 * or undefined when it names neither (a JSON answer).
 */
export function acceptedStream(accept: string | undefined): StreamMediaType | undefined {
  // Media types are case-insensitive (RFC 9110 §8.3.1); most headers name neither of ours.
  if (accept === undefined || !/application\/x-/i.test(accept)) return undefined
  let best: StreamMediaType | undefined
  let bestQ = 0
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';')
    const name = type.trim().toLowerCase()
    const known = STREAM_TYPES.find((t) => t === name)
    if (known === undefined) continue
    const qParam = params.map((p) => p.trim()).find((p) => p.toLowerCase().startsWith('q='))
    const q = qParam === undefined ? 1 : Number(qParam.slice(2))
    if (Number.isFinite(q) && q > bestQ) {
      best = known
      bestQ = q
    }
  }
  return best
}

/**
 * The format to write for `mediaType` and the request's `rowMode`; BAD_REQUEST for rows as
 * objects in COPY text, whose rows are always in column order.
 */
export function streamFormat(
  mediaType: StreamMediaType,
  rowMode: 'array' | 'object' | undefined,
): StreamFormat {
  if (mediaType === NDJSON_MEDIA_TYPE) return ndjsonFormat(rowMode ?? 'array')
  if (rowMode === 'object') {
    throw new SluiceError(
      'BAD_REQUEST',
      `rowMode "object" is only for ${NDJSON_MEDIA_TYPE}: ${COPY_TEXT_MEDIA_TYPE} rows are always in column order`,
    )
  }
  return COPY_TEXT_FORMAT
}
