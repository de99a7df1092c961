// @webfabric/sdk/assembly — the AssemblyScript side of the task ABI
// (packages/compute/ABI.md). A task imports from here and exports `run`:
//
//   import { input, output } from '@webfabric/sdk/assembly'
//   export function run (): void { output(input()) }
//
// Everything here is deterministic: the only randomness is `wf.random_fill`,
// which every replica of a task draws identically.

// ---- the raw ABI imports (module "wf") --------------------------------------

@external('wf', 'input_size')
declare function wf_input_size (): i32

@external('wf', 'input_read')
declare function wf_input_read (dst: usize, offset: i32, len: i32): i32

@external('wf', 'output_write')
declare function wf_output_write (src: usize, len: i32): void

@external('wf', 'random_fill')
declare function wf_random_fill (dst: usize, len: i32): void

@external('wf', 'log')
declare function wf_log (src: usize, len: i32): void

@external('wf', 'now_ms')
declare function wf_now_ms (): f64

@external('wf', 'sleep_ms')
declare function wf_sleep_ms (ms: i32): void

@external('wf', 'publish')
declare function wf_publish (topic: usize, topicLen: i32, data: usize, dataLen: i32): i32

// ---- input and output --------------------------------------------------------

let inputCache: Uint8Array | null = null

/** The task's whole input. Read from the host once; later calls return the same array. */
export function input (): Uint8Array {
  const cached = inputCache
  if (cached !== null) return cached
  const size = wf_input_size()
  const bytes = new Uint8Array(size)
  let off = 0
  while (off < size) {
    const n = wf_input_read(bytes.dataStart + <usize>off, off, size - off)
    if (n <= 0) break
    off += n
  }
  inputCache = bytes
  return bytes
}

/** Length of the input in bytes, without reading it. */
export function inputSize (): i32 {
  return wf_input_size()
}

/** The input decoded as UTF-8 (invalid sequences become U+FFFD). */
export function inputString (): string {
  const bytes = input()
  return String.UTF8.decodeUnsafe(bytes.dataStart, <usize>bytes.length)
}

/** Appends `bytes` to the task's output. May be called many times; the output is the concatenation. */
export function output (bytes: Uint8Array): void {
  if (bytes.length > 0) wf_output_write(bytes.dataStart, bytes.length)
}

/** Appends `s`, encoded as UTF-8 (no terminator), to the task's output. */
export function outputString (s: string): void {
  const buf = String.UTF8.encode(s)
  if (buf.byteLength > 0) wf_output_write(changetype<usize>(buf), buf.byteLength)
}

/** Appends UTF-8 text to the execution trace's log (bounded by the host; the excess is dropped). */
export function log (msg: string): void {
  const buf = String.UTF8.encode(msg)
  wf_log(changetype<usize>(buf), buf.byteLength)
}

// ---- deterministic randomness ------------------------------------------------
// Draws from wf.random_fill: seeded per task, so replicas agree. A small pool
// keeps the host calls few. Never use Math.random (it imports env.seed, which
// the VM refuses).

const POOL_SIZE: i32 = 256
let pool: usize = 0
let poolPos: i32 = POOL_SIZE

function refill (): void {
  if (pool == 0) pool = heap.alloc(<usize>POOL_SIZE)
  wf_random_fill(pool, POOL_SIZE)
  poolPos = 0
}

/** Fills `bytes` with deterministic random bytes. */
export function randomFill (bytes: Uint8Array): void {
  if (bytes.length > 0) wf_random_fill(bytes.dataStart, bytes.length)
}

/** `n` fresh deterministic random bytes. */
export function randomBytes (n: i32): Uint8Array {
  const bytes = new Uint8Array(n)
  randomFill(bytes)
  return bytes
}

/** A uniformly distributed u32. */
export function randomU32 (): u32 {
  if (poolPos + 4 > POOL_SIZE) refill()
  const v = load<u32>(pool + <usize>poolPos)
  poolPos += 4
  return v
}

/** A uniformly distributed u64. */
export function randomU64 (): u64 {
  return (<u64>randomU32() << 32) | <u64>randomU32()
}

/** A uniformly distributed f64 in [0, 1) with 53 random bits. */
export function randomF64 (): f64 {
  return <f64>(randomU64() >> 11) * 1.1102230246251565e-16 // 2^-53
}

/** A uniformly distributed integer in [0, n), without modulo bias. n must be > 0. */
export function randomInt (n: u32): u32 {
  if (n == 0) abort('randomInt: n must be > 0')
  const limit = <u32>(0x100000000 - (0x100000000 % <u64>n)) - 1 // largest unbiased value
  let v = randomU32()
  while (v > limit) v = randomU32()
  return v % n
}

// ---- little-endian readers and writers --------------------------------------

/**
 * Reads little-endian numbers and length-prefixed byte strings from a byte
 * array, front to back. Reading past the end aborts the task with a message
 * naming the offset (a deterministic `abort` status, not a silent zero).
 */
export class Reader {
  offset: i32 = 0

  constructor (public bytes: Uint8Array) {}

  /** Bytes not yet read. */
  get remaining (): i32 {
    return this.bytes.length - this.offset
  }

  private take (n: i32): usize {
    if (n < 0 || this.offset + n > this.bytes.length) {
      abort('Reader: need ' + n.toString() + ' bytes at offset ' + this.offset.toString() +
        ' but the buffer has ' + this.bytes.length.toString())
    }
    const p = this.bytes.dataStart + <usize>this.offset
    this.offset += n
    return p
  }

  u8 (): u8 { return load<u8>(this.take(1)) }
  i8 (): i8 { return load<i8>(this.take(1)) }
  u16 (): u16 { return load<u16>(this.take(2)) }
  i16 (): i16 { return load<i16>(this.take(2)) }
  u32 (): u32 { return load<u32>(this.take(4)) }
  i32 (): i32 { return load<i32>(this.take(4)) }
  u64 (): u64 { return load<u64>(this.take(8)) }
  i64 (): i64 { return load<i64>(this.take(8)) }
  f32 (): f32 { return load<f32>(this.take(4)) }
  f64 (): f64 { return load<f64>(this.take(8)) }

  /** The next `n` bytes, as a view sharing the underlying buffer (no copy). */
  bytesN (n: i32): Uint8Array {
    this.take(n)
    return this.bytes.subarray(this.offset - n, this.offset)
  }

  /** Everything not yet read, as a view. */
  rest (): Uint8Array {
    return this.bytesN(this.remaining)
  }

  /** A u32 length followed by that many bytes. */
  lenBytes (): Uint8Array {
    return this.bytesN(<i32>this.u32())
  }

  /** A u32 byte length followed by that many bytes of UTF-8. */
  string (): string {
    const n = <i32>this.u32()
    const p = this.take(n)
    return String.UTF8.decodeUnsafe(p, <usize>n)
  }
}

/**
 * Builds a byte array from little-endian numbers and length-prefixed byte
 * strings; grows as needed. `finish()` returns the bytes written so far.
 */
export class Writer {
  private buf: Uint8Array
  length: i32 = 0

  constructor (initialCapacity: i32 = 64) {
    this.buf = new Uint8Array(max(initialCapacity, 8))
  }

  private reserve (n: i32): usize {
    const need = this.length + n
    if (need > this.buf.length) {
      let cap = this.buf.length * 2
      while (cap < need) cap *= 2
      const next = new Uint8Array(cap)
      memory.copy(next.dataStart, this.buf.dataStart, <usize>this.length)
      this.buf = next
    }
    const p = this.buf.dataStart + <usize>this.length
    this.length = need
    return p
  }

  u8 (v: u8): Writer { store<u8>(this.reserve(1), v); return this }
  i8 (v: i8): Writer { store<i8>(this.reserve(1), v); return this }
  u16 (v: u16): Writer { store<u16>(this.reserve(2), v); return this }
  i16 (v: i16): Writer { store<i16>(this.reserve(2), v); return this }
  u32 (v: u32): Writer { store<u32>(this.reserve(4), v); return this }
  i32 (v: i32): Writer { store<i32>(this.reserve(4), v); return this }
  u64 (v: u64): Writer { store<u64>(this.reserve(8), v); return this }
  i64 (v: i64): Writer { store<i64>(this.reserve(8), v); return this }
  f32 (v: f32): Writer { store<f32>(this.reserve(4), v); return this }
  f64 (v: f64): Writer { store<f64>(this.reserve(8), v); return this }

  /** Raw bytes, no length prefix. */
  bytes (b: Uint8Array): Writer {
    const p = this.reserve(b.length)
    memory.copy(p, b.dataStart, <usize>b.length)
    return this
  }

  /** A u32 length followed by the bytes. */
  lenBytes (b: Uint8Array): Writer {
    this.u32(<u32>b.length)
    return this.bytes(b)
  }

  /** A u32 byte length followed by the UTF-8 encoding of `s`. */
  string (s: string): Writer {
    const enc = String.UTF8.encode(s)
    const n = enc.byteLength
    this.u32(<u32>n)
    const p = this.reserve(n)
    memory.copy(p, changetype<usize>(enc), <usize>n)
    return this
  }

  /** The bytes written so far (a copy sized exactly). */
  finish (): Uint8Array {
    return this.buf.slice(0, this.length)
  }

  /** Appends the bytes written so far to the task's output and resets the writer. */
  flush (): void {
    if (this.length > 0) wf_output_write(this.buf.dataStart, this.length)
    this.length = 0
  }
}

// ---- key/value tables --------------------------------------------------------

/**
 * Writes a string → u64 table in the SDK's canonical byte format: u32 count,
 * then per entry (sorted by key bytes, ascending) a u32 key length, the UTF-8
 * key, and a u64 value. Sorting makes the bytes independent of insertion
 * order, so replicas agree byte for byte.
 */
export function writeCounts (w: Writer, table: Map<string, u64>): void {
  const keys = table.keys()
  const entries = new Array<CountEntry>(keys.length)
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]
    entries[i] = new CountEntry(Uint8Array.wrap(String.UTF8.encode(k)), table.get(k))
  }
  entries.sort((a: CountEntry, b: CountEntry): i32 => compareBytes(a.key, b.key))
  w.u32(<u32>entries.length)
  for (let i = 0; i < entries.length; i++) {
    w.lenBytes(entries[i].key)
    w.u64(entries[i].value)
  }
}

class CountEntry {
  constructor (public key: Uint8Array, public value: u64) {}
}

/** Reads a table written by `writeCounts`, adding its values into `into` (so several tables merge). */
export function readCountsInto (r: Reader, into: Map<string, u64>): void {
  const n = r.u32()
  for (let i: u32 = 0; i < n; i++) {
    const key = r.string()
    const v = r.u64()
    if (into.has(key)) into.set(key, into.get(key) + v)
    else into.set(key, v)
  }
}

/** Lexicographic byte order: negative, zero or positive like a comparator. */
export function compareBytes (a: Uint8Array, b: Uint8Array): i32 {
  const n = min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = <i32>unchecked(a[i]) - <i32>unchecked(b[i])
    if (d != 0) return d
  }
  return a.length - b.length
}

// ---- processes only (compileTask with profile 'process') ---------------------
// A task that calls these is refused: they are not deterministic. Imports are
// only emitted for functions a module uses, so tasks never see them.

/** Wall-clock milliseconds since the epoch (processes only). */
export function nowMs (): f64 {
  return wf_now_ms()
}

/** Sleep `ms` milliseconds; a kill or a revoked lease ends the process here (processes only). */
export function sleepMs (ms: i32): void {
  wf_sleep_ms(ms)
}

/** Publish `data` on pub-sub `topic` if the process was granted it: 0, -1 (no capability) or -2 (too large) (processes only). */
export function publish (topic: string, data: Uint8Array): i32 {
  const t = String.UTF8.encode(topic)
  return wf_publish(changetype<usize>(t), t.byteLength, data.dataStart, data.length)
}
