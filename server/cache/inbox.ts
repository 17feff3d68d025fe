/**
 * What a member makes of each payload on the channel, before acting on it: a trigger's
 * message (taken unsigned: it only drops entries), a member's message whose signature checks
 * out (./signature.ts) and that is not an old tick sent again, or a payload to ignore. Anyone
 * who can connect to the database can LISTEN and NOTIFY; ./messages.ts says why each replay
 * the freshness rule lets through is harmless.
 */
import {
  decodeMember,
  decodeTrigger,
  decodeUnverified,
  type MemberMessage,
  type TriggerMessage,
} from './messages.js'
import type { ChannelSigner } from './signature.js'

/** How many members' last ticks are remembered (the least recently heard go first). */
const REMEMBERED_MEMBERS = 4096

/** A payload, classified. */
export type Received =
  | { kind: 'trigger'; message: TriggerMessage }
  /** Signed with our key, and not a tick older than one already taken from its member. */
  | { kind: 'member'; message: MemberMessage }
  /** Signed with our key, but a tick no newer than one already taken: a replay. */
  | { kind: 'replay' }
  /**
   * Not signed with our key. `claims`: what it says it is, when it has the shape of a
   * member message (another Sluice process that does not share our key, or a forgery).
   */
  | { kind: 'unverified'; claims: MemberMessage | undefined }
  /** Signed with our key, but not a message this version knows. */
  | { kind: 'unknown' }

/** Payloads a member ignored, by reason (the sluice_cache_messages_rejected_total metric). */
export interface RejectedMessages {
  /** Signed with another key, or not at all (triggers' messages aside). */
  signature: number
  /** Signed with our key, but a tick no newer than its member's last: sent again. */
  replay: number
}

/** Classifies the payloads one member receives, and counts those it rejects. */
export class Inbox {
  /** Payloads rejected so far, by reason. */
  readonly rejected: RejectedMessages = { signature: 0, replay: 0 }
  /** Each member's newest tick taken, least recently heard first. */
  private readonly ticks = new Map<string, number>()

  constructor(private readonly signer: ChannelSigner) {}

  /** What `payload` is. */
  read(payload: string): Received {
    const trigger = decodeTrigger(payload)
    if (trigger) return { kind: 'trigger', message: trigger }
    const body = this.signer.open(payload)
    if (body === undefined) {
      this.rejected.signature++
      return { kind: 'unverified', claims: decodeUnverified(payload) }
    }
    const message = decodeMember(body)
    if (!message) return { kind: 'unknown' }
    if (message.type === 'hello' || message.type === 'tick') {
      const last = this.ticks.get(message.from)
      if (last !== undefined && message.tick <= last) {
        this.rejected.replay++
        return { kind: 'replay' }
      }
      this.ticks.delete(message.from)
      this.ticks.set(message.from, message.tick)
      if (this.ticks.size > REMEMBERED_MEMBERS) this.ticks.delete(this.ticks.keys().next().value!)
    }
    return { kind: 'member', message }
  }
}
