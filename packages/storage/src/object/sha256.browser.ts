// SHA-256 of bytes that arrived in pieces, in browsers: WebCrypto digests one
// buffer, so the pieces are joined first. Node takes sha256.ts; both give the
// same digest as hashing the joined bytes.

/** The SHA-256 digest of `pieces` joined in order. */
export async function sha256Pieces (pieces: readonly Uint8Array[]): Promise<Uint8Array> {
  let length = 0
  for (const p of pieces) length += p.byteLength
  const all = new Uint8Array(length)
  let at = 0
  for (const p of pieces) { all.set(p, at); at += p.byteLength }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', all))
}
