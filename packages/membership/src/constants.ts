// Defaults of WebFabricGossip, tuned for a local fabric (tens to hundreds of
// nodes on a LAN); the README derives the bounds from them.

// Protocol period: each node probes one member per period (SWIM).
export const INTERVAL_MS = 1000
// Suspicion timeout: time a suspected member has to refute before removal.
export const TTL_MS = 5000
// Direct-ack wait before indirect probing, as a fraction of the period.
export const PROBE_TIMEOUT_FRACTION = 0.4
// Helpers asked for an indirect probe (SWIM's k).
export const INDIRECT_PROBES = 3
// Gossip rounds run this often while records wait for dissemination.
export const GOSSIP_MS = 200
// Members each gossip round pushes to.
export const FANOUT = 3
// Mean time between anti-entropy (digest) exchanges with a random member
// (uniform in [0.5, 1.5] × this); every period while views are far apart.
export const SYNC_MS = 3000
// Share of anti-entropy exchanges aimed at a seed or a removed peer, so that
// partitions heal.
export const SYNC_OUTSIDE_SHARE = 0.25
// Tombstones outlive every removal wave by far (TTL + dissemination).
export const TOMBSTONE_MS = 60_000
// Load/role updates are signed at most this often.
export const MIN_UPDATE_MS = 2000
// Records piggybacked on one probe message.
export const MAX_PIGGYBACK = 24
// Records in one dedicated gossip push (fresh records only).
export const GOSSIP_RECORDS = 96
// Retransmissions per record: RETRANSMIT_MULT × ⌈log10(n + 1)⌉ (memberlist's rule).
export const RETRANSMIT_MULT = 4
// Dissemination queue cap (per class): beyond it, a burst (a healed
// partition refuting at once, a wave of load updates) is left to
// anti-entropy, which moves whole buckets with one copy per node instead of
// N × retransmits copies.
export const MAX_QUEUE = 256
// Cap on queued join records: a burst of joins (cold start, healed
// partition) is left to anti-entropy, which moves whole buckets at once,
// instead of each join being rumoured N × retransmits times.
export const MAX_JOIN_QUEUE = 64
// Records per anti-entropy page (keeps frames far below 256 KiB).
export const PAGE_RECORDS = 128
// Versions (or needed peers) per anti-entropy summary page.
export const PAGE_VERSIONS = 512
// Versions one anti-entropy exchange may summarise (bounds its cost).
export const SUMMARY_VERSIONS = 1024
// Digest buckets: at most this many, about one per DIGEST_LOAD members.
export const MAX_BUCKETS = 1024
export const DIGEST_LOAD = 8

// Message limits enforced by validateMessage.
export const LIMITS = {
  records: 256,
  versions: 1024,
  peerChars: 128,
  roles: 32,
  roleChars: 64,
  keys: 32,
  keyChars: 64,
  addrs: 16,
  addrChars: 256,
  sigBytes: 128,
  bytes: 200 * 1024
} as const
