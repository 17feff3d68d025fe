/**
 * The answers a node's primary collects from its workers: a question sent to every
 * listening worker (an admin action, a reload, the metrics) is answered once all of them
 * answered, or when the time is up, with a failure for each worker that did not answer
 * or exited meanwhile. Every message the primary numbers takes its id from here, so an
 * answer to a message nobody gathers never counts for a gathering.
 */
import type { WorkerAnswer } from './node-ops.js'

interface Gathering {
  answers: WorkerAnswer[]
  expected: number
  done: (answers: WorkerAnswer[]) => void
}

/** A worker asked, known by its index. */
export interface AnswerTarget {
  index: number
}

/** The primary's open questions to its workers. */
export class WorkerAnswers {
  private nextId = 1
  private readonly open = new Map<number, Gathering>()

  /** A new message id. */
  id(): number {
    return this.nextId++
  }

  /**
   * Sends one question to each of `targets` (through `send`) and resolves with their answers,
   * sorted by worker, after `timeoutMs` at the latest.
   */
  gather<T extends AnswerTarget>(
    targets: readonly T[],
    send: (id: number, target: T) => void,
    timeoutMs: number,
  ): Promise<WorkerAnswer[]> {
    const id = this.id()
    return new Promise((resolve) => {
      if (targets.length === 0) {
        resolve([])
        return
      }
      const answers: WorkerAnswer[] = []
      // A worker too busy (or too broken) to answer in time counts as a failure.
      const timer = setTimeout(() => {
        for (const target of targets) {
          if (!answers.some((a) => a.worker === target.index))
            answers.push({
              worker: target.index,
              ok: false,
              error: { message: `worker ${target.index} did not answer within ${timeoutMs} ms` },
            })
        }
        done(answers)
      }, timeoutMs)
      const done = (all: WorkerAnswer[]) => {
        clearTimeout(timer)
        this.open.delete(id)
        resolve([...all].sort((a, b) => a.worker - b.worker))
      }
      this.open.set(id, { answers, expected: targets.length, done })
      for (const target of targets) send(id, target)
    })
  }

  /** A worker's answer to the question numbered `id` (none for an id nobody gathers). */
  received(id: number, answer: WorkerAnswer): void {
    const gathering = this.open.get(id)
    if (!gathering) return
    gathering.answers.push(answer)
    if (gathering.answers.length >= gathering.expected) gathering.done(gathering.answers)
  }

  /** Worker `index` exited: the answers it still owed will not come, so they are failures. */
  lost(index: number): void {
    for (const gathering of this.open.values()) {
      if (
        gathering.answers.length < gathering.expected &&
        !gathering.answers.some((a) => a.worker === index)
      ) {
        gathering.answers.push({
          worker: index,
          ok: false,
          error: { message: `worker ${index} exited` },
        })
        if (gathering.answers.length >= gathering.expected) gathering.done(gathering.answers)
      }
    }
  }
}
