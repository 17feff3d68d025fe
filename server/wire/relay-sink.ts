/**
 * The relay's view of the session it serves (./session.ts implements it), and the sink a
 * relay falls back to once its session let go of it.
 */

/** What the relay tells the session it serves. */
export interface RelaySink {
  /** Bytes for the client, in order. */
  toClient(data: Buffer): void
  /** Called once a backend chunk is processed: time to write what was collected. */
  flush(): void
  /** A NoticeResponse for the client: return false to drop it. */
  notice(fields: Map<string, string>): boolean
  /** An error or CommandComplete the client sees (for statement timing and cache upkeep). */
  clientError(fields: Map<string, string>): void
  commandComplete(tag: string): void
  /** PostgreSQL can take no more for now (`true`), or can again. */
  backendFull(full: boolean): void
  /** The socket to PostgreSQL closed or failed. */
  lost(): void
  /** Nothing came back for a request for longer than the watchdog allows. */
  stuck(): void
}

/** The sink of a relay whose session let go of it: only its hidden queries still answer. */
export const MUTED: RelaySink = {
  toClient() {},
  flush() {},
  notice: () => false,
  clientError() {},
  commandComplete() {},
  backendFull() {},
  lost() {},
  stuck() {},
}
