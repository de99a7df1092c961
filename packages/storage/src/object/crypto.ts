// Chunk encryption: AES-256-GCM through WebCrypto (native in Node and in
// browsers). The IV of chunk i is its index (the key is fresh per object, so
// an IV never repeats under one key), which also binds every chunk to its place.
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

/** A WebCrypto AES-GCM key for chunk encryption and decryption. */
export async function importChunkKey (key: Uint8Array): Promise<CryptoKey> {
  return await crypto.subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])
}

function ivOf (index: number): Uint8Array<ArrayBuffer> {
  const iv = new Uint8Array(12)
  new DataView(iv.buffer).setBigUint64(4, BigInt(index))
  return iv
}

/** Ciphertext of chunk `index` (plaintext length + 16 tag bytes). */
export async function encryptChunk (key: CryptoKey, index: number, plain: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: ivOf(index) }, key, plain as Uint8Array<ArrayBuffer>))
}

/** Plaintext of chunk `index`; rejects (OperationError) when the ciphertext or key is wrong. */
export async function decryptChunk (key: CryptoKey, index: number, cipher: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: ivOf(index) }, key, cipher as Uint8Array<ArrayBuffer>))
}
