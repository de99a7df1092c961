// The scheduler's PRNG (sfc32 seeded through splitmix32), the same generator
// as @webfabric/sim's Prng. Kept local: cores do not depend on the simulator.

/** A small seeded generator; not cryptographic. */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (seed: number) {
    let s = seed >>> 0
    const mix = (): number => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = mix()
    this.b = mix()
    this.c = mix()
    this.d = mix()
    for (let i = 0; i < 12; i++) this.next()
  }

  /** The next unsigned 32-bit integer. */
  next (): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }

  /** A float in [0, 1). */
  float (): number {
    return this.next() / 4294967296
  }

  /** An integer in [0, n). */
  int (n: number): number {
    return Math.floor(this.float() * n)
  }

  /** True with probability p (never draws when p ≤ 0 or p ≥ 1). */
  chance (p: number): boolean {
    if (p <= 0) return false
    if (p >= 1) return true
    return this.float() < p
  }
}
