// AES-256-GCM for chunks in Node: node:crypto reads the caller's bytes in
// place, where WebCrypto first copies every input (a megabyte per chunk) and
// hands each call to a job of its own. Browsers take aes-gcm.browser.ts (the
// package's `#aes-gcm` import, by the `browser` condition). Both produce and
// accept the same bytes: ciphertext followed by the 16-byte tag.
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto'

/** A chunk key as this platform's cipher takes it. */
export type ChunkKey = KeyObject

const TAG_BYTES = 16

/** The 32-byte object key as a ChunkKey. */
export async function importAesKey (key: Uint8Array): Promise<ChunkKey> {
  return createSecretKey(key)
}

/** Ciphertext and tag of `plain` under `key` and the 12-byte `iv`. */
export async function seal (key: ChunkKey, iv: Uint8Array, plain: Uint8Array): Promise<Uint8Array> {
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  const body = c.update(plain)
  const last = c.final() // (GCM is a stream mode: nothing is held back, `last` is empty)
  const tag = c.getAuthTag()
  const length = body.byteLength + last.byteLength + TAG_BYTES
  let out: Uint8Array
  if (last.byteLength === 0 && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer) {
    // the ciphertext's own memory, grown by the tag: the old buffer is released at once rather than
    // left for the garbage collector (a megabyte per chunk; collections were a sixth of a put's time)
    out = new Uint8Array(body.buffer.transfer(length))
  } else {
    out = new Uint8Array(length)
    out.set(body, 0)
    out.set(last, body.byteLength)
  }
  out.set(tag, length - TAG_BYTES)
  return out
}

/**
 * Plaintext of `cipher` (ciphertext and tag), released only once the tag checks; rejects when the
 * bytes, key or iv are wrong, or `cipher` is shorter than a tag (a short tag is never accepted).
 */
export async function open (key: ChunkKey, iv: Uint8Array, cipher: Uint8Array): Promise<Uint8Array> {
  if (cipher.byteLength < TAG_BYTES) throw new RangeError(`an AES-GCM ciphertext is at least its ${TAG_BYTES}-byte tag`)
  const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  d.setAuthTag(cipher.subarray(cipher.byteLength - TAG_BYTES))
  const body = d.update(cipher.subarray(0, cipher.byteLength - TAG_BYTES))
  const last = d.final() // throws unless the tag checks
  const plain = last.byteLength === 0 ? body : Buffer.concat([body, last])
  // a plain Uint8Array over the output's memory (not a Buffer): callers get bytes, not Node's type
  return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength)
}

/**
 * Plaintext of a ciphertext and tag that arrived in `pieces` (joined in order), as pieces: each is
 * decrypted where it lies, nothing is joined. Released only once the tag checks; rejects as open does.
 */
export async function openPieces (key: ChunkKey, iv: Uint8Array, pieces: readonly Uint8Array[]): Promise<Uint8Array[]> {
  let length = 0
  for (const p of pieces) length += p.byteLength
  if (length < TAG_BYTES) throw new RangeError(`an AES-GCM ciphertext is at least its ${TAG_BYTES}-byte tag`)
  const body = length - TAG_BYTES
  const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  // the tag is the last 16 bytes, which may straddle pieces
  const tag = new Uint8Array(TAG_BYTES)
  const out: Uint8Array[] = []
  let at = 0
  for (const p of pieces) {
    const end = at + p.byteLength
    if (at < body) {
      const part = d.update(p.subarray(0, Math.min(p.byteLength, body - at)))
      if (part.byteLength > 0) out.push(new Uint8Array(part.buffer, part.byteOffset, part.byteLength))
    }
    if (end > body) tag.set(p.subarray(Math.max(0, body - at)), Math.max(0, at - body))
    at = end
  }
  d.setAuthTag(tag)
  const last = d.final() // throws unless the tag checks: the pieces above are never returned then
  if (last.byteLength > 0) out.push(new Uint8Array(last.buffer, last.byteOffset, last.byteLength))
  return out
}
