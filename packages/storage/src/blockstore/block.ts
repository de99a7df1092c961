// What every store does with a (CID, bytes) pair before touching storage:
// check the CID, derive the key the block is stored under (its multihash in
// base32), and verify bytes against the digest (sha2-256). Browser-safe.
import { base32 } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { decode as decodeDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { BlockTooLargeError, CorruptBlockError, InvalidBlockError, InvalidCidError } from './errors.ts'

/** Multicodec of sha2-256, the only hash this package stores blocks under. */
export const SHA2_256 = 0x12
const DIGEST_BYTES = 32
/** Length of a stored key: base32 (RFC 4648, lower case, unpadded) of a 34-byte sha2-256 multihash. */
export const KEY_CHARS = 55
const KEY_PATTERN = /^[a-z2-7]{55}$/

/** A checked CID: the CID itself, its storage key, and the 32-byte digest the bytes must hash to. */
export interface BlockId {
  cid: CID
  /** base32 of the multihash: the name the block is stored under in every store */
  key: string
  digest: Uint8Array
}

/**
 * Check that `cid` is a CID (v0 or v1, any codec) addressed by sha2-256 and derive its
 * storage key. Throws InvalidCidError for anything else, whatever the input is.
 */
export function blockId (cid: unknown): BlockId {
  let c: CID | null
  try {
    c = CID.asCID(cid)
  } catch (err) {
    throw new InvalidCidError(undefined, { cause: err })
  }
  if (c == null) throw new InvalidCidError()
  // Read the digest from the multihash bytes themselves, so a hand-made CID-like object whose
  // fields disagree with its bytes cannot make the key and the verified digest differ.
  const mh: unknown = c.multihash?.bytes
  if (!(mh instanceof Uint8Array) || mh.byteLength !== DIGEST_BYTES + 2 || mh[0] !== SHA2_256 || mh[1] !== DIGEST_BYTES) {
    throw new InvalidCidError(`CID ${safeString(c)} is not addressed by sha2-256: this store holds only sha2-256 blocks`)
  }
  return { cid: c, key: base32.baseEncode(mh), digest: mh.slice(2) }
}

/** The CIDv1 (raw codec) of a storage key, or undefined when `key` is not one (stray files, foreign records). */
export function cidOfKey (key: string): CID | undefined {
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) return undefined
  try {
    const mh = base32.baseDecode(key)
    if (mh.byteLength !== DIGEST_BYTES + 2 || mh[0] !== SHA2_256 || mh[1] !== DIGEST_BYTES) return undefined
    // Reject non-canonical spellings (non-zero trailing bits): one block, one key.
    if (base32.baseEncode(mh) !== key) return undefined
    return CID.createV1(raw.code, decodeDigest(mh))
  } catch {
    return undefined
  }
}

/** Throws InvalidBlockError unless `bytes` is a Uint8Array (any realm, Buffer included). */
export function checkBytes (bytes: unknown): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array) && Object.prototype.toString.call(bytes) !== '[object Uint8Array]') {
    throw new InvalidBlockError()
  }
}

/** The checks of every put, before any I/O: a sha2-256 CID, a Uint8Array, at most `maxBytes` long. */
export function checkPut (cid: unknown, bytes: unknown, maxBytes: number): BlockId {
  const id = blockId(cid)
  checkBytes(bytes)
  if (bytes.byteLength > maxBytes) throw new BlockTooLargeError(bytes.byteLength, maxBytes)
  return id
}

/** A store's block size limit from its options; throws RangeError for a value that is not a positive integer. */
export function maxBlockBytesOf (value: number | undefined, fallback: number): number {
  const n = value ?? fallback
  if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`maxBlockBytes must be a positive integer, got ${String(value)}`)
  return n
}

/**
 * True when `bytes` hash (sha2-256) to `digest`. multiformats' sha256 hashes with node:crypto in Node
 * (in place; WebCrypto's digest would first copy the block) and with WebCrypto in browsers.
 */
export async function hashMatches (digest: Uint8Array, bytes: Uint8Array): Promise<boolean> {
  // (WebCrypto refuses views of shared memory: those are copied first)
  const view = bytes.buffer instanceof ArrayBuffer ? bytes : new Uint8Array(bytes)
  return sameDigest((await sha256.digest(view)).digest, digest)
}

/** True when two digests are the same bytes (compared in full, without an early exit). */
export function sameDigest (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  let diff = 0
  for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i]
  return diff === 0
}

/** Throws CorruptBlockError (naming the CID) unless `bytes` hash to the block's digest. */
export async function verifyBlockBytes (id: BlockId, bytes: Uint8Array, message?: string): Promise<void> {
  if (!await hashMatches(id.digest, bytes)) throw new CorruptBlockError(safeString(id.cid), message)
}

/** The message of a put refused because its bytes do not hash to its CID. */
export function putMismatch (cid: CID): string {
  return `bytes put under ${safeString(cid)} do not hash to it: nothing was stored; fetch the block again from another holder`
}

/** A CID's string form, or a placeholder when even that fails (hand-made CID-like objects). */
export function safeString (cid: CID): string {
  try {
    return cid.toString()
  } catch {
    return '(unprintable CID)'
  }
}
