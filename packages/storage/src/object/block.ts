// Blocks: bytes addressed by their CIDv1 (raw codec, sha2-256). Holders and
// readers verify every block against its CID before use.
import { bytesEqual } from '@webfabric/protocol'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { TamperedBlockError } from './errors.ts'

/** A block: its CID and bytes. */
export interface Block { cid: CID, bytes: Uint8Array }

/** The CID of raw block bytes. */
export async function blockCid (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(bytes))
}

/** Throws TamperedBlockError unless `bytes` hash to `cid` (raw or dag-cbor, sha2-256). */
export async function verifyBlock (cid: CID, bytes: Uint8Array): Promise<void> {
  if (cid.multihash.code !== sha256.code) throw new TamperedBlockError(cid.toString(), `block ${cid} is not addressed by sha2-256: refuse it`)
  const digest = await sha256.digest(bytes)
  if (!bytesEqual(digest.digest, cid.multihash.digest)) throw new TamperedBlockError(cid.toString())
}
