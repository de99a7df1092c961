// AES-256-GCM for chunks in Node: node:crypto, a chunk of 64 KiB or more on a
// crypto worker thread (offload.ts), smaller ones inline. Browsers take
// aes-gcm.browser.ts (the package's `#aes-gcm` import, by the `browser`
// condition). Both produce and accept the same bytes: ciphertext followed by
// the 16-byte tag.
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import { joinOwned, offload, OffloadJobError, offloads, ownBuffer } from './offload.ts'
import { sha256Pieces } from './sha256.ts'

/** A chunk key as this platform's cipher takes it. */
export type ChunkKey = KeyObject

const TAG_BYTES = 16

/** The 32-byte object key as a ChunkKey. */
export async function importAesKey (key: Uint8Array): Promise<ChunkKey> {
  return createSecretKey(key)
}

/** Ciphertext and tag of `plain` under `key` and the 12-byte `iv`; `plain` is read before this returns (the caller may reuse it). */
export async function seal (key: ChunkKey, iv: Uint8Array, plain: Uint8Array): Promise<Uint8Array> {
  if (!offloads(plain.byteLength)) return sealNow(key, iv, plain)
  return (await offload({ op: 'seal', key, iv, plain: ownBuffer(plain, false) })).bytes
}

/** seal, and the SHA-256 digest of the ciphertext and tag (its block's hash), in one trip to a crypto worker. */
export async function sealAndDigest (key: ChunkKey, iv: Uint8Array, plain: Uint8Array): Promise<{ cipher: Uint8Array, digest: Uint8Array }> {
  if (!offloads(plain.byteLength)) {
    const cipher = sealNow(key, iv, plain)
    return { cipher, digest: await sha256Pieces([cipher]) }
  }
  const r = await offload({ op: 'seal', key, iv, plain: ownBuffer(plain, false), digest: true })
  return { cipher: r.bytes, digest: r.digest! }
}

/**
 * Plaintext of `cipher` (ciphertext and tag), released only once the tag checks; rejects when the
 * bytes, key or iv are wrong, or `cipher` is shorter than a tag (a short tag is never accepted).
 * With `handOver`, `cipher` may be taken (its buffer detached): pass it only for bytes nothing else reads.
 */
export async function open (key: ChunkKey, iv: Uint8Array, cipher: Uint8Array, handOver = false): Promise<Uint8Array> {
  if (!offloads(cipher.byteLength)) return openNow(key, iv, cipher)
  return await offloadOpen(key, iv, ownBuffer(cipher, handOver))
}

/**
 * Plaintext of a ciphertext and tag that arrived in `pieces` (joined in order), as pieces: small ones
 * are decrypted where they lie, a large one is joined once and opened on a crypto worker. Released
 * only once the tag checks; rejects as open does.
 */
export async function openPieces (key: ChunkKey, iv: Uint8Array, pieces: readonly Uint8Array[]): Promise<Uint8Array[]> {
  let length = 0
  for (const p of pieces) length += p.byteLength
  if (!offloads(length)) return openPiecesNow(key, iv, pieces)
  return [await offloadOpen(key, iv, joinOwned(pieces, false))]
}

async function offloadOpen (key: ChunkKey, iv: Uint8Array, cipher: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  try {
    return (await offload({ op: 'open', key, iv, cipher })).bytes
  } catch (err) {
    // the tag did not check (or the bytes were short): the same kind of failure as inline
    if (err instanceof OffloadJobError) throw new Error(err.message, { cause: err })
    throw err
  }
}

/** seal, here and now (on this thread). */
export function sealNow (key: ChunkKey, iv: Uint8Array, plain: Uint8Array): Uint8Array<ArrayBuffer> {
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  const body = c.update(plain)
  const last = c.final() // (GCM is a stream mode: nothing is held back, `last` is empty)
  const tag = c.getAuthTag()
  const length = body.byteLength + last.byteLength + TAG_BYTES
  let out: Uint8Array<ArrayBuffer>
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

/** open, here and now (on this thread); throws where open rejects. */
export function openNow (key: ChunkKey, iv: Uint8Array, cipher: Uint8Array): Uint8Array<ArrayBuffer> {
  if (cipher.byteLength < TAG_BYTES) throw new RangeError(`an AES-GCM ciphertext is at least its ${TAG_BYTES}-byte tag`)
  const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  d.setAuthTag(cipher.subarray(cipher.byteLength - TAG_BYTES))
  const body = d.update(cipher.subarray(0, cipher.byteLength - TAG_BYTES))
  const last = d.final() // throws unless the tag checks
  const plain = last.byteLength === 0 ? body : Buffer.concat([body, last])
  // a plain Uint8Array over the output's memory (not a Buffer): callers get bytes, not Node's type
  return new Uint8Array(plain.buffer as ArrayBuffer, plain.byteOffset, plain.byteLength)
}

/** openPieces, here and now: each piece is decrypted where it lies, nothing is joined. */
function openPiecesNow (key: ChunkKey, iv: Uint8Array, pieces: readonly Uint8Array[]): Uint8Array[] {
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
