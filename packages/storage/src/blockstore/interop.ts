// Our blockstores seen as interface-blockstore v7 (the IPFS family's
// contract: Helia, bitswap), structurally — without depending on that package.
// v7 streams: `get` yields chunks and `put` accepts them. Our stores verify a
// block whole, so the adapter yields each block as one chunk and collects a
// put's chunks (up to a size limit) before storing them. A missing block is
// reported under interface-store's error name, 'NotFoundError'. Browser-safe.
import type { CID } from 'multiformats/cid'
import { maxBlockBytesOf } from './block.ts'
import { BlockTooLargeError } from './errors.ts'
import { type AbortOptions, type Blockstore, MAX_BLOCK_BYTES } from './interface.ts'

/** interface-blockstore v7's output pair: a CID and its bytes as chunks. */
export interface InterfaceBlockstorePair {
  cid: CID
  bytes: AsyncGenerator<Uint8Array>
}

/** interface-blockstore v7's input pair. */
export interface InterfaceBlockstoreInputPair {
  cid: CID
  bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>
}

/** The methods of interface-blockstore v7's Blockstore (with interface-store v8's Store). */
export interface InterfaceBlockstore {
  has: (key: CID, options?: AbortOptions) => Promise<boolean>
  put: (key: CID, val: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options?: AbortOptions) => Promise<CID>
  putMany: (source: Iterable<InterfaceBlockstoreInputPair> | AsyncIterable<InterfaceBlockstoreInputPair>, options?: AbortOptions) => AsyncGenerator<CID>
  get: (key: CID, options?: AbortOptions) => AsyncGenerator<Uint8Array>
  getMany: (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions) => AsyncGenerator<InterfaceBlockstorePair>
  delete: (key: CID, options?: AbortOptions) => Promise<void>
  deleteMany: (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions) => AsyncGenerator<CID>
  getAll: (options?: AbortOptions) => AsyncGenerator<InterfaceBlockstorePair>
}

/** Options of asInterfaceBlockstore. */
export interface InterfaceBlockstoreInit {
  /** Most bytes a streamed put may collect (default MAX_BLOCK_BYTES). */
  maxBlockBytes?: number
}

/** A copy of `err` named 'NotFoundError' (interface-store's name) when it is our BlockNotFoundError. */
function asStoreError (err: unknown): unknown {
  if ((err as Error)?.name !== 'BlockNotFoundError') return err
  const e = new Error((err as Error).message, { cause: err })
  e.name = 'NotFoundError'
  return e
}

async function collect (val: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>, max: number, signal?: AbortSignal): Promise<Uint8Array> {
  if (val instanceof Uint8Array) return val
  const parts: Uint8Array[] = []
  let n = 0
  for await (const part of val) {
    signal?.throwIfAborted()
    n += part.byteLength
    if (n > max) throw new BlockTooLargeError(n, max, `streamed block is over ${max} bytes: split the data into smaller chunks`)
    parts.push(part)
  }
  const out = new Uint8Array(n)
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.byteLength }
  return out
}

/** `store` behind interface-blockstore v7's methods, for IPFS-family code. */
export function asInterfaceBlockstore (store: Blockstore, init: InterfaceBlockstoreInit = {}): InterfaceBlockstore {
  const max = maxBlockBytesOf(init.maxBlockBytes, MAX_BLOCK_BYTES)
  async function * get (key: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    try {
      yield await store.get(key, options)
    } catch (err) {
      throw asStoreError(err)
    }
  }
  async function put (key: CID, val: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options?: AbortOptions): Promise<CID> {
    return await store.put(key, await collect(val, max, options?.signal), options)
  }
  return {
    has: (key, options) => store.has(key, options),
    put,
    async * putMany (source, options) {
      for await (const { cid, bytes } of source) yield await put(cid, bytes, options)
    },
    get,
    async * getMany (source, options) {
      for await (const cid of source) yield { cid, bytes: get(cid, options) }
    },
    delete: (key, options) => store.delete(key, options),
    async * deleteMany (source, options) {
      for await (const cid of source) {
        await store.delete(cid, options)
        yield cid
      }
    },
    async * getAll (options) {
      for await (const cid of store.cids(options)) yield { cid, bytes: get(cid, options) }
    }
  }
}
