// SHA-256 of blocks in Node: node:crypto, a block of 64 KiB or more on a
// crypto worker thread (offload.ts), smaller ones inline. Browsers take
// sha256.browser.ts (the package's `#sha256` import, by the `browser`
// condition). Both give the same 32-byte digest as hashing the joined bytes.
import { createHash } from 'node:crypto'
import { joinOwned, OFFLOAD_MIN_BYTES, offload } from './offload.ts'

/** The SHA-256 digest of `pieces` joined in order (hashed where they lie). */
export async function sha256Pieces (pieces: readonly Uint8Array[]): Promise<Uint8Array> {
  const h = createHash('sha256')
  for (const p of pieces) h.update(p)
  const d = h.digest()
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
}

/**
 * The bytes of `pieces` joined in order, and their SHA-256 digest. With `handOver`, a lone piece that
 * is a whole buffer may be taken (detached) rather than copied: pass it only for bytes nothing else reads.
 */
export async function joinAndDigest (pieces: readonly Uint8Array[], handOver = false): Promise<{ bytes: Uint8Array, digest: Uint8Array }> {
  let length = 0
  for (const p of pieces) length += p.byteLength
  const joined = joinOwned(pieces, handOver)
  if (length < OFFLOAD_MIN_BYTES) return { bytes: joined, digest: await sha256Pieces([joined]) }
  const r = await offload({ op: 'sha256', bytes: joined })
  return { bytes: r.bytes, digest: r.digest! }
}
