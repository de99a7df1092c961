// SHA-256 of blocks in browsers: WebCrypto digests one buffer, so pieces are
// joined first. Node takes sha256.ts; both give the same digest as hashing
// the joined bytes.
import { concatBytes } from '@webfabric/protocol'

/** The SHA-256 digest of `pieces` joined in order. */
export async function sha256Pieces (pieces: readonly Uint8Array[]): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', concatBytes(...pieces) as Uint8Array<ArrayBuffer>))
}

/** The bytes of `pieces` joined in order, and their SHA-256 digest (`handOver` is Node's; nothing is taken here). */
export async function joinAndDigest (pieces: readonly Uint8Array[], _handOver = false): Promise<{ bytes: Uint8Array, digest: Uint8Array }> {
  const bytes = pieces.length === 1 ? pieces[0] : concatBytes(...pieces)
  return { bytes, digest: new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)) }
}
