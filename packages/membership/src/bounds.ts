// The time bounds WebFabricGossip promises for a given configuration, so that
// tests (simulated or real) can assert them instead of guessing. Derivations
// are in the package README; every bound holds with high probability (the
// failure probability is stated), not with certainty.

import { FANOUT, GOSSIP_MS, INTERVAL_MS, SYNC_MS, TTL_MS } from './constants.ts'
import type { MembershipInit } from './types.ts'

// A dead member escapes every probe for k periods with probability ≈ e^-k
// (each of the n−1 live members probes it with probability 1/(n−1) per period).
export const DETECT_PERIODS = 10

// What the bounds depend on: the protocol settings, the fabric size and the
// worst one-way message latency.
export interface BoundsInit extends Pick<MembershipInit, 'intervalMs' | 'ttlMs' | 'fanout' | 'gossipMs' | 'syncMs'> {
  n: number
  maxLatencyMs: number
}

// All in ms.
export interface MembershipBounds {
  // an urgent record (suspicion, refutation, leave) reaches every member
  spreadMs: number
  // a dead member's first failed probe is concluded (after its crash)
  detectMs: number
  // a new member is in every view, and its view is complete (after it starts)
  joinMs: number
  // B: a crashed member is out of every view within ttlMs + removeMs of its
  // crash (or of the observer's own start, if that is later)
  removeMs: number
  // ttlMs + removeMs
  goneMs: number
  // after a partition heals, every view is complete again
  healMs: number
}

// Bounds for a configuration; see README "Bounds".
export function membershipBounds (init: BoundsInit): MembershipBounds {
  const interval = init.intervalMs ?? INTERVAL_MS
  const ttl = init.ttlMs ?? TTL_MS
  const fanout = init.fanout ?? FANOUT
  const gossip = init.gossipMs ?? GOSSIP_MS
  const sync = init.syncMs ?? SYNC_MS
  const n = Math.max(2, init.n)
  // eager push multiplies the informed set by (fanout + 1) per gossip round;
  // twice the rounds covers the tail that piggybacking mops up
  const rounds = Math.ceil(Math.log(n) / Math.log(fanout + 1))
  const spreadMs = 2 * rounds * (gossip + init.maxLatencyMs)
  // round-robin probing reaches every member within 2(n−1) periods at any prober
  const detectMs = (Math.min(DETECT_PERIODS, 2 * (n - 1)) + 1) * interval
  // a member the rumour missed asks for it at its first exchange after the
  // record settled (old news) at the partner: ≤ 1.5 sync later
  const settleMs = 2 * rounds * gossip
  const joinMs = interval + spreadMs + settleMs + 1.5 * sync
  const removeMs = detectMs + spreadMs
  // first cross-partition exchange within a sync period, then anti-entropy
  // repeats every period while views change, doubling the informed set
  const healMs = 2 * sync + 2 * Math.ceil(Math.log2(n)) * interval
  return { spreadMs, detectMs, joinMs, removeMs, goneMs: ttl + removeMs, healMs }
}
