// Errors of the membership core, matched by `name`.

// A decoded frame is not a well-formed, within-limits membership message.
// The driver should drop the frame (and may penalise the sender).
export class MalformedMessageError extends Error {
  static name = 'MalformedMessageError'
  constructor (message = 'Malformed membership message: drop the frame') {
    super(message)
    this.name = 'MalformedMessageError'
  }
}
