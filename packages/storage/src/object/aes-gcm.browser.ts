// AES-256-GCM for chunks in browsers: WebCrypto (native, off the main thread
// where the browser can). Node takes aes-gcm.ts; both produce and accept the
// same bytes: ciphertext followed by the 16-byte tag.
import { concatBytes } from '@webfabric/protocol'

/** A chunk key as this platform's cipher takes it. */
export type ChunkKey = CryptoKey

/** The 32-byte object key as a ChunkKey. */
export async function importAesKey (key: Uint8Array): Promise<ChunkKey> {
  return await crypto.subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])
}

/** Ciphertext and tag of `plain` under `key` and the 12-byte `iv`. */
export async function seal (key: ChunkKey, iv: Uint8Array, plain: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv as Uint8Array<ArrayBuffer> }, key, plain as Uint8Array<ArrayBuffer>))
}

/** seal, and the SHA-256 digest of the ciphertext and tag (its block's hash). */
export async function sealAndDigest (key: ChunkKey, iv: Uint8Array, plain: Uint8Array): Promise<{ cipher: Uint8Array, digest: Uint8Array }> {
  const cipher = await seal(key, iv, plain)
  return { cipher, digest: new Uint8Array(await crypto.subtle.digest('SHA-256', cipher as Uint8Array<ArrayBuffer>)) }
}

/** Plaintext of `cipher` (ciphertext and tag); rejects (OperationError) when the bytes, key or iv are wrong. (`handOver` is Node's: nothing is taken here.) */
export async function open (key: ChunkKey, iv: Uint8Array, cipher: Uint8Array, _handOver = false): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: iv as Uint8Array<ArrayBuffer> }, key, cipher as Uint8Array<ArrayBuffer>))
}

/** Plaintext of a ciphertext and tag that arrived in `pieces` (joined in order, here for WebCrypto), as pieces. */
export async function openPieces (key: ChunkKey, iv: Uint8Array, pieces: readonly Uint8Array[]): Promise<Uint8Array[]> {
  return [await open(key, iv, concatBytes(...pieces))]
}
