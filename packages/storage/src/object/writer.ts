// Writing an object: fixed-size chunks, each encrypted with the object's key,
// then either kept whole (replicas) or cut into k data + m parity shards
// (Reed-Solomon). The writer is a push-style stream so a put of any size runs
// in bounded memory: the caller ships each chunk's blocks as they come out.
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { createErasureCodec, type ErasureCodec, splitIntoShards } from '../erasure/index.ts'
import { type Block, blockCid } from './block.ts'
import type { ReadCapability } from './capability.ts'
import { type ChunkKey, encryptChunk, encryptChunkAndDigest, importChunkKey, keyCheckOf, newObjectKey } from './crypto.ts'
import { StorageOptionsError } from './errors.ts'
import { DEFAULT_CHUNK_SIZE, encodeRoot, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, type ObjectRoot, type Redundancy, type RootChunk, validateRedundancy } from './root.ts'

/** Options of ObjectWriter.create. */
export interface ObjectWriterInit {
  redundancy: Redundancy
  /** plaintext bytes per chunk (default 1 MiB) */
  chunkSize?: number
  /** the object key (default: fresh random); pass one only to re-create a known object */
  key?: Uint8Array
}

/** One chunk's blocks in position order: one block for replicas, k+m shards for erasure. */
export interface ChunkBlocks { index: number, cipherLength: number, blocks: Block[] }

/** What finish() returns: the last chunks, the root block and the read capability. */
export interface WrittenObject { chunks: ChunkBlocks[], root: Block, rootValue: ObjectRoot, cap: ReadCapability }

/** Turns a stream of plaintext into encrypted, content-addressed blocks and a root. */
export class ObjectWriter {
  readonly redundancy: Redundancy
  readonly chunkSize: number
  /** the object's key check (a one-way hash of its key): also its storage index, where placement puts it */
  readonly keyCheck: Uint8Array
  private readonly key: Uint8Array
  private readonly cryptoKey: ChunkKey
  private readonly codec: ErasureCodec | undefined
  private buf: Uint8Array
  private fill = 0
  private index = 0
  private size = 0
  private finished = false
  private readonly chunks: RootChunk[] = []
  /** the chunks being sealed (finish waits for them; only their completion is kept, never their bytes) */
  private readonly sealing = new Set<Promise<void>>()

  private constructor (redundancy: Redundancy, chunkSize: number, key: Uint8Array, keyCheck: Uint8Array, cryptoKey: ChunkKey, codec: ErasureCodec | undefined) {
    this.redundancy = redundancy
    this.keyCheck = keyCheck
    this.chunkSize = chunkSize
    this.key = key
    this.cryptoKey = cryptoKey
    this.codec = codec
    this.buf = new Uint8Array(chunkSize)
  }

  /** A writer; StorageOptionsError for a chunk size or redundancy out of range. */
  static async create (init: ObjectWriterInit): Promise<ObjectWriter> {
    const redundancy = validateRedundancy(init.redundancy)
    const chunkSize = init.chunkSize ?? DEFAULT_CHUNK_SIZE
    if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
      throw new StorageOptionsError(`chunk size must be ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE} bytes`, { field: 'chunkSize' })
    }
    const key = init.key ?? newObjectKey()
    if (!(key instanceof Uint8Array) || key.length !== 32) throw new StorageOptionsError('an object key is 32 bytes', { field: 'key' })
    const codec = redundancy.kind === 'erasure' ? createErasureCodec(redundancy.k, redundancy.m) : undefined
    return new ObjectWriter(redundancy, chunkSize, key, await keyCheckOf(key), await importChunkKey(key), codec)
  }

  /** Plaintext bytes written so far. */
  get bytesWritten (): number { return this.size }

  /**
   * Adds plaintext; returns the blocks of every chunk it completed (possibly none). `bytes` are read
   * before this returns (the caller may reuse them), and the next write may start before this one
   * resolves: chunks are sealed concurrently (off the main thread in Node), each under its own index.
   */
  async write (bytes: Uint8Array): Promise<ChunkBlocks[]> {
    if (this.finished) throw new Error('write after finish')
    const sealing: Array<Promise<ChunkBlocks>> = []
    let at = 0
    while (at < bytes.length) {
      if (this.fill === 0 && bytes.length - at >= this.chunkSize) {
        // a whole chunk of the caller's bytes is sealed from where it lies (read before seal returns)
        sealing.push(this.seal(bytes.subarray(at, at + this.chunkSize)))
        at += this.chunkSize
        continue
      }
      const n = Math.min(bytes.length - at, this.chunkSize - this.fill)
      this.buf.set(bytes.subarray(at, at + n), this.fill)
      this.fill += n
      at += n
      if (this.fill === this.chunkSize) sealing.push(this.seal(this.buf))
    }
    this.size += bytes.length
    return await Promise.all(sealing)
  }

  /** Seals the last partial chunk and the root (once every chunk is sealed); the writer is spent afterwards. */
  async finish (): Promise<WrittenObject> {
    if (this.finished) throw new Error('finish called twice')
    this.finished = true
    const chunks = this.fill > 0 ? [await this.seal(this.buf.subarray(0, this.fill))] : []
    await Promise.all(this.sealing)
    // (a chunk whose sealing failed failed its write too; a root without it is never made)
    for (let i = 0; i < this.index; i++) if (this.chunks[i] == null) throw new Error(`chunk ${i} of the object failed to seal`)
    const rootValue: ObjectRoot = { v: 1, size: this.size, chunkSize: this.chunkSize, redundancy: this.redundancy, keyCheck: this.keyCheck, chunks: this.chunks }
    const root = await encodeRoot(rootValue)
    return { chunks, root, rootValue, cap: { root: root.cid, key: this.key } }
  }

  /**
   * Starts sealing the next chunk, `plain` (the buffered chunk, or one in the caller's bytes), into its
   * blocks: its index is taken and `plain` read before this returns, so the buffer may be refilled.
   */
  private seal (plain: Uint8Array): Promise<ChunkBlocks> {
    const index = this.index++
    this.fill = 0
    // (both read `plain` before they return)
    const sealed = this.codec == null
      ? encryptChunkAndDigest(this.cryptoKey, index, plain)
      : encryptChunk(this.cryptoKey, index, plain).then(cipher => ({ cipher, digest: undefined }))
    const done = this.blocksOf(index, sealed)
    const settled = done.then(() => {}, () => {}) // (a failure reaches the write that waits on it)
    this.sealing.add(settled)
    void settled.then(() => this.sealing.delete(settled))
    return done
  }

  private async blocksOf (index: number, sealed: Promise<{ cipher: Uint8Array, digest: Uint8Array | undefined }>): Promise<ChunkBlocks> {
    const { cipher, digest } = await sealed
    let blocks: Block[]
    if (this.codec == null) {
      blocks = [{ cid: CID.createV1(raw.code, createDigest(sha256.code, digest!)), bytes: cipher }]
    } else {
      const { shards } = splitIntoShards(cipher, this.codec.k)
      blocks = []
      for (const bytes of [...shards, ...this.codec.encode(shards)]) blocks.push({ cid: await blockCid(bytes), bytes })
    }
    this.chunks[index] = { cipherLength: cipher.length, blocks: blocks.map(b => b.cid) as CID[] }
    return { index, cipherLength: cipher.length, blocks }
  }
}
