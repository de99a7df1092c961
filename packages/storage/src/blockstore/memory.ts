// A blockstore in memory: for tests, and the browser's fallback when
// IndexedDB is unavailable (private windows, storage refused). Nothing
// survives a restart. Blocks are copied in and out, so a caller that
// reuses or mutates its buffers cannot change what the store holds.
import type { CID } from 'multiformats/cid'
import { blockId, checkPut, cidOfKey, maxBlockBytesOf, putMismatch, safeString, verifyBlockBytes } from './block.ts'
import { BlockNotFoundError } from './errors.ts'
import { type AbortOptions, type Blockstore, type BlockstoreInit, type BlockstoreStat, type GetOptions, MAX_BLOCK_BYTES, type ScrubFinding, type ScrubOptions } from './interface.ts'
import { scrubBlocks } from './scrub.ts'

/** Blockstore in a Map, keyed by multihash. */
export class MemoryBlockstore implements Blockstore {
  readonly #blocks = new Map<string, Uint8Array>()
  readonly #maxBlockBytes: number
  readonly #verifyOnGet: boolean
  readonly #verifyOnPut: boolean
  #bytes = 0

  constructor (init: BlockstoreInit = {}) {
    this.#maxBlockBytes = maxBlockBytesOf(init.maxBlockBytes, MAX_BLOCK_BYTES)
    this.#verifyOnGet = init.verifyOnGet ?? true
    this.#verifyOnPut = init.verifyOnPut ?? true
  }

  /** Nothing to open. */
  async open (): Promise<void> {}

  /** Nothing to release: the blocks stay until the object is dropped. */
  async close (): Promise<void> {}

  /** Store a block (a copy); see Blockstore.put. */
  async put (cid: CID, bytes: Uint8Array, options: AbortOptions = {}): Promise<CID> {
    options.signal?.throwIfAborted()
    const id = checkPut(cid, bytes, this.#maxBlockBytes)
    if (this.#blocks.has(id.key)) return cid
    const copy = new Uint8Array(bytes)
    if (this.#verifyOnPut) await verifyBlockBytes(id, copy, putMismatch(id.cid))
    options.signal?.throwIfAborted()
    if (!this.#blocks.has(id.key)) {
      this.#blocks.set(id.key, copy)
      this.#bytes += copy.byteLength
    }
    return cid
  }

  /** A copy of the block's bytes; see Blockstore.get. */
  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    options.signal?.throwIfAborted()
    const id = blockId(cid)
    const held = this.#blocks.get(id.key)
    if (held === undefined) throw new BlockNotFoundError(safeString(id.cid))
    const copy = new Uint8Array(held)
    if (options.verify ?? this.#verifyOnGet) await verifyBlockBytes(id, copy)
    return copy
  }

  /** True when the block is held. */
  async has (cid: CID, options: AbortOptions = {}): Promise<boolean> {
    options.signal?.throwIfAborted()
    return this.#blocks.has(blockId(cid).key)
  }

  /** Remove a block, if held. */
  async delete (cid: CID, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    const key = blockId(cid).key
    const held = this.#blocks.get(key)
    if (held === undefined) return
    this.#blocks.delete(key)
    this.#bytes -= held.byteLength
  }

  /** Every held block's CID (v1, raw codec). */
  async * cids (options: AbortOptions = {}): AsyncGenerator<CID> {
    for (const key of [...this.#blocks.keys()]) {
      options.signal?.throwIfAborted()
      if (!this.#blocks.has(key)) continue
      const cid = cidOfKey(key)
      if (cid !== undefined) yield cid
    }
  }

  /** Number and total size of held blocks. */
  async stat (): Promise<BlockstoreStat> {
    return { blocks: this.#blocks.size, bytes: this.#bytes }
  }

  /** Re-verify every block, yielding the bad ones. */
  scrub (options?: ScrubOptions): AsyncGenerator<ScrubFinding> {
    return scrubBlocks(this, options)
  }
}
