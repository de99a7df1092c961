// The DAG-CBOR bytes of receipts, written directly. A receipt's schema is
// fixed (the v1 body's string and integer fields, a signature, an optional
// proof), so its canonical encoding — sorted keys, shortest heads — can be
// laid out without the general encoder, which spent ~35 µs on a body (its
// tokens, its key sort) where this spends a few: a body is encoded four times
// per task (the worker's leaf hash and receipt, the coordinator's canonical
// check and leaf hash). Same bytes as `encode` from @webfabric/protocol for
// every valid receipt (tested against it); callers validate the shape first.
import type { Receipt, ReceiptBody, ReceiptProof } from './receipts.ts'

const utf8 = new TextEncoder()

/** DAG-CBOR's map key order: shorter keys first, then bytewise. */
function sortKeys (keys: string[]): string[] {
  return [...keys].sort((a, b) => {
    const x = utf8.encode(a)
    const y = utf8.encode(b)
    if (x.length !== y.length) return x.length - y.length
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i]
    return 0
  })
}

/** The v1 body's keys in encoding order, and which hold integers (the rest hold strings, `v` aside). */
const BODY_KEYS = sortKeys(['v', 'origin', 'job', 'task', 'assignment', 'module', 'input', 'output', 'status', 'fuel', 'commitment', 'wallMs', 'lease', 'worker', 'coordinator', 'at'])
const INTEGER_KEYS = new Set(['v', 'fuel', 'wallMs', 'at'])

/** Bytes of a text string's encoding (head and UTF-8) for the keys, computed once. */
const KEY_BYTES = new Map<string, Uint8Array>()
for (const k of [...BODY_KEYS, 'sig', 'body', 'proof', 'i', 'n', 'path']) {
  const b = utf8.encode(k)
  const out = new Uint8Array(headLength(b.length) + b.length)
  writeHead(out, 0, 3, b.length)
  out.set(b, out.length - b.length)
  KEY_BYTES.set(k, out)
}

function headLength (n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9
}

/** Write the head of major type `major` with argument `n` (a safe integer ≥ 0) at `at`; returns the next offset. */
function writeHead (out: Uint8Array, at: number, major: number, n: number): number {
  const m = major << 5
  if (n < 24) { out[at] = m | n; return at + 1 }
  if (n < 0x100) { out[at] = m | 24; out[at + 1] = n; return at + 2 }
  if (n < 0x10000) { out[at] = m | 25; out[at + 1] = n >>> 8; out[at + 2] = n & 0xff; return at + 3 }
  if (n < 0x100000000) {
    out[at] = m | 26
    out[at + 1] = n >>> 24; out[at + 2] = (n >>> 16) & 0xff; out[at + 3] = (n >>> 8) & 0xff; out[at + 4] = n & 0xff
    return at + 5
  }
  out[at] = m | 27
  const hi = Math.floor(n / 0x100000000)
  const lo = n >>> 0
  out[at + 1] = hi >>> 24; out[at + 2] = (hi >>> 16) & 0xff; out[at + 3] = (hi >>> 8) & 0xff; out[at + 4] = hi & 0xff
  out[at + 5] = lo >>> 24; out[at + 6] = (lo >>> 16) & 0xff; out[at + 7] = (lo >>> 8) & 0xff; out[at + 8] = lo & 0xff
  return at + 9
}

/** The body's keys' encodings and kinds, in encoding order. */
const BODY_KEY_BYTES = BODY_KEYS.map(k => KEY_BYTES.get(k) as Uint8Array)
const BODY_KEY_INT = BODY_KEYS.map(k => INTEGER_KEYS.has(k))
const BODY_KEYS_SIZE = BODY_KEY_BYTES.reduce((n, b) => n + b.length, 1)

/** The canonical DAG-CBOR bytes of a v1 receipt body (validated by the caller). */
export function encodeReceiptBodyBytes (body: ReceiptBody): Uint8Array {
  const b = body as unknown as Record<string, string | number>
  const values: Array<string | number> = new Array(BODY_KEYS.length)
  let utf8Values: Array<Uint8Array | undefined> | undefined
  let size = BODY_KEYS_SIZE
  for (let j = 0; j < BODY_KEYS.length; j++) {
    const v = b[BODY_KEYS[j]]
    values[j] = v
    if (BODY_KEY_INT[j]) {
      size += headLength(v as number)
    } else {
      const s = v as string
      let ascii = true
      for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break }
      if (ascii) {
        size += headLength(s.length) + s.length
      } else {
        const t = utf8.encode(s)
        utf8Values ??= new Array(BODY_KEYS.length)
        utf8Values[j] = t
        size += headLength(t.length) + t.length
      }
    }
  }
  const out = new Uint8Array(size)
  let at = writeHead(out, 0, 5, BODY_KEYS.length)
  for (let j = 0; j < BODY_KEYS.length; j++) {
    const key = BODY_KEY_BYTES[j]
    out.set(key, at)
    at += key.length
    if (BODY_KEY_INT[j]) {
      at = writeHead(out, at, 0, values[j] as number)
      continue
    }
    const t = utf8Values?.[j]
    if (t != null) {
      at = writeHead(out, at, 3, t.length)
      out.set(t, at)
      at += t.length
    } else {
      const s = values[j] as string
      at = writeHead(out, at, 3, s.length)
      for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i)
      at += s.length
    }
  }
  return out
}

/**
 * The canonical DAG-CBOR bytes of a receipt ({ sig, body, proof? }), from its body's bytes
 * (encodeReceiptBodyBytes) when the caller has them.
 */
export function encodeReceiptBytes (r: Receipt, bodyBytes: Uint8Array = encodeReceiptBodyBytes(r.body)): Uint8Array {
  const p: ReceiptProof | undefined = r.proof
  const sigKey = KEY_BYTES.get('sig') as Uint8Array
  const bodyKey = KEY_BYTES.get('body') as Uint8Array
  let size = 1 + sigKey.length + headLength(r.sig.length) + r.sig.length + bodyKey.length + bodyBytes.length
  if (p != null) {
    size += (KEY_BYTES.get('proof') as Uint8Array).length + 1 + (KEY_BYTES.get('i') as Uint8Array).length + headLength(p.i) +
      (KEY_BYTES.get('n') as Uint8Array).length + headLength(p.n) + (KEY_BYTES.get('path') as Uint8Array).length + headLength(p.path.length)
    for (const h of p.path) size += headLength(h.length) + h.length
  }
  const out = new Uint8Array(size)
  let at = writeHead(out, 0, 5, p != null ? 3 : 2)
  const put = (bytes: Uint8Array): void => { out.set(bytes, at); at += bytes.length }
  put(sigKey)
  at = writeHead(out, at, 2, r.sig.length)
  put(r.sig)
  put(bodyKey)
  put(bodyBytes)
  if (p != null) {
    put(KEY_BYTES.get('proof') as Uint8Array)
    at = writeHead(out, at, 5, 3)
    put(KEY_BYTES.get('i') as Uint8Array)
    at = writeHead(out, at, 0, p.i)
    put(KEY_BYTES.get('n') as Uint8Array)
    at = writeHead(out, at, 0, p.n)
    put(KEY_BYTES.get('path') as Uint8Array)
    at = writeHead(out, at, 4, p.path.length)
    for (const h of p.path) {
      at = writeHead(out, at, 2, h.length)
      put(h)
    }
  }
  return out
}

// fatal: invalid UTF-8 is refused; ignoreBOM: a leading U+FEFF is part of the string, as it is re-encoded
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** A receipt read by its layout, and where its body's bytes lie in what it was read from. */
export interface LaidReceipt { receipt: Receipt, bodyStart: number, bodyEnd: number }

/**
 * Reads a receipt from bytes in its canonical layout only — exactly as encodeReceiptBytes writes
 * one: its keys in canonical order, a v1 body's sixteen fields, every head in its shortest form,
 * strings in valid UTF-8 — so that the bytes it reads are the canonical encoding of the receipt it
 * returns; undefined at the first byte that differs from that layout (the caller then takes the
 * general decoder, which decides). It checks no values beyond their kind: the caller validates them.
 * About a tenth of the general decoder's cost, and no re-encoding to check canonical form.
 */
export function readReceiptBytes (bytes: Uint8Array): LaidReceipt | undefined {
  let at = 0
  const end = bytes.length
  // a head of major type `major` in its shortest form: its argument, or -1
  const head = (major: number): number => {
    if (at >= end || bytes[at] >> 5 !== major) return -1
    const info = bytes[at++] & 0x1f
    if (info < 24) return info
    const n = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
    if (n === 0 || at + n > end) return -1
    let v = 0
    for (let i = 0; i < n; i++) v = v * 256 + bytes[at++]
    const shortest = n === 1 ? v >= 24 : n === 2 ? v >= 0x100 : n === 4 ? v >= 0x10000 : v >= 0x100000000
    return shortest && Number.isSafeInteger(v) ? v : -1
  }
  const key = (k: Uint8Array): boolean => {
    if (at + k.length > end) return false
    for (let i = 0; i < k.length; i++) if (bytes[at + i] !== k[i]) return false
    at += k.length
    return true
  }
  const byteString = (): Uint8Array | undefined => {
    const n = head(2)
    if (n < 0 || at + n > end) return undefined
    at += n
    return bytes.slice(at - n, at)
  }
  const text = (): string | undefined => {
    const n = head(3)
    if (n < 0 || at + n > end) return undefined
    at += n
    const t = bytes.subarray(at - n, at)
    // ASCII (every CID, did and id a receipt holds) is its own UTF-8: one call, without the decoder's overhead
    let ascii = true
    for (let i = 0; i < n; i++) if (t[i] > 0x7f) { ascii = false; break }
    if (ascii) return String.fromCharCode.apply(null, t as unknown as number[])
    // a leading byte-order mark: the general decoder drops it (and then refuses the bytes as not
    // canonical), other DAG-CBOR readers may too — such a string is left to the general path
    if (n >= 3 && t[0] === 0xef && t[1] === 0xbb && t[2] === 0xbf) return undefined
    try { return utf8Strict.decode(t) } catch { return undefined }
  }
  const entries = head(5)
  if (entries !== 2 && entries !== 3) return undefined
  if (!key(KEY_BYTES.get('sig') as Uint8Array)) return undefined
  const sig = byteString()
  if (sig == null || !key(KEY_BYTES.get('body') as Uint8Array)) return undefined
  const bodyStart = at
  if (head(5) !== BODY_KEYS.length) return undefined
  const body: Record<string, string | number> = {}
  for (let j = 0; j < BODY_KEYS.length; j++) {
    if (!key(BODY_KEY_BYTES[j])) return undefined
    const v = BODY_KEY_INT[j] ? head(0) : text()
    if (v == null || v === -1) return undefined
    body[BODY_KEYS[j]] = v
  }
  const bodyEnd = at
  const receipt: Receipt = { body: body as unknown as ReceiptBody, sig }
  if (entries === 3) {
    if (!key(KEY_BYTES.get('proof') as Uint8Array) || head(5) !== 3 || !key(KEY_BYTES.get('i') as Uint8Array)) return undefined
    const i = head(0)
    if (i < 0 || !key(KEY_BYTES.get('n') as Uint8Array)) return undefined
    const n = head(0)
    if (n < 0 || !key(KEY_BYTES.get('path') as Uint8Array)) return undefined
    const len = head(4)
    if (len < 0 || len > 8) return undefined
    const path: Uint8Array[] = []
    for (let k = 0; k < len; k++) {
      const h = byteString()
      if (h == null) return undefined
      path.push(h)
    }
    receipt.proof = { n, i, path }
  }
  return at === end ? { receipt, bodyStart, bodyEnd } : undefined
}
