// The object root: a small DAG-CBOR node that links every block of an object
// in order. It holds only ciphertext CIDs, lengths and the redundancy, so a
// holder can verify and repair an object without being able to read it.
import { cidOf, decode, encode, isBytes } from '@webfabric/protocol'
import { CID } from 'multiformats/cid'
import { MalformedRootError, StorageOptionsError } from './errors.ts'

/** How an object's blocks are made redundant: r full copies, or Reed-Solomon k data + m parity shards per chunk. */
export type Redundancy = { kind: 'replicas', r: number } | { kind: 'erasure', k: number, m: number }

/** One chunk: the length of its ciphertext and its block CIDs (one for replicas; k+m shards for erasure). */
export interface RootChunk { cipherLength: number, blocks: CID[] }

/** The decoded root of an object (format version 1). */
export interface ObjectRoot {
  v: 1
  /** plaintext bytes */
  size: number
  chunkSize: number
  redundancy: Redundancy
  /** 16 bytes that tell a right key from a wrong one before any block is fetched */
  keyCheck: Uint8Array
  chunks: RootChunk[]
}

/** Largest root block; with 1 MiB chunks and 4+2 coding that is about 17 GiB of data. */
export const MAX_ROOT_BYTES = 4 * 2 ** 20
/** Chunk size bounds and default (fixed-size chunking; the README says why). */
export const MIN_CHUNK_SIZE = 4 * 1024
export const MAX_CHUNK_SIZE = 4 * 2 ** 20
export const DEFAULT_CHUNK_SIZE = 2 ** 20
/** Redundancy bounds. */
export const MAX_REPLICAS = 16
export const MAX_POSITIONS = 32

/** Number of positions (holders) of a redundancy: r, or k+m. */
export function positionsOf (r: Redundancy): number {
  return r.kind === 'replicas' ? r.r : r.k + r.m
}

/** Shares needed to read: 1 copy, or k shards. */
export function needOf (r: Redundancy): number {
  return r.kind === 'replicas' ? 1 : r.k
}

/** Checks a redundancy; StorageOptionsError (field 'redundancy') when out of range. */
export function validateRedundancy (r: unknown): Redundancy {
  const x = r as Partial<Redundancy & { r: number, k: number, m: number }>
  const int = (n: unknown, lo: number, hi: number): n is number => Number.isSafeInteger(n) && (n as number) >= lo && (n as number) <= hi
  if (x?.kind === 'replicas' && int(x.r, 1, MAX_REPLICAS)) return { kind: 'replicas', r: x.r }
  if (x?.kind === 'erasure' && int(x.k, 1, MAX_POSITIONS) && int(x.m, 0, MAX_POSITIONS) && x.k + x.m <= MAX_POSITIONS && x.k + x.m >= 2) {
    return { kind: 'erasure', k: x.k, m: x.m }
  }
  throw new StorageOptionsError(`redundancy must be { kind: 'replicas', r: 1..${MAX_REPLICAS} } or { kind: 'erasure', k ≥ 1, m ≥ 0, 2 ≤ k+m ≤ ${MAX_POSITIONS} }`, { field: 'redundancy' })
}

/** Text form used by the CLI: `r=3` or `4+2`. */
export function formatRedundancy (r: Redundancy): string {
  return r.kind === 'replicas' ? `r=${r.r}` : `${r.k}+${r.m}`
}

/** Encodes a root to its block: bytes and CID (dag-cbor, sha2-256). */
export async function encodeRoot (root: ObjectRoot): Promise<{ cid: CID, bytes: Uint8Array }> {
  const red = root.redundancy.kind === 'replicas' ? { kind: 'replicas', r: root.redundancy.r } : { kind: 'erasure', k: root.redundancy.k, m: root.redundancy.m }
  const bytes = encode({
    v: 1,
    size: root.size,
    chunkSize: root.chunkSize,
    redundancy: red,
    keyCheck: root.keyCheck,
    chunks: root.chunks.map(c => [c.cipherLength, c.blocks])
  })
  if (bytes.length > MAX_ROOT_BYTES) {
    throw new StorageOptionsError(`the object needs a root of ${bytes.length} bytes (limit ${MAX_ROOT_BYTES}): store it in parts or with a larger chunk size`, { field: 'size' })
  }
  return { cid: await cidOf(bytes), bytes }
}

/** Decodes and validates a root block (whose hash the caller has checked); MalformedRootError naming the field. */
export function decodeRoot (bytes: Uint8Array): ObjectRoot {
  let raw: unknown
  try {
    raw = decode(bytes, { maxBytes: MAX_ROOT_BYTES })
  } catch (err) {
    throw new MalformedRootError('object root is not canonical DAG-CBOR within the size limit', { cause: err })
  }
  const o = raw as Record<string, unknown>
  const fail = (field: string, what: string): never => { throw new MalformedRootError(`object root: ${field} ${what}`, { field }) }
  if (o == null || typeof o !== 'object' || Array.isArray(o)) fail('root', 'must be a map')
  const keys = Object.keys(o).sort().join(',')
  if (keys !== 'chunkSize,chunks,keyCheck,redundancy,size,v') fail('root', `has fields ${keys}`)
  if (o.v !== 1) fail('v', 'must be 1 (this node reads format version 1)')
  if (!Number.isSafeInteger(o.chunkSize) || (o.chunkSize as number) < MIN_CHUNK_SIZE || (o.chunkSize as number) > MAX_CHUNK_SIZE) fail('chunkSize', 'out of range')
  if (!isBytes(o.keyCheck) || o.keyCheck.length !== 16) fail('keyCheck', 'must be 16 bytes')
  let redundancy: Redundancy
  try {
    redundancy = validateRedundancy(o.redundancy)
  } catch {
    return fail('redundancy', 'out of range')
  }
  const chunkSize = o.chunkSize as number
  const width = redundancy.kind === 'replicas' ? 1 : redundancy.k + redundancy.m
  if (!Array.isArray(o.chunks)) fail('chunks', 'must be a list')
  const chunks: RootChunk[] = []
  for (const [i, c] of (o.chunks as unknown[]).entries()) {
    if (!Array.isArray(c) || c.length !== 2) fail(`chunks[${i}]`, 'must be [cipherLength, blocks]')
    const [len, blocks] = c as [unknown, unknown]
    if (!Number.isSafeInteger(len) || (len as number) <= 16 || (len as number) > chunkSize + 16) fail(`chunks[${i}].cipherLength`, 'out of range')
    if (!Array.isArray(blocks) || blocks.length !== width) fail(`chunks[${i}].blocks`, `must list ${width} block(s)`)
    for (const b of blocks as unknown[]) {
      const cid = CID.asCID(b)
      if (cid == null || cid.version !== 1 || cid.code !== 0x55 || cid.multihash.code !== 0x12) fail(`chunks[${i}].blocks`, 'must be raw sha2-256 CIDv1 links')
    }
    chunks.push({ cipherLength: len as number, blocks: (blocks as unknown[]).map(b => CID.asCID(b) as CID) })
  }
  const size = o.size as number
  if (!Number.isSafeInteger(size) || size < 0) fail('size', 'must be a non-negative integer')
  const plain = chunks.reduce((n, c) => n + c.cipherLength - 16, 0)
  if (plain !== size) fail('size', `is ${size} but the chunks hold ${plain} bytes`)
  for (let i = 0; i + 1 < chunks.length; i++) if (chunks[i].cipherLength !== chunkSize + 16) fail(`chunks[${i}].cipherLength`, 'must be a full chunk (only the last may be short)')
  return { v: 1, size, chunkSize, redundancy, keyCheck: o.keyCheck as Uint8Array, chunks }
}

/** The block CIDs of position `p`: chunk blocks for replicas, shard p of every chunk for erasure. */
export function blocksOfPosition (root: ObjectRoot, p: number): CID[] {
  const n = positionsOf(root.redundancy)
  if (!Number.isSafeInteger(p) || p < 0 || p >= n) throw new RangeError(`position ${p} is outside 0..${n - 1}`)
  return root.chunks.map(c => c.blocks[root.redundancy.kind === 'replicas' ? 0 : p])
}

/** Bytes one position holds (excluding the root block). */
export function shareBytes (root: ObjectRoot): number {
  if (root.redundancy.kind === 'replicas') return root.chunks.reduce((n, c) => n + c.cipherLength, 0)
  const k = root.redundancy.k
  return root.chunks.reduce((n, c) => n + Math.ceil(c.cipherLength / k), 0)
}
