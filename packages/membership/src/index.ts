// @webfabric/membership — WebFabricGossip: signed heartbeats with roles,
// capacity and load, SWIM-style failure detection and anti-entropy, as a
// sans-I/O state machine run unchanged by the simulator and the real node.

export { Membership } from './membership.ts'
export { DETECT_PERIODS, membershipBounds } from './bounds.ts'
export type { BoundsInit, MembershipBounds } from './bounds.ts'
export { MalformedMessageError } from './errors.ts'
export { PeerIndex } from './peer-index.ts'
export { validateMessage } from './validate.ts'
export * as defaults from './constants.ts'
export type {
  AckMessage, GossipMessage, Heartbeat, HeartbeatBody, Member, MemberInfo, MembershipEffect, MembershipInit,
  MembershipInput, MembershipMessage, MemberStatus, PingMessage, PingReqMessage, Records, Suspicion, SyncMessage,
  SyncPushMessage, SyncSummaryMessage, Version
} from './types.ts'
