// Wire and driver-facing types of WebFabricGossip. Every message is plain
// data (strings, numbers, arrays, plain objects, Uint8Array) with no
// undefined values, because it is DAG-CBOR encoded on the wire.

import type { PeerIndex } from './peer-index.ts'

// What a member advertises about itself.
export interface MemberInfo {
  roles: string[]
  capacity: Record<string, number>
  load: Record<string, number>
  addrs: string[]
}

// 'left' marks the final heartbeat of a graceful departure.
export type MemberStatus = 'alive' | 'left'

// The signed part of a heartbeat. (inc, seq) is its version: `inc` is set at
// boot and strictly grows across restarts, `seq` grows within an incarnation.
export interface HeartbeatBody extends MemberInfo {
  peer: string
  inc: number
  seq: number
  status: MemberStatus
}

// A heartbeat: `sig` is the peer's signature over the DAG-CBOR encoding of
// `body`. The core never checks it; the driver does (see heartbeatsToVerify).
export interface Heartbeat {
  body: HeartbeatBody
  sig: Uint8Array
}

// A member's version, as listed in an anti-entropy summary.
export interface Version {
  peer: string
  inc: number
  seq: number
}

// An unsigned claim that `peer`, last heard at version (inc, seq), seems dead.
// It only starts a local timer; only the accused can end it, by signing a
// newer heartbeat.
export type Suspicion = Version

// The records every message carries (piggybacked dissemination).
export interface Records {
  heartbeats: Heartbeat[]
  suspects: Suspicion[]
}

// A direct probe; answered by an `ack` with the same nonce.
export interface PingMessage extends Records { type: 'ping', nonce: number }
// The answer to a ping.
export interface AckMessage extends Records { type: 'ack', nonce: number }
// Asks the receiver to probe `target` and relay the ack (indirect probe).
export interface PingReqMessage extends Records { type: 'ping-req', nonce: number, target: string }
// Pushes records: dissemination, refutations, leave notices.
export interface GossipMessage extends Records { type: 'gossip' }
// Anti-entropy request: one hash per bucket of the sender's live view.
export interface SyncMessage extends Records { type: 'sync', nonce: number, digest: number[] }
// Anti-entropy summary page: for the `cover`ed buckets (of `buckets`), every
// version the sender holds (`have`; the first `settled` of them it has held
// for a while) and its claims (`suspects`).
export interface SyncSummaryMessage extends Records { type: 'sync-summary', nonce: number, buckets: number, cover: number[], have: Version[], settled: number }
// Anti-entropy push: records the partner lacks, and the peers wanted back.
export interface SyncPushMessage extends Records { type: 'sync-push', nonce: number, need: string[] }

// Everything WebFabricGossip sends.
export type MembershipMessage = PingMessage | AckMessage | PingReqMessage | GossipMessage | SyncMessage | SyncSummaryMessage | SyncPushMessage

// Construction options; defaults in constants.ts. Times are in ms of the
// driver's clock (the `now` of the inputs).
export interface MembershipInit {
  self: string
  info: MemberInfo
  // Strictly greater than any incarnation this peer used before.
  incarnation: number
  // PRNG seed: randomness is an input.
  seed: number
  // Bootstrap peers (e.g. the rendezvous); may include self.
  seeds?: string[]
  // Protocol period: one probe per period.
  intervalMs?: number
  // Suspicion timeout: a suspected member that does not refute within it is removed.
  ttlMs?: number
  // Members each gossip round pushes to.
  fanout?: number
  // Time between gossip rounds while there is something to disseminate.
  gossipMs?: number
  // How long a probe waits for a direct ack before asking helpers.
  probeTimeoutMs?: number
  // Helpers asked to probe indirectly.
  indirectProbes?: number
  // Mean time between anti-entropy exchanges.
  syncMs?: number
  // How long a removed member's version is remembered (no resurrection).
  tombstoneMs?: number
  // Minimum time between two heartbeats caused by `update` inputs.
  minUpdateMs?: number
  // Records piggybacked on one message.
  maxPiggyback?: number
  // Retransmissions of a record = retransmitMult × ⌈log10(n + 1)⌉.
  retransmitMult?: number
  // Cap on records waiting for dissemination (excess goes to anti-entropy).
  maxQueue?: number
  // Cap on queued join records (a burst of joins is left to anti-entropy).
  maxJoinQueue?: number
  // Peer-id interning table; cores in one process may share one (the
  // simulator does, for memory locality). Default: a private one.
  index?: PeerIndex
}

// What the driver feeds the core.
export type MembershipInput =
  | { type: 'start', now: number }
  | { type: 'tick', now: number }
  | { type: 'message', now: number, from: string, message: MembershipMessage }
  | { type: 'signed', now: number, heartbeat: Heartbeat }
  | { type: 'update', now: number, info: Partial<MemberInfo> }
  | { type: 'leave', now: number }

// What the core asks the driver to do or report.
//  - timer: deliver a `tick` at (or after) `at`; a later request may replace
//    an earlier one or both may fire — spurious ticks are harmless.
//  - sign: sign `body` and feed it back as a `signed` input.
export type MembershipEffect =
  | { type: 'send', to: string, message: MembershipMessage }
  | { type: 'timer', at: number }
  | { type: 'sign', body: HeartbeatBody }
  | { type: 'join', peer: string, heartbeat: Heartbeat }
  | { type: 'update', peer: string, heartbeat: Heartbeat }
  | { type: 'leave', peer: string, reason: 'timeout' | 'left' }

// A live member as this node sees it. `lastSeen` is the local time its
// heartbeat version last advanced; `suspect` whether it is under suspicion.
export interface Member {
  peer: string
  heartbeat: Heartbeat
  lastSeen: number
  suspect: boolean
}
