/**
 * What the gateway needs of an abort signal, and a cheap one for HTTP requests. Node's
 * AbortSignal is an EventTarget, whose listeners cost more to add and remove than the rest
 * of a pooled `SELECT 1` spends in its cancellation code; a request has at most a couple of
 * listeners at a time, so a plain list does. An AbortSignal fits {@link AbortLike} as is.
 */

/** An abort signal, as the pool and the cancellation code use it. */
export interface AbortLike {
  readonly aborted: boolean
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

/** A one-shot abort signal with a plain listener list. */
export class LightSignal implements AbortLike {
  aborted = false
  private listeners: (() => void)[] = []

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) this.listeners.push(listener)
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const index = this.listeners.indexOf(listener)
    if (index >= 0) this.listeners.splice(index, 1)
  }

  /** Aborts once: each listener runs once, in the order they were added. */
  abort(): void {
    if (this.aborted) return
    this.aborted = true
    for (const listener of this.listeners.splice(0)) listener()
  }
}
