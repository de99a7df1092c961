// Driver-facing types of the compute Scheduler. Every input and effect is
// plain data (strings, numbers, arrays, plain objects) with no undefined
// values, so a driver may log, persist or DAG-CBOR encode them as they are.
// Times are ms of the driver's clock (the `now` of the inputs).

/** One unit of deterministic work: a wasm module run on an input, bounded by fuel. */
export interface Task {
  /** Unique within its job. */
  id: string
  /** CID of the task module. */
  module: string
  /** CID of the input. */
  input: string
  /** Fuel limit of one execution (deterministic instruction budget). */
  fuelLimit: number
}

/** A job: many tasks run under one redundancy policy. */
export interface Job {
  /** Unique among the scheduler's jobs. */
  id: string
  tasks: Task[]
  /** Replicas of an untrusted task (k); default: the scheduler's `replicas` (manifest `redundancy.replicas`). */
  replicas?: number
  /** Matching commitments needed to accept an untrusted task (q ≤ k); default: the scheduler's `quorum`. */
  quorum?: number
  /** Base deadline of one execution in ms; default: the scheduler's `timeoutMs`. */
  timeoutMs?: number
}

/** A worker that holds a compute lease, as the driver last saw it (membership view). */
export interface WorkerInfo {
  peer: string
  roles: string[]
  /** Concurrent assignments it takes (0: none). */
  capacity: number
  /**
   * Executions it runs at once (its sandbox domains; default: `capacity`). Assignments beyond them
   * wait in its queue, so their deadlines count the work queued ahead of them.
   */
  slots?: number
  /** Its own reported load in [0, 1] (advisory: lower is preferred). */
  load: number
}

/** Submits a job. Refused (thrown) when malformed or when its id is taken. */
export interface SubmitInput { type: 'submit', now: number, job: Job }
/** The full current set of compute workers; replaces the previous one. Workers missing from it are treated as departed. */
export interface MembersInput { type: 'members', now: number, members: WorkerInfo[] }
/**
 * A worker's result for an assignment (or the coordinator's own, for a
 * `verify-locally` check: `worker` = the scheduler's `self`).
 * `commitment` is the execution's trace commitment; deterministic failures
 * (trap, out-of-fuel…) are results too, their status is covered by it.
 */
export interface ResultInput { type: 'result', now: number, assignment: string, worker: string, commitment: string, output: string, fuel: number }
/** A worker (or the coordinator, for a check) could not run the assignment (no resources, crash, fetch failed): not a result. */
export interface FailedInput { type: 'failed', now: number, assignment: string, worker: string, reason: string }
/** A worker left (lease ended or revoked, removed from membership). */
export interface DepartedInput { type: 'departed', now: number, peer: string }
/** Time passed: deadlines are checked. Spurious ticks are harmless. */
export interface TickInput { type: 'tick', now: number }
/** Cancels an active job (its tasks fail with reason 'cancelled'), or forgets a finished one. */
export interface CancelJobInput { type: 'cancel-job', now: number, job: string }

/** Everything the scheduler consumes. */
export type SchedulerInput = SubmitInput | MembersInput | ResultInput | FailedInput | DepartedInput | TickInput | CancelJobInput

/** Run `task` of `job` on `worker`; answer with `result` or `failed` for `assignment`. Never tells the worker whether it will be checked. */
export interface AssignEffect {
  type: 'assign'
  assignment: string
  job: string
  task: string
  module: string
  input: string
  fuelLimit: number
  worker: string
  /** After this the assignment is given up and reassigned. */
  deadline: number
}
/** The coordinator (trusted) must execute the task itself and answer with a `result` (worker = self) or `failed` for `assignment`. A spot-check (Sarmenta). */
export interface VerifyLocallyEffect {
  type: 'verify-locally'
  assignment: string
  job: string
  task: string
  module: string
  input: string
  fuelLimit: number
}
/** The assignment is no longer needed: tell the worker to stop (it may still answer; the answer is refused). */
export interface CancelEffect { type: 'cancel', assignment: string, worker: string }
/**
 * The task's result. `credibility` is Sarmenta's estimate that it is right (1 when the coordinator verified it).
 * Final unless a later `reopened` for the same task retracts it (backtracking after a blacklisting).
 */
export interface AcceptedEffect {
  type: 'accepted'
  job: string
  task: string
  commitment: string
  output: string
  fuel: number
  /** Workers whose matching results carried it (may be empty when only the coordinator's check did). */
  workers: string[]
  credibility: number
  /** Whether the coordinator re-executed it. */
  verified: boolean
}
/** A worker's result was not accepted: outvoted, contradicted by the coordinator's check, or discarded because its worker was blacklisted. */
export interface RejectedEffect {
  type: 'rejected'
  job: string
  task: string
  assignment: string
  worker: string
  commitment: string
  reason: 'outvoted' | 'spot-check' | 'blacklisted'
}
/** A previously accepted task is open again (its result rested on a worker now blacklisted); a new `accepted` follows. */
export interface ReopenedEffect { type: 'reopened', job: string, task: string, worker: string }
/** The worker was caught returning a wrong result: it gets no more work from this origin (drivers may revoke its lease). */
export interface BlacklistedEffect { type: 'blacklisted', worker: string, job: string, task: string, assignment: string }
/** Given up on a task. */
export interface TaskFailedEffect {
  type: 'task-failed'
  job: string
  task: string
  reason: 'no-agreement' | 'no-workers' | 'too-many-attempts' | 'cancelled'
}
/** Tasks settled (accepted or failed) so far. */
export interface ProgressEffect { type: 'progress', job: string, done: number, total: number }
/** Every task of the job is accepted or failed (a later `reopened` may reopen the job; a new `job-done` follows). */
export interface JobDoneEffect { type: 'job-done', job: string, accepted: number, failed: number }
/** Send a `tick` at or after `at`. Only the latest request matters. */
export interface TimerEffect { type: 'timer', at: number }

/** Everything the scheduler asks its driver to do or report. */
export type SchedulerEffect =
  AssignEffect | VerifyLocallyEffect | CancelEffect | AcceptedEffect | RejectedEffect | ReopenedEffect |
  BlacklistedEffect | TaskFailedEffect | ProgressEffect | JobDoneEffect | TimerEffect

/** What the scheduler remembers about one worker (plain data: persist it). */
export interface WorkerReputation {
  peer: string
  /** Spot-checks passed (Sarmenta's k). */
  checks: number
  /** Results validated in a row without a lost vote (BOINC's consecutive_valid). */
  consecutiveValid: number
  /** Results that validated, in total. */
  valid: number
  /** Results outvoted, in total. */
  invalid: number
  /** Caught returning a wrong result: gets no work. */
  blacklisted: boolean
}

/** An origin's reputations, as `Scheduler.reputation()` exports them and `SchedulerInit.reputation` imports them. */
export interface ReputationSnapshot {
  v: 1
  workers: WorkerReputation[]
}

/** Construction options; defaults in constants.ts. */
export interface SchedulerInit {
  /** The coordinator's peer id: `result`/`failed` inputs from it answer `verify-locally` and are trusted. */
  self: string
  /** PRNG seed: randomness is an input. */
  seed: number
  /** Replicas k of an untrusted task (manifest `redundancy.replicas`). */
  replicas?: number
  /** Matching commitments q to accept an untrusted task (manifest `redundancy.quorum`). */
  quorum?: number
  /** Most results a task may gather through escalation before it fails with 'no-agreement'. */
  maxReplicas?: number
  /** Most assignments (including timed-out and failed ones) a task may use before it fails with 'too-many-attempts'. */
  maxAttempts?: number
  /** Base deadline of one execution. */
  timeoutMs?: number
  /** Slowest execution speed assumed, in fuel per ms: the deadline adds fuelLimit / minFuelPerMs. */
  minFuelPerMs?: number
  /** Sarmenta's f: the assumed upper bound on the fraction of saboteurs, used in credibilities. */
  faultFraction?: number
  /** Credibility a worker needs (with `trustAfter`) to get tasks alone (adaptive replication). */
  trustCredibility?: number
  /** Consecutive valid results a worker needs (with `trustCredibility`) to get tasks alone (BOINC). */
  trustAfter?: number
  /** Probability that a task carried by a trusted worker alone is spot-checked. */
  spotCheckRate?: number
  /** Probability that a task carried by untrusted workers is spot-checked (how trust is earned). */
  newSpotCheckRate?: number
  /** Probability that a task whose results disagreed is spot-checked once decided. */
  conflictCheckRate?: number
  /** Before a job is done, audit one unverified result of each worker whose word carried results in it. */
  finalAudit?: boolean
  /** Reputations to start from (another run's `reputation()`). */
  reputation?: ReputationSnapshot
}

/** Counters of work done, for benchmarks and metrics. */
export interface SchedulerStats {
  /** Assignments issued to workers. */
  assigned: number
  /** Results received from workers. */
  results: number
  /** Local verifications asked (spot-checks and audits). */
  verifications: number
  timeouts: number
  accepted: number
  reopened: number
  blacklisted: number
}
