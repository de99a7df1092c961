// The compute Scheduler: who executes which task, when a result is accepted,
// and whom to trust — redundancy and quorum, adaptive replication (BOINC),
// spot-checks and credibility (Sarmenta), blacklisting with backtracking.
// A sans-I/O state machine: `step(input) → effects`.

export { Scheduler, workerCredibility, groupCredibility } from './scheduler.ts'
export * as schedulerDefaults from './constants.ts'
export {
  DuplicateJobError, DuplicateResultError, MalformedInputError, MalformedJobError, NotAssignedError,
  UnknownAssignmentError, UnknownJobError
} from './errors.ts'
export type {
  AcceptedEffect, AssignEffect, BlacklistedEffect, CancelEffect, CancelJobInput, DepartedInput, FailedInput, Job,
  JobDoneEffect, MembersInput, ProgressEffect, RejectedEffect, ReopenedEffect, ReputationSnapshot, ResultInput,
  SchedulerEffect, SchedulerInit, SchedulerInput, SchedulerStats, SubmitInput, Task, TaskFailedEffect, TickInput,
  TimerEffect, VerifyLocallyEffect, WorkerInfo, WorkerReputation
} from './types.ts'
