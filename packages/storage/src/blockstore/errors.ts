// One error class per refusal of a blockstore, matched by `name` (never
// `instanceof`: it breaks across bundles, realms and RPC). Each default
// message says what was wrong and what to do about it.

/** No block is held under the CID that was asked for. */
export class BlockNotFoundError extends Error {
  static name = 'BlockNotFoundError'
  /** the CID that was asked for (string form) */
  readonly cid: string
  constructor (cid: string, message = `block ${cid} is not in this store: fetch it from another holder`, options?: ErrorOptions) {
    super(message, options)
    this.name = 'BlockNotFoundError'
    this.cid = cid
  }
}

/** Bytes that do not hash to their CID: a held block rotted or was tampered with, or a put's bytes were not the CID's. */
export class CorruptBlockError extends Error {
  static name = 'CorruptBlockError'
  /** the CID whose bytes did not match (string form) */
  readonly cid: string
  constructor (cid: string, message = `block ${cid} does not hash to its CID: delete it and fetch a good copy from another holder`, options?: ErrorOptions) {
    super(message, options)
    this.name = 'CorruptBlockError'
    this.cid = cid
  }
}

/** What a QuotaExceededError reports, in bytes. */
export interface QuotaExceededDetail {
  /** the quota in force */
  limit: number
  /** bytes held (and reserved by puts in flight) when the put was refused */
  used: number
  /** size of the refused block */
  requested: number
}

/** A put that would take the store over its byte quota (a storage lease's `storageMiB`); nothing was stored. */
export class QuotaExceededError extends Error {
  static name = 'QuotaExceededError'
  readonly limit: number
  readonly used: number
  readonly requested: number
  constructor (detail: QuotaExceededDetail, message?: string, options?: ErrorOptions) {
    super(message ?? `storing ${detail.requested} bytes would exceed the storage quota of ${detail.limit} bytes (${detail.used} in use): delete unpinned blocks, or renew the storage lease with a larger storageMiB`, options)
    this.name = 'QuotaExceededError'
    this.limit = detail.limit
    this.used = detail.used
    this.requested = detail.requested
  }
}

/** A block bigger than the store accepts (default MAX_BLOCK_BYTES); nothing was stored. */
export class BlockTooLargeError extends Error {
  static name = 'BlockTooLargeError'
  /** size of the refused block */
  readonly size: number
  /** the store's limit */
  readonly limit: number
  constructor (size: number, limit: number, message = `block of ${size} bytes is over this store's limit of ${limit}: split the data into smaller chunks`, options?: ErrorOptions) {
    super(message, options)
    this.name = 'BlockTooLargeError'
    this.size = size
    this.limit = limit
  }
}

/** A key that is not a CID this store can hold and verify (only sha2-256 CIDs, v0 or v1). */
export class InvalidCidError extends Error {
  static name = 'InvalidCidError'
  constructor (message = 'expected a CID (multiformats) with a sha2-256 multihash: pass the CID the block was addressed by', options?: ErrorOptions) {
    super(message, options)
    this.name = 'InvalidCidError'
  }
}

/** Bytes that are not a Uint8Array (put takes the whole block, not a stream). */
export class InvalidBlockError extends Error {
  static name = 'InvalidBlockError'
  constructor (message = 'a block is a Uint8Array holding the whole block: collect a stream into one array first', options?: ErrorOptions) {
    super(message, options)
    this.name = 'InvalidBlockError'
  }
}

/** A store directory already opened by another live process or another store object of this one. */
export class BlockstoreLockedError extends Error {
  static name = 'BlockstoreLockedError'
  constructor (message = 'this blockstore directory is in use by another store: close it first, or remove its LOCK file if no process uses it', options?: ErrorOptions) {
    super(message, options)
    this.name = 'BlockstoreLockedError'
  }
}

/** The names of every error a blockstore throws, for allow-listing errors that cross an RPC boundary. */
export const BLOCKSTORE_ERROR_NAMES = [
  'BlockNotFoundError',
  'CorruptBlockError',
  'QuotaExceededError',
  'BlockTooLargeError',
  'InvalidCidError',
  'InvalidBlockError',
  'BlockstoreLockedError'
] as const
