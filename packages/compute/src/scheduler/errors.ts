// Errors of the compute Scheduler, matched by `name` (never `instanceof`).
// `step` throws them for inputs it refuses; the scheduler's state is then
// unchanged, so a driver logs the error and carries on.

/** A submitted job of the wrong shape (no tasks, duplicate task ids, quorum > replicas, bad numbers…); `field` names the part. */
export class MalformedJobError extends Error {
  static name = 'MalformedJobError'
  readonly field: string
  constructor (message = 'malformed job: fix it and submit it again', options?: ErrorOptions & { field?: string }) {
    super(message, options)
    this.name = 'MalformedJobError'
    this.field = options?.field ?? 'job'
  }
}

/** A job id already in use by this scheduler. */
export class DuplicateJobError extends Error {
  static name = 'DuplicateJobError'
  constructor (message = 'a job with this id exists: choose another id, or cancel-job the old one first', options?: ErrorOptions) {
    super(message, options)
    this.name = 'DuplicateJobError'
  }
}

/** A job id this scheduler does not hold. */
export class UnknownJobError extends Error {
  static name = 'UnknownJobError'
  constructor (message = 'no such job: it was never submitted or was forgotten', options?: ErrorOptions) {
    super(message, options)
    this.name = 'UnknownJobError'
  }
}

/** A result or failure for an assignment that is not outstanding (never issued, cancelled, timed out or already answered). Drop it. */
export class UnknownAssignmentError extends Error {
  static name = 'UnknownAssignmentError'
  constructor (message = 'no such outstanding assignment (never issued, cancelled or timed out): drop the message', options?: ErrorOptions) {
    super(message, options)
    this.name = 'UnknownAssignmentError'
  }
}

/** A result or failure from a worker the assignment was not given to. Drop it (and distrust the sender). */
export class NotAssignedError extends Error {
  static name = 'NotAssignedError'
  constructor (message = 'this assignment was given to another worker: drop the message', options?: ErrorOptions) {
    super(message, options)
    this.name = 'NotAssignedError'
  }
}

/** A second answer for an assignment that was already answered. Drop it. */
export class DuplicateResultError extends Error {
  static name = 'DuplicateResultError'
  constructor (message = 'this assignment was already answered: drop the duplicate', options?: ErrorOptions) {
    super(message, options)
    this.name = 'DuplicateResultError'
  }
}

/** An input of the wrong shape (unknown type, missing or mistyped field); `field` names the part. */
export class MalformedInputError extends Error {
  static name = 'MalformedInputError'
  readonly field: string
  constructor (message = 'malformed scheduler input: drop it', options?: ErrorOptions & { field?: string }) {
    super(message, options)
    this.name = 'MalformedInputError'
    this.field = options?.field ?? 'input'
  }
}
