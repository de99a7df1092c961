// The one deterministic encoding of everything this fabric signs or hashes:
// DAG-CBOR (sorted map keys, shortest integers, float64 only, no undefined,
// no indefinite lengths). `decode` accepts only bytes that are exactly the
// canonical encoding of their value, so one value has one byte string, one
// CID and one signature input.
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { MalformedError } from './errors.ts'

/** Default size limit of `decode` when the caller gives none (1 MiB). */
export const DEFAULT_MAX_DECODE_BYTES = 1024 * 1024

/** Options of `decode`. */
export interface DecodeOptions {
  /** Refuse inputs longer than this many bytes (default DEFAULT_MAX_DECODE_BYTES). */
  maxBytes?: number
  /**
   * Also refuse a valid encoding that is not the canonical one (default true). Pass false
   * only for bytes that are never hashed or signed as they are — transport frames — where
   * checking costs a second encoding of every frame for nothing.
   */
  canonical?: boolean
}

/** True for a Uint8Array from any realm (Buffer included). */
export function isBytes (x: unknown): x is Uint8Array {
  return x instanceof Uint8Array || Object.prototype.toString.call(x) === '[object Uint8Array]'
}

/** Byte-wise equality of two byte arrays. */
export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/** Concatenation of byte arrays into a fresh one. */
export function concatBytes (...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.byteLength
  const out = new Uint8Array(n)
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.byteLength }
  return out
}

const utf8 = new TextEncoder()

/** UTF-8 bytes of a string. */
export function utf8Bytes (s: string): Uint8Array {
  return utf8.encode(s)
}

/**
 * DAG-CBOR encoding of `value`. Throws MalformedError (field 'value') for what the
 * IPLD data model cannot hold: undefined (omit such fields first, see omitUndefined), NaN, ±Infinity, functions.
 */
export function encode (value: unknown): Uint8Array {
  try {
    return dagCbor.encode(value)
  } catch (err) {
    throw new MalformedError(`cannot encode value as DAG-CBOR: ${(err as Error).message}; omit undefined fields and use finite numbers`, { field: 'value', cause: err })
  }
}

/**
 * Decodes canonical DAG-CBOR. Throws MalformedError — and nothing else — when the input is not a
 * byte array, is longer than `maxBytes`, is not valid DAG-CBOR, or is not the canonical encoding of its value.
 */
export function decode (bytes: Uint8Array, opts: DecodeOptions = {}): unknown {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_DECODE_BYTES
  if (!isBytes(bytes)) throw new MalformedError('expected a Uint8Array of DAG-CBOR bytes', { field: 'bytes' })
  if (bytes.byteLength > maxBytes) {
    throw new MalformedError(`input is ${bytes.byteLength} bytes, over the limit of ${maxBytes}: refuse it`, { field: 'bytes' })
  }
  let value: unknown
  let again: Uint8Array
  try {
    value = dagCbor.decode(bytes)
    if (opts.canonical === false) return value
    again = dagCbor.encode(value)
  } catch (err) {
    // Includes RangeError from pathological nesting: bad bytes never escape as anything but MalformedError.
    throw new MalformedError(`invalid DAG-CBOR: ${(err as Error)?.message ?? String(err)}`, { field: 'bytes', cause: err })
  }
  if (!bytesEqual(again, bytes)) {
    throw new MalformedError('DAG-CBOR is not in canonical form (key order, integer width or float width): re-encode it canonically', { field: 'bytes' })
  }
  return value
}

/** A shallow copy of `obj` without its undefined-valued properties (dag-cbor refuses undefined). */
export function omitUndefined<T extends object> (obj: T): T {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v
  return out as T
}

/**
 * The bytes a signature covers: UTF-8 `domain`, a zero byte, then encode(value). The domain separates
 * signatures of different kinds of object, so a signature made for one can never be replayed as another.
 */
export function signingInput (domain: string, value: unknown): Uint8Array {
  return concatBytes(utf8Bytes(domain), new Uint8Array([0]), encode(value))
}

/** CIDv1 (dag-cbor codec, sha2-256) of already-encoded bytes. */
export async function cidOf (bytes: Uint8Array): Promise<CID> {
  const digest = await sha256.digest(bytes)
  return CID.createV1(dagCbor.code, digest)
}

/** String form (base32 'bafy…') of cidOf(bytes). */
export async function cidString (bytes: Uint8Array): Promise<string> {
  return (await cidOf(bytes)).toString()
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const B64_INDEX = new Int16Array(128).fill(-1)
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i

/** Unpadded base64url (RFC 4648 §5) of `bytes`. */
export function toBase64url (bytes: Uint8Array): string {
  let out = ''
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2]
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63]
  }
  const rest = bytes.length - i
  if (rest === 1) {
    const n = bytes[i] << 16
    out += B64[n >> 18] + B64[(n >> 12) & 63]
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8)
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63]
  }
  return out
}

/**
 * Bytes of an unpadded base64url string. Strict, so every byte string has exactly one text form:
 * MalformedError (field 'base64url') on padding, other alphabets, impossible lengths or non-zero trailing bits.
 */
export function fromBase64url (text: string): Uint8Array {
  if (typeof text !== 'string' || text.length % 4 === 1) {
    throw new MalformedError('expected unpadded base64url text', { field: 'base64url' })
  }
  const out = new Uint8Array(Math.floor(text.length * 3 / 4))
  let acc = 0
  let bits = 0
  let at = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    const v = c < 128 ? B64_INDEX[c] : -1
    if (v < 0) throw new MalformedError(`invalid base64url character at ${i}`, { field: 'base64url' })
    acc = (acc << 6) | v
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[at++] = (acc >> bits) & 0xff
      acc &= (1 << bits) - 1
    }
  }
  if (acc !== 0) throw new MalformedError('non-canonical base64url: trailing bits must be zero', { field: 'base64url' })
  return out
}
