// Reading an object: verify the root against the capability, check the key
// before fetching anything, then verify, reconstruct and decrypt chunk by chunk.
import { createErasureCodec, type ErasureCodec, joinShards } from '../erasure/index.ts'
import { type BlockBytes, joinBlock, verifyBlock } from './block.ts'
import type { ReadCapability } from './capability.ts'
import { type ChunkKey, decryptChunk, decryptChunkPieces, importChunkKey, keyCheckOf } from './crypto.ts'
import { CorruptObjectError, TooFewSharesError, WrongKeyError } from './errors.ts'
import { decodeRoot, needOf, type ObjectRoot, positionsOf } from './root.ts'

/** Opens an object for reading from its root block and read capability. */
export class ObjectReader {
  readonly root: ObjectRoot
  private readonly cryptoKey: ChunkKey
  private readonly codec: ErasureCodec | undefined

  private constructor (root: ObjectRoot, cryptoKey: ChunkKey, codec: ErasureCodec | undefined) {
    this.root = root
    this.cryptoKey = cryptoKey
    this.codec = codec
  }

  /**
   * Verifies `rootBytes` against the capability's root CID (TamperedBlockError), decodes it
   * (MalformedRootError) and checks the key (WrongKeyError) — all before any chunk is fetched.
   */
  static async open (cap: ReadCapability, rootBytes: Uint8Array): Promise<ObjectReader> {
    await verifyBlock(cap.root, rootBytes)
    const root = decodeRoot(rootBytes)
    const check = await keyCheckOf(cap.key)
    if (!check.every((b, i) => b === root.keyCheck[i])) throw new WrongKeyError()
    const codec = root.redundancy.kind === 'erasure' ? createErasureCodec(root.redundancy.k, root.redundancy.m) : undefined
    return new ObjectReader(root, await importChunkKey(cap.key), codec)
  }

  /** Shares needed per chunk: 1 block for replicas, k shards for erasure. */
  get need (): number { return needOf(this.root.redundancy) }

  /**
   * Plaintext of chunk `index` from its blocks by position (undefined where missing). Each present
   * block is verified against the root (TamperedBlockError) unless the caller says it already
   * verified every one against `root.chunks[index].blocks`; TooFewSharesError when fewer than `need`.
   */
  async chunk (index: number, blocks: Array<BlockBytes | undefined>, opts: { verified?: boolean } = {}): Promise<Uint8Array> {
    return joinBlock(await this.chunkPieces(index, blocks, opts))
  }

  /**
   * As chunk, as pieces of plaintext in order: a copy that arrived in pieces (off the network) is
   * verified and decrypted where its pieces lie (in Node, a large one is joined once and decrypted on a
   * crypto worker). With `handOver`, the blocks given are this call's: a block's buffer may be taken
   * (detached in Node) rather than copied — only for bytes nothing else reads.
   */
  async chunkPieces (index: number, blocks: Array<BlockBytes | undefined>, opts: { verified?: boolean, handOver?: boolean } = {}): Promise<Uint8Array[]> {
    const check = opts.verified === true ? async (): Promise<void> => {} : verifyBlock
    const c = this.root.chunks[index]
    if (c == null) throw new RangeError(`chunk ${index} is outside 0..${this.root.chunks.length - 1}`)
    let cipher: BlockBytes
    if (this.codec == null) {
      const b = blocks.find(x => x != null)
      if (b == null) throw new TooFewSharesError(`chunk ${index}: no copy of its block was found`)
      await check(c.blocks[0], b)
      cipher = b
    } else {
      const n = positionsOf(this.root.redundancy)
      const slots: Array<Uint8Array | undefined> = Array.from({ length: n }, () => undefined)
      let present = 0
      for (let p = 0; p < n; p++) {
        const b = blocks[p]
        if (b == null) continue
        await check(c.blocks[p], b)
        slots[p] = joinBlock(b)
        present++
      }
      if (present < this.codec.k) throw new TooFewSharesError(`chunk ${index}: ${present} of the ${this.codec.k} shards needed were found`)
      const all = present === n || slots.slice(0, this.codec.k).every(s => s != null) ? slots as Uint8Array[] : this.codec.reconstruct(slots)
      cipher = joinShards(all.slice(0, this.codec.k), this.codec.k, c.cipherLength)
    }
    try {
      // (shards joined here are this call's own bytes)
      const mine = opts.handOver === true || this.codec != null
      return cipher instanceof Uint8Array ? [await decryptChunk(this.cryptoKey, index, cipher, mine)] : await decryptChunkPieces(this.cryptoKey, index, cipher)
    } catch (err) {
      throw new CorruptObjectError(undefined, { cause: err })
    }
  }
}
