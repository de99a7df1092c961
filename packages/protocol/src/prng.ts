// A small, fast, seedable PRNG (sfc32, seeded through splitmix32): the one
// source of randomness of the simulator and of every protocol core (a core's
// randomness is an input — its seed — so it is deterministic given its
// inputs, and a simulation seed replays a run exactly). Not cryptographic.

const TWO_32 = 4294967296

function splitmix32 (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
}

// A seeded pseudo-random generator. Not cryptographic; deterministic across
// platforms (32-bit integer arithmetic only).
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  // `seed` is any number (its low 32 bits are used). The same seed gives the
  // same sequence on every run and platform.
  constructor (seed: number) {
    const mix = splitmix32(seed)
    this.a = mix()
    this.b = mix()
    this.c = mix()
    this.d = mix()
    for (let i = 0; i < 12; i++) this.next()
  }

  // The next unsigned 32-bit integer.
  next (): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }

  // A float in [0, 1) with 32 bits of resolution.
  float (): number {
    return this.next() / TWO_32
  }

  // An integer in [0, n); n must be a positive integer.
  int (n: number): number {
    return Math.floor(this.float() * n)
  }

  // An integer in [min, max], both inclusive.
  range (min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  // True with probability p; draws nothing when p ≤ 0 or p ≥ 1.
  chance (p: number): boolean {
    if (p <= 0) return false
    if (p >= 1) return true
    return this.float() < p
  }

  // A uniformly chosen element; throws on an empty array.
  pick<T> (arr: readonly T[]): T {
    if (arr.length === 0) throw new RangeError('pick from an empty array')
    return arr[this.int(arr.length)]
  }

  // Shuffles `arr` in place (Fisher–Yates) and returns it.
  shuffle<T> (arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = arr[i]
      arr[i] = arr[j]
      arr[j] = t
    }
    return arr
  }

  // An independent generator derived from this one's stream; forking advances
  // this generator, so forks made in the same order are the same on replay.
  fork (): Prng {
    return new Prng((this.next() ^ Math.imul(this.next(), 0x9e3779b1)) >>> 0)
  }
}
