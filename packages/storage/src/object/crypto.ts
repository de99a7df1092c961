// Chunk encryption: AES-256-GCM (node:crypto in Node, WebCrypto in browsers:
// see aes-gcm.ts). The IV of chunk i is its index (the key is fresh per object, so
// an IV never repeats under one key), which also binds every chunk to its place.
import { type ChunkKey, importAesKey, open, openPieces, seal, sealAndDigest } from '#aes-gcm'
import { sha256 } from 'multiformats/hashes/sha2'
import { KEY_BYTES } from './capability.ts'

const KEY_CHECK_DOMAIN = new TextEncoder().encode('webfabric/storage/key-check/v1\0')

/** A fresh random object key. */
export function newObjectKey (): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES))
}

/** 16 bytes derived from the key by a one-way hash: tells a right key from a wrong one, reveals nothing of it. */
export async function keyCheckOf (key: Uint8Array): Promise<Uint8Array> {
  const buf = new Uint8Array(KEY_CHECK_DOMAIN.length + key.length)
  buf.set(KEY_CHECK_DOMAIN, 0)
  buf.set(key, KEY_CHECK_DOMAIN.length)
  return (await sha256.digest(buf)).digest.subarray(0, 16)
}

/** A chunk key as this platform's cipher takes it (a node:crypto KeyObject, or a WebCrypto CryptoKey). */
export type { ChunkKey }

/** The AES-256-GCM key of chunk encryption and decryption. */
export async function importChunkKey (key: Uint8Array): Promise<ChunkKey> {
  return await importAesKey(key)
}

function ivOf (index: number): Uint8Array<ArrayBuffer> {
  const iv = new Uint8Array(12)
  new DataView(iv.buffer).setBigUint64(4, BigInt(index))
  return iv
}

/** Ciphertext of chunk `index` (plaintext length + 16 tag bytes). */
export async function encryptChunk (key: ChunkKey, index: number, plain: Uint8Array): Promise<Uint8Array> {
  return await seal(key, ivOf(index), plain)
}

/** Ciphertext of chunk `index` and its SHA-256 digest (the block's hash), off the main thread where the platform can. */
export async function encryptChunkAndDigest (key: ChunkKey, index: number, plain: Uint8Array): Promise<{ cipher: Uint8Array, digest: Uint8Array }> {
  return await sealAndDigest(key, ivOf(index), plain)
}

/**
 * Plaintext of chunk `index`; rejects when the ciphertext or key is wrong (nothing of it is released then).
 * With `handOver`, `cipher`'s buffer may be taken (detached in Node): only for bytes nothing else reads.
 */
export async function decryptChunk (key: ChunkKey, index: number, cipher: Uint8Array, handOver = false): Promise<Uint8Array> {
  return await open(key, ivOf(index), cipher, handOver)
}

/**
 * Plaintext of chunk `index` from its ciphertext in `pieces` (as a block arrives off the network), as
 * pieces: nothing is joined in Node. Rejects as decryptChunk does; nothing is released then.
 */
export async function decryptChunkPieces (key: ChunkKey, index: number, pieces: readonly Uint8Array[]): Promise<Uint8Array[]> {
  return await openPieces(key, ivOf(index), pieces)
}
