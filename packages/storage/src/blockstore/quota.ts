// A byte quota over any blockstore: the `storageMiB` caveat of the storage
// lease a participant granted. The quota counts blocks' sizes as the inner
// store reports them (stat().bytes), not the space the file system uses.
// Puts in flight reserve their size before they write, so concurrent puts
// can never together exceed the limit. Browser-safe.
import type { CID } from 'multiformats/cid'
import { blockId, checkBytes } from './block.ts'
import { QuotaExceededError } from './errors.ts'
import type { AbortOptions, Blockstore, BlockstoreStat, GetOptions, PutOptions, ScrubFinding, ScrubOptions } from './interface.ts'
import { KeyedMutex } from './mutex.ts'

/** Bytes in one MiB, the unit of a lease's storageMiB caveat. */
export const MIB = 1024 * 1024

/** The byte limit of a storage lease's `storageMiB` caveat; no caveat (undefined) means no limit (Infinity). */
export function quotaBytesOfStorageMiB (storageMiB: number | undefined): number {
  if (storageMiB === undefined) return Number.POSITIVE_INFINITY
  return checkLimit(storageMiB * MIB)
}

function checkLimit (bytes: number): number {
  if (typeof bytes !== 'number' || Number.isNaN(bytes) || bytes < 0 || (Number.isFinite(bytes) && !Number.isSafeInteger(bytes))) {
    throw new RangeError(`a quota is a non-negative whole number of bytes (or Infinity), got ${String(bytes)}`)
  }
  return bytes
}

/** Options of QuotaBlockstore. */
export interface QuotaBlockstoreInit {
  /** The quota in bytes (Infinity: none). See quotaBytesOfStorageMiB. */
  limitBytes: number
}

/** Where a quota stands. */
export interface QuotaUsage {
  /** the quota in force, in bytes */
  limit: number
  /** bytes held plus bytes reserved by puts in flight */
  used: number
  /** bytes a put may still take (0 when the quota was lowered below what is held) */
  available: number
}

/**
 * A blockstore that refuses puts which would take `inner` over a byte limit. A refused put
 * throws QuotaExceededError and stores nothing; a block already held costs nothing again;
 * deletes free their bytes. Write to `inner` only through this wrapper, or the quota
 * cannot hold.
 */
export class QuotaBlockstore implements Blockstore {
  /** the wrapped store */
  readonly inner: Blockstore
  #limit: number
  #reserved = 0
  // Checks and releases of reservations run one at a time, so every check sees the
  // inner store's count and the reservations of puts in flight consistently.
  readonly #accounting = new KeyedMutex()
  readonly #putting = new Map<string, Promise<unknown>>()

  /** Wrap `inner` with a quota of `init.limitBytes`. */
  constructor (inner: Blockstore, init: QuotaBlockstoreInit) {
    this.inner = inner
    this.#limit = checkLimit(init.limitBytes)
  }

  /** The quota in force, in bytes. */
  get limit (): number {
    return this.#limit
  }

  /**
   * Change the quota (the lease was renewed or attenuated). Lowering it below what is held
   * deletes nothing: puts are refused until deletes bring usage under the new limit.
   */
  setLimit (bytes: number): void {
    this.#limit = checkLimit(bytes)
  }

  /** The limit, what is used (held and reserved) and what is left. */
  async usage (options: AbortOptions = {}): Promise<QuotaUsage> {
    return await this.#accounting.run('q', async () => {
      const used = await this.#used(options)
      return { limit: this.#limit, used, available: Math.max(0, this.#limit - used) }
    })
  }

  /** Open the inner store. */
  async open (options?: AbortOptions): Promise<void> {
    await this.inner.open(options)
  }

  /** Close the inner store. */
  async close (): Promise<void> {
    await this.inner.close()
  }

  /** Store a block if the quota allows; QuotaExceededError (nothing stored) when it does not. */
  async put (cid: CID, bytes: Uint8Array, options: PutOptions = {}): Promise<CID> {
    options.signal?.throwIfAborted()
    const { key } = blockId(cid)
    checkBytes(bytes)
    // Our own copy before any await (the caller may reuse its buffer meanwhile), unless it handed them over;
    // either way the bytes are ours, and the inner store is handed them in turn.
    const copy = options.owned === true ? bytes : new Uint8Array(bytes)
    options = { ...options, owned: true }
    // A put of the same block already in flight: wait for it, so the block is not reserved twice.
    for (let p = this.#putting.get(key); p !== undefined; p = this.#putting.get(key)) await p.catch(() => {})
    const attempt = this.#put(cid, copy, options)
    this.#putting.set(key, attempt)
    try {
      return await attempt
    } finally {
      if (this.#putting.get(key) === attempt) this.#putting.delete(key)
    }
  }

  async #put (cid: CID, bytes: Uint8Array, options: PutOptions): Promise<CID> {
    if (await this.inner.has(cid, options)) return await this.inner.put(cid, bytes, options)
    const size = bytes.byteLength
    await this.#accounting.run('q', async () => {
      const used = await this.#used(options)
      if (used + size > this.#limit) throw new QuotaExceededError({ limit: this.#limit, used, requested: size })
      this.#reserved += size
    })
    try {
      return await this.inner.put(cid, bytes, options)
    } finally {
      // At once, not behind the checks queued meanwhile: they would count this block twice (held and reserved).
      this.#reserved -= size
    }
  }

  /**
   * Bytes held and reserved. The reservations are read before the inner store's count: a put that
   * ends in between is counted at least once (reserved, and maybe held too), never not at all.
   */
  async #used (options: AbortOptions): Promise<number> {
    const reserved = this.#reserved
    return (await this.inner.stat(options)).bytes + reserved
  }

  /** The inner store's get. */
  get (cid: CID, options?: GetOptions): Promise<Uint8Array> {
    return this.inner.get(cid, options)
  }

  /** The inner store's has. */
  has (cid: CID, options?: AbortOptions): Promise<boolean> {
    return this.inner.has(cid, options)
  }

  /** Delete from the inner store; its bytes no longer count against the quota. */
  delete (cid: CID, options?: AbortOptions): Promise<void> {
    return this.inner.delete(cid, options)
  }

  /** The inner store's CIDs. */
  cids (options?: AbortOptions): AsyncGenerator<CID> {
    return this.inner.cids(options)
  }

  /** The inner store's stat. */
  stat (options?: AbortOptions): Promise<BlockstoreStat> {
    return this.inner.stat(options)
  }

  /** The inner store's scrub. */
  scrub (options?: ScrubOptions): AsyncGenerator<ScrubFinding> {
    return this.inner.scrub(options)
  }
}
