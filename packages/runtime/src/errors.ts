// Errors of the node, one class per condition, matched by `name`.

/** A topic name that is not allowed. */
export class InvalidTopicError extends Error {
  static name = 'InvalidTopicError'
  constructor (message = 'The topic name is not valid') { super(message); this.name = 'InvalidTopicError' }
}

/** A message or frame over its size limit. */
export class MessageTooLargeError extends Error {
  static name = 'MessageTooLargeError'
  constructor (message = 'The message is larger than allowed') { super(message); this.name = 'MessageTooLargeError' }
}

/** The admin API was called without a valid token. */
export class UnauthorizedError extends Error {
  static name = 'UnauthorizedError'
  constructor (message = 'The admin token is not valid; read it from the node\'s data directory') { super(message); this.name = 'UnauthorizedError' }
}

/** A data directory that cannot be used (missing files, bad contents). */
export class DataDirError extends Error {
  static name = 'DataDirError'
  constructor (message = 'The data directory is not usable') { super(message); this.name = 'DataDirError' }
}

/** The node is not running (not started yet, or stopped). */
export class NotRunningError extends Error {
  static name = 'NotRunningError'
  constructor (message = 'The node is not running') { super(message); this.name = 'NotRunningError' }
}
