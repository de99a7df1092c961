// SHA-256 of bytes that arrived in pieces, in browsers: WebCrypto digests one
// buffer, so the pieces are joined first. Node takes sha256.ts; both give the
// same digest as hashing the joined bytes.
import { concatBytes } from '@webfabric/protocol'

/** The SHA-256 digest of `pieces` joined in order. */
export async function sha256Pieces (pieces: readonly Uint8Array[]): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', concatBytes(...pieces) as Uint8Array<ArrayBuffer>))
}
