// Errors of the object layer: capabilities, roots, keys and blocks. One class
// per condition, matched by `name`; each default message says what to do.

/** A read capability that is not `wf-read:<root cid>:<key>` (truncated, mistyped, another kind of string). */
export class MalformedCapabilityError extends Error {
  static name = 'MalformedCapabilityError'
  constructor (message = 'not a read capability (wf-read:<root cid>:<base64url key>): copy it whole from the output of `webfabric put`', options?: ErrorOptions) {
    super(message, options)
    this.name = 'MalformedCapabilityError'
  }
}

/** The capability's key does not open this object (its key check differs). */
export class WrongKeyError extends Error {
  static name = 'WrongKeyError'
  constructor (message = 'the key in this capability does not open the object: the capability was altered or belongs to another object', options?: ErrorOptions) {
    super(message, options)
    this.name = 'WrongKeyError'
  }
}

/** A block whose bytes do not hash to the CID they were fetched or sent under. */
export class TamperedBlockError extends Error {
  static name = 'TamperedBlockError'
  readonly cid: string
  constructor (cid: string, message = `block ${cid} does not hash to its CID: it was altered in storage or in transit; fetch it from another holder`, options?: ErrorOptions) {
    super(message, options)
    this.name = 'TamperedBlockError'
    this.cid = cid
  }
}

/** An object root that fails its schema or limits; `field` names the offending part. */
export class MalformedRootError extends Error {
  static name = 'MalformedRootError'
  readonly field: string
  constructor (message = 'malformed object root: it was not written by a Web Fabric store', options?: ErrorOptions & { field?: string }) {
    super(message, options)
    this.name = 'MalformedRootError'
    this.field = options?.field ?? 'root'
  }
}

/** Ciphertext that verified against its CID yet does not decrypt: the writer stored garbage under this key. */
export class CorruptObjectError extends Error {
  static name = 'CorruptObjectError'
  constructor (message = 'a chunk hashes correctly but does not decrypt: the object was written corrupt; it cannot be read', options?: ErrorOptions) {
    super(message, options)
    this.name = 'CorruptObjectError'
  }
}

/** Put options out of range: chunk size, redundancy, object size. `field` names the option. */
export class StorageOptionsError extends Error {
  static name = 'StorageOptionsError'
  readonly field: string
  constructor (message: string, options?: ErrorOptions & { field?: string }) {
    super(message, options)
    this.name = 'StorageOptionsError'
    this.field = options?.field ?? 'options'
  }
}

/** Fewer shares (or copies) of a chunk were reachable than it takes to read it. */
export class TooFewSharesError extends Error {
  static name = 'TooFewSharesError'
  constructor (message = 'too few holders of this object answered to read it: wait for repair or for holders to return', options?: ErrorOptions) {
    super(message, options)
    this.name = 'TooFewSharesError'
  }
}
