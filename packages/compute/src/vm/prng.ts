// The task PRNG behind wf.random_fill: the ChaCha20 keystream of RFC 8439
// with key = the 32-byte task seed, nonce = 12 zero bytes, block counter
// starting at 0. Each random_fill takes the next `len` bytes of the one
// stream, so a replica that draws 3 + 5 bytes sees the same 8 bytes as one
// that draws 8. Any ChaCha20 implementation reproduces it.

const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]

/** A deterministic byte stream (ChaCha20 keystream) seeded by 32 bytes. */
export class ChaCha20Stream {
  private readonly state = new Uint32Array(16)
  private readonly x = new Uint32Array(16)
  private readonly block = new Uint8Array(64)
  private readonly blockView = new DataView(this.block.buffer)
  private used = 64

  /** `nonce` (12 bytes, default zeros) and `counter` exist for the RFC's test vectors. */
  constructor (seed: Uint8Array, nonce: Uint8Array = new Uint8Array(12), counter = 0) {
    if (seed.length !== 32) throw new RangeError(`a ChaCha20 seed is 32 bytes, not ${seed.length}`)
    if (nonce.length !== 12) throw new RangeError(`a ChaCha20 nonce is 12 bytes, not ${nonce.length}`)
    const dv = new DataView(seed.buffer, seed.byteOffset, 32)
    const nv = new DataView(nonce.buffer, nonce.byteOffset, 12)
    this.state.set(SIGMA, 0)
    for (let i = 0; i < 8; i++) this.state[4 + i] = dv.getUint32(i * 4, true)
    this.state[12] = counter
    for (let i = 0; i < 3; i++) this.state[13 + i] = nv.getUint32(i * 4, true)
  }

  /** Fills `out` with the next out.length bytes of the stream. */
  fill (out: Uint8Array): void {
    let i = 0
    while (i < out.length) {
      if (this.used === 64) this.next()
      const n = Math.min(64 - this.used, out.length - i)
      out.set(this.block.subarray(this.used, this.used + n), i)
      this.used += n
      i += n
    }
  }

  private next (): void {
    const s = this.state
    const x = this.x
    x.set(s)
    for (let r = 0; r < 10; r++) {
      qr(x, 0, 4, 8, 12); qr(x, 1, 5, 9, 13); qr(x, 2, 6, 10, 14); qr(x, 3, 7, 11, 15)
      qr(x, 0, 5, 10, 15); qr(x, 1, 6, 11, 12); qr(x, 2, 7, 8, 13); qr(x, 3, 4, 9, 14)
    }
    for (let i = 0; i < 16; i++) this.blockView.setUint32(i * 4, (x[i] + s[i]) >>> 0, true)
    s[12] = (s[12] + 1) >>> 0
    this.used = 0
  }
}

function qr (x: Uint32Array, a: number, b: number, c: number, d: number): void {
  x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 16)
  x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 12)
  x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 8)
  x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 7)
}

function rotl (v: number, n: number): number {
  return (v << n) | (v >>> (32 - n))
}
