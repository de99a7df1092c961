// Frames of the storage protocol (/webfabric/storage/1.0.0). One stream per
// request; its first frame names the request and carries the caller's
// capability. A `store` streams one position's blocks and ends with the
// object's root and placement record; `fetch` streams blocks back; `root`
// locates an object; `pin` flips retention; `repair` carries a message of the
// repair core. Every frame is DAG-CBOR, size-limited and shape-checked here.
import { MalformedError, decode, encode } from '@webfabric/protocol'
import { MAX_CHUNK_SIZE, MAX_ROOT_BYTES, MAX_POSITIONS, type PlacementRecord, type Redundancy, validateRedundancy } from '@webfabric/storage'
import { Uint8ArrayList } from 'uint8arraylist'
import { frameChecks } from './frame-check.ts'

/** The storage protocol id. */
export const STORAGE_PROTOCOL = '/webfabric/storage/1.0.0'
/** Largest block on the wire: a whole encrypted chunk (replicas). */
export const MAX_BLOCK_BYTES = MAX_CHUNK_SIZE + 16
/** Largest storage frame: a root block plus its record, or one block, plus framing. */
export const MAX_STORAGE_FRAME = Math.max(MAX_ROOT_BYTES, MAX_BLOCK_BYTES) + 64 * 1024
/**
 * Unacknowledged block bytes a writer may have in flight to one holder. libp2p buffers what a
 * stream receives whether or not it is read, so a store is flow-controlled here: the holder
 * acknowledges each block once it is stored, and the writer waits for room in this window.
 */
export const STORE_WINDOW_BYTES = 8 * 2 ** 20
/** What a storage stream may buffer unread: one largest frame plus a full window. */
export const MAX_STREAM_BUFFER = MAX_STORAGE_FRAME + STORE_WINDOW_BYTES
/** Most CIDs one fetch may ask for. */
export const MAX_FETCH_CIDS = 256

/** Writers need storage/put; readers storage/get; holders (who repair each other) storage/hold. */
export const STORAGE_PUT_NEED = { resource: 'fabric/storage', ability: 'storage/put' }
export const STORAGE_GET_NEED = { resource: 'fabric/storage', ability: 'storage/get' }
export const STORAGE_HOLD_NEED = { resource: 'fabric/storage', ability: 'storage/hold' }

/**
 * caller → holder: hold position `p` of an object with redundancy `r`. The holder answers `ok` (or an
 * error: no lease, over quota for `size` plaintext bytes when given); then blocks follow, then `end`.
 */
export interface StoreFrame { k: 'store', c: Uint8Array, r: Redundancy, p: number, pin: boolean, size?: number, w?: string }
/** one block's bytes (its CID is computed by the receiver). */
export interface BlockFrame { k: 'block', b: Uint8Array }
/** writer → holder during a store: still here (a put rebuilding another position keeps its healthy stores open). */
export interface WaitFrame { k: 'wait' }
/** the last frame of a store: the object's root block and the placement record. */
export interface EndFrame { k: 'end', root: Uint8Array, rec: PlacementRecord }
/** caller → holder: send these blocks of `root`, in order. */
export interface FetchFrame { k: 'fetch', c: Uint8Array, root: string, cids: string[] }
/** caller → holder: the root block and placement record of `root`, if held. */
export interface RootFrame { k: 'root', c: Uint8Array, root: string }
/** caller → holder: keep (`pin: true`) or release at lease end (`pin: false`). */
export interface PinFrame { k: 'pin', c: Uint8Array, root: string, pin: boolean }
/** writer → holder: a put failed; take back the version-1 holding this writer created. */
export interface AbandonFrame { k: 'abandon', c: Uint8Array, root: string }
/** holder → holder: a message of the repair core. */
export interface RepairFrame { k: 'repair', c: Uint8Array, msg: unknown }

/** Requests: the first frame of a stream. */
export type StorageRequest = StoreFrame | FetchFrame | RootFrame | PinFrame | AbandonFrame | RepairFrame

/** holder → caller answers. */
export type StorageReply =
  | { k: 'stored' }
  | { k: 'ok' }
  | { k: 'ack', n: number }
  | BlockFrame
  | { k: 'missing', cid: string }
  | { k: 'held', root: Uint8Array, rec: PlacementRecord, p: number, pin: boolean }
  | { k: 'error', name: string, message: string }

/** A fetch's answer: as StorageReply, except that a block comes as the pieces it arrived in. */
export type FetchReply = Exclude<StorageReply, BlockFrame> | { k: 'block', b: Uint8Array | Uint8Array[] }

const MAX_ID = 256
const MAX_TEXT = 1024

const { str, bytes, int, map, bool } = frameChecks('storage', MAX_ID)

function redundancy (x: unknown): Redundancy {
  try {
    return validateRedundancy(x)
  } catch (err) {
    throw new MalformedError((err as Error).message, { field: 'r' })
  }
}

/** Shape-checks a placement record from the wire (the repair core checks it against what it holds). */
export function record (x: unknown): PlacementRecord {
  const f = map(x, ['root', 'redundancy', 'holders', 'version', 'shareBytes'])
  const r = redundancy(f.redundancy)
  const n = r.kind === 'replicas' ? r.r : r.k + r.m
  if (!Array.isArray(f.holders) || f.holders.length !== n || f.holders.length > MAX_POSITIONS) throw new MalformedError(`a placement record lists ${n} holders`, { field: 'holders' })
  const holders = f.holders.map((h, i) => str(h, `holders[${i}]`, 128))
  if (new Set(holders).size !== holders.length) throw new MalformedError('a placement record lists each holder once', { field: 'holders' })
  return { root: str(f.root, 'root'), redundancy: r, holders, version: int(f.version, 'version', 2 ** 40), shareBytes: int(f.shareBytes, 'shareBytes', 2 ** 50) }
}

/** Decodes and shape-checks the first frame of a request stream; throws MalformedError. */
export function decodeRequest (data: Uint8Array): StorageRequest {
  const x = decode(data, { maxBytes: MAX_STORAGE_FRAME, canonical: false }) as { k?: unknown }
  switch (x?.k) {
    case 'store': {
      const f = map(x, ['k', 'c', 'r', 'p', 'pin', 'size', 'w'])
      const r = redundancy(f.r)
      const store: StoreFrame = { k: 'store', c: bytes(f.c, 'c', 16 * 1024), r, p: int(f.p, 'p', (r.kind === 'replicas' ? r.r : r.k + r.m) - 1), pin: bool(f.pin, 'pin') }
      if (f.size !== undefined) store.size = int(f.size, 'size', 2 ** 52)
      // (holders' repair pushes only) the peer whose put created the object, so it may still unpin it
      if (f.w !== undefined) store.w = str(f.w, 'w', 128)
      return store
    }
    case 'fetch': {
      const f = map(x, ['k', 'c', 'root', 'cids'])
      if (!Array.isArray(f.cids) || f.cids.length === 0 || f.cids.length > MAX_FETCH_CIDS) throw new MalformedError(`a fetch asks for 1..${MAX_FETCH_CIDS} blocks`, { field: 'cids' })
      return { k: 'fetch', c: bytes(f.c, 'c', 16 * 1024), root: str(f.root, 'root'), cids: f.cids.map((c, i) => str(c, `cids[${i}]`)) }
    }
    case 'root': {
      const f = map(x, ['k', 'c', 'root'])
      return { k: 'root', c: bytes(f.c, 'c', 16 * 1024), root: str(f.root, 'root') }
    }
    case 'pin': {
      const f = map(x, ['k', 'c', 'root', 'pin'])
      return { k: 'pin', c: bytes(f.c, 'c', 16 * 1024), root: str(f.root, 'root'), pin: bool(f.pin, 'pin') }
    }
    case 'abandon': {
      const f = map(x, ['k', 'c', 'root'])
      return { k: 'abandon', c: bytes(f.c, 'c', 16 * 1024), root: str(f.root, 'root') }
    }
    case 'repair': {
      const f = map(x, ['k', 'c', 'msg'])
      return { k: 'repair', c: bytes(f.c, 'c', 16 * 1024), msg: f.msg }
    }
  }
  throw new MalformedError('a storage request is a store, fetch, root, pin, abandon or repair', { field: 'k' })
}

/** Decodes a frame that follows a `store` request: a block or the end. */
export function decodeStoreFrame (data: Uint8Array | Uint8ArrayList): BlockFrame | EndFrame | WaitFrame {
  const b = blockOf(data)
  if (b != null) return { k: 'block', b }
  const x = decode(data.subarray(), { maxBytes: MAX_STORAGE_FRAME, canonical: false }) as { k?: unknown }
  if (x?.k === 'wait') { map(x, ['k']); return { k: 'wait' } }
  if (x?.k === 'block') {
    const f = map(x, ['k', 'b'])
    return { k: 'block', b: bytes(f.b, 'b', MAX_BLOCK_BYTES) }
  }
  if (x?.k === 'end') {
    const f = map(x, ['k', 'root', 'rec'])
    return { k: 'end', root: bytes(f.root, 'root', MAX_ROOT_BYTES), rec: record(f.rec) }
  }
  throw new MalformedError('a store continues with block (and wait) frames and one end frame', { field: 'k' })
}

/** Decodes a holder's answer; throws MalformedError. */
export function decodeReply (data: Uint8Array | Uint8ArrayList): StorageReply {
  const b = blockOf(data)
  if (b != null) return { k: 'block', b }
  return decodeOther(data)
}

/**
 * Decodes a holder's answer to a fetch as decodeReply does, except that the block of a block frame
 * spelled as encodeBlockFrame spells it is not joined: a view when it arrived in one piece, else the
 * pieces it arrived in (views, in order). Throws MalformedError.
 */
export function decodeFetchReply (data: Uint8Array | Uint8ArrayList): FetchReply {
  const span = blockSpan(data)
  if (span != null) {
    const [start, end] = span
    return { k: 'block', b: data instanceof Uint8Array ? data.subarray(start, end) : [...data.sublist(start, end)] }
  }
  return decodeOther(data)
}

function decodeOther (data: Uint8Array | Uint8ArrayList): StorageReply {
  const x = decode(data.subarray(), { maxBytes: MAX_STORAGE_FRAME, canonical: false }) as { k?: unknown }
  switch (x?.k) {
    case 'stored': map(x, ['k']); return { k: 'stored' }
    case 'ok': map(x, ['k']); return { k: 'ok' }
    case 'ack': { const f = map(x, ['k', 'n']); return { k: 'ack', n: int(f.n, 'n', 2 ** 52) } }
    case 'block': { const f = map(x, ['k', 'b']); return { k: 'block', b: bytes(f.b, 'b', MAX_BLOCK_BYTES) } }
    case 'missing': { const f = map(x, ['k', 'cid']); return { k: 'missing', cid: str(f.cid, 'cid') } }
    case 'held': {
      const f = map(x, ['k', 'root', 'rec', 'p', 'pin'])
      return { k: 'held', root: bytes(f.root, 'root', MAX_ROOT_BYTES), rec: record(f.rec), p: int(f.p, 'p', MAX_POSITIONS), pin: bool(f.pin, 'pin') }
    }
    case 'error': { const f = map(x, ['k', 'name', 'message']); return { k: 'error', name: str(f.name, 'name', 64), message: str(f.message, 'message', MAX_TEXT) } }
  }
  throw new MalformedError('unknown storage reply', { field: 'k' })
}

/** Encodes any storage frame (undefined fields omitted). */
export function encodeStorageFrame (frame: object): Uint8Array {
  const clean: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(frame)) if (v !== undefined) clean[k] = v
  return encode(clean)
}

// A block frame is the DAG-CBOR map {b: <bytes>, k: 'block'} (canonical key order: b before k),
// written and read here by hand around the block so its megabyte is neither copied into an
// encoding nor out of one. Any other spelling goes through the general decoder.
const BLOCK_TRAILER = new Uint8Array([0x61, 0x6b, 0x65, 0x62, 0x6c, 0x6f, 0x63, 0x6b]) // "k": "block"

/** The head of a block frame: map of 2, key "b", then the byte string header of `length` bytes (shortest form, as DAG-CBOR requires). */
function blockHead (length: number): Uint8Array {
  if (length < 24) return new Uint8Array([0xa2, 0x61, 0x62, 0x40 + length])
  if (length < 0x100) return new Uint8Array([0xa2, 0x61, 0x62, 0x58, length])
  if (length < 0x10000) return new Uint8Array([0xa2, 0x61, 0x62, 0x59, length >> 8, length & 0xff])
  return new Uint8Array([0xa2, 0x61, 0x62, 0x5a, length >>> 24, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff])
}

/**
 * A `block` frame around `b` without copying it: the same bytes as encodeStorageFrame({ k: 'block', b }).
 * The list holds `b` itself: the caller must not change it until the frame is sent.
 */
export function encodeBlockFrame (b: Uint8Array): Uint8ArrayList {
  if (b.byteLength > MAX_BLOCK_BYTES) throw new MalformedError(`a block is at most ${MAX_BLOCK_BYTES} bytes`, { field: 'b' })
  return new Uint8ArrayList(blockHead(b.byteLength), b, BLOCK_TRAILER)
}

/**
 * The block of a frame spelled exactly as encodeBlockFrame spells it (a view when the block arrived
 * in one piece, else one copy); undefined for any other frame, which the general decoder then reads
 * and checks. Throws MalformedError for a block over MAX_BLOCK_BYTES.
 */
function blockOf (data: Uint8Array | Uint8ArrayList): Uint8Array | undefined {
  const span = blockSpan(data)
  return span == null ? undefined : data.subarray(span[0], span[1])
}

/** Where the block of a frame spelled exactly as encodeBlockFrame spells it lies ([start, end)); as blockOf otherwise. */
function blockSpan (data: Uint8Array | Uint8ArrayList): [number, number] | undefined {
  const at = (i: number): number => data instanceof Uint8Array ? data[i] : data.get(i)
  const n = data.byteLength
  if (n < 4 + BLOCK_TRAILER.length || n > MAX_STORAGE_FRAME || at(0) !== 0xa2 || at(1) !== 0x61 || at(2) !== 0x62) return undefined
  const h = at(3)
  let length: number
  let start: number
  if (h >= 0x40 && h < 0x58) { length = h - 0x40; start = 4 } else if (h === 0x58 && n > 4) { length = at(4); start = 5 } else if (h === 0x59 && n > 5) { length = at(4) * 0x100 + at(5); start = 6 } else if (h === 0x5a && n > 7) { length = ((at(4) * 0x100 + at(5)) * 0x100 + at(6)) * 0x100 + at(7); start = 8 } else return undefined
  // only the shortest header, and exactly the trailer after the block: anything else is for the general decoder
  if (blockHead(length).byteLength !== start || start + length + BLOCK_TRAILER.length !== n) return undefined
  for (let i = 0; i < BLOCK_TRAILER.length; i++) if (at(start + length + i) !== BLOCK_TRAILER[i]) return undefined
  if (length > MAX_BLOCK_BYTES) throw new MalformedError(`storage frame field b must be at most ${MAX_BLOCK_BYTES} bytes`, { field: 'b' })
  return [start, start + length]
}
