// The cryptography our Node host's noise runs on: libp2p-noise's own, except
// ChaCha20-Poly1305 on messages of 512 bytes and more, which keeps one
// node:crypto key object per session key instead of handing the key's raw
// bytes to `createCipheriv`/`createDecipheriv` for every message. Given raw
// bytes, node:crypto's checks of what kind of key it was handed (Node 24's
// key slot look-ups) took ~22 µs per call here, against ~3 µs given a key
// object: ~30% of a 64 KiB message's ~75 µs, on every message of every
// stream. With the key object, node:crypto also beats noise's WebAssembly
// cipher from ~500 bytes up (libp2p-noise switches at 1,200: at 1,199 bytes
// ~9 µs against 18–40 µs). Same cipher, same bytes on the wire (tested
// against the default); the handshake, hashing, HKDF, X25519 and short
// messages stay libp2p-noise's own code.
// Node only: browsers keep noise's default (packages/runtime/src/browser/host.ts).
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'

/** Bytes as noise passes them: one array, or a list of pieces (of noise's own copy of uint8arraylist). */
type NoiseBytes = Parameters<ICryptoInterface['chaCha20Poly1305Encrypt']>[0]
/** What noise takes back: the same, from either copy of uint8arraylist (they mark lists alike). */
type NoiseResult = ReturnType<ICryptoInterface['chaCha20Poly1305Encrypt']>
const asResult = (list: Uint8ArrayList): NoiseResult => list as unknown as NoiseResult

const CHACHA20_POLY1305 = 'chacha20-poly1305'
const TAG_LENGTH = 16
/** Below this many bytes noise's WebAssembly cipher is the faster (~2 µs + 13 ns a byte); it stays in charge there. */
const NODE_CIPHER_FROM = 512

/** A session key's node:crypto key object, with the bytes it was made from. */
interface CachedKey {
  bytes: Buffer
  key: KeyObject
}

/**
 * Key objects by the key array noise passes (one per cipher state, for the
 * session's life; collected with it). The bytes are compared on every use, so
 * an array whose contents changed gets a new key object, never a stale one.
 */
const keys = new WeakMap<Uint8Array, CachedKey>()

function keyObject (k: Uint8Array): KeyObject {
  const cached = keys.get(k)
  if (cached !== undefined && cached.bytes.byteLength === k.byteLength && timingSafeEqual(cached.bytes, k)) return cached.key
  const bytes = Buffer.from(k)
  const key = createSecretKey(bytes)
  keys.set(k, { bytes, key })
  return key
}

function encrypt (plaintext: NoiseBytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array): NoiseResult {
  if (plaintext.byteLength < NODE_CIPHER_FROM) return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
  const cipher = createCipheriv(CHACHA20_POLY1305, keyObject(k), nonce, { authTagLength: TAG_LENGTH })
  if (ad.byteLength > 0) cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
  // The ciphertext leaves as its pieces and the tag — no joining copy; noise
  // frames them and the TCP write gathers them (tcp-writes.ts).
  const out = new Uint8ArrayList()
  if (plaintext instanceof Uint8Array) {
    out.append(cipher.update(plaintext))
  } else {
    for (const piece of plaintext) out.append(cipher.update(piece))
  }
  const final = cipher.final()
  if (final.byteLength > 0) out.append(final)
  out.append(cipher.getAuthTag())
  return asResult(out)
}

function decrypt (ciphertext: NoiseBytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array, dst?: Uint8Array): NoiseResult {
  if (ciphertext.byteLength < NODE_CIPHER_FROM) return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
  const textLength = ciphertext.byteLength - TAG_LENGTH
  const decipher = createDecipheriv(CHACHA20_POLY1305, keyObject(k), nonce, { authTagLength: TAG_LENGTH })
  if (ad.byteLength > 0) decipher.setAAD(ad, { plaintextLength: textLength })
  decipher.setAuthTag(ciphertext.subarray(textLength))
  if (ciphertext instanceof Uint8Array) {
    const text = decipher.update(ciphertext.subarray(0, textLength))
    // final() checks the tag and throws on a mismatch; ChaCha20 leaves nothing over
    const final = decipher.final()
    return final.byteLength === 0 ? text : asResult(new Uint8ArrayList(text, final))
  }
  const out = new Uint8ArrayList()
  for (const piece of ciphertext.sublist(0, textLength)) out.append(decipher.update(piece))
  const final = decipher.final()
  if (final.byteLength > 0) out.append(final)
  return asResult(out)
}

/** libp2p-noise's crypto with ChaCha20-Poly1305 keyed through a cached node:crypto key object (see above). */
export const nodeNoiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt: encrypt,
  chaCha20Poly1305Decrypt: decrypt
}
