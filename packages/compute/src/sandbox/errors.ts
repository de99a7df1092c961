// Errors of sandbox domains. None of them is a result of the task: they are
// failures of the place it ran in, so the scheduler retries elsewhere.

/** The execution ran past its wall-clock watchdog; the domain was torn down. */
export class WatchdogTimeoutError extends Error {
  static name = 'WatchdogTimeoutError'
  constructor (message = 'the execution ran past its wall-clock watchdog and was stopped; give it more time or less work', options?: ErrorOptions) {
    super(message, options)
    this.name = 'WatchdogTimeoutError'
  }
}

/** The domain's worker died (out of memory, crashed) while running. */
export class DomainCrashedError extends Error {
  static name = 'DomainCrashedError'
  constructor (message = 'the sandbox domain died while running the execution; it was restarted, retry the work', options?: ErrorOptions) {
    super(message, options)
    this.name = 'DomainCrashedError'
  }
}

/** The execution was stopped at a slice boundary because its lease was revoked or the domain closed. */
export class DomainAbortedError extends Error {
  static name = 'DomainAbortedError'
  constructor (message = 'the execution was stopped at a fuel-slice boundary: the lease was revoked or the domain closed', options?: ErrorOptions) {
    super(message, options)
    this.name = 'DomainAbortedError'
  }
}

/** A run named a module by id that the domain no longer holds (evicted): send its bytes again. */
export class ModuleNotHeldError extends Error {
  static name = 'ModuleNotHeldError'
  constructor (message = 'the sandbox domain no longer holds that module: send its bytes again', options?: ErrorOptions) {
    super(message, options)
    this.name = 'ModuleNotHeldError'
  }
}

/** The domain (or pool) is closed. */
export class DomainClosedError extends Error {
  static name = 'DomainClosedError'
  constructor (message = 'the sandbox domain is closed: open a new one', options?: ErrorOptions) {
    super(message, options)
    this.name = 'DomainClosedError'
  }
}
