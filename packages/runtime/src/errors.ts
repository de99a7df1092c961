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

/** A byte-channel request whose ticket is unknown, already used, expired or for another kind of transfer. */
export class TicketRefusedError extends Error {
  static name = 'TicketRefusedError'
  constructor (message = 'No such transfer ticket: it is unknown, already used or expired') { super(message); this.name = 'TicketRefusedError' }
}

/** A transfer ticket nobody presented before it expired (the session it belonged to is ended). */
export class TicketExpiredError extends Error {
  static name = 'TicketExpiredError'
  constructor (message = 'The transfer ticket expired before any request presented it') { super(message); this.name = 'TicketExpiredError' }
}

/** An upload whose body ended (or stalled) before its Content-Length: its put is aborted. */
export class UploadAbortedError extends Error {
  static name = 'UploadAbortedError'
  constructor (message = 'The upload ended before all its bytes arrived; the put was aborted') { super(message); this.name = 'UploadAbortedError' }
}

/** A download whose client went away (or stopped reading) before the last byte. */
export class DownloadAbortedError extends Error {
  static name = 'DownloadAbortedError'
  constructor (message = 'The download ended before all its bytes were sent') { super(message); this.name = 'DownloadAbortedError' }
}

/** A session asked to take or give its bytes a second way (write() after upload(), read() after download(), …). */
export class SessionBusyError extends Error {
  static name = 'SessionBusyError'
  constructor (message = 'The session already moves its bytes another way') { super(message); this.name = 'SessionBusyError' }
}

/** An upload without a Content-Length (chunked or none): its length must be known before the first byte. */
export class LengthRequiredError extends Error {
  static name = 'LengthRequiredError'
  constructor (message = 'An upload needs a Content-Length header (chunked bodies are refused)') { super(message); this.name = 'LengthRequiredError' }
}

/** An upload whose Content-Length is not the size its put declared. */
export class SizeMismatchError extends Error {
  static name = 'SizeMismatchError'
  constructor (message = 'The upload\'s Content-Length is not the size the put declared') { super(message); this.name = 'SizeMismatchError' }
}

/** A byte-channel request with the wrong HTTP method for its path. */
export class MethodNotAllowedError extends Error {
  static name = 'MethodNotAllowedError'
  constructor (message = 'This path does not take that method') { super(message); this.name = 'MethodNotAllowedError' }
}

/** A request from a web origin, or for a host name, that is not loopback. */
export class ForbiddenOriginError extends Error {
  static name = 'ForbiddenOriginError'
  constructor (message = 'The admin endpoint serves loopback clients only') { super(message); this.name = 'ForbiddenOriginError' }
}
