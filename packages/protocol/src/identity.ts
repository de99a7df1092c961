// Ed25519 identities through WebCrypto (native in Node 24 and Chromium: ~8x
// faster than pure-JS signatures), their did:key names, and the keyring that
// derives a participant's origin-scoped, rotating identities (the
// whitepaper's WebIdentityToken) from one secret.
import { base58btc } from 'multiformats/bases/base58'
import { concatBytes, isBytes, utf8Bytes } from './encoding.ts'
import { MalformedError } from './errors.ts'
import { Lru } from './lru.ts'

/** How long an origin-scoped participant identity lives before the keyring rotates it (7 days). */
export const IDENTITY_ROTATION_MS = 7 * 24 * 60 * 60 * 1000

/** HKDF salt of the keyring; changing it changes every derived identity. */
export const KEYRING_SALT = 'webfabric/identity/v1'

const ED25519 = { name: 'Ed25519' }
// PKCS#8 DER header of an Ed25519 private key (RFC 8410); the 32-byte seed follows it.
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
// Multicodec ed25519-pub (0xed) as an unsigned varint.
const ED25519_PUB_PREFIX = Uint8Array.from([0xed, 0x01])
const DID_KEY_PREFIX = 'did:key:'
// The group order L of Ed25519, little-endian: a signature's S must be below it.
const ED25519_L = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10
])

/** WebCrypto wants ArrayBuffer-backed views; copy anything else (e.g. shared memory). */
function plain (u8: Uint8Array): Uint8Array<ArrayBuffer> {
  return u8.buffer instanceof ArrayBuffer ? u8 as Uint8Array<ArrayBuffer> : new Uint8Array(u8)
}

function decodeJwkX (x: string): Uint8Array {
  const b64 = x.replace(/-/g, '+').replace(/_/g, '/')
  const bin = atob(b64 + '='.repeat((4 - b64.length % 4) % 4))
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

/** The did:key of a 32-byte Ed25519 public key. */
export function didFromPublicKey (publicKey: Uint8Array): string {
  if (!isBytes(publicKey) || publicKey.byteLength !== 32) {
    throw new MalformedError('an Ed25519 public key is 32 bytes', { field: 'publicKey' })
  }
  return DID_KEY_PREFIX + base58btc.encode(concatBytes(ED25519_PUB_PREFIX, publicKey))
}

// Parsed dids: base58 decoding costs more than the rest of a token's shape check.
const didKeys = new Lru<string, Uint8Array>(1024)

/** The raw 32-byte public key named by an Ed25519 did:key; MalformedError (field 'did') for anything else. */
export function publicKeyFromDid (did: string): Uint8Array {
  const known = typeof did === 'string' ? didKeys.get(did) : undefined
  if (known !== undefined) return new Uint8Array(known)
  if (typeof did !== 'string' || !did.startsWith(`${DID_KEY_PREFIX}z`) || did.length > 64) {
    throw new MalformedError('expected an Ed25519 did:key (did:key:z6Mk…)', { field: 'did' })
  }
  let raw: Uint8Array
  try {
    raw = base58btc.decode(did.slice(DID_KEY_PREFIX.length))
  } catch (err) {
    throw new MalformedError('did:key is not valid base58btc', { field: 'did', cause: err })
  }
  if (raw.byteLength !== 34 || raw[0] !== ED25519_PUB_PREFIX[0] || raw[1] !== ED25519_PUB_PREFIX[1]) {
    throw new MalformedError('did:key does not hold an Ed25519 public key', { field: 'did' })
  }
  const publicKey = raw.slice(2)
  // base58 admits no alternative spellings of a fixed-length value, but check: one key, one did.
  if (didFromPublicKey(publicKey) !== did) throw new MalformedError('did:key is not in canonical form', { field: 'did' })
  didKeys.set(did, publicKey)
  return new Uint8Array(publicKey)
}

/** True when `did` is a well-formed Ed25519 did:key. */
export function isEd25519Did (did: unknown): did is string {
  try {
    publicKeyFromDid(did as string)
    return true
  } catch {
    return false
  }
}

/** An Ed25519 signing identity, named by its did:key. Holds its seed so it can be persisted. */
export class Identity {
  readonly did: string
  readonly #publicKey: Uint8Array
  readonly #seed: Uint8Array
  readonly #privateKey: CryptoKey

  private constructor (seed: Uint8Array, publicKey: Uint8Array, privateKey: CryptoKey) {
    this.#seed = seed
    this.#publicKey = publicKey
    this.#privateKey = privateKey
    this.did = didFromPublicKey(publicKey)
  }

  /** The identity whose private key is the 32-byte Ed25519 seed `seed` (RFC 8032); deterministic. */
  static async fromSeed (seed: Uint8Array): Promise<Identity> {
    if (!isBytes(seed) || seed.byteLength !== 32) {
      throw new MalformedError('an Ed25519 seed is exactly 32 bytes', { field: 'seed' })
    }
    const own = new Uint8Array(seed)
    const pkcs8 = concatBytes(PKCS8_PREFIX, own) as Uint8Array<ArrayBuffer>
    // Extractable only long enough to read the public key; signing uses a non-extractable copy.
    const exportable = await crypto.subtle.importKey('pkcs8', pkcs8, ED25519, true, ['sign'])
    const jwk = await crypto.subtle.exportKey('jwk', exportable)
    const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, ED25519, false, ['sign'])
    pkcs8.fill(0)
    return new Identity(own, decodeJwkX(jwk.x ?? ''), privateKey)
  }

  /** A fresh identity from WebCrypto's random generator. */
  static async generate (): Promise<Identity> {
    return Identity.fromSeed(crypto.getRandomValues(new Uint8Array(32)))
  }

  /** The raw 32-byte Ed25519 public key (a copy). */
  get publicKey (): Uint8Array {
    return new Uint8Array(this.#publicKey)
  }

  /** The 32-byte seed (a copy): secret; persist it only where the identity's owner keeps secrets. */
  get seed (): Uint8Array {
    return new Uint8Array(this.#seed)
  }

  /** The 64-byte Ed25519 signature of `data`. */
  async sign (data: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await crypto.subtle.sign(ED25519, this.#privateKey, plain(data)))
  }
}

// Imported verification keys by public key (hex): importing costs about as much as verifying.
const verifyKeys = new Lru<string, CryptoKey>(1024)

function hex (bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += bytes[i].toString(16).padStart(2, '0')
  return s
}

/** True when S (the last 32 bytes of a signature, little-endian) is below the group order. */
function canonicalS (sig: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = sig[32 + i]
    if (s !== ED25519_L[i]) return s < ED25519_L[i]
  }
  return false
}

/**
 * True when `sig` is a valid Ed25519 signature of `data` by `publicKey`; false for any bad
 * input, never a throw. Refuses non-canonical S itself so signatures are not malleable on any platform.
 */
export async function verifySignature (publicKey: Uint8Array, data: Uint8Array, sig: Uint8Array): Promise<boolean> {
  try {
    if (!isBytes(publicKey) || !isBytes(data) || !isBytes(sig)) return false
    if (publicKey.byteLength !== 32 || sig.byteLength !== 64 || !canonicalS(sig)) return false
    const id = hex(publicKey)
    let key = verifyKeys.get(id)
    if (key === undefined) {
      key = await crypto.subtle.importKey('raw', plain(new Uint8Array(publicKey)), ED25519, false, ['verify'])
      verifyKeys.set(id, key)
    }
    return await crypto.subtle.verify(ED25519, key, plain(sig), plain(data))
  } catch {
    return false
  }
}

/** The rotation epoch that `nowMs` falls in, for periods of `periodMs` (default IDENTITY_ROTATION_MS). */
export function epochAt (nowMs: number, periodMs: number = IDENTITY_ROTATION_MS): number {
  if (!Number.isFinite(nowMs) || nowMs < 0) throw new MalformedError('time must be a non-negative number of ms', { field: 'nowMs' })
  if (!Number.isFinite(periodMs) || periodMs <= 0) throw new MalformedError('rotation period must be a positive number of ms', { field: 'periodMs' })
  return Math.floor(nowMs / periodMs)
}

/**
 * A participant's keyring: one 32-byte secret from which HKDF-SHA256 derives an identity per
 * (origin, epoch). Identities of different origins or epochs are unlinkable without the secret.
 */
export class Keyring {
  readonly #secret: Uint8Array
  readonly #hkdf: CryptoKey
  readonly #cache = new Lru<string, Promise<Identity>>(16)

  private constructor (secret: Uint8Array, hkdf: CryptoKey) {
    this.#secret = secret
    this.#hkdf = hkdf
  }

  /** The keyring of a 32-byte secret; deterministic. */
  static async fromSecret (secret: Uint8Array): Promise<Keyring> {
    if (!isBytes(secret) || secret.byteLength !== 32) {
      throw new MalformedError('a keyring secret is exactly 32 bytes', { field: 'secret' })
    }
    const own = new Uint8Array(secret)
    const hkdf = await crypto.subtle.importKey('raw', plain(new Uint8Array(own)), 'HKDF', false, ['deriveBits'])
    return new Keyring(own, hkdf)
  }

  /** A keyring with a fresh random secret. */
  static async generate (): Promise<Keyring> {
    return Keyring.fromSecret(crypto.getRandomValues(new Uint8Array(32)))
  }

  /** The 32-byte secret (a copy): it links all of the participant's identities, so keep it private. */
  get secret (): Uint8Array {
    return new Uint8Array(this.#secret)
  }

  /**
   * The identity for `origin` during rotation `epoch` (see epochAt). `origin` is used verbatim
   * (pass one canonical spelling, e.g. the origin's did); info = origin + '\n' + epoch.
   */
  identityFor (origin: string, epoch: number): Promise<Identity> {
    if (typeof origin !== 'string' || origin.length === 0 || origin.length > 2048) {
      return Promise.reject(new MalformedError('origin must be a non-empty string of at most 2048 characters', { field: 'origin' }))
    }
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      return Promise.reject(new MalformedError('epoch must be a non-negative integer', { field: 'epoch' }))
    }
    const info = `${origin}\n${epoch}`
    let found = this.#cache.get(info)
    if (found === undefined) {
      found = this.#derive(info)
      this.#cache.set(info, found)
      found.catch(() => this.#cache.clear())
    }
    return found
  }

  async #derive (info: string): Promise<Identity> {
    const bits = await crypto.subtle.deriveBits(
      { name: 'HKDF', hash: 'SHA-256', salt: plain(utf8Bytes(KEYRING_SALT)), info: plain(utf8Bytes(info)) },
      this.#hkdf,
      256
    )
    const seed = new Uint8Array(bits)
    const identity = await Identity.fromSeed(seed)
    seed.fill(0)
    return identity
  }
}
