// Defaults of the repair core, and the limits its messages are held to. The
// README derives the repair window and the durability bound from them.

// A holder absent from the view this long is replaced (blips are not repaired).
// The warm-up of a restarted node (`warmupMs`) defaults to the grace.
export const GRACE_MS = 30_000
// Base deadline of one rebuild attempt…
export const REBUILD_TIMEOUT_MS = 60_000
// …plus the bytes it moves at this (pessimistic) rate.
export const REBUILD_BYTES_PER_SEC = 1_000_000
// Anti-entropy period; rounds are jittered by ±ANTI_ENTROPY_JITTER of it.
export const ANTI_ENTROPY_MS = 30_000
export const ANTI_ENTROPY_JITTER = 0.25
// Rebuilds one node leads at once.
export const MAX_CONCURRENT_REBUILDS = 4
// A target that failed is skipped for this object for this long.
export const FAILED_TARGET_MS = 120_000
// A status heard from a holder confirms its share for this many anti-entropy
// periods (drops need confirmations this fresh).
export const CONFIRM_PERIODS = 2
// A holder that has heard nothing from its leader for this many confirmation
// periods asks it for its status (instead of only reporting).
export const LEADER_SILENCE_CONFIRMS = 3
// A former holder (listed by a record this node replaced) is told of the
// newer record every round until it answers with a record at least as new,
// for at most this many periods. This is what merges two records that grew
// apart in a partition, where no holder of one is a holder of the other.
export const FORMER_PERIODS = 20
// When a member left is remembered this many graces after it left (even for
// peers no record lists yet), so a node that becomes leader later still
// counts the grace from the departure.
export const ABSENCE_MEMORY_GRACES = 10
// A peer that was absent from this node's view long enough to be replaced
// (the grace) counts as having been apart from it (see the repair README's
// "Adoption") for grace + this many anti-entropy periods after it came back:
// long enough for a repair made while it was away to reach this node.
export const APART_MEMORY_PERIODS = 3
// A peer's record may raise the version by at most this much at once (an
// honest repair adds one per attempt): a liar cannot push versions to the
// top of the range, where no later repair could outrank its record.
export const MAX_VERSION_STEP = 1 << 20
// A rebuild that timed out is still remembered this many timeouts, so that a
// late success is installed rather than wasted.
export const LATE_RESULT_FACTOR = 4

// Limits of what a peer may send, checked before use.
export const LIMITS = {
  // entries per status message (the core splits larger batches)
  entries: 128,
  // characters of a root or peer id
  id: 256,
  // positions of one object (k + m, or r): the object package's MAX_POSITIONS
  positions: 32,
  // a version, and share bytes, stay below this
  maxNumber: Number.MAX_SAFE_INTEGER,
  // characters of strings plus 8 per number, per message
  bytes: 1_048_576,
  // forgotten roots whose winning record is remembered (oldest go first)
  tombstones: 4096
} as const
