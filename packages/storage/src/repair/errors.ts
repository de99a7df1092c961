// Errors of the repair core, matched by `name` (never `instanceof`). Methods
// that take driver input throw them with the core's state unchanged; remote
// input is never thrown on (it is refused with a `refused` effect).

// A placement record of the wrong shape: bad root, redundancy, holders
// (wrong count, duplicates), version or share size. `field` names the part.
export class MalformedRecordError extends Error {
  static name = 'MalformedRecordError'
  readonly field: string
  constructor (message = 'malformed placement record: check root, redundancy, holders, version and shareBytes', options?: ErrorOptions & { field?: string }) {
    super(message, options)
    this.name = 'MalformedRecordError'
    this.field = options?.field ?? 'record'
  }
}

// A status message that is not exactly a repair message within LIMITS: drop
// the frame (the core reports it as `refused` and ignores it).
export class MalformedRepairMessageError extends Error {
  static name = 'MalformedRepairMessageError'
  constructor (message = 'malformed repair message: drop the frame') {
    super(message)
    this.name = 'MalformedRepairMessageError'
  }
}

// A record whose redundancy or share size differs from the record this node
// already holds for the same root: one root is one object, stored one way.
export class RecordConflictError extends Error {
  static name = 'RecordConflictError'
  constructor (message = 'conflicting placement record: this root is already stored with another redundancy or share size') {
    super(message)
    this.name = 'RecordConflictError'
  }
}

// A snapshot passed to the constructor is not one `snapshot()` produced.
// Nothing was loaded: rebuild it from the shares on disk, or start empty
// (unlisted shares are then dropped by nobody — keep them until re-held).
export class MalformedSnapshotError extends Error {
  static name = 'MalformedSnapshotError'
  constructor (message = 'malformed repair snapshot: not written by RepairCore.snapshot()') {
    super(message)
    this.name = 'MalformedSnapshotError'
  }
}

// A driver call with a bad argument (position out of range, non-integer time…).
export class InvalidRepairInputError extends Error {
  static name = 'InvalidRepairInputError'
  constructor (message = 'invalid repair input') {
    super(message)
    this.name = 'InvalidRepairInputError'
  }
}
