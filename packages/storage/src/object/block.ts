// Blocks: bytes addressed by their CIDv1 (raw codec, sha2-256). Holders and
// readers verify every block against its CID before use.
import { bytesEqual, concatBytes } from '@webfabric/protocol'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { joinAndDigest, sha256Pieces } from '#sha256'
import { TamperedBlockError } from './errors.ts'

/** A block: its CID and bytes. */
export interface Block { cid: CID, bytes: Uint8Array }

/** The CID of raw block bytes. */
export async function blockCid (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(bytes))
}

/** A block's bytes as they arrived: one buffer, or pieces in order that are the block joined (not joined here). */
export type BlockBytes = Uint8Array | readonly Uint8Array[]

/** Throws TamperedBlockError unless `bytes` (one buffer, or pieces hashed in order) hash to `cid` (raw or dag-cbor, sha2-256). */
export async function verifyBlock (cid: CID, bytes: BlockBytes): Promise<void> {
  if (cid.multihash.code !== sha256.code) throw new TamperedBlockError(cid.toString(), `block ${cid} is not addressed by sha2-256: refuse it`)
  const digest = bytes instanceof Uint8Array ? (await sha256.digest(bytes)).digest : await sha256Pieces(bytes)
  if (!bytesEqual(digest, cid.multihash.digest)) throw new TamperedBlockError(cid.toString())
}

/**
 * A block of `bytes` with its CID computed (off the main thread in Node, for large ones). With
 * `handOver`, `bytes` may be taken (detached in Node) when they are a whole buffer: use the block's.
 */
export async function blockOf (bytes: Uint8Array, handOver = false): Promise<Block> {
  const r = await joinAndDigest([bytes], handOver)
  return { cid: CID.createV1(raw.code, createDigest(sha256.code, r.digest)), bytes: r.bytes }
}

/**
 * verifyBlock for a block that is to be kept: resolves to its bytes as one buffer (pieces joined
 * once; hashed off the main thread in Node). With `handOver`, a block given as one whole buffer may
 * be taken (detached in Node) rather than copied — only for bytes nothing else reads.
 */
export async function verifyBlockJoined (cid: CID, bytes: BlockBytes, handOver = false): Promise<Uint8Array> {
  if (cid.multihash.code !== sha256.code) throw new TamperedBlockError(cid.toString(), `block ${cid} is not addressed by sha2-256: refuse it`)
  const joined = await joinAndDigest(bytes instanceof Uint8Array ? [bytes] : bytes, handOver)
  if (!bytesEqual(joined.digest, cid.multihash.digest)) throw new TamperedBlockError(cid.toString())
  return joined.bytes
}

/** The bytes of a block as one buffer (pieces joined; one buffer as it is). */
export function joinBlock (bytes: BlockBytes): Uint8Array {
  if (bytes instanceof Uint8Array) return bytes
  if (bytes.length === 1) return bytes[0]
  return concatBytes(...bytes)
}
