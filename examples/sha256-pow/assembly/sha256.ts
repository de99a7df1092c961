// SHA-256 (FIPS 180-4) in AssemblyScript, with a resumable state so a
// proof-of-work search hashes the prefix's full blocks once.

const K: StaticArray<u32> = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
]

const W = new StaticArray<u32>(64)

/** A SHA-256 computation in progress: update() any number of times, then digest(). */
export class Sha256 {
  h: StaticArray<u32> = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
  block: Uint8Array = new Uint8Array(64)
  blockLen: i32 = 0
  total: u64 = 0

  /** A copy of this state (to hash several messages sharing a prefix). */
  clone (): Sha256 {
    const c = new Sha256()
    for (let i = 0; i < 8; i++) unchecked(c.h[i] = this.h[i])
    c.block.set(this.block)
    c.blockLen = this.blockLen
    c.total = this.total
    return c
  }

  /** Copies `other`'s state into this one, without allocating. */
  copyFrom (other: Sha256): void {
    for (let i = 0; i < 8; i++) unchecked(this.h[i] = other.h[i])
    this.block.set(other.block)
    this.blockLen = other.blockLen
    this.total = other.total
  }

  update (data: Uint8Array): void {
    this.total += <u64>data.length
    let i = 0
    while (i < data.length) {
      const n = min(64 - this.blockLen, data.length - i)
      memory.copy(this.block.dataStart + <usize>this.blockLen, data.dataStart + <usize>i, <usize>n)
      this.blockLen += n
      i += n
      if (this.blockLen == 64) {
        compress(this.h, this.block.dataStart)
        this.blockLen = 0
      }
    }
  }

  /** Finishes the hash into `out` (32 bytes). The state is spent afterwards. */
  digestInto (out: Uint8Array): void {
    const bits = this.total * 8
    const b = this.block.dataStart
    store<u8>(b + <usize>this.blockLen, 0x80)
    this.blockLen++
    if (this.blockLen > 56) {
      memory.fill(b + <usize>this.blockLen, 0, <usize>(64 - this.blockLen))
      compress(this.h, b)
      this.blockLen = 0
    }
    memory.fill(b + <usize>this.blockLen, 0, <usize>(56 - this.blockLen))
    store<u64>(b + 56, bswap<u64>(bits))
    compress(this.h, b)
    for (let i = 0; i < 8; i++) store<u32>(out.dataStart + <usize>(i * 4), bswap<u32>(unchecked(this.h[i])))
  }

  digest (): Uint8Array {
    const out = new Uint8Array(32)
    this.digestInto(out)
    return out
  }
}

/** sha256(data) in one call. */
export function sha256 (data: Uint8Array): Uint8Array {
  const s = new Sha256()
  s.update(data)
  return s.digest()
}

function compress (h: StaticArray<u32>, p: usize): void {
  for (let t = 0; t < 16; t++) unchecked(W[t] = bswap<u32>(load<u32>(p + <usize>(t * 4))))
  for (let t = 16; t < 64; t++) {
    const w15 = unchecked(W[t - 15])
    const w2 = unchecked(W[t - 2])
    const s0 = rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >>> 3)
    const s1 = rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >>> 10)
    unchecked(W[t] = W[t - 16] + s0 + W[t - 7] + s1)
  }
  let a = unchecked(h[0])
  let b = unchecked(h[1])
  let c = unchecked(h[2])
  let d = unchecked(h[3])
  let e = unchecked(h[4])
  let f = unchecked(h[5])
  let g = unchecked(h[6])
  let hh = unchecked(h[7])
  for (let t = 0; t < 64; t++) {
    const S1 = rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25)
    const ch = (e & f) ^ (~e & g)
    const t1 = hh + S1 + ch + unchecked(K[t]) + unchecked(W[t])
    const S0 = rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22)
    const maj = (a & b) ^ (a & c) ^ (b & c)
    const t2 = S0 + maj
    hh = g
    g = f
    f = e
    e = d + t1
    d = c
    c = b
    b = a
    a = t1 + t2
  }
  unchecked(h[0] += a)
  unchecked(h[1] += b)
  unchecked(h[2] += c)
  unchecked(h[3] += d)
  unchecked(h[4] += e)
  unchecked(h[5] += f)
  unchecked(h[6] += g)
  unchecked(h[7] += hh)
}

/** Number of leading zero bits of a digest. */
export function leadingZeroBits (digest: Uint8Array): u32 {
  let n: u32 = 0
  for (let i = 0; i < digest.length; i++) {
    const b = unchecked(digest[i])
    if (b == 0) { n += 8; continue }
    return n + <u32>clz<u32>(<u32>b) - 24
  }
  return n
}
