// The browser's blockstore: IndexedDB. Three object stores in one database:
//   blocks  key -> the block's bytes
//   sizes   key -> its size (so has, delete, stat and iteration never load a block)
//   meta    'stat' -> { blocks, bytes }
// A put or delete changes all three in one transaction, so the counters always
// match the blocks. Writes ask for `durability: 'strict'` (the browser flushes
// before the transaction completes). Browser-safe: no Node imports; the
// IndexedDB factory can be passed in (tests use fake-indexeddb).
import type { CID } from 'multiformats/cid'
import { blockId, checkPut, cidOfKey, maxBlockBytesOf, putMismatch, safeString, verifyBlockBytes } from './block.ts'
import { BlockNotFoundError, CorruptBlockError } from './errors.ts'
import { type AbortOptions, type Blockstore, type BlockstoreInit, type BlockstoreStat, type GetOptions, MAX_BLOCK_BYTES, type ScrubFinding, type ScrubOptions } from './interface.ts'
import { scrubBlocks } from './scrub.ts'

/** Options of IdbBlockstore. */
export interface IdbBlockstoreInit extends BlockstoreInit {
  /** The IndexedDB factory (default: globalThis.indexedDB). */
  indexedDB?: IDBFactory
}

const DB_VERSION = 1
const BLOCKS = 'blocks'
const SIZES = 'sizes'
const META = 'meta'
const STAT_KEY = 'stat'
/** Keys fetched per transaction while iterating (a transaction cannot stay open across the consumer's awaits). */
const KEY_BATCH = 1000

function request<T> (req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
}

/** Resolves when `tx` commits, rejects when it aborts or fails. */
function done (tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'))
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'))
  })
}

function statOf (x: unknown): BlockstoreStat {
  const s = x as Partial<BlockstoreStat> | undefined
  const n = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0)
  return { blocks: n(s?.blocks), bytes: n(s?.bytes) }
}

/** A blockstore in one IndexedDB database (browser). */
export class IdbBlockstore implements Blockstore {
  /** the database's name */
  readonly name: string
  readonly #factory?: IDBFactory
  readonly #maxBlockBytes: number
  readonly #verifyOnGet: boolean
  readonly #verifyOnPut: boolean
  #db?: Promise<IDBDatabase>

  /** A store in the IndexedDB database `name` (created at open if missing). No I/O until open() or the first operation. */
  constructor (name: string, init: IdbBlockstoreInit = {}) {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('IdbBlockstore needs a database name')
    this.name = name
    this.#factory = init.indexedDB
    this.#maxBlockBytes = maxBlockBytesOf(init.maxBlockBytes, MAX_BLOCK_BYTES)
    this.#verifyOnGet = init.verifyOnGet ?? true
    this.#verifyOnPut = init.verifyOnPut ?? true
  }

  /** Open (creating if needed) the database. */
  async open (options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    await this.#database()
  }

  #database (): Promise<IDBDatabase> {
    this.#db ??= (async () => {
      const factory = this.#factory ?? globalThis.indexedDB
      if (factory == null) throw new Error('IndexedDB is not available here: use MemoryBlockstore (or pass an IDBFactory)')
      const req = factory.open(this.name, DB_VERSION)
      req.onupgradeneeded = () => {
        const db = req.result
        for (const s of [BLOCKS, SIZES, META]) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s)
      }
      const db = await request(req)
      // Another tab upgrading the database: step aside rather than block it.
      db.onversionchange = () => {
        db.close()
        this.#db = undefined
      }
      return db
    })().catch(err => {
      this.#db = undefined
      throw err
    })
    return this.#db
  }

  /** Close the database; later calls reopen it. */
  async close (): Promise<void> {
    const db = this.#db
    this.#db = undefined
    if (db !== undefined) (await db.catch(() => undefined))?.close()
  }

  /** Store a block in one strict-durability transaction; see Blockstore.put. */
  async put (cid: CID, bytes: Uint8Array, options: AbortOptions = {}): Promise<CID> {
    options.signal?.throwIfAborted()
    const id = checkPut(cid, bytes, this.#maxBlockBytes)
    // A copy, before any await, with its own exact buffer: the caller may reuse its buffer,
    // and structured clone would store all of a larger backing buffer.
    const copy = new Uint8Array(bytes)
    const db = await this.#database()
    if (await this.#sizeOf(db, id.key) !== undefined) return cid
    if (this.#verifyOnPut) await verifyBlockBytes(id, copy, putMismatch(id.cid))
    options.signal?.throwIfAborted()
    const tx = db.transaction([BLOCKS, SIZES, META], 'readwrite', { durability: 'strict' })
    const committed = done(tx)
    const sizes = tx.objectStore(SIZES)
    // All requests are chained in callbacks: the transaction stays active only while requests are pending.
    sizes.get(id.key).onsuccess = (e) => {
      if ((e.target as IDBRequest).result !== undefined) return // a concurrent put stored it first
      tx.objectStore(BLOCKS).put(copy, id.key)
      sizes.put(copy.byteLength, id.key)
      const meta = tx.objectStore(META)
      meta.get(STAT_KEY).onsuccess = (m) => {
        const s = statOf((m.target as IDBRequest).result)
        meta.put({ blocks: s.blocks + 1, bytes: s.bytes + copy.byteLength }, STAT_KEY)
      }
    }
    await committed
    return cid
  }

  async #sizeOf (db: IDBDatabase, key: string): Promise<number | undefined> {
    const tx = db.transaction(SIZES, 'readonly')
    const size = await request(tx.objectStore(SIZES).get(key))
    return typeof size === 'number' ? size : undefined
  }

  /** The block's bytes, verified by default; see Blockstore.get. */
  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    options.signal?.throwIfAborted()
    const id = blockId(cid)
    const db = await this.#database()
    const value: unknown = await request(db.transaction(BLOCKS, 'readonly').objectStore(BLOCKS).get(id.key))
    if (value === undefined) throw new BlockNotFoundError(safeString(id.cid))
    if (!(value instanceof Uint8Array) || value.byteLength > this.#maxBlockBytes) {
      throw new CorruptBlockError(safeString(id.cid), `block ${safeString(id.cid)} in IndexedDB is not a block's bytes: delete it and fetch a good copy`)
    }
    if (options.verify ?? this.#verifyOnGet) await verifyBlockBytes(id, value)
    return value
  }

  /** True when the block is held (not read or verified). */
  async has (cid: CID, options: AbortOptions = {}): Promise<boolean> {
    options.signal?.throwIfAborted()
    const id = blockId(cid)
    return await this.#sizeOf(await this.#database(), id.key) !== undefined
  }

  /** Remove a block, if held, in one transaction with the counters. */
  async delete (cid: CID, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    const id = blockId(cid)
    const db = await this.#database()
    const tx = db.transaction([BLOCKS, SIZES, META], 'readwrite', { durability: 'strict' })
    const committed = done(tx)
    const sizes = tx.objectStore(SIZES)
    sizes.get(id.key).onsuccess = (e) => {
      const size: unknown = (e.target as IDBRequest).result
      if (typeof size !== 'number') return
      tx.objectStore(BLOCKS).delete(id.key)
      sizes.delete(id.key)
      const meta = tx.objectStore(META)
      meta.get(STAT_KEY).onsuccess = (m) => {
        const s = statOf((m.target as IDBRequest).result)
        meta.put({ blocks: Math.max(0, s.blocks - 1), bytes: Math.max(0, s.bytes - size) }, STAT_KEY)
      }
    }
    await committed
  }

  /** Every held block's CID (v1, raw codec), in key order, fetched in batches. */
  async * cids (options: AbortOptions = {}): AsyncGenerator<CID> {
    let after: string | undefined
    for (;;) {
      options.signal?.throwIfAborted()
      const keys = await this.#keysAfter(await this.#database(), after, KEY_BATCH)
      for (const key of keys) {
        const cid = cidOfKey(key)
        if (cid !== undefined) yield cid
      }
      if (keys.length < KEY_BATCH) return
      after = keys[keys.length - 1]
    }
  }

  /** Up to `n` string keys of the sizes store that sort after `after`, in one transaction. */
  #keysAfter (db: IDBDatabase, after: string | undefined, n: number): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const out: string[] = []
      // A key cursor positioned with continue(key), not IDBKeyRange: that global is not
      // reachable from an IDBFactory that was passed in.
      const req = db.transaction(SIZES, 'readonly').objectStore(SIZES).openKeyCursor()
      req.onerror = () => reject(req.error)
      req.onsuccess = () => {
        const c = req.result
        if (c == null) return resolve(out)
        const key = c.key
        if (typeof key !== 'string') return c.continue()
        if (after !== undefined && key <= after) return key < after ? c.continue(after) : c.continue()
        out.push(key)
        if (out.length >= n) return resolve(out)
        c.continue()
      }
    })
  }

  /** Number and total size of held blocks (kept in the database with them). */
  async stat (options: AbortOptions = {}): Promise<BlockstoreStat> {
    options.signal?.throwIfAborted()
    const db = await this.#database()
    return statOf(await request(db.transaction(META, 'readonly').objectStore(META).get(STAT_KEY)))
  }

  /** Re-verify every block, yielding the bad ones. */
  scrub (options?: ScrubOptions): AsyncGenerator<ScrubFinding> {
    return scrubBlocks(this, options)
  }
}
