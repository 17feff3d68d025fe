/**
 * The messages between the primary and its workers, over node:cluster's IPC channel. Every
 * type starts with `sluice:`, so other users of the channel pass through untouched.
 */
import type { Config } from '../config/schema.js'
import type { NodeOp, PlainError, WorkerAnswer } from './node-ops.js'
import type { ClusterView } from './view.js'

/** What a worker is told when it starts. */
export interface WorkerStart {
  /** 1-based index on the node. */
  index: number
  incarnation: number
  /** The node's workers. */
  count: number
  /** The config in force, validated by the primary. */
  config: Config
  /** This node's address, as its peers reach it. */
  address: string
  /** Shared by the node's workers only (hex). */
  nodeSecret: string
  /** Where this worker listens for requests forwarded by the others. */
  socketPath: string
  view: ClusterView
  /** The tenants an operator holds paused: the worker starts with them paused. */
  paused: string[]
}

/** A question a worker asks its node. */
export type NodeRequest =
  | { kind: 'broadcast'; op: NodeOp }
  | { kind: 'reload' }
  | { kind: 'metrics' }
  /** Accept a peer's request's nonce once for the whole node (./replay-guard.ts). */
  | { kind: 'nonce'; nonce: string; signedAt: number }

/** From the primary to a worker. */
export type ToWorker =
  | { type: 'sluice:start'; start: WorkerStart }
  | { type: 'sluice:view'; view: ClusterView }
  | { type: 'sluice:drain' }
  | { type: 'sluice:run'; id: number; op: NodeOp }
  | { type: 'sluice:apply'; id: number; config: Config }
  /** Send this worker's metrics (as JSON) for the node's aggregate. */
  | { type: 'sluice:metrics'; id: number }
  | { type: 'sluice:reply'; id: number; ok: true; value: unknown }
  | { type: 'sluice:reply'; id: number; ok: false; error: PlainError }
  | { type: 'sluice:cancel'; processId: number; secretKey: number }

/** From a worker to the primary. */
export type ToPrimary =
  /** The worker is ready for its start (a message sent earlier could find no listener). */
  | { type: 'sluice:hello' }
  /** Listening, on these ports (the node's: the workers share them). */
  | { type: 'sluice:listening'; port: number; pgPort: number | undefined }
  | { type: 'sluice:failed'; message: string }
  | { type: 'sluice:draining' }
  | { type: 'sluice:ran'; id: number; answer: WorkerAnswer }
  | { type: 'sluice:ask'; id: number; request: NodeRequest }
  | { type: 'sluice:cancel'; worker: number; processId: number; secretKey: number }

/** Whether an IPC message is one of ours. */
export function isSluiceMessage(message: unknown): message is { type: `sluice:${string}` } {
  const type = (message as { type?: unknown } | null)?.type
  return typeof type === 'string' && type.startsWith('sluice:')
}
