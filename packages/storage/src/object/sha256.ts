// SHA-256 of blocks in Node: node:crypto, a block of 64 KiB or more on a
// crypto worker thread (offload.ts), smaller ones inline. Browsers take
// sha256.browser.ts (the package's `#sha256` import, by the `browser`
// condition). Both give the same 32-byte digest as hashing the joined bytes.
import { createHash } from 'node:crypto'
import { joinOwned, offload, offloads } from './offload.ts'

/** The SHA-256 digest of `pieces` joined in order (hashed where they lie). */
export async function sha256Pieces (pieces: readonly Uint8Array[]): Promise<Uint8Array> {
  const h = createHash('sha256')
  for (const p of pieces) h.update(p)
  const d = h.digest()
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
}

/**
 * The bytes of `pieces` joined in order (a lone piece may come back as it is), and their SHA-256
 * digest. With `handOver`, a lone piece that is a whole buffer may be taken (detached) rather than
 * copied on its way to a crypto worker: pass it only for bytes nothing else reads.
 */
export async function joinAndDigest (pieces: readonly Uint8Array[], handOver = false): Promise<{ bytes: Uint8Array, digest: Uint8Array }> {
  let length = 0
  for (const p of pieces) length += p.byteLength
  if (!offloads(length)) {
    const bytes = pieces.length === 1 ? pieces[0] : joinOwned(pieces, false)
    return { bytes, digest: await sha256Pieces([bytes]) }
  }
  const r = await offload({ op: 'sha256', bytes: joinOwned(pieces, handOver) })
  return { bytes: r.bytes, digest: r.digest! }
}
