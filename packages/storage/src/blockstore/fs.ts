// The Node blockstore: one file per block, durable when a put resolves.
// Node-only (node:fs); browsers import idb.ts or memory.ts instead.
//
// Layout of the store's directory:
//   LOCK                  pid of the process that has the store open
//   tmp/                  blocks being written (emptied at open)
//   blocks/<xy>/<key>     a block; <key> = base32 of its multihash, <xy> = the two
//                         characters before the key's last one (the last carries
//                         only 2 bits of the digest), so ~1,024 evenly filled shards
//
// A put writes tmp/<key>.<random>, fsyncs it, renames it into blocks/<xy>/ and
// fsyncs that directory: a block is either whole under its name or absent,
// whenever the process or the machine stops. Why not `blockstore-fs`: see README.
import { randomBytes } from 'node:crypto'
import { closeSync, fstatSync, lstatSync, openSync, read } from 'node:fs'
import { type FileHandle, lstat, mkdir, open, readFile, readdir, rename, rm, unlink } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import type { CID } from 'multiformats/cid'
import { joinAndDigest } from '../object/sha256.ts'
import { type BlockId, blockId, checkPut, cidOfKey, KEY_CHARS, maxBlockBytesOf, putMismatch, safeString, sameDigest, verifyBlockBytes } from './block.ts'
import { BlockNotFoundError, BlockstoreLockedError, CorruptBlockError } from './errors.ts'
import { type AbortOptions, type Blockstore, type BlockstoreInit, type BlockstoreStat, type GetOptions, MAX_BLOCK_BYTES, type PutOptions, type ScrubFinding, type ScrubOptions } from './interface.ts'
import { KeyedMutex } from './mutex.ts'
import { scrubBlocks } from './scrub.ts'

/** Options of FsBlockstore. */
export interface FsBlockstoreInit extends BlockstoreInit {
  /** Where the store says what it did at open (temp files removed, stale lock taken over, stray files). Default: nothing. */
  log?: (msg: string) => void
}

const SHARD_PATTERN = /^[a-z2-7]{2}$/

// Directories this process has open as stores: a second store object on the same
// directory would break the first one's counters and delete its temp files.
const openDirs = new Set<string>()

/** The shard directory name of a key. */
function shardOf (key: string): string {
  return key.slice(KEY_CHARS - 3, KEY_CHARS - 1)
}

function errno (err: unknown): string | undefined {
  return (err as { code?: string })?.code
}

/** fsync a directory so the entries created or renamed in it survive a power loss; a no-op where platforms refuse it. */
export async function syncDir (path: string): Promise<void> {
  let handle: FileHandle | undefined
  try {
    handle = await open(path, 'r')
    await handle.sync()
  } catch (err) {
    // Windows cannot open directories; some file systems refuse fsync on them.
    if (!['EISDIR', 'EPERM', 'EINVAL', 'EACCES', 'ENOTSUP'].includes(errno(err) ?? '')) throw err
  } finally {
    await handle?.close()
  }
}

/** True when a process with this pid exists (signal 0 checks without signalling). */
function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return errno(err) === 'EPERM'
  }
}

/** A durable blockstore in a directory of the local file system (Node). */
export class FsBlockstore implements Blockstore {
  /** absolute path of the store's directory */
  readonly path: string
  readonly #blocksDir: string
  readonly #tmpDir: string
  readonly #lockPath: string
  readonly #maxBlockBytes: number
  readonly #verifyOnGet: boolean
  readonly #verifyOnPut: boolean
  readonly #log: (msg: string) => void
  readonly #keys = new KeyedMutex()
  readonly #knownShards = new Set<string>()
  readonly #inFlight = new Set<Promise<unknown>>()
  #opening?: Promise<void>
  #blocks = 0
  #bytes = 0

  /** A store in directory `dir` (created at open if missing). No I/O until open() or the first operation. */
  constructor (dir: string, init: FsBlockstoreInit = {}) {
    if (typeof dir !== 'string' || dir.length === 0) throw new TypeError('FsBlockstore needs the path of its directory')
    this.path = resolve(dir)
    this.#blocksDir = join(this.path, 'blocks')
    this.#tmpDir = join(this.path, 'tmp')
    this.#lockPath = join(this.path, 'LOCK')
    this.#maxBlockBytes = maxBlockBytesOf(init.maxBlockBytes, MAX_BLOCK_BYTES)
    this.#verifyOnGet = init.verifyOnGet ?? true
    this.#verifyOnPut = init.verifyOnPut ?? true
    this.#log = init.log ?? (() => {})
  }

  /**
   * Create or open the directory, take its lock, remove temp files left by a crash and
   * count the blocks. Throws BlockstoreLockedError when another live store has it open.
   */
  async open (options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    this.#opening ??= this.#open().catch(err => {
      this.#opening = undefined
      throw err
    })
    await this.#opening
  }

  async #open (): Promise<void> {
    const created = await mkdir(this.path, { recursive: true })
    await this.#lock()
    try {
      for (const d of [this.#blocksDir, this.#tmpDir]) {
        if (await mkdir(d, { recursive: true }) !== undefined) await syncDir(this.path)
      }
      // A new directory's name must be durable too: in its parent, and in the parent of the first one created.
      if (created !== undefined) for (const d of new Set([dirname(created), dirname(this.path)])) await syncDir(d)
      const leftovers = await readdir(this.#tmpDir)
      for (const name of leftovers) await rm(join(this.#tmpDir, name), { recursive: true, force: true })
      if (leftovers.length > 0) this.#log(`blockstore ${this.path}: removed ${leftovers.length} unfinished put(s) left by a crash`)
      await this.#count()
    } catch (err) {
      await this.#unlock()
      throw err
    }
  }

  async #lock (): Promise<void> {
    if (openDirs.has(this.path)) throw new BlockstoreLockedError(`blockstore ${this.path} is already open in this process: share that store object, or close it first`)
    const mine = `${process.pid}\n`
    try {
      await writeNew(this.#lockPath, mine)
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err
      const pid = Number.parseInt(await readFile(this.#lockPath, 'utf8').catch(() => ''), 10)
      // Our own pid in the file means a previous process with our pid (a restarted container) left it.
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new BlockstoreLockedError(`blockstore ${this.path} is open in process ${pid}: stop it first, or remove ${this.#lockPath} if that process does not use the store`)
      }
      this.#log(`blockstore ${this.path}: taking over the lock left by process ${Number.isNaN(pid) ? '(unreadable)' : pid}, which is gone`)
      await unlink(this.#lockPath).catch(() => {})
      await writeNew(this.#lockPath, mine)
    }
    openDirs.add(this.path)
  }

  async #unlock (): Promise<void> {
    if (!openDirs.delete(this.path)) return
    await unlink(this.#lockPath).catch(() => {})
  }

  /** Count blocks and bytes; remember which shards exist. Stray files are left alone and not counted. */
  async #count (): Promise<void> {
    let blocks = 0
    let bytes = 0
    let strays = 0
    this.#knownShards.clear()
    for (const shard of await readdir(this.#blocksDir)) {
      if (!SHARD_PATTERN.test(shard)) { strays++; continue }
      this.#knownShards.add(shard)
      for (const name of await readdir(join(this.#blocksDir, shard))) {
        if (cidOfKey(name) === undefined || shardOf(name) !== shard) { strays++; continue }
        try {
          const s = await lstat(join(this.#blocksDir, shard, name))
          if (!s.isFile()) { strays++; continue }
          blocks++
          bytes += s.size
        } catch (err) {
          if (errno(err) !== 'ENOENT') throw err
        }
      }
    }
    this.#blocks = blocks
    this.#bytes = bytes
    if (strays > 0) this.#log(`blockstore ${this.path}: ignoring ${strays} file(s) that are not blocks`)
  }

  /** Wait for puts and deletes in flight, then release the lock. Later calls reopen the store. */
  async close (): Promise<void> {
    const opening = this.#opening
    if (opening === undefined) return
    await opening.catch(() => {})
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight])
    this.#opening = undefined
    await this.#unlock()
  }

  #track<T> (p: Promise<T>): Promise<T> {
    this.#inFlight.add(p)
    const done = (): void => { this.#inFlight.delete(p) }
    p.then(done, done)
    return p
  }

  #file (key: string): string {
    return join(this.#blocksDir, shardOf(key), key)
  }

  /** Store a block durably: resolves once its bytes and its name are fsynced. See Blockstore.put. */
  async put (cid: CID, bytes: Uint8Array, options: PutOptions = {}): Promise<CID> {
    options.signal?.throwIfAborted()
    const id = checkPut(cid, bytes, this.#maxBlockBytes)
    // Copy before any await (the caller may reuse its buffer while we hash and write), unless it handed them over.
    const copy = options.owned === true ? bytes : new Uint8Array(bytes)
    // tracked from here, so close() waits for it: a put must not write after the store let its lock go
    await this.#track(this.#put(id, copy, options))
    return cid
  }

  async #put (id: BlockId, copy: Uint8Array, options: PutOptions): Promise<void> {
    await this.open(options)
    if (this.#verifyOnPut) {
      // (a block already held is not hashed again; #write checks once more under the key's lock)
      if (await exists(this.#file(id.key))) return
      await verifyBlockBytes(id, copy, putMismatch(id.cid))
    }
    await this.#keys.run(id.key, () => this.#write(id.key, copy, options))
  }

  async #write (key: string, bytes: Uint8Array, options: AbortOptions): Promise<void> {
    const final = this.#file(key)
    if (await exists(final)) return
    options.signal?.throwIfAborted()
    const tmp = join(this.#tmpDir, `${key}.${randomBytes(6).toString('hex')}`)
    let renamed = false
    try {
      const handle = await open(tmp, 'wx', 0o644)
      try {
        await writeWhole(handle, bytes)
        await handle.sync()
      } finally {
        await handle.close()
      }
      options.signal?.throwIfAborted()
      const shard = shardOf(key)
      if (!this.#knownShards.has(shard)) {
        if (await mkdir(join(this.#blocksDir, shard), { recursive: true }) !== undefined) await syncDir(this.#blocksDir)
        this.#knownShards.add(shard)
      }
      await rename(tmp, final)
      renamed = true
      this.#blocks++
      this.#bytes += bytes.byteLength
      await syncDir(join(this.#blocksDir, shard))
    } finally {
      if (!renamed) await unlink(tmp).catch(() => {})
    }
  }

  /** The block's bytes, read whole and (by default) verified. See Blockstore.get. */
  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    options.signal?.throwIfAborted()
    const id = blockId(cid)
    await this.open(options)
    // open, fstat and close are metadata calls answered from the kernel's caches: made here, not as
    // three more trips to the file system's thread pool (on a busy machine each trip cost the main
    // thread its turn — more wall time than the block's hash); only the read goes to the pool
    let fd: number
    try {
      fd = openSync(this.#file(id.key), 'r')
    } catch (err) {
      if (errno(err) === 'ENOENT') throw new BlockNotFoundError(safeString(id.cid))
      throw err
    }
    let bytes: Uint8Array
    try {
      const { size } = fstatSync(fd)
      // No put ever stores more than the limit: a bigger file was tampered with; do not read it into memory.
      if (size > this.#maxBlockBytes) throw new CorruptBlockError(safeString(id.cid), `block ${safeString(id.cid)} on disk is ${size} bytes, over the limit of ${this.#maxBlockBytes}: it was altered; delete it and fetch a good copy`)
      bytes = await readWhole(fd, size, options.signal)
    } finally {
      closeSync(fd)
    }
    // (the bytes are this call's own: verified off the main thread in Node)
    return (options.verify ?? this.#verifyOnGet) ? await verifiedBytes(id, bytes) : bytes
  }

  /** True when the block's file exists (not read or verified). */
  async has (cid: CID, options: AbortOptions = {}): Promise<boolean> {
    options.signal?.throwIfAborted()
    const id = blockId(cid)
    await this.open(options)
    return await exists(this.#file(id.key))
  }

  /**
   * Remove a block, if held. The unlink is not fsynced: after a power loss a deleted
   * block may be back — whole and valid, never torn.
   */
  async delete (cid: CID, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    const id = blockId(cid)
    await this.open(options)
    await this.#track(this.#keys.run(id.key, async () => {
      const file = this.#file(id.key)
      try {
        const { size } = await lstat(file)
        await unlink(file)
        this.#blocks--
        this.#bytes -= size
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err
      }
    }))
  }

  /** Every held block's CID (v1, raw codec), shard by shard. */
  async * cids (options: AbortOptions = {}): AsyncGenerator<CID> {
    await this.open(options)
    const shards = (await readdir(this.#blocksDir)).filter(s => SHARD_PATTERN.test(s)).sort()
    for (const shard of shards) {
      options.signal?.throwIfAborted()
      let names: string[]
      try {
        names = await readdir(join(this.#blocksDir, shard))
      } catch (err) {
        if (errno(err) === 'ENOENT') continue
        throw err
      }
      for (const name of names.sort()) {
        if (shardOf(name) !== shard) continue
        const cid = cidOfKey(name)
        if (cid !== undefined) yield cid
      }
    }
  }

  /** Number and total size of held blocks (counted at open, kept up to date since). */
  async stat (options: AbortOptions = {}): Promise<BlockstoreStat> {
    await this.open(options)
    return { blocks: this.#blocks, bytes: this.#bytes }
  }

  /** Re-read and re-hash every block, one at a time, yielding the bad ones (a tampered file is one). */
  scrub (options?: ScrubOptions): AsyncGenerator<ScrubFinding> {
    return scrubBlocks(this, options)
  }
}

/** True when `file` exists: one lstat, made here (a metadata call; see get). */
async function exists (file: string): Promise<boolean> {
  return lstatSync(file, { throwIfNoEntry: false }) !== undefined
}

/** One positioned read of an open file descriptor, on the file system's thread pool. */
function readAt (fd: number, into: Uint8Array, at: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, into, at, length, at, (err, bytesRead) => { if (err != null) reject(err); else resolve(bytesRead) })
  })
}

/** Write a small file that must not exist yet (O_EXCL), fsynced. */
async function writeNew (path: string, text: string): Promise<void> {
  const handle = await open(path, 'wx', 0o644)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * All of `bytes` at offset 0 of a new file: in one write where the system takes it whole (a regular
 * file's does), where FileHandle.writeFile would write 512 KiB at a time — each write a trip to the
 * thread pool, which on a busy machine costs the main thread its turn.
 */
async function writeWhole (handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, done)
    if (bytesWritten <= 0) throw new Error(`writing a block file wrote nothing at byte ${done} of ${bytes.byteLength}`)
    done += bytesWritten
  }
}

/**
 * verifyBlockBytes for bytes just read, to be handed on: takes `bytes` (detached when they are a whole
 * buffer; hashed on a crypto worker when large) and resolves to them again, verified.
 */
async function verifiedBytes (id: BlockId, bytes: Uint8Array): Promise<Uint8Array> {
  const r = await joinAndDigest([bytes], true)
  if (!sameDigest(r.digest, id.digest)) throw new CorruptBlockError(safeString(id.cid))
  return r.bytes
}

/**
 * The `size` bytes of an open file in one buffer, read at its offset 0 (no second fstat, as readFile
 * would do). A file that changed size since its stat reads short: its hash will not match.
 */
async function readWhole (fd: number, size: number, signal?: AbortSignal): Promise<Uint8Array> {
  // A plain Uint8Array (not a Buffer, nor from Node's shared pool): callers compare, hash and encode it as bytes.
  const bytes = new Uint8Array(size)
  let got = 0
  while (got < size) {
    signal?.throwIfAborted()
    const bytesRead = await readAt(fd, bytes, got, size - got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return got === size ? bytes : bytes.subarray(0, got)
}
