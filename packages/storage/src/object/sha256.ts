// SHA-256 of bytes that arrived in pieces, in Node: node:crypto hashes the
// pieces where they lie. Browsers take sha256.browser.ts (the package's
// `#sha256` import, by the `browser` condition), which joins them for
// WebCrypto. Both give the same 32-byte digest as hashing the joined bytes.
import { createHash } from 'node:crypto'

/** The SHA-256 digest of `pieces` joined in order. */
export async function sha256Pieces (pieces: readonly Uint8Array[]): Promise<Uint8Array> {
  const h = createHash('sha256')
  for (const p of pieces) h.update(p)
  const d = h.digest()
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
}
