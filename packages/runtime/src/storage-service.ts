// The storage service (WebCASStore on a node): the holder side of
// /webfabric/storage/1.0.0 (store, fetch, root, pin, repair) over a
// persistent blockstore, and the client side (put, get, stat, pin) that any
// node holding storage/put or storage/get runs for the CLI. Placement is
// rendezvous hashing over the members with the storage role; a put is
// acknowledged only when every position is durably stored; repair is the
// storage package's pure core, driven here by real streams and timers.
import type { Connection, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils'
import { cidOf, toBase64url } from '@webfabric/protocol'
import {
  type BlockBytes,
  type Blockstore,
  type ChunkBlocks,
  ObjectReader,
  ObjectWriter,
  type ObjectRoot,
  type PlacementRecord,
  type ReadCapability,
  type Redundancy,
  TooFewSharesError,
  blockCid,
  blockOf,
  blocksOfPosition,
  createErasureCodec,
  decodeRoot,
  formatReadCap,
  joinBlock,
  keyCheckOf,
  needOf,
  positionsOf,
  rankHolders,
  shareBytes,
  verifyBlock,
  verifyBlockJoined
} from '@webfabric/storage'
import { CID } from 'multiformats/cid'
import { FRAME_TIMEOUT_MS } from './constants.ts'
import type { CredentialVerifier, Need } from './credentials.ts'
import { disconnect } from './guard.ts'
import type { Host } from './host.ts'
import type { MemberView } from './membership-service.ts'
import { isTransportFailure } from './stream-errors.ts'
import {
  MAX_FETCH_CIDS,
  MAX_STORAGE_FRAME,
  MAX_STREAM_BUFFER,
  STORE_WINDOW_BYTES,
  STORAGE_GET_NEED,
  STORAGE_HOLD_NEED,
  STORAGE_PROTOCOL,
  STORAGE_PUT_NEED,
  type AbandonFrame,
  type FetchReply,
  type PinFrame,
  type RootFrame,
  type StorageReply,
  type StorageRequest,
  decodeFetchReply,
  decodeReply,
  decodeRequest,
  decodeStoreFrame,
  encodeBlockFrame,
  encodeStorageFrame
} from './storage-wire.ts'

/** Chunks fetched per round of a get or a rebuild (per holder, one request). */
const FETCH_WINDOW = 8
/** Windows a get has in flight at once (each at most STORE_WINDOW_BYTES from one holder). */
const FETCH_WINDOWS_AHEAD = 2
/** Storage streams one connection may have open, and stores a holder takes at once (per peer, and in all). */
const MAX_INBOUND_STREAMS = 16
const MAX_STORES_PER_PEER = 4
const MAX_STORES = 16
/** While a put rebuilds a failed position, the healthy holders hear from it this often (they give up after STORE_IDLE_MS). */
const KEEPALIVE_MS = 5_000
/**
 * Blocks a holder reads (and verifies) ahead of the one it sends: a request asks for at most a
 * window's worth (STORE_WINDOW_BYTES), so this bounds nothing new — it keeps the disk and the
 * crypto worker busy while a block waits its turn behind other work.
 */
const READ_AHEAD = 4
/** Blocks of one store a holder writes at once. */
const STORE_CONCURRENCY = 4
/**
 * Bytes of a node's put into its own store whose writes may be in flight at once (no stream buffers
 * them, so the network's STORE_WINDOW_BYTES does not bound it): each block takes a dozen trips to the
 * file system's thread pool and two fsyncs, and a deeper queue keeps the disk busy while the put waits.
 */
const LOCAL_STORE_WINDOW_BYTES = 24 * 2 ** 20
/** Blocks whose presence the end of a store checks at once. */
const HAS_CONCURRENCY = 16
/** How long a store may sit between two frames before the holder gives up on it. */
const STORE_IDLE_MS = FRAME_TIMEOUT_MS * 6
/**
 * How long a holder remembers a root its writer abandoned before holding it (a store still committing
 * when the abandon came), and how many such roots at most: far longer than a store's end takes.
 */
const ABANDONED_MEMORY_MS = 2 * STORE_IDLE_MS
const MAX_ABANDONED = 1024

/** An object this node holds: its position, placement record and retention. */
export interface Holding {
  root: string
  /** the storage index placement ranks by (base64url of the root's key check) */
  index?: string
  position: number
  record: PlacementRecord
  pinned: boolean
  /** the peer whose put created this holding (only it may unpin or abandon it); absent for repairs */
  writer?: string
  /** when an unpinned holding may be collected: the storage lease's end when it was stored */
  expiresAt: number
  storedAt: number
}

/** Progress of a put or get, in plaintext bytes. */
export interface StorageProgress { type: 'storage:put:bytes' | 'storage:get:bytes', bytes: number, total?: number }

/** Options of put. */
export interface PutOptions {
  redundancy: Redundancy
  /** the plaintext size when known: holders refuse at once what would exceed their quota */
  size?: number
  chunkSize?: number
  pin?: boolean
  onProgress?: (p: StorageProgress) => void
  signal?: AbortSignal
}

/** What a put returns: the read capability and where the object went. */
export interface PutResult { cap: string, root: string, size: number, redundancy: Redundancy, holders: string[], chunks: number, wallMs: number }

/** One holder's state as `stat` sees it. */
export interface HolderStat { peer: string, position: number, live: boolean, holds: boolean, pinned?: boolean }

/** What stat returns: redundancy health of an object. */
export interface StatResult { root: string, size: number, chunks: number, redundancy: Redundancy, version: number, need: number, positions: number, healthy: number, holders: HolderStat[] }

/** Dependencies of the storage service. */
export interface StorageServiceInit {
  verifier: CredentialVerifier
  /** this node's client capability: storage/get, and storage/put when `clientCanPut` */
  clientCredential?: Uint8Array
  clientCanPut?: boolean
  /** this node's storage/hold capability (it holds data for the fabric) */
  holdCredential?: Uint8Array
  /** the holder's blockstore (holders only) */
  store?: Blockstore
  /** the storage lease's quota in bytes (holders) */
  quotaBytes?: number
  /** the storage lease in force: holders store only while it lasts */
  lease: () => { id: string, expiresAt: number } | undefined
  /** the live membership view */
  members: () => MemberView[]
  /** persist holdings (holders) */
  saveHoldings?: (h: Holding[]) => Promise<void>
  holdings?: Holding[]
  /** false when the holdings file existed but could not be read: collection then deletes nothing */
  holdingsKnown?: boolean
  log?: (msg: string) => void
}

/** A storage request failed on every holder that could serve it. */
export class StorageUnavailableError extends Error {
  static name = 'StorageUnavailableError'
  constructor (message = 'no holder of this object answered: it may be stored on another fabric, or its holders are all away', options?: ErrorOptions) {
    super(message, options)
    this.name = 'StorageUnavailableError'
  }
}

/** Too few members with the storage role to place an object with the asked redundancy. */
export class InsufficientHoldersError extends Error {
  static name = 'InsufficientHoldersError'
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'InsufficientHoldersError'
  }
}

/** A holder refused or failed a put and no replacement could take its place. */
export class PutFailedError extends Error {
  static name = 'PutFailedError'
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'PutFailedError'
  }
}

/** An error a remote holder answered with, carrying its name (e.g. QuotaExceededError). */
export class RemoteStorageError extends Error {
  constructor (name: string, message: string) {
    super(message)
    this.name = name
  }
}

/** The object's storage index (base64url of its key check): where rendezvous hashing places it; derived one-way from its key. */
export async function storageIndex (key: Uint8Array): Promise<string> {
  return toBase64url(await keyCheckOf(key))
}

/**
 * A store of one position in progress, seen from the writer: on another holder (StoreSession), or
 * on this node itself when placement ranks it (StorageService's local store).
 */
export interface PositionStore {
  readonly peer: string
  /** True once the holder acknowledged the whole store. */
  ended: boolean
  /** True once the root was sent: the holder may have committed the store even if its answer was lost. */
  readonly endSent?: boolean
  /**
   * Stores one block once there is room (throws the holder's refusal if it gave one). `cid`, when
   * given, was computed by this node from these bytes (or checked against them): a local store
   * takes it as is; another holder always hashes what it receives. `bytes` are handed over: the
   * caller never changes them afterwards (a local store may still be writing them when this resolves).
   */
  block (bytes: Uint8Array, cid?: CID): Promise<void>
  /** Tells the holder the writer is still there (while it works on another position). */
  wait (): Promise<void>
  /** Sends the root and record, and resolves once the holder has stored everything durably. */
  end (root: Uint8Array, rec: PlacementRecord): Promise<void>
  /**
   * Gives up the store: the holder keeps nothing of it. A store on this node resolves once its
   * writes have settled and what they left is collected (its quota free again); on another holder
   * that is the holder's business, and this returns at once.
   */
  abort (err: Error): void | Promise<void>
}

/** The holder's side of one store in progress. */
interface Receiving {
  /** the writer (or repairing holder); this node itself for its own put */
  peer: string
  redundancy: Redundancy
  position: number
  pin: boolean
  fromHolder: boolean
  writer?: string
  /** the storage lease's end when the store began: when the holding may be collected if unpinned */
  expiresAt: number
  /** multihashes (base64url) of the blocks staged by this store */
  received: Set<string>
  committed: boolean
  closed: boolean
}

/** A request stream to one holder: typed frames in and out. */
class Call {
  readonly peer: string
  readonly stream: Stream
  readonly lp: LengthPrefixedStream<Stream>

  constructor (peer: string, stream: Stream) {
    this.peer = peer
    this.stream = stream
    this.lp = lpStream(stream, { maxDataLength: MAX_STORAGE_FRAME, maxBufferSize: MAX_STREAM_BUFFER })
  }

  async send (frame: object): Promise<void> {
    await this.lp.write(encodeStorageFrame(frame), { signal: AbortSignal.timeout(STORE_IDLE_MS) })
  }

  /** Sends a `block` frame around `b` (not copied: `b` must not change until this resolves). */
  async sendBlock (b: Uint8Array): Promise<void> {
    await this.lp.write(encodeBlockFrame(b), { signal: AbortSignal.timeout(STORE_IDLE_MS) })
  }

  async reply (timeoutMs = STORE_IDLE_MS): Promise<StorageReply> {
    const r = decodeReply(await this.lp.read({ signal: AbortSignal.timeout(timeoutMs) }))
    if (r.k === 'error') throw new RemoteStorageError(r.name, `${this.peer.slice(-8)}: ${r.message}`)
    return r
  }

  /** As reply, for a fetch: a block comes as the pieces it arrived in, not joined (decodeFetchReply). */
  async fetchReply (timeoutMs = STORE_IDLE_MS): Promise<FetchReply> {
    const r = decodeFetchReply(await this.lp.read({ signal: AbortSignal.timeout(timeoutMs) }))
    if (r.k === 'error') throw new RemoteStorageError(r.name, `${this.peer.slice(-8)}: ${r.message}`)
    return r
  }

  async close (): Promise<void> { await this.stream.close().catch(() => {}) }
  abort (err: Error): void { this.stream.abort(err) }
}

/**
 * The writer's side of a store: block sends wait for room in the holder's window
 * (STORE_WINDOW_BYTES unacknowledged); `end` waits for the holder's `stored`.
 */
export class StoreSession implements PositionStore {
  readonly call: Call
  private sent = 0
  private acked = 0
  private ackedCount = 0
  private readonly sizes: number[] = []
  private failed?: Error
  /** block frames being written, and when the last one was: wait() keeps quiet meanwhile */
  private sending = 0
  private lastSent = 0
  /** set once `end` is sent: nothing follows it on the stream */
  endSent = false
  private wake?: () => void
  private readonly done = Promise.withResolvers<void>()

  private constructor (call: Call) {
    this.call = call
    this.done.promise.catch(() => {})
    void this.readLoop()
  }

  /** Opens a store of position `p` on `peer` and waits for the holder's go-ahead (or its refusal). */
  static async open (call: Call, frame: Record<string, unknown>): Promise<StoreSession> {
    await call.send(frame)
    const r = await call.reply(FRAME_TIMEOUT_MS)
    if (r.k !== 'ok') throw new PutFailedError(`${call.peer.slice(-8)} answered the store with ${r.k}`)
    return new StoreSession(call)
  }

  get peer (): string { return this.call.peer }

  private async readLoop (): Promise<void> {
    try {
      for (;;) {
        const r = await this.call.reply(STORE_IDLE_MS * 2)
        if (r.k === 'ack') {
          // acks are cumulative counts of blocks stored
          while (this.ackedCount < r.n && this.sizes.length > 0) { this.acked += this.sizes.shift()!; this.ackedCount++ }
          this.wake?.()
          continue
        }
        if (r.k === 'stored') { this.done.resolve(); return }
        throw new PutFailedError(`${this.peer.slice(-8)} answered ${r.k} during a store`)
      }
    } catch (err) {
      this.failed = err as Error
      this.done.reject(err)
      this.wake?.()
    }
  }

  /** Sends one block once the window has room; throws the holder's refusal if it gave one. The holder hashes it itself. */
  async block (bytes: Uint8Array, _cid?: CID): Promise<void> {
    while (this.failed == null && this.sent - this.acked > 0 && this.sent - this.acked + bytes.length > STORE_WINDOW_BYTES) {
      await new Promise<void>(resolve => { this.wake = resolve })
    }
    if (this.failed != null) throw this.failed
    this.sizes.push(bytes.length)
    this.sent += bytes.length
    this.sending++
    try {
      await this.call.sendBlock(bytes)
    } finally {
      this.sending--
      this.lastSent = performance.now()
    }
  }

  /**
   * Tells the holder the writer is still there (while it works on another position, or waits on a
   * slower holder of the same stripe). Skipped while a block frame is in flight or was sent within
   * KEEPALIVE_MS: the holder's read is alive then anyway.
   */
  async wait (): Promise<void> {
    if (this.failed != null || this.endSent || this.sending > 0 || performance.now() - this.lastSent < KEEPALIVE_MS) return
    await this.call.send({ k: 'wait' })
  }

  /** Sends the root and record, and waits until the holder has stored everything durably. */
  async end (root: Uint8Array, rec: PlacementRecord): Promise<void> {
    try {
      if (this.failed != null) throw this.failed
      this.endSent = true
      await this.call.send({ k: 'end', root, rec })
      await this.done.promise
      this.ended = true
      await this.call.close()
    } catch (err) {
      this.call.abort(err as Error)
      throw err
    }
  }

  /** True once the holder acknowledged the whole store. */
  ended = false

  abort (err: Error): void { this.call.abort(err) }
}

/** The storage service of one node: holder handlers and client operations. */
export class StorageService {
  private readonly host: Host
  private readonly init: StorageServiceInit
  private readonly holdings = new Map<string, Holding>()
  /** CIDs (multihash base64) received by stores still in progress: never collected */
  private readonly staged = new Map<string, number>()
  /** bumped by every stage and commit: a collection that sees it move stops (it may hold a stale view) */
  private generation = 0
  /** false when holdings.json could not be read: nothing is deleted until holdings are known again */
  private holdingsKnown: boolean
  private activeStores = 0
  /** inbound requests being served, by stream: stop() cuts and awaits them */
  private readonly serving = new Map<Stream, Promise<void>>()
  private readonly storesBy = new Map<string, number>()
  /** roots abandoned by their writer before this node held them, by root: that writer's commit of one is refused */
  private readonly abandoned = new Map<string, { writer: string, until: number }>()
  private started = false
  private saving: Promise<void> = Promise.resolve()
  /** requests refused (bad capability, malformed frames) */
  refused = 0
  /** set when this holder hands its shares off and leaves: it takes no more stores */
  leaving = false

  constructor (host: Host, init: StorageServiceInit) {
    this.host = host
    this.init = init
    for (const h of init.holdings ?? []) this.holdings.set(h.root, h)
    this.holdingsKnown = init.holdingsKnown ?? true
  }

  /** Registers the holder handler (holders only). */
  async start (): Promise<void> {
    if (this.init.store == null) return
    await this.init.store.open()
    await this.host.handle(STORAGE_PROTOCOL, (stream, conn) => {
      const served = this.onStream(stream, conn).catch(err => {
        this.init.log?.(`storage: a request from ${conn.remotePeer.toString()} failed: ${(err as Error)?.message}`)
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      })
      this.serving.set(stream, served)
      void served.finally(() => this.serving.delete(stream))
    }, { maxInboundStreams: MAX_INBOUND_STREAMS })
    this.started = true
  }

  /** Stops serving; the blockstore is closed. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.host.unhandle(STORAGE_PROTOCOL)
    // requests still being served are cut (a store in progress is never acknowledged, so nothing
    // acknowledged is lost) and waited for: no block may be written after the store is closed
    for (const stream of this.serving.keys()) stream.abort(new Error('the storage service stopped'))
    await Promise.allSettled([...this.serving.values()])
    await this.saving
    await this.init.store?.close()
  }

  /** What this node holds, by root. */
  held (): Holding[] { return [...this.holdings.values()] }

  // -- holder side -------------------------------------------------------------

  private async onStream (stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    const call = new Call(from, stream)
    let req: StorageRequest
    let granted: Need
    try {
      req = decodeRequest((await call.lp.read({ signal: AbortSignal.timeout(FRAME_TIMEOUT_MS) })).subarray())
      granted = await this.checkAny(from, req.c, req.k === 'store' ? [STORAGE_PUT_NEED, STORAGE_HOLD_NEED] : req.k === 'pin' || req.k === 'abandon' ? [STORAGE_PUT_NEED] : req.k === 'repair' ? [STORAGE_HOLD_NEED] : [STORAGE_GET_NEED, STORAGE_HOLD_NEED, STORAGE_PUT_NEED])
    } catch (err) {
      if (isTransportFailure(err)) { stream.abort(err as Error); return }
      this.offence(from, call, err as Error)
      return
    }
    try {
      switch (req.k) {
        case 'store': await this.onStore(call, req.r, req.p, req.pin, req.size, granted === STORAGE_HOLD_NEED, req.w); break
        case 'fetch': await this.onFetch(call, req.root, req.cids); break
        case 'root': await this.onRoot(call, req.root); break
        case 'pin': await this.onPin(call, req.root, req.pin); break
        case 'abandon': await this.onAbandon(call, req.root); break
        case 'repair': this.onRepair?.(from, req.msg); await call.close(); break
      }
    } catch (thrown) {
      // whatever was thrown, answer with a name and a message; nothing here may throw again
      const err = thrown instanceof Error ? thrown : new Error(String(thrown))
      const name = typeof err.name === 'string' && err.name.length > 0 ? err.name.slice(0, 64) : 'Error'
      const message = String(err.message ?? '').slice(0, 1000) || name
      if (req.k === 'store') this.init.log?.(`storage: a store from ${from} failed: ${name}: ${message}`)
      if (isTransportFailure(err)) { stream.abort(err); return }
      if (name === 'MalformedError') { this.offence(from, call, err); return }
      await call.send({ k: 'error', name, message }).catch(() => {})
      await call.close()
    }
  }

  /** Set by the repair driver: a repair message arrived from a fellow holder. */
  onRepair?: (from: string, msg: unknown) => void

  private offence (from: string, call: Call, err: Error): void {
    this.refused++
    this.init.log?.(`refused a storage request from ${from} and disconnected it: ${err.message}`)
    call.abort(err)
    disconnect(this.host, peerIdFromString(from), err)
  }

  /** The first of `needs` the capability grants (throws the first refusal when none). */
  private async checkAny (from: string, cap: Uint8Array, needs: Need[]): Promise<Need> {
    let first: unknown
    for (const need of needs) {
      try {
        await this.init.verifier.check(from, cap, need)
        return need
      } catch (err) {
        first ??= err
      }
    }
    throw first
  }

  private store (): Blockstore {
    if (this.init.store == null) throw new RemoteStorageError('NotHolderError', 'this node does not hold data for the fabric (no storage role)')
    return this.init.store
  }

  /**
   * Starts receiving a store of `position` from `peer` (a remote writer or holder, or this node's
   * own put): refuses at once without a lease in force, when busy, or when `size` cannot fit.
   */
  private async beginStore (peer: string, redundancy: Redundancy, position: number, pin: boolean, size: number | undefined, fromHolder: boolean, writer?: string): Promise<Receiving> {
    const lease = this.init.lease()
    if (lease == null || this.leaving) throw new RemoteStorageError('NoLeaseError', 'this device holds no storage lease for the origin in force')
    const store = this.store()
    const mine = this.storesBy.get(peer) ?? 0
    if (this.activeStores >= MAX_STORES || mine >= MAX_STORES_PER_PEER) {
      throw new RemoteStorageError('BusyError', `this holder takes ${MAX_STORES} stores at once (${MAX_STORES_PER_PEER} per peer); try again shortly`)
    }
    if (size != null && this.init.quotaBytes != null) {
      // refuse up front what cannot fit, before a byte is sent
      const share = Math.ceil(size / (redundancy.kind === 'replicas' ? 1 : redundancy.k))
      const used = (await store.stat()).bytes
      if (used + share > this.init.quotaBytes) {
        throw new RemoteStorageError('QuotaExceededError', `position ${position} needs about ${share} bytes but this holder has ${Math.max(0, this.init.quotaBytes - used)} of its ${this.init.quotaBytes}-byte storage lease free: store less, or on a fabric with more storage`)
      }
    }
    this.activeStores++
    this.storesBy.set(peer, mine + 1)
    return { peer, redundancy, position, pin, fromHolder, writer, expiresAt: lease.expiresAt, received: new Set(), committed: false, closed: false }
  }

  /** A block is staged (safe from collection) from its first frame until its store ends. */
  private stage (s: Receiving, cid: CID): void {
    const key = toBase64url(cid.multihash.bytes)
    if (s.received.has(key)) return
    s.received.add(key)
    this.staged.set(key, (this.staged.get(key) ?? 0) + 1)
    this.generation++
  }

  /**
   * Stores one block of a store durably; `cid` must be the hash of `bytes`, computed by this node.
   * `bytes` are handed to the store as they are (a view of the frame received, or a block this
   * node's writer sealed): nothing changes them afterwards.
   */
  private async receiveBlock (s: Receiving, cid: CID, bytes: Uint8Array): Promise<void> {
    this.stage(s, cid)
    await this.store().put(cid, bytes, { owned: true })
  }

  /**
   * The end of a store (every block durably stored by then): checks the root and record against the
   * store and what is held, and makes the holding durable before it returns.
   */
  private async commitStore (s: Receiving, rootBytes: Uint8Array, rec: PlacementRecord): Promise<void> {
    const { redundancy, position, fromHolder } = s
    const store = this.store()
    // the root must hash to the record's root, describe the same redundancy, and list us at `position`
    const rootCid = await cidOf(rootBytes)
    if (rootCid.toString() !== rec.root) throw new RemoteStorageError('TamperedBlockError', 'the root block does not hash to the record\'s root')
    const root = decodeRoot(rootBytes)
    if (!sameRedundancy(root.redundancy, redundancy) || !sameRedundancy(rec.redundancy, redundancy)) throw new RemoteStorageError('MalformedRootError', 'the store, the record and the root disagree on the redundancy')
    if (rec.holders[position] !== this.host.peerId.toString()) throw new RemoteStorageError('MalformedRootError', `the record does not list this node at position ${position}`)
    if (rec.shareBytes !== shareBytes(root)) throw new RemoteStorageError('MalformedRootError', 'the record\'s share size is not the root\'s')
    const prev = this.holdings.get(rec.root)
    const current = prev == null ? undefined : (this.currentRecord?.(rec.root) ?? prev.record)
    if (!fromHolder) {
      // a writer creates objects; only repair (holders, through the core) moves records on
      if (rec.version !== 1) throw new RemoteStorageError('RecordConflictError', 'a put creates placement records of version 1; later versions come from repair')
      if (current != null && !sameRecord(current, rec)) throw new RemoteStorageError('RecordConflictError', `this node already holds ${rec.root} under another placement; it cannot be replaced by a put`)
    }
    if (prev != null && current != null && prev.position !== position && current.holders[prev.position] === this.host.peerId.toString()) {
      // one holder, one position: a second would make two of the n shares fail together
      throw new RemoteStorageError('AlreadyHolderError', `this node already holds position ${prev.position} of ${rec.root}; choose another holder for position ${position}`)
    }
    const missing: string[] = []
    const wanted = blocksOfPosition(root, position)
    for (const cid of wanted) this.stage(s, cid) // blocks already held count too: keep them from a collection running now
    // (checked several at a time: one after another, each check waited its turn in the file system's thread pool)
    for (let i = 0; i < wanted.length; i += HAS_CONCURRENCY) {
      const part = wanted.slice(i, i + HAS_CONCURRENCY)
      const held = await Promise.all(part.map(async cid => await store.has(cid)))
      for (const [j, cid] of part.entries()) if (!held[j]) missing.push(cid.toString())
    }
    if (missing.length > 0) throw new RemoteStorageError('IncompleteShareError', `the store ended with ${missing.length} block(s) of position ${position} missing (first ${missing[0]})`)
    await store.put(rootCid, rootBytes)
    const h: Holding = {
      root: rec.root,
      index: toBase64url(root.keyCheck),
      position,
      record: newer(prev?.record, rec),
      pinned: s.pin || (prev?.pinned ?? false),
      writer: fromHolder ? (prev?.writer ?? s.writer) : s.peer,
      expiresAt: s.expiresAt,
      storedAt: Date.now()
    }
    // a writer that abandoned this root before it was held here does not get it held after all
    // (checked with no wait before the holding is set: an abandon after this finds the holding)
    const gone = fromHolder ? undefined : this.abandoned.get(rec.root)
    if (gone != null && gone.writer === s.peer && gone.until > Date.now()) {
      throw new RemoteStorageError('AbandonedError', `the writer abandoned ${rec.root} before this holder committed it`)
    }
    // the holding is durable (and the repair core told) before the writer hears `stored`
    this.holdings.set(rec.root, h)
    this.generation++
    try {
      await this.persist({ strict: true })
      await this.onHold?.(h)
    } catch (err) {
      if (prev != null) this.holdings.set(rec.root, prev)
      else this.holdings.delete(rec.root)
      throw err
    }
    s.committed = true
    if (h.pinned) this.onPinChange?.()
  }

  /**
   * A store is over (committed or not; its writes settled): unstage its blocks, free what it left
   * unreferenced. Resolves when that collection is done (at once when there is nothing to free).
   */
  private async closeStore (s: Receiving): Promise<void> {
    if (s.closed) return
    s.closed = true
    this.activeStores--
    const left = (this.storesBy.get(s.peer) ?? 1) - 1
    if (left <= 0) this.storesBy.delete(s.peer)
    else this.storesBy.set(s.peer, left)
    for (const key of s.received) {
      const n = (this.staged.get(key) ?? 1) - 1
      if (n <= 0) this.staged.delete(key)
      else this.staged.set(key, n)
    }
    // a store that never completed leaves blocks nothing references: free their quota now
    if (!s.committed && s.received.size > 0) await this.collect().catch(() => {})
  }

  private async onStore (call: Call, redundancy: Redundancy, position: number, pin: boolean, size: number | undefined, fromHolder: boolean, writer?: string): Promise<void> {
    const s = await this.beginStore(call.peer, redundancy, position, pin, size, fromHolder, writer)
    // several blocks are written at once (their fsyncs overlap); each is acked, in order, as soon as it is stored
    const steps: Array<Promise<void>> = []
    let acks: Promise<void> = Promise.resolve()
    let blocks = 0
    let writeError: Error | undefined
    const drained = async (): Promise<void> => { await acks; if (writeError != null) throw writeError }
    try {
      await call.send({ k: 'ok' })
      for (;;) {
        const frame = decodeStoreFrame(await call.lp.read({ signal: AbortSignal.timeout(STORE_IDLE_MS) }))
        if (writeError != null) throw writeError
        if (frame.k === 'wait') {
          // answered with the current count (through the ack chain, in order): the writer's reads stay alive too
          acks = acks.then(async () => { if (writeError == null) await call.send({ k: 'ack', n: blocks }).catch(() => {}) })
          continue
        }
        if (frame.k === 'block') {
          // the block's CID is computed here from the bytes received: what is stored is what it names
          // (hashed off the main thread in Node while the next frames are read; the frame is ours to hand over)
          const put = blockOf(frame.b, true).then(async b => { await this.receiveBlock(s, b.cid, b.bytes) })
          put.catch(() => {}) // settled in the ack chain below; never an unhandled rejection meanwhile
          acks = acks.then(async () => {
            try {
              await put
            } catch (err) {
              writeError ??= err as Error
              return
            }
            if (writeError == null) await call.send({ k: 'ack', n: ++blocks }).catch(() => {})
          })
          steps.push(acks)
          // at most STORE_CONCURRENCY writes at once: wait for the oldest to be stored and acked
          while (steps.length >= STORE_CONCURRENCY) await steps.shift()
          continue
        }
        await drained()
        await this.commitStore(s, frame.root, frame.rec)
        await call.send({ k: 'stored' })
        await call.close()
        return
      }
    } finally {
      await acks.catch(() => {})
      await this.closeStore(s)
    }
  }

  /**
   * This node's own put of a position it is ranked for: the blocks go straight into its store
   * (no stream to itself, and no second hash: the writer computed each CID from these very bytes),
   * with the same capability check, lease, quota and durability as a store from another node —
   * `end` resolves once every block and the holding are on disk.
   */
  private async openLocalStore (cred: Uint8Array, redundancy: Redundancy, position: number, pin: boolean, size?: number): Promise<PositionStore> {
    const self = this.host.peerId.toString()
    await this.init.verifier.check(self, cred, STORAGE_PUT_NEED)
    const s = await this.beginStore(self, redundancy, position, pin, size, false)
    const writes: Array<Promise<void>> = []
    const sizes: number[] = []
    let pending = 0
    let failed: Error | undefined
    let aborted: Promise<void> | undefined
    // refusals read as they would from another holder (the put names a common one, e.g. QuotaExceededError)
    const asRemote = (err: unknown): Error => {
      const e = err instanceof Error ? err : new Error(String(err))
      return e instanceof RemoteStorageError ? e : new RemoteStorageError(e.name, `${self.slice(-8)}: ${e.message}`)
    }
    const settled = async (): Promise<void> => { await Promise.allSettled(writes) }
    const session: PositionStore = {
      peer: self,
      ended: false,
      block: async (bytes, cid) => {
        if (failed != null) throw failed
        const put = this.receiveBlock(s, cid ?? await blockCid(bytes), bytes)
        put.catch(err => { failed ??= asRemote(err) })
        writes.push(put)
        sizes.push(bytes.byteLength)
        pending += bytes.byteLength
        // writes overlap (and their fsyncs) up to the local store window's bytes
        while (writes.length > 0 && pending > LOCAL_STORE_WINDOW_BYTES) {
          pending -= sizes.shift()!
          await writes.shift()!.catch(() => {})
        }
        if (failed != null) throw failed
      },
      wait: async () => {},
      end: async (root, rec) => {
        try {
          await settled()
          if (failed != null) throw failed
          await this.commitStore(s, root, rec).catch(err => { throw asRemote(err) })
          session.ended = true
        } finally {
          await this.closeStore(s)
        }
      },
      abort: async (err) => {
        failed ??= err
        // (a put may abort a store twice: for its failing position, then with the whole put)
        aborted ??= settled().then(async () => { await this.closeStore(s) })
        await aborted
      }
    }
    return session
  }

  /** Set by the repair driver: this node now durably holds a position. */
  onHold?: (h: Holding) => void | Promise<void>

  private async onFetch (call: Call, root: string, cids: string[]): Promise<void> {
    const store = this.store()
    // read ahead: the next blocks come off the disk while this one is sent
    const reads = cids.map(() => undefined as Promise<Uint8Array> | undefined)
    const read = (i: number): Promise<Uint8Array> | undefined => {
      if (i >= cids.length) return undefined
      if (reads[i] == null) {
        let cid: CID
        try {
          cid = CID.parse(cids[i])
        } catch (err) {
          reads[i] = Promise.reject(err)
          reads[i]!.catch(() => {})
          return reads[i]
        }
        reads[i] = store.get(cid)
        reads[i]!.catch(err => { if ((err as Error).name === 'CorruptBlockError') this.onCorrupt?.(root, cid) })
      }
      return reads[i]
    }
    for (let i = 0; i < cids.length; i++) {
      for (let j = 1; j <= READ_AHEAD; j++) read(i + j)
      let bytes: Uint8Array
      try {
        bytes = await read(i)!
      } catch {
        await call.send({ k: 'missing', cid: cids[i] })
        continue
      }
      reads[i] = undefined
      await call.sendBlock(bytes)
    }
    await call.close()
  }

  /** Set by the repair driver: a block of `root` failed its hash here (it has been deleted). */
  onCorrupt?: (root: string, cid: CID) => void

  private async onRoot (call: Call, root: string): Promise<void> {
    await call.send(await this.rootHere(root))
    await call.close()
  }

  /** The answer to a `root` request: the root block and record of `root` if held here. */
  private async rootHere (root: string): Promise<StorageReply> {
    const h = this.holdings.get(root)
    if (h == null || this.init.store == null) return { k: 'missing', cid: root }
    const bytes = await this.init.store.get(CID.parse(root))
    return { k: 'held', root: bytes, rec: this.currentRecord?.(root) ?? h.record, p: h.position, pin: h.pinned }
  }

  /** Set by the repair driver: the newest placement record the repair core knows for `root`. */
  currentRecord?: (root: string) => PlacementRecord | undefined

  private async onPin (call: Call, root: string, pin: boolean): Promise<void> {
    await this.pinHere(call.peer, root, pin)
    await call.send({ k: 'ok' })
    await call.close()
  }

  /** `from` pins or unpins `root` here: anyone who may put may keep data; only the object's writer may let it go. */
  private async pinHere (from: string, root: string, pin: boolean): Promise<void> {
    const h = this.holdings.get(root)
    if (h == null) throw new RemoteStorageError('NotHeldError', `this node does not hold ${root}`)
    if (!pin && h.writer !== from) throw new RemoteStorageError('NotAuthorizedError', `only the node that stored ${root} may unpin it`)
    h.pinned = pin
    await this.persist()
    this.onPinChange?.()
  }

  private async onAbandon (call: Call, root: string): Promise<void> {
    await this.abandonHere(call.peer, root)
    await call.send({ k: 'ok' })
    await call.close()
  }

  /** A writer whose put failed takes back what it stored here (version-1 holdings it created only). */
  private async abandonHere (from: string, root: string): Promise<void> {
    const h = this.holdings.get(root)
    if (h == null) {
      // the writer's store of it may still be committing here (its end frame came on another stream,
      // or is still behind the writes): remember the abandon, so that commit does not stand
      this.abandoned.delete(root)
      this.abandoned.set(root, { writer: from, until: Date.now() + ABANDONED_MEMORY_MS })
      for (const [r, a] of this.abandoned) if (this.abandoned.size > MAX_ABANDONED || a.until <= Date.now()) this.abandoned.delete(r)
      return
    }
    if (h.writer !== from || h.record.version !== 1) throw new RemoteStorageError('NotAuthorizedError', `only the writer of ${root} may abandon it, and only before repair moved it`)
    await this.release(root)
  }

  /** Set by the node: the set of pinned roots changed (anchor it). */
  onPinChange?: () => void

  /** Pinned roots held here. */
  pinnedRoots (): string[] { return [...this.holdings.values()].filter(h => h.pinned).map(h => h.root) }

  /** Replace a holding's record (repair installed a newer one). */
  updateRecord (root: string, rec: PlacementRecord): void {
    const h = this.holdings.get(root)
    if (h == null) return
    h.record = rec
    void this.persist()
  }

  /** Forget a holding and delete its blocks not used by another (repair moved it, or it expired). */
  async release (root: string): Promise<void> {
    if (!this.holdings.delete(root)) return
    await this.persist()
    this.onPinChange?.()
    await this.collect()
  }

  /**
   * Garbage collection: drops unpinned holdings whose lease ended, then deletes every block no
   * holding references and no store in progress is receiving. Returns the blocks deleted.
   */
  async collect (now = Date.now()): Promise<number> {
    const store = this.init.store
    if (store == null) return 0
    let changed = false
    for (const [root, h] of this.holdings) {
      if (!h.pinned && h.expiresAt <= now) { this.holdings.delete(root); changed = true }
    }
    if (changed) { await this.persist(); this.onPinChange?.() }
    // deleting needs a complete picture: known holdings, every root readable, no store landing meanwhile
    if (!this.holdingsKnown) return 0
    const generation = this.generation
    const live = new Set<string>()
    for (const h of this.holdings.values()) {
      const rootCid = CID.parse(h.root)
      live.add(toBase64url(rootCid.multihash.bytes))
      let root: ObjectRoot
      try {
        root = decodeRoot(await store.get(rootCid))
      } catch {
        return 0 // this holding's blocks are unknown until its root is healed: delete nothing
      }
      for (const cid of blocksOfPosition(root, h.position)) live.add(toBase64url(cid.multihash.bytes))
    }
    let deleted = 0
    for await (const cid of store.cids()) {
      const key = toBase64url(cid.multihash.bytes)
      if (live.has(key) || this.staged.has(key)) continue
      if (this.generation !== generation) break // something was stored meanwhile: the next round decides
      await store.delete(cid)
      deleted++
    }
    return deleted
  }

  private async persist (opts: { strict?: boolean } = {}): Promise<void> {
    const save = this.init.saveHoldings
    if (save == null) return
    const snapshot = [...this.holdings.values()]
    const attempt = this.saving.then(async () => { await save(snapshot) })
    this.saving = attempt.catch(err => { this.init.log?.(`could not save holdings: ${(err as Error).message}`) })
    // a store is acknowledged only once its holding is on disk: the store path sees the failure
    if (opts.strict === true) await attempt
    else await this.saving
  }

  // -- client side -------------------------------------------------------------

  /** This node's client capability, which must grant `need`; NotAuthorizedError names what to ask the origin for. */
  private clientCredential (need: Need): Uint8Array {
    const c = this.init.clientCredential
    if (c == null || (need === STORAGE_PUT_NEED && this.init.clientCanPut !== true)) {
      throw new RemoteStorageError('NotAuthorizedError', `this node may not ${need.ability === 'storage/put' ? 'store on' : 'read from'} the fabric: ask the origin for ${need.ability} on ${need.resource}`)
    }
    return c
  }

  /** The capability for a holder's own fetches (heal, rebuild), else the client one. */
  private fetchCredential (): Uint8Array {
    return this.init.holdCredential ?? this.clientCredential(STORAGE_GET_NEED)
  }

  /** Live members with the storage role and their weights (their storage capacity in MiB). */
  storageMembers (): Array<{ peer: string, weight: number }> {
    return this.init.members()
      .filter(m => m.roles.includes('storage'))
      .map(m => ({ peer: m.peerId, weight: Math.max(1, Number(m.capacity?.storageMiB) || 1) }))
  }

  private async open (peer: string, signal?: AbortSignal): Promise<Call> {
    const stream = await this.host.dialProtocol(peerIdFromString(peer), STORAGE_PROTOCOL, { signal: signal ?? AbortSignal.timeout(FRAME_TIMEOUT_MS) })
    return new Call(peer, stream)
  }

  /**
   * A one-answer request to `peer`. When `peer` is this node (a holder putting, reading or pinning
   * what placement put on itself; libp2p does not dial itself) it is answered here, after the same
   * capability check a holder makes of any caller. Error answers throw RemoteStorageError.
   */
  private async request (peer: string, frame: RootFrame | PinFrame | AbandonFrame, signal?: AbortSignal): Promise<StorageReply> {
    if (peer === this.host.peerId.toString()) {
      this.store()
      await this.checkAny(peer, frame.c, frame.k === 'root' ? [STORAGE_GET_NEED, STORAGE_HOLD_NEED, STORAGE_PUT_NEED] : [STORAGE_PUT_NEED])
      if (frame.k === 'root') return await this.rootHere(frame.root)
      if (frame.k === 'pin') await this.pinHere(peer, frame.root, frame.pin)
      else await this.abandonHere(peer, frame.root)
      return { k: 'ok' }
    }
    const call = await this.open(peer, signal)
    try {
      await call.send(frame)
      return await call.reply(FRAME_TIMEOUT_MS)
    } finally {
      await call.close()
    }
  }

  /**
   * Stores a stream of plaintext: encrypts, chunks, erasure-codes and ships each position to its
   * holder as the bytes come; acknowledged once every position is durably stored. A holder that
   * fails mid-put is replaced by the next in the ranking, rebuilt from the others.
   */
  async put (source: AsyncIterable<Uint8Array>, opts: PutOptions): Promise<PutResult> {
    const started = performance.now()
    const cred = this.clientCredential(STORAGE_PUT_NEED)
    const writer = await ObjectWriter.create({ redundancy: opts.redundancy, chunkSize: opts.chunkSize })
    const n = positionsOf(writer.redundancy)
    const members = this.storageMembers()
    if (members.length < n) {
      throw new InsufficientHoldersError(`${n} holders are needed for ${n === 1 ? 'one copy' : `${n} positions`} but the fabric has ${members.length} member(s) with the storage role; lower the redundancy or add storage nodes`)
    }
    const index = toBase64url(writer.keyCheck)
    const ranked = rankHolders(index, members, members.length)
    const pin = opts.pin ?? true
    const sessions: Array<PositionStore | undefined> = Array.from({ length: n }, () => undefined)
    const opened: PositionStore[] = []
    const failures: string[] = []
    const refusals: RemoteStorageError[] = []
    const fail = (peer: string, err: Error): void => {
      failures.push(`${peer.slice(-8)}: ${err instanceof Error ? err.message : String(err)}`)
      if (err instanceof RemoteStorageError) refusals.push(err)
    }
    // when every refusal is the same (e.g. QuotaExceededError), the put fails with that name
    const failure = (message: string): Error => {
      const names = new Set(refusals.map(r => r.name))
      return names.size === 1 ? new RemoteStorageError(refusals[0].name, `${message} (${failures.join('; ')})`) : new PutFailedError(`${message} (${failures.join('; ')})`)
    }
    const self = this.host.peerId.toString()
    const openSession = async (peer: string, p: number): Promise<PositionStore> => {
      // a position placed on this node goes into its own store, not over a stream to itself
      const session = peer === self
        ? await this.openLocalStore(cred, writer.redundancy, p, pin, opts.size)
        : await StoreSession.open(await this.open(peer, opts.signal), { k: 'store', c: cred, r: writer.redundancy, p, pin, size: opts.size })
      opened.push(session)
      return session
    }
    let rootCid: string | undefined
    // Every open store hears from the writer at least every KEEPALIVE_MS, even while the stripe waits
    // on a slower holder's window or a failed position is rebuilt: one slow disk must not make the
    // healthy holders give the put up for idle (STORE_IDLE_MS) and fail it as a whole.
    const keepalive = setInterval(() => { for (const s of sessions) void s?.wait().catch(() => {}) }, KEEPALIVE_MS)
    let shipping: Promise<void> | undefined
    try {
      await Promise.all(Array.from({ length: n }, async (_, p) => {
        try {
          sessions[p] = await openSession(ranked[p], p)
        } catch (err) {
          fail(ranked[p], err as Error)
        }
      }))
      const ship = async (chunks: ChunkBlocks[]): Promise<void> => {
        for (const chunk of chunks) {
          await Promise.all(sessions.map(async (session, p) => {
            if (session == null) return
            try {
              const block = chunk.blocks[writer.redundancy.kind === 'replicas' ? 0 : p]
              await session.block(block.bytes, block.cid)
            } catch (err) {
              sessions[p] = undefined
              fail(session.peer, err as Error)
              void session.abort(err as Error)
            }
          }))
          if (sessions.filter(s => s != null).length < needOf(writer.redundancy)) {
            throw failure('too many holders failed during the put')
          }
        }
      }
      let total = 0
      for await (const piece of source) {
        opts.signal?.throwIfAborted()
        if (!(piece instanceof Uint8Array)) throw new TypeError('put reads Uint8Array chunks')
        // the piece is read before write returns; its chunks are sealed (off the main thread in Node)
        // while the previous piece's blocks ship and the next piece is read — blocks ship in order
        const sealed = writer.write(piece)
        sealed.catch(() => {})
        if (shipping != null) await shipping
        shipping = sealed.then(ship).then(() => {
          total += piece.length
          opts.onProgress?.({ type: 'storage:put:bytes', bytes: total })
        })
        shipping.catch(() => {})
      }
      if (shipping != null) await shipping
      // an aborted put never reaches its root: nothing half-written is ever acknowledged
      opts.signal?.throwIfAborted()
      const done = await writer.finish()
      rootCid = done.root.cid.toString()
      await ship(done.chunks)
      const root = done.rootValue
      const holders = ranked.slice(0, n)
      // positions whose holder failed: rebuild them on the next candidates from the others
      // (the healthy holders keep hearing from the writer: the keepalive above)
      {
        let next = n
        for (let p = 0; p < n; p++) {
          while (sessions[p] == null) {
            if (next >= ranked.length) throw failure(`position ${p} found no holder`)
            const target = ranked[next++]
            try {
              const session = await openSession(target, p)
              const sources = sessions.flatMap((s, q) => s == null ? [] : [{ peer: holders[q], position: q }])
              await this.rebuildInto(session, done.root.cid, root, p, sources, opts.signal)
              sessions[p] = session
              holders[p] = target
            } catch (err) {
              fail(target, err as Error)
            }
          }
        }
      }
      opts.signal?.throwIfAborted()
      const record: PlacementRecord = { root: rootCid, redundancy: writer.redundancy, holders, version: 1, shareBytes: shareBytes(root) }
      const results = await Promise.allSettled(sessions.map(async session => { await session!.end(done.root.bytes, record) }))
      const bad = results.flatMap((r, p) => r.status === 'rejected' ? [`${holders[p].slice(-8)}: ${(r.reason as Error).message}`] : [])
      if (bad.length > 0) {
        const err = (results.find(r => r.status === 'rejected') as PromiseRejectedResult).reason as Error
        if (err instanceof RemoteStorageError) throw new RemoteStorageError(err.name, `the put was not acknowledged: ${bad.join('; ')}`)
        throw new PutFailedError(`the put was not acknowledged: ${bad.join('; ')}`)
      }
      return { cap: formatReadCap(done.cap), root: record.root, size: root.size, redundancy: writer.redundancy, holders, chunks: root.chunks.length, wallMs: performance.now() - started }
    } catch (err) {
      // (a piece still shipping when the put failed gets no further: wait for it before cutting stores)
      await shipping?.catch(() => {})
      // a failed put takes back everything: open stores are cut (their blocks are collected — on this
      // node before the put rejects, so its quota is free again by then), holders that committed —
      // or may have: they got the root but their answer was lost — are asked to abandon what this
      // writer stored (a holder that holds nothing of it answers ok)
      await Promise.allSettled(opened.filter(s => !s.ended).map(async s => { await s.abort(err as Error) }))
      const committed = opened.filter(s => s.ended || s.endSent === true).map(s => s.peer)
      if (rootCid != null && committed.length > 0) await Promise.allSettled(committed.map(async peer => { await this.abandon(peer, rootCid!) }))
      throw err
    } finally {
      clearInterval(keepalive)
    }
  }

  private async abandon (peer: string, root: string): Promise<void> {
    await this.request(peer, { k: 'abandon', c: this.clientCredential(STORAGE_PUT_NEED), root })
  }

  /**
   * Streams the blocks of position `p` of an object into an open store call: fetched from
   * `sources` (copies, or ≥ k shards reconstructed), each checked against the root.
   */
  async rebuildInto (session: PositionStore, rootCid: CID, root: ObjectRoot, p: number, sources: Array<{ peer: string, position: number }>, signal?: AbortSignal): Promise<void> {
    const codec = root.redundancy.kind === 'erasure' ? createErasureCodec(root.redundancy.k, root.redundancy.m) : undefined
    for (let first = 0; first < root.chunks.length; first += FETCH_WINDOW) {
      const chunks = range(first, Math.min(root.chunks.length, first + FETCH_WINDOW))
      const got = await this.fetchChunks(rootCid, root, chunks, sources, signal)
      for (const c of chunks) {
        const blocks = got.get(c)!
        // (fetchChunks verified the copies; a reconstructed shard is verified here)
        let block: Uint8Array
        if (codec == null) {
          block = joinBlock(blocks.find(b => b != null)!)
        } else {
          const all = codec.reconstruct(blocks.map(b => b == null ? undefined : joinBlock(b)))
          block = all[p]
          await verifyBlock(root.chunks[c].blocks[p], block)
        }
        await session.block(block, root.chunks[c].blocks[codec == null ? 0 : p])
      }
    }
  }

  /**
   * For each chunk, fetches at least `need` verified blocks (by position) from `sources`,
   * batching one request per holder per round and falling back to others on a miss.
   */
  private async fetchChunks (rootCid: CID, root: ObjectRoot, chunks: number[], sources: Array<{ peer: string, position: number }>, signal?: AbortSignal): Promise<Map<number, Array<BlockBytes | undefined>>> {
    const n = positionsOf(root.redundancy)
    const need = needOf(root.redundancy)
    const replicas = root.redundancy.kind === 'replicas'
    const cred = this.fetchCredential()
    // a block fetched over the network stays in the pieces it arrived in (verified and decrypted
    // where they lie: joining them would copy every megabyte once more)
    const out = new Map<number, Array<BlockBytes | undefined>>()
    const tried = new Map<number, Set<number>>()
    for (const c of chunks) { out.set(c, Array.from({ length: n }, () => undefined)); tried.set(c, new Set()) }
    const have = (c: number): number => out.get(c)!.filter(b => b != null).length
    // `sources` come in preference order (live first; data shards, which need no decoding, first)
    const order = sources
    for (let round = 0; round <= order.length; round++) {
      const asks = new Map<number, number[]>() // source index → chunks
      for (const c of chunks) {
        let missing = need - have(c)
        if (missing <= 0) continue
        const seen = tried.get(c)!
        // replicas spread chunks over copies; shards take the lowest positions not yet tried
        const start = replicas ? (c + round) % order.length : 0
        for (let i = 0; i < order.length && missing > 0; i++) {
          const s = (start + i) % order.length
          if (seen.has(s)) continue
          seen.add(s)
          asks.set(s, [...(asks.get(s) ?? []), c])
          missing--
        }
      }
      if (asks.size === 0) break
      await Promise.all([...asks].map(async ([s, cs]) => {
        const src = order[s]
        const cids = cs.map(c => root.chunks[c].blocks[replicas ? 0 : src.position])
        try {
          if (src.peer === this.host.peerId.toString()) {
            // a source that is this node reads its own store
            for (const [j, cid] of cids.entries()) {
              try {
                out.get(cs[j])![src.position] = await this.store().get(cid)
              } catch {}
            }
            return
          }
          // one request carries at most a window's worth of blocks: what a stream buffers unread is bounded
          const blockBytes = replicas ? root.chunkSize + 16 : Math.ceil((root.chunkSize + 16) / need)
          // (rounded up: a window of 1 MiB chunks is 8 blocks although each carries a 16-byte tag; the
          // stream buffer holds a window plus one whole frame)
          const perCall = Math.max(1, Math.min(MAX_FETCH_CIDS, Math.ceil(STORE_WINDOW_BYTES / blockBytes)))
          for (let i = 0; i < cids.length; i += perCall) {
            const part = cids.slice(i, i + perCall)
            const call = await this.open(src.peer, signal)
            const asked = performance.now()
            // each block is verified (off the main thread in Node) while the next ones are read
            const checks: Array<Promise<void>> = []
            try {
              await call.send({ k: 'fetch', c: cred, root: rootCid.toString(), cids: part.map(x => x.toString()) })
              for (const [j, cid] of part.entries()) {
                const r = await call.fetchReply()
                if (r.k !== 'block') continue
                checks.push(verifyBlockJoined(cid, r.b).then(bytes => {
                  out.get(cs[i + j])![src.position] = bytes
                }, () => {})) // a holder serving bad bytes: another holder will do
              }
              this.observe(src.peer, (performance.now() - asked) / part.length)
            } finally {
              await Promise.all(checks)
              await call.close()
            }
          }
        } catch {
          // this holder is away or failing: the next round asks another, and gets ask it last for a while
          this.observe(src.peer, 1000)
        }
      }))
    }
    for (const c of chunks) {
      if (have(c) < need) throw new TooFewSharesError(`chunk ${c}: ${have(c)} of the ${need} ${replicas ? 'copy' : 'shards'} needed could be fetched from ${sources.length} holder(s)`)
    }
    return out
  }

  /** Time per block a holder took lately (exponentially weighted): gets ask the fastest first. */
  private readonly blockMs = new Map<string, number>()

  private observe (peer: string, ms: number): void {
    const prev = this.blockMs.get(peer)
    this.blockMs.set(peer, prev == null ? ms : prev * 0.7 + ms * 0.3)
    if (this.blockMs.size > 4096) this.blockMs.delete(this.blockMs.keys().next().value!)
  }

  /** Finds an object: asks the members ranked for its storage index for its root block and record. */
  async locate (cap: ReadCapability | { root: CID, index: string }, signal?: AbortSignal, candidates?: string[]): Promise<{ rootBytes: Uint8Array, record: PlacementRecord }> {
    const index = 'key' in cap ? await storageIndex(cap.key) : cap.index
    const members = this.storageMembers()
    const ranked = candidates ?? rankHolders(index, members, members.length)
    const root = cap.root.toString()
    const cred = 'key' in cap ? this.clientCredential(STORAGE_GET_NEED) : this.fetchCredential()
    // ask in waves of 4, best-ranked first: the holders are near the top unless churn moved them
    for (let i = 0; i < ranked.length; i += 4) {
      const wave = ranked.slice(i, i + 4)
      const answers = await Promise.all(wave.map(async peer => {
        try {
          const r = await this.request(peer, { k: 'root', c: cred, root }, signal)
          if (r.k !== 'held') return undefined
          // a holder's answer must be this object: its root hashes to the capability, its record names it
          await verifyBlock(cap.root, r.root)
          if (r.rec.root !== root || !sameRedundancy(r.rec.redundancy, decodeRoot(r.root).redundancy)) return undefined
          return { rootBytes: r.root, record: r.rec }
        } catch {
          return undefined
        }
      }))
      const found = answers.filter(a => a != null)
      if (found.length > 0) return found.reduce((a, b) => b.record.version > a.record.version ? b : a)
    }
    throw new StorageUnavailableError(`no member with the storage role holds ${root} (asked ${ranked.length}): the capability may belong to another fabric, or every holder is away`)
  }

  /**
   * Opens an object for reading: locates it, verifies its root and checks the key (errors surface
   * here), then `chunks` yields the plaintext in order, every block verified on the way.
   */
  async get (cap: ReadCapability, opts: { onProgress?: (p: StorageProgress) => void, signal?: AbortSignal } = {}): Promise<{ size: number, record: PlacementRecord, chunks: AsyncGenerator<Uint8Array> }> {
    const { rootBytes, record } = await this.locate(cap, opts.signal)
    const reader = await ObjectReader.open(cap, rootBytes)
    const root = reader.root
    const live = new Set(this.init.members().map(m => m.peerId))
    // live holders first, then the fastest (by the time their recent blocks took, in 5 ms steps),
    // then the lowest positions (data shards need no decoding); away ones last
    const speed = (peer: string): number => Math.round((this.blockMs.get(peer) ?? 0) / 5)
    const sources = record.holders.map((peer, position) => ({ peer, position }))
      .sort((a, b) => Number(live.has(b.peer)) - Number(live.has(a.peer)) || speed(a.peer) - speed(b.peer) || a.position - b.position)
    const windowAt = async (first: number): Promise<Map<number, Array<BlockBytes | undefined>>> =>
      await this.fetchChunks(cap.root, root, range(first, Math.min(root.chunks.length, first + FETCH_WINDOW)), sources, opts.signal)
    async function * chunks (): AsyncGenerator<Uint8Array> {
      let bytes = 0
      // windows in flight: the next ones are fetched while this one is decrypted and handed out, and
      // a holder always has the next request before it finishes sending the last
      const ahead: Array<Promise<Map<number, Array<BlockBytes | undefined>>>> = []
      let asked = 0
      const askMore = (): void => {
        while (ahead.length < FETCH_WINDOWS_AHEAD && asked < root.chunks.length) {
          const w = windowAt(asked)
          w.catch(() => {})
          ahead.push(w)
          asked += FETCH_WINDOW
        }
      }
      askMore()
      for (let first = 0; first < root.chunks.length; first += FETCH_WINDOW) {
        const got = await ahead.shift()!
        askMore()
        // fetchChunks verified every block against the root already, and its blocks are ours to hand
        // over; the window's chunks are decrypted together (off the main thread in Node), yielded in order
        const plains = [...got].map(([c, blocks]) => reader.chunkPieces(c, blocks, { verified: true, handOver: true }))
        for (const p of plains) p.catch(() => {})
        for (const p of plains) {
          for (const plain of await p) {
            bytes += plain.length
            yield plain
          }
        }
        opts.onProgress?.({ type: 'storage:get:bytes', bytes, total: root.size })
      }
    }
    return { size: root.size, record, chunks: chunks() }
  }

  /** Redundancy health: each holder of the record, whether it is live and holds its position. */
  async stat (cap: ReadCapability, signal?: AbortSignal): Promise<StatResult> {
    const { rootBytes, record } = await this.locate(cap, signal)
    const root = decodeRoot(rootBytes)
    const live = new Set(this.init.members().map(m => m.peerId))
    const cred = this.clientCredential(STORAGE_GET_NEED)
    const holders = await Promise.all(record.holders.map(async (peer, position): Promise<HolderStat> => {
      if (!live.has(peer)) return { peer, position, live: false, holds: false }
      try {
        const r = await this.request(peer, { k: 'root', c: cred, root: record.root }, signal)
        return r.k === 'held' && r.p === position ? { peer, position, live: true, holds: true, pinned: r.pin } : { peer, position, live: true, holds: false }
      } catch {
        return { peer, position, live: false, holds: false }
      }
    }))
    return {
      root: record.root,
      size: root.size,
      chunks: root.chunks.length,
      redundancy: root.redundancy,
      version: record.version,
      need: needOf(root.redundancy),
      positions: positionsOf(root.redundancy),
      healthy: holders.filter(h => h.holds).length,
      holders
    }
  }

  /** Pins (keeps) or unpins (collectable when each holder's lease ends) an object on all its holders. */
  async pin (cap: ReadCapability, pin: boolean, signal?: AbortSignal): Promise<{ root: string, pinned: boolean, holders: number, answered: number }> {
    const { record } = await this.locate(cap, signal)
    const cred = this.clientCredential(STORAGE_PUT_NEED)
    const refusals: RemoteStorageError[] = []
    const ok = await Promise.all(record.holders.map(async peer => {
      try {
        return (await this.request(peer, { k: 'pin', c: cred, root: record.root, pin }, signal)).k === 'ok'
      } catch (err) {
        if (err instanceof RemoteStorageError) refusals.push(err)
        return false
      }
    }))
    const answered = ok.filter(Boolean).length
    if (answered === 0 && refusals.length > 0) throw new RemoteStorageError(refusals[0].name, refusals[0].message)
    if (answered === 0) throw new StorageUnavailableError(`none of the ${record.holders.length} holders of ${record.root} answered the ${pin ? 'pin' : 'unpin'}`)
    return { root: record.root, pinned: pin, holders: record.holders.length, answered }
  }

  /**
   * Restores this node's own position of `root` after blocks failed their hash (and were
   * deleted): the missing blocks are fetched from the other holders (reconstructed from k shards
   * for erasure) and stored again. Returns how many blocks were restored; throws when too few
   * holders answer (the repair core then moves the position elsewhere).
   */
  async heal (rootText: string): Promise<number> {
    const h = this.holdings.get(rootText)
    const store = this.store()
    if (h == null) return 0
    const rootCid = CID.parse(rootText)
    const others = (this.currentRecord?.(rootText) ?? h.record).holders
      .map((peer, position) => ({ peer, position }))
      .filter(s => s.peer !== this.host.peerId.toString())
    let rootValue = await this.localRoot(rootText)
    let healed = 0
    if (rootValue == null) {
      const { rootBytes } = await this.locate({ root: rootCid, index: '' }, undefined, others.map(o => o.peer))
      await store.put(rootCid, rootBytes)
      rootValue = decodeRoot(rootBytes)
      healed++
    }
    const root = rootValue
    const wanted = blocksOfPosition(root, h.position)
    const missing: number[] = []
    for (const [c, cid] of wanted.entries()) if (!await store.has(cid)) missing.push(c)
    const codec = root.redundancy.kind === 'erasure' ? createErasureCodec(root.redundancy.k, root.redundancy.m) : undefined
    for (let i = 0; i < missing.length; i += FETCH_WINDOW) {
      const chunks = missing.slice(i, i + FETCH_WINDOW)
      const got = await this.fetchChunks(rootCid, root, chunks, others)
      for (const c of chunks) {
        const blocks = got.get(c)!
        const block = codec == null ? joinBlock(blocks.find(b => b != null)!) : codec.reconstruct(blocks.map(b => b == null ? undefined : joinBlock(b)))[h.position]
        await verifyBlock(wanted[c], block)
        await store.put(wanted[c], block)
        healed++
      }
    }
    return healed
  }

  /** Open a store call on `target` for position `p` (the repair driver uses it). */
  async openStore (target: string, redundancy: Redundancy, p: number, pin: boolean, size?: number, writer?: string): Promise<StoreSession> {
    const cred = this.init.holdCredential
    if (cred == null) throw new RemoteStorageError('NotAuthorizedError', 'only holders (storage/hold) rebuild positions on other holders')
    return await StoreSession.open(await this.open(target), { k: 'store', c: cred, r: redundancy, p, pin, size, w: writer })
  }

  /** Send a repair-core message to a fellow holder (fire and forget). */
  async sendRepair (to: string, msg: unknown): Promise<void> {
    const cred = this.init.holdCredential
    if (cred == null) return
    const call = await this.open(to)
    try {
      await call.send({ k: 'repair', c: cred, msg })
    } finally {
      await call.close()
    }
  }

  /** The root of `rootCid` (verified) from the first of `peers` that holds it. */
  async rootFrom (rootCid: CID, peers: string[]): Promise<{ root: ObjectRoot, rootBytes: Uint8Array }> {
    const self = this.host.peerId.toString()
    const { rootBytes } = await this.locate({ root: rootCid, index: '' }, undefined, peers.filter(p => p !== self))
    return { root: decodeRoot(rootBytes), rootBytes }
  }

  /** The root block (bytes and decoded) of a held object, from the local store. */
  async localRootBlock (root: string): Promise<{ root: ObjectRoot, rootBytes: Uint8Array } | undefined> {
    try {
      const rootBytes = await this.store().get(CID.parse(root))
      return { root: decodeRoot(rootBytes), rootBytes }
    } catch {
      return undefined
    }
  }

  /** The decoded root of a held object, from the local store. */
  async localRoot (root: string): Promise<ObjectRoot | undefined> {
    return (await this.localRootBlock(root))?.root
  }
}

function range (from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}

function sameRecord (a: PlacementRecord, b: PlacementRecord): boolean {
  return a.root === b.root && a.version === b.version && a.shareBytes === b.shareBytes && sameRedundancy(a.redundancy, b.redundancy) &&
    a.holders.length === b.holders.length && a.holders.every((h, i) => h === b.holders[i])
}

function sameRedundancy (a: Redundancy, b: Redundancy): boolean {
  return a.kind === 'replicas' ? b.kind === 'replicas' && a.r === b.r : b.kind === 'erasure' && a.k === b.k && a.m === b.m
}

function newer (a: PlacementRecord | undefined, b: PlacementRecord): PlacementRecord {
  return a != null && a.version > b.version ? a : b
}
