// Bounds-checked reading and growable writing of the WebAssembly binary
// format (LEB128 integers, names, byte vectors). Every read checks the
// remaining length first and throws InvalidModuleError, so a hostile module
// can never make the parser read past its input or allocate by a count it
// has not backed with bytes (`count` refuses n items when fewer than
// n × minItemBytes bytes remain).
import { InvalidModuleError } from './errors.ts'

const utf8 = new TextDecoder('utf-8', { fatal: true })
const utf8Enc = new TextEncoder()

/** A cursor over `bytes[pos, end)`; `base` is added to positions in error messages. */
export class Reader {
  readonly bytes: Uint8Array
  pos: number
  readonly end: number

  constructor (bytes: Uint8Array, pos = 0, end = bytes.length) {
    this.bytes = bytes
    this.pos = pos
    this.end = end
  }

  get remaining (): number { return this.end - this.pos }
  get done (): boolean { return this.pos >= this.end }

  fail (what: string): never {
    throw new InvalidModuleError(`malformed module at byte ${this.pos}: ${what}; rebuild it with a WebAssembly 1.0 toolchain`)
  }

  u8 (): number {
    if (this.pos >= this.end) this.fail('unexpected end of input (truncated)')
    return this.bytes[this.pos++]
  }

  /** Unsigned LEB128 of at most 32 bits. */
  u32 (): number {
    let result = 0
    let shift = 0
    for (let i = 0; i < 5; i++) {
      const b = this.u8()
      if (i === 4 && (b & 0xf0) !== 0) this.fail('u32 LEB128 out of range')
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return result
      shift += 7
    }
    return this.fail('u32 LEB128 too long')
  }

  /** Signed LEB128 of at most `bits` bits, skipped (its value is not needed); returns its byte length. */
  skipSigned (bits: 32 | 33 | 64): number {
    const max = Math.ceil(bits / 7)
    for (let i = 0; i < max; i++) {
      if ((this.u8() & 0x80) === 0) return i + 1
    }
    return this.fail(`s${bits} LEB128 too long`)
  }

  /** Signed LEB128 of at most 33 bits (block types); JS number. */
  s33 (): number {
    let result = 0
    let shift = 0
    let b = 0
    for (let i = 0; i < 5; i++) {
      b = this.u8()
      result += (b & 0x7f) * 2 ** shift
      shift += 7
      if ((b & 0x80) === 0) {
        if (b & 0x40) result -= 2 ** shift
        return result
      }
    }
    return this.fail('s33 LEB128 too long')
  }

  /** `n` raw bytes as a view (no copy). */
  take (n: number): Uint8Array {
    if (n > this.remaining) this.fail(`${n} bytes announced but only ${this.remaining} remain (truncated)`)
    const out = this.bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  /** A vector count, refused when the remaining bytes cannot hold `n` items of at least `minItemBytes` each. */
  count (minItemBytes = 1): number {
    const n = this.u32()
    if (n * minItemBytes > this.remaining) this.fail(`count ${n} is larger than the remaining ${this.remaining} bytes can hold`)
    return n
  }

  /** A UTF-8 name. */
  name (): string {
    const n = this.u32()
    const b = this.take(n)
    try {
      return utf8.decode(b)
    } catch {
      return this.fail('name is not valid UTF-8')
    }
  }
}

/** A growable byte buffer with the encoders of the binary format. */
export class Writer {
  buf: Uint8Array
  len = 0

  constructor (capacity = 256) {
    this.buf = new Uint8Array(capacity)
  }

  private ensure (n: number): void {
    if (this.len + n <= this.buf.length) return
    let cap = this.buf.length * 2
    while (cap < this.len + n) cap *= 2
    const next = new Uint8Array(cap)
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
  }

  u8 (b: number): void {
    this.ensure(1)
    this.buf[this.len++] = b
  }

  u32 (v: number): void {
    this.ensure(5)
    do {
      let b = v & 0x7f
      v = Math.floor(v / 128)
      if (v !== 0) b |= 0x80
      this.buf[this.len++] = b
    } while (v !== 0)
  }

  /** Signed LEB128 of a safe integer. */
  sleb (v: number): void {
    this.ensure(10)
    for (;;) {
      const b = v & 0x7f
      v = Math.floor(v / 128)
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b
        return
      }
      this.buf[this.len++] = b | 0x80
    }
  }

  bytes (b: Uint8Array): void {
    this.ensure(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
  }

  name (s: string): void {
    const b = utf8Enc.encode(s)
    this.u32(b.length)
    this.bytes(b)
  }

  /** A length-prefixed copy of another writer's contents. */
  sized (w: Writer): void {
    this.u32(w.len)
    this.bytes(w.finish())
  }

  finish (): Uint8Array {
    return this.buf.subarray(0, this.len)
  }
}
