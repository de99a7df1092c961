// The contract every blockstore keeps. It is interface-blockstore's (v7)
// shape cut to what the CAS needs, with two deliberate differences: `get`
// resolves to the whole block instead of streaming chunks (a block is at
// most a few MiB and must be verified whole before any byte is used), and
// `put` takes the whole block. `asInterfaceBlockstore` (interop.ts) adapts
// any of ours to interface-blockstore v7 for IPFS-family code.
import type { CID } from 'multiformats/cid'

/** Largest block a store accepts unless told otherwise (8 MiB): chunks and shards are up to ~4 MiB. */
export const MAX_BLOCK_BYTES = 8 * 1024 * 1024

/** Options every operation takes. */
export interface AbortOptions {
  signal?: AbortSignal
}

/** Options of `put`. */
export interface PutOptions extends AbortOptions {
  /**
   * The caller hands `bytes` over: nothing will change them from now on, so a store that would
   * copy them before its first await may keep them as they are. Default false (the store copies).
   */
  owned?: boolean
}

/** Options of `get`. */
export interface GetOptions extends AbortOptions {
  /** Re-hash the bytes and throw CorruptBlockError on a mismatch (default: the store's `verifyOnGet`). */
  verify?: boolean
}

/** What a store holds. */
export interface BlockstoreStat {
  /** number of blocks */
  blocks: number
  /** sum of the blocks' sizes (not the space the file system or database uses for them) */
  bytes: number
}

/** A progress event of a scrub, reported after each block. */
export interface ScrubProgress {
  type: 'blockstore:scrub:block'
  /** blocks checked so far */
  checked: number
  /** corrupt blocks found so far */
  corrupt: number
}

/** Options of `scrub`. */
export interface ScrubOptions extends AbortOptions {
  onProgress?: (event: ScrubProgress) => void
}

/** A block the scrubber found bad: its CID and the error that says how. */
export interface ScrubFinding {
  cid: CID
  /** a CorruptBlockError, or the read error of a block that could not be read */
  error: Error
}

/** Options common to the stores of this folder. */
export interface BlockstoreInit {
  /** Largest block accepted (default MAX_BLOCK_BYTES). */
  maxBlockBytes?: number
  /** Verify every get against its CID (default true). */
  verifyOnGet?: boolean
  /** Verify a put's bytes against its CID before storing them (default true): a wrong block is refused with CorruptBlockError. */
  verifyOnPut?: boolean
}

/**
 * A store of blocks keyed by CID. Blocks are keyed by their multihash: two CIDs
 * with the same sha2-256 digest name the same block, and iteration reports every
 * block as a CIDv1 with the raw codec. Every method refuses bad input with a
 * named error and never damages what is stored.
 */
export interface Blockstore {
  /** Open the store (checks, locks, cleans up after a crash). Optional: every other method opens it first. */
  open: (options?: AbortOptions) => Promise<void>
  /**
   * Store a block; resolves once it is stored as durably as the store can
   * (FsBlockstore: on disk, fsynced). The store copies `bytes` before it
   * first awaits, so the caller may reuse them at once — unless the caller
   * hands them over (`owned`), which saves the copy. A block already held
   * is not written again. Refuses with InvalidCidError, InvalidBlockError, BlockTooLargeError,
   * CorruptBlockError (bytes not the CID's), QuotaExceededError — storing nothing.
   */
  put: (cid: CID, bytes: Uint8Array, options?: PutOptions) => Promise<CID>
  /** The block's bytes (a copy the caller owns). BlockNotFoundError when not held, CorruptBlockError when they do not hash to `cid`. */
  get: (cid: CID, options?: GetOptions) => Promise<Uint8Array>
  /** True when the block is held (without reading or verifying it). */
  has: (cid: CID, options?: AbortOptions) => Promise<boolean>
  /** Remove a block; removing one that is not held is not an error. */
  delete: (cid: CID, options?: AbortOptions) => Promise<void>
  /** Every held block's CID (v1, raw codec), in no particular order; blocks put or deleted during the walk may or may not appear. */
  cids: (options?: AbortOptions) => AsyncGenerator<CID>
  /** Number and total size of held blocks. */
  stat: (options?: AbortOptions) => Promise<BlockstoreStat>
  /** Re-verify every held block, one at a time, yielding each bad one. */
  scrub: (options?: ScrubOptions) => AsyncGenerator<ScrubFinding>
  /** Release what the store holds open (files, locks, databases); later calls reopen it. */
  close: () => Promise<void>
}
