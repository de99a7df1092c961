// The Reed-Solomon erasure codec: round trips over many (k, m), every
// pattern of lost shards for 4+2, random ones for bigger codes, a property
// test over random codes and erasures, parity checked against a slow
// reference written here from the definition (so a bug in the fast paths or
// in the tables shows), both backends byte for byte, and every refusal.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import {
  createErasureCodec,
  type ErasureBackend,
  type ErasureCodec,
  joinShards,
  MAX_SHARDS,
  splitIntoShards,
  wasmSimdAvailable
} from '../src/erasure/index.ts'

const BACKENDS: ErasureBackend[] = ['wasm-simd', 'js']
const ERROR_NAMES = new Set([
  'ErasureParamsError', 'ShardCountError', 'InvalidShardError', 'ShardSizeError',
  'TooFewShardsError', 'JoinLengthError', 'ErasureBackendError'
])

// ---- the reference: GF(2^8) mod 0x11d by shift-and-add, no tables ----

function refMul (a: number, b: number): number {
  let p = 0
  for (let i = 0; i < 8; i++) {
    if (b & 1) p ^= a
    b >>= 1
    a <<= 1
    if (a & 0x100) a ^= 0x11d
  }
  return p
}

function refInv (a: number): number {
  for (let b = 1; b < 256; b++) if (refMul(a, b) === 1) return b
  throw new Error(`no inverse of ${a}`)
}

/** Parity by the definition: parity[i][p] = XOR over j of (1 / ((k + i) XOR j)) · data[j][p]. */
function refEncode (data: Uint8Array[], m: number): Uint8Array[] {
  const k = data.length
  const size = data[0].length
  return Array.from({ length: m }, (_, i) => {
    const out = new Uint8Array(size)
    for (let j = 0; j < k; j++) {
      const f = refInv((k + i) ^ j)
      for (let p = 0; p < size; p++) out[p] ^= refMul(f, data[j][p])
    }
    return out
  })
}

// ---- helpers ----

/** xorshift32: a named seed replays a failing run. */
function prng (seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s
  }
}

function randomShards (k: number, size: number, seed: number): Uint8Array[] {
  const next = prng(seed)
  return Array.from({ length: k }, () => Uint8Array.from({ length: size }, () => next() & 0xff))
}

/** All subsets of {0..n-1} with at most `max` members. */
function subsetsUpTo (n: number, max: number): number[][] {
  const out: number[][] = []
  const walk = (from: number, chosen: number[]): void => {
    out.push(chosen)
    if (chosen.length === max) return
    for (let i = from; i < n; i++) walk(i + 1, [...chosen, i])
  }
  walk(0, [])
  return out
}

function erase (stripe: Uint8Array[], lost: number[]): (Uint8Array | undefined)[] {
  const out: (Uint8Array | undefined)[] = stripe.slice()
  for (const i of lost) out[i] = undefined
  return out
}

function assertRestores (codec: ErasureCodec, stripe: Uint8Array[], lost: number[]): void {
  const back = codec.reconstruct(erase(stripe, lost))
  assert.equal(back.length, stripe.length)
  for (let i = 0; i < stripe.length; i++) {
    assert.ok(Buffer.from(back[i]).equals(Buffer.from(stripe[i])), `shard ${i} differs after losing [${lost}] (k=${codec.k}, m=${codec.m}, ${codec.backend})`)
  }
}

function refuses (fn: () => unknown, name: string): void {
  assert.throws(fn, (err: Error) => {
    assert.equal(err.name, name)
    assert.ok(err.message.length > 20, 'the message says what was wrong')
    return true
  })
}

// ---- tests ----

describe('erasure codec', () => {
  it('runs on WebAssembly SIMD in Node 24 by default', () => {
    assert.equal(wasmSimdAvailable(), true)
    assert.equal(createErasureCodec(4, 2).backend, 'wasm-simd')
    assert.equal(createErasureCodec(4, 2, { backend: 'js' }).backend, 'js')
  })

  it('keeps data shards unchanged and computes parity as the reference does', () => {
    for (const [k, m, size] of [[1, 1, 33], [4, 2, 1000], [10, 4, 517], [17, 3, 64], [3, 7, 100], [1, 255, 3], [255, 1, 17], [128, 128, 40]]) {
      const data = randomShards(k, size, 1000 + k * 31 + m)
      const copy = data.map(d => d.slice())
      const expected = refEncode(data, m)
      for (const backend of BACKENDS) {
        const parity = createErasureCodec(k, m, { backend }).encode(data)
        assert.deepEqual(parity, expected, `${k}+${m} ${backend}`)
        assert.deepEqual(data, copy, 'encode leaves its inputs alone')
      }
    }
  })

  it('pins the stored format: a small stripe encodes to these bytes', () => {
    const data = [Uint8Array.of(1, 2, 3, 4), Uint8Array.of(5, 6, 7, 8), Uint8Array.of(0, 0xff, 0x80, 0x11)]
    for (const backend of BACKENDS) {
      const parity = createErasureCodec(3, 2, { backend }).encode(data)
      assert.deepEqual(parity.map(p => Buffer.from(p).toString('hex')), refEncode(data, 2).map(p => Buffer.from(p).toString('hex')))
      assert.deepEqual(parity.map(p => Buffer.from(p).toString('hex')), ['78090ce2', '46df50d9'])
    }
  })

  it('gives the same bytes on both backends, across chunk boundaries and odd sizes', () => {
    for (const [k, m] of [[4, 2], [10, 4], [17, 3], [5, 11], [64, 64]]) {
      for (const size of [0, 1, 15, 16, 17, 1023, 4096, 33_333, 70_001]) {
        if (k * m > 100 && size > 5000) continue // the js side is slow on big codes; their chunks are 1 KiB anyway
        const data = randomShards(k, size, size * 7 + k)
        const wasm = createErasureCodec(k, m, { backend: 'wasm-simd' })
        const js = createErasureCodec(k, m, { backend: 'js' })
        const pw = wasm.encode(data)
        assert.deepEqual(pw, js.encode(data), `${k}+${m} size ${size}`)
        const lost = Array.from({ length: Math.min(m, k) }, (_, i) => i) // the worst case: data shards missing
        assert.deepEqual(wasm.reconstruct(erase([...data, ...pw], lost)), js.reconstruct(erase([...data, ...pw], lost)))
      }
    }
  })

  it('round-trips objects through split, encode, reconstruct and join for many (k, m)', () => {
    const codes = [[1, 0], [1, 1], [2, 1], [4, 2], [10, 4], [17, 3], [6, 6], [1, 5], [200, 56]]
    for (const [k, m] of codes) {
      for (const backend of BACKENDS) {
        const codec = createErasureCodec(k, m, { backend })
        for (const length of [0, 1, k, k * 100 + 7, 50_000]) {
          const bytes = randomShards(1, length, length + k)[0]
          const { shards, shardSize } = splitIntoShards(bytes, k)
          assert.equal(shardSize, Math.ceil(length / k))
          const stripe = [...shards, ...codec.encode(shards)]
          const lost = Array.from({ length: m }, (_, i) => (i * 7 + 3) % (k + m)).filter((v, i, a) => a.indexOf(v) === i)
          const back = codec.reconstruct(erase(stripe, lost))
          assert.ok(Buffer.from(joinShards(back, k, length)).equals(Buffer.from(bytes)), `${k}+${m} ${backend} length ${length}`)
        }
      }
    }
  })

  it('4+2: every pattern of up to two lost shards restores the stripe, on both backends', () => {
    const patterns = subsetsUpTo(6, 2)
    assert.equal(patterns.length, 1 + 6 + 15)
    for (const backend of BACKENDS) {
      const codec = createErasureCodec(4, 2, { backend })
      for (const size of [1, 31, 40_000]) {
        const data = randomShards(4, size, 42 + size)
        const stripe = [...data, ...codec.encode(data)]
        for (const lost of patterns) assertRestores(codec, stripe, lost)
      }
    }
  })

  it('bigger codes: random patterns of up to m lost shards (seed 20260101)', () => {
    const next = prng(20260101)
    for (const [k, m, size] of [[10, 4, 3000], [17, 3, 2000], [8, 8, 1000], [30, 20, 500], [100, 100, 64], [250, 6, 100]]) {
      for (const backend of BACKENDS) {
        const codec = createErasureCodec(k, m, { backend })
        const data = randomShards(k, size, k * m)
        const stripe = [...data, ...codec.encode(data)]
        for (let round = 0; round < 25; round++) {
          const count = next() % (m + 1)
          const slots = Array.from({ length: k + m }, (_, i) => i)
          for (let i = slots.length - 1; i > 0; i--) {
            const j = next() % (i + 1)
            ;[slots[i], slots[j]] = [slots[j], slots[i]]
          }
          assertRestores(codec, stripe, slots.slice(0, count))
        }
      }
    }
  })

  it('property: any k of k + m shards give back the data and the parity (fast-check)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 40 }).chain(k => fc.record({
        k: fc.constant(k),
        m: fc.integer({ min: 0, max: Math.min(24, MAX_SHARDS - k) }),
        size: fc.integer({ min: 0, max: 1500 }),
        seed: fc.integer({ min: 1, max: 0x7fffffff }),
        backend: fc.constantFrom<ErasureBackend>(...BACKENDS)
      })).chain(p => fc.record({
        p: fc.constant(p),
        lost: fc.shuffledSubarray(Array.from({ length: p.k + p.m }, (_, i) => i), { minLength: 0, maxLength: p.m })
      })),
      ({ p: { k, m, size, seed, backend }, lost }) => {
        const codec = createErasureCodec(k, m, { backend })
        const data = randomShards(k, size, seed)
        const parity = codec.encode(data)
        assert.deepEqual(parity, refEncode(data, m))
        assertRestores(codec, [...data, ...parity], lost)
      }
    ), { numRuns: 150 })
  })

  it('returns present shards as given and only fills the missing ones', () => {
    const codec = createErasureCodec(4, 2)
    const data = randomShards(4, 100, 9)
    const stripe: (Uint8Array | undefined)[] = [...data, ...codec.encode(data)]
    const full = codec.reconstruct(stripe)
    assert.notEqual(full, stripe, 'a new array')
    full.forEach((s, i) => { assert.equal(s, stripe[i]) })
    stripe[1] = undefined
    stripe[5] = undefined
    const back = codec.reconstruct(stripe)
    assert.equal(back[0], stripe[0])
    assert.equal(back[4], stripe[4])
    assert.equal(stripe[1], undefined, 'the input array is not written to')
    // the same pattern again comes from the decode cache and gives the same bytes
    assert.deepEqual(codec.reconstruct(stripe), back)
  })

  it('accepts shards that are views into larger buffers', () => {
    const codec = createErasureCodec(3, 2)
    const big = randomShards(1, 1000, 5)[0]
    const data = [big.subarray(1, 101), big.subarray(200, 300), big.subarray(899, 999)]
    const parity = codec.encode(data)
    assert.deepEqual(parity, refEncode(data.map(d => d.slice()), 2))
    const back = codec.reconstruct([undefined, data[1], undefined, parity[0], parity[1]])
    assert.deepEqual(back[0], data[0].slice())
    assert.deepEqual(back[2], data[2].slice())
  })
})

describe('splitIntoShards / joinShards', () => {
  it('pads the last shard with zeros and joins back to the original length', () => {
    const bytes = Uint8Array.of(1, 2, 3, 4, 5, 6, 7)
    const { shards, shardSize } = splitIntoShards(bytes, 3)
    assert.equal(shardSize, 3)
    assert.deepEqual(shards, [Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5, 6), Uint8Array.of(7, 0, 0)])
    assert.deepEqual(joinShards(shards, 3, 7), bytes)
    assert.deepEqual(joinShards(shards, 3, 9), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 0, 0))
    assert.deepEqual(joinShards(shards, 3, 0), new Uint8Array(0))
  })

  it('gives whole zero shards when k exceeds the length, and copies rather than views', () => {
    const bytes = Uint8Array.of(9, 8)
    const { shards, shardSize } = splitIntoShards(bytes, 5)
    assert.equal(shardSize, 1)
    assert.deepEqual(shards, [Uint8Array.of(9), Uint8Array.of(8), Uint8Array.of(0), Uint8Array.of(0), Uint8Array.of(0)])
    bytes[0] = 1
    assert.equal(shards[0][0], 9)
    assert.deepEqual(splitIntoShards(new Uint8Array(0), 4), { shards: [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)], shardSize: 0 })
  })

  it('joins a whole reconstructed stripe (parity after the first k is ignored)', () => {
    const codec = createErasureCodec(2, 2)
    const bytes = Uint8Array.of(1, 2, 3)
    const { shards } = splitIntoShards(bytes, 2)
    const stripe = codec.reconstruct([undefined, ...shards.slice(1), ...codec.encode(shards)])
    assert.deepEqual(joinShards(stripe, 2, 3), bytes)
  })
})

describe('refusals', () => {
  it('ErasureParamsError for k and m out of range, and for an unknown backend', () => {
    for (const [k, m] of [[0, 1], [-1, 2], [1, -1], [1.5, 1], [2, 0.5], [Number.NaN, 1], [1, Number.POSITIVE_INFINITY], [200, 57], [257, 0], [255, 2]]) {
      refuses(() => createErasureCodec(k, m), 'ErasureParamsError')
    }
    refuses(() => createErasureCodec(2, 1, { backend: 'gpu' as never }), 'ErasureParamsError')
    refuses(() => splitIntoShards(new Uint8Array(4), 0), 'ErasureParamsError')
    refuses(() => splitIntoShards(new Uint8Array(4), 257), 'ErasureParamsError')
    refuses(() => joinShards([new Uint8Array(1)], 0, 0), 'ErasureParamsError')
    // the limits themselves are accepted
    assert.equal(createErasureCodec(256, 0).k, 256)
    assert.equal(createErasureCodec(1, 255).m, 255)
  })

  it('ShardCountError for the wrong number of shards or slots', () => {
    const codec = createErasureCodec(4, 2)
    const d = randomShards(4, 8, 1)
    refuses(() => codec.encode(d.slice(0, 3)), 'ShardCountError')
    refuses(() => codec.encode([...d, d[0]]), 'ShardCountError')
    refuses(() => codec.encode('abcd' as never), 'ShardCountError')
    refuses(() => codec.reconstruct([...d, ...codec.encode(d), undefined]), 'ShardCountError')
    refuses(() => codec.reconstruct(d), 'ShardCountError')
    refuses(() => codec.reconstruct(null as never), 'ShardCountError')
    refuses(() => joinShards(d.slice(0, 3), 4, 1), 'ShardCountError')
  })

  it('InvalidShardError for a slot that holds something other than a Uint8Array', () => {
    const codec = createErasureCodec(4, 2)
    const d = randomShards(4, 8, 1)
    const p = codec.encode(d)
    refuses(() => codec.encode([d[0], undefined as never, d[2], d[3]]), 'InvalidShardError')
    refuses(() => codec.encode([d[0], new Uint16Array(8) as never, d[2], d[3]]), 'InvalidShardError')
    refuses(() => codec.reconstruct([d[0], 'x' as never, d[2], d[3], ...p]), 'InvalidShardError')
    refuses(() => codec.reconstruct([d[0], [1, 2] as never, d[2], d[3], ...p]), 'InvalidShardError')
    refuses(() => splitIntoShards('bytes' as never, 2), 'InvalidShardError')
    refuses(() => joinShards([d[0], {} as never, d[2], d[3]], 4, 1), 'InvalidShardError')
  })

  it('ShardSizeError for shards of one stripe that differ in length', () => {
    const codec = createErasureCodec(4, 2)
    const d = randomShards(4, 8, 1)
    const p = codec.encode(d)
    refuses(() => codec.encode([d[0], d[1], d[2], new Uint8Array(7)]), 'ShardSizeError')
    refuses(() => codec.reconstruct([undefined, d[1], d[2], d[3], new Uint8Array(9), p[1]]), 'ShardSizeError')
    refuses(() => joinShards([d[0], d[1], new Uint8Array(3), d[3]], 4, 1), 'ShardSizeError')
  })

  it('TooFewShardsError when fewer than k shards are left', () => {
    const codec = createErasureCodec(4, 2)
    const d = randomShards(4, 8, 1)
    const p = codec.encode(d)
    refuses(() => codec.reconstruct([undefined, undefined, undefined, d[3], p[0], p[1]]), 'TooFewShardsError')
    refuses(() => codec.reconstruct(new Array(6)), 'TooFewShardsError')
    refuses(() => createErasureCodec(1, 0).reconstruct([undefined]), 'TooFewShardsError')
  })

  it('JoinLengthError for a length the shards cannot hold', () => {
    const d = randomShards(4, 8, 1)
    for (const length of [-1, 33, 1.5, Number.NaN]) refuses(() => joinShards(d, 4, length), 'JoinLengthError')
  })

  it('falls back to JavaScript where WebAssembly SIMD does not compile, and ErasureBackendError when wasm-simd is demanded', () => {
    // a fresh process whose WebAssembly refuses to compile, as one without SIMD (or under a CSP) does
    const index = fileURLToPath(new URL('../src/erasure/index.ts', import.meta.url))
    const script = `
      const { createErasureCodec, wasmSimdAvailable } = await import(${JSON.stringify(index)})
      WebAssembly.Module = function () { throw new WebAssembly.CompileError('no SIMD here') }
      const codec = createErasureCodec(4, 2)
      const parity = codec.encode([Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3), Uint8Array.of(4)])
      let refused = ''
      try { createErasureCodec(4, 2, { backend: 'wasm-simd' }) } catch (e) { refused = e.name }
      console.log(JSON.stringify({ available: wasmSimdAvailable(), backend: codec.backend, parity: parity.map(p => [...p]), refused }))`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.deepEqual(out, {
      available: false,
      backend: 'js',
      parity: refEncode([Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3), Uint8Array.of(4)], 2).map(p => [...p]),
      refused: 'ErasureBackendError'
    })
  })

  it('every error class carries its name statically and on instances, with a default message', async () => {
    const errors = await import('../src/erasure/errors.ts')
    for (const [exported, Class] of Object.entries(errors)) {
      assert.equal(Class.name, exported)
      const e = new Class()
      assert.equal(e.name, exported)
      assert.ok(e.message.includes(':'), `${exported}'s default message says what to do`)
      assert.ok(ERROR_NAMES.has(exported))
    }
  })

  it('property: any input either works or is refused by name, never a crash', () => {
    const codec = createErasureCodec(3, 2)
    const shard = fc.oneof(fc.uint8Array({ maxLength: 6 }), fc.constant(undefined), fc.anything())
    const call = (fn: () => unknown): void => {
      try {
        fn()
      } catch (err) {
        assert.ok(ERROR_NAMES.has((err as Error).name), `unexpected ${String(err)}`)
      }
    }
    fc.assert(fc.property(
      fc.oneof(fc.array(shard, { maxLength: 7 }), fc.anything()),
      fc.anything(), fc.anything(),
      (shards, k, length) => {
        call(() => codec.encode(shards as never))
        call(() => codec.reconstruct(shards as never))
        call(() => createErasureCodec(k as never, length as never))
        call(() => splitIntoShards(shards as never, k as never))
        call(() => joinShards(shards as never, 3, length as never))
        call(() => joinShards(shards as never, k as never, length as never))
      }
    ), { numRuns: 500 })
  })
})
