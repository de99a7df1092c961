// Defaults of the compute Scheduler (see README.md "Policy" for why).

/** Replicas of an untrusted task: `defaultManifest`'s `redundancy.replicas`. */
export const REPLICAS = 2
/** Matching commitments to accept an untrusted task: `defaultManifest`'s `redundancy.quorum`. */
export const QUORUM = 2
/** Escalation cap: most results one task may gather. */
export const MAX_REPLICAS = 6
/** Most assignments one task may use (timeouts and failures included). */
export const MAX_ATTEMPTS = 12
/** Base deadline of one execution. */
export const TIMEOUT_MS = 60_000
/** Slowest speed assumed (fuel per ms): a task's deadline adds fuelLimit / MIN_FUEL_PER_MS. */
export const MIN_FUEL_PER_MS = 100_000
/** Sarmenta's f: the fraction of saboteurs the credibilities assume (an upper bound). */
export const FAULT_FRACTION = 1 / 3
/** Credibility to get tasks alone: with f = 1/3, 19 passed spot-checks (1 − f/((1−f)·k·e) ≥ 0.99). */
export const TRUST_CREDIBILITY = 0.99
/** Consecutive valid results to get tasks alone (BOINC's adaptive replication uses 10). */
export const TRUST_AFTER = 10
/** Spot-check probability of a task carried by one trusted worker. */
export const SPOT_CHECK_RATE = 0.1
/** Spot-check probability of a task carried by untrusted workers. */
export const NEW_SPOT_CHECK_RATE = 0.25
/** Spot-check probability of a task whose results disagreed. */
export const CONFLICT_CHECK_RATE = 1
/** Audit each worker's word once more before a job is done. */
export const FINAL_AUDIT = true
/** Consecutive timeouts or failures after which a worker rests: it gets no work for timeout · 2^(n − BACKOFF_AFTER). */
export const BACKOFF_AFTER = 2
