// Node/browser twins of the AssemblyScript Reader and Writer: the same
// little-endian layouts, so the side that makes a task's input and reads its
// output speaks exactly the task's format.

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: false })

/** Malformed task output: the bytes ended before the value being read. */
export class TruncatedBytesError extends Error {
  static name = 'TruncatedBytesError'
  constructor (message = 'the bytes ended before the value being read; the producer and the reader disagree on the format') {
    super(message)
    this.name = 'TruncatedBytesError'
  }
}

/** Builds little-endian bytes; grows as needed. Methods chain. */
export class ByteWriter {
  private buf: Uint8Array
  private view: DataView
  length = 0

  constructor (initialCapacity = 64) {
    this.buf = new Uint8Array(Math.max(initialCapacity, 8))
    this.view = new DataView(this.buf.buffer)
  }

  private reserve (n: number): number {
    const need = this.length + n
    if (need > this.buf.length) {
      let cap = this.buf.length * 2
      while (cap < need) cap *= 2
      const next = new Uint8Array(cap)
      next.set(this.buf.subarray(0, this.length))
      this.buf = next
      this.view = new DataView(next.buffer)
    }
    const at = this.length
    this.length = need
    return at
  }

  u8 (v: number): this { const at = this.reserve(1); this.view.setUint8(at, v); return this }
  u16 (v: number): this { const at = this.reserve(2); this.view.setUint16(at, v, true); return this }
  u32 (v: number): this { const at = this.reserve(4); this.view.setUint32(at, v, true); return this }
  i32 (v: number): this { const at = this.reserve(4); this.view.setInt32(at, v, true); return this }
  u64 (v: bigint | number): this { const at = this.reserve(8); this.view.setBigUint64(at, BigInt(v), true); return this }
  i64 (v: bigint | number): this { const at = this.reserve(8); this.view.setBigInt64(at, BigInt(v), true); return this }
  f32 (v: number): this { const at = this.reserve(4); this.view.setFloat32(at, v, true); return this }
  f64 (v: number): this { const at = this.reserve(8); this.view.setFloat64(at, v, true); return this }

  /** Raw bytes, no length prefix. */
  bytes (b: Uint8Array): this {
    const at = this.reserve(b.length)
    this.buf.set(b, at)
    return this
  }

  /** A u32 length followed by the bytes. */
  lenBytes (b: Uint8Array): this {
    return this.u32(b.length).bytes(b)
  }

  /** A u32 byte length followed by the UTF-8 encoding of `s`. */
  string (s: string): this {
    return this.lenBytes(utf8.encode(s))
  }

  /** A copy of the bytes written so far. */
  finish (): Uint8Array {
    return this.buf.slice(0, this.length)
  }
}

/** Reads little-endian values front to back; throws TruncatedBytesError past the end. */
export class ByteReader {
  readonly bytes: Uint8Array
  private readonly view: DataView
  offset = 0

  constructor (bytes: Uint8Array) {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  /** Bytes not yet read. */
  get remaining (): number { return this.bytes.length - this.offset }

  private take (n: number): number {
    if (n < 0 || this.offset + n > this.bytes.length) {
      throw new TruncatedBytesError(`need ${n} bytes at offset ${this.offset} but there are ${this.bytes.length}; the producer and the reader disagree on the format`)
    }
    const at = this.offset
    this.offset += n
    return at
  }

  u8 (): number { return this.view.getUint8(this.take(1)) }
  u16 (): number { return this.view.getUint16(this.take(2), true) }
  u32 (): number { return this.view.getUint32(this.take(4), true) }
  i32 (): number { return this.view.getInt32(this.take(4), true) }
  u64 (): bigint { return this.view.getBigUint64(this.take(8), true) }
  i64 (): bigint { return this.view.getBigInt64(this.take(8), true) }
  f32 (): number { return this.view.getFloat32(this.take(4), true) }
  f64 (): number { return this.view.getFloat64(this.take(8), true) }

  /** The next `n` bytes as a view (no copy). */
  bytesN (n: number): Uint8Array {
    const at = this.take(n)
    return this.bytes.subarray(at, at + n)
  }

  /** A u32 length followed by that many bytes. */
  lenBytes (): Uint8Array { return this.bytesN(this.u32()) }

  /** A u32 byte length followed by UTF-8. */
  string (): string { return utf8Decoder.decode(this.lenBytes()) }
}

/** Byte order of UTF-8 strings (equals code point order), as the AS side sorts count tables. */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.length - b.length
}

/**
 * The canonical count-table bytes (what `writeCounts` in
 * `@webfabric/sdk/assembly` writes): u32 entry count, then per entry sorted
 * by UTF-8 key bytes a u32 key length, the key, and a u64 count.
 */
export function encodeCounts (table: Map<string, bigint | number>): Uint8Array {
  const entries = [...table].map(([k, v]) => [utf8.encode(k), v] as const)
  entries.sort((a, b) => compareBytes(a[0], b[0]))
  const w = new ByteWriter().u32(entries.length)
  for (const [k, v] of entries) w.lenBytes(k).u64(v)
  return w.finish()
}

/** Reads canonical count-table bytes back into a Map (in key byte order). */
export function decodeCounts (bytes: Uint8Array): Map<string, bigint> {
  const r = new ByteReader(bytes)
  const n = r.u32()
  const out = new Map<string, bigint>()
  for (let i = 0; i < n; i++) {
    const k = r.string()
    out.set(k, r.u64())
  }
  return out
}
