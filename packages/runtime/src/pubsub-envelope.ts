// The pub-sub envelope `{ c?, d, i }` as exact DAG-CBOR, written and read by
// hand: every node reads every message's envelope before it forwards it, and
// a general CBOR decoder copied the payload and built objects for three fields.
// Writing gives the bytes `encode()` from @webfabric/protocol gives; reading
// accepts only those (definite lengths, shortest length prefixes, keys in
// DAG-CBOR order, nothing else, nothing after), so the format is unchanged.
// Internal to the runtime (not re-exported by its index).
import { MalformedError } from '@webfabric/protocol'
import { MAX_PUBSUB_MESSAGE } from './constants.ts'

/** Longest capability reference (a CIDv1 sha2-256 is 36 bytes). */
export const MAX_CAP_ID_BYTES = 64

/**
 * A message's envelope: `i` the CID bytes of its author's capability, `c` the
 * capability itself when attached, `d` the payload. Read envelopes hold views
 * of the message's bytes (no copies): read them, never write into them.
 */
export interface Envelope { i: Uint8Array, c?: Uint8Array, d: Uint8Array }

// a one-character text string key (major type 3, length 1): 'c', 'd', 'i'
const KEY_C = 0x63
const KEY_D = 0x64
const KEY_I = 0x69

/** Length of the CBOR head of a byte string of `n` bytes. */
function headSize (n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
}

function putField (out: Uint8Array, at: number, key: number, value: Uint8Array): number {
  out[at++] = 0x61
  out[at++] = key
  const n = value.length
  if (n < 24) {
    out[at++] = 0x40 | n
  } else if (n < 0x100) {
    out[at++] = 0x58
    out[at++] = n
  } else if (n < 0x10000) {
    out[at++] = 0x59
    out[at++] = n >>> 8
    out[at++] = n & 0xff
  } else {
    out[at++] = 0x5a
    out[at++] = n >>> 24
    out[at++] = (n >>> 16) & 0xff
    out[at++] = (n >>> 8) & 0xff
    out[at++] = n & 0xff
  }
  out.set(value, at)
  return at + n
}

/** The DAG-CBOR bytes of `{ c?, d, i }`: one allocation, the payload copied once. */
export function encodeEnvelope (env: Envelope): Uint8Array {
  const { i, c, d } = env
  const size = 1 + (c === undefined ? 0 : 2 + headSize(c.length) + c.length) + 2 + headSize(d.length) + d.length + 2 + headSize(i.length) + i.length
  const out = new Uint8Array(size)
  out[0] = c === undefined ? 0xa2 : 0xa3
  let at = 1
  if (c !== undefined) at = putField(out, at, KEY_C, c)
  at = putField(out, at, KEY_D, d)
  putField(out, at, KEY_I, i)
  return out
}

function malformed (message: string): MalformedError {
  return new MalformedError(`envelope: ${message}`, { field: 'envelope' })
}

/**
 * Reads `{ c?, d, i }` from `data`: exactly the bytes encodeEnvelope writes for
 * some values, within MAX_PUBSUB_MESSAGE. Throws MalformedError otherwise. The
 * fields are views of `data`.
 */
export function decodeEnvelope (data: Uint8Array): Envelope {
  if (data.byteLength > MAX_PUBSUB_MESSAGE) throw malformed(`${data.byteLength} bytes, over the limit of ${MAX_PUBSUB_MESSAGE}`)
  const head = data[0]
  if (head !== 0xa2 && head !== 0xa3) throw malformed('must be a map of { c?, d, i }')
  const r = { at: 1 }
  const c = head === 0xa3 ? field(data, r, KEY_C) : undefined
  const d = field(data, r, KEY_D)
  const i = field(data, r, KEY_I)
  if (r.at !== data.byteLength) throw malformed('bytes after the map')
  if (i.length === 0 || i.length > MAX_CAP_ID_BYTES) throw malformed('field i must be a capability id (CID bytes)')
  return c === undefined ? { i, d } : { i, c, d }
}

/** The byte string under one-character text key `key` at `r.at`, which it advances past it. */
function field (data: Uint8Array, r: { at: number }, key: number): Uint8Array {
  let at = r.at
  if (data[at] !== 0x61 || data[at + 1] !== key) throw malformed(`expected field ${String.fromCharCode(key)} (fields are c?, d, i, in this order)`)
  at += 2
  const h = data[at++]
  if (h === undefined || (h & 0xe0) !== 0x40) throw malformed(`field ${String.fromCharCode(key)} must be bytes`)
  let n = h & 0x1f
  if (n === 24) {
    n = data[at++] ?? -1
    if (n < 24) throw malformed('length not in its shortest form')
  } else if (n === 25) {
    n = ((data[at] ?? 0) << 8 | (data[at + 1] ?? 0))
    at += 2
    if (n < 0x100) throw malformed('length not in its shortest form')
  } else if (n === 26) {
    n = ((data[at] ?? 0) * 0x1000000) + ((data[at + 1] ?? 0) << 16 | (data[at + 2] ?? 0) << 8 | (data[at + 3] ?? 0))
    at += 4
    if (n < 0x10000) throw malformed('length not in its shortest form')
  } else if (n > 26) {
    throw malformed('unsupported length (indefinite, or beyond the message limit)')
  }
  const end = at + n
  if (end > data.byteLength) throw malformed('truncated')
  r.at = end
  return data.subarray(at, end)
}
