// The Reed-Solomon erasure codec: k data shards → m parity shards, and back
// from any k of the k + m. See matrix.ts for the code itself and kernel.ts
// for the arithmetic's two backends.

import {
  ErasureBackendError,
  ErasureParamsError,
  InvalidShardError,
  ShardCountError,
  ShardSizeError,
  TooFewShardsError
} from './errors.ts'
import { type ErasureBackend, jsKernel, type MatrixKernel, wasmKernel } from './kernel.ts'
import { generatorRow, invert, multiply, parityMatrix } from './matrix.ts'

/** The most shards one stripe can have: the code needs k + m distinct elements of GF(2^8). */
export const MAX_SHARDS = 256

/** How many reconstruction matrices (one per pattern of missing shards) a codec keeps. */
const DECODE_CACHE_SIZE = 64

/** A systematic Reed-Solomon code over GF(2^8) with k data and m parity shards. */
export interface ErasureCodec {
  /** Data shards per stripe. */
  readonly k: number
  /** Parity shards per stripe: how many of the k + m may be lost. */
  readonly m: number
  /** Which implementation does the arithmetic (both give the same bytes). */
  readonly backend: ErasureBackend
  /** k equal-length data shards → m parity shards (new arrays; the inputs are not kept or changed). */
  encode (data: Uint8Array[]): Uint8Array[]
  /**
   * k + m slots, shard i in slot i (data first, then parity), undefined for a
   * missing one; any k present → all k + m shards. Present shards are returned
   * as given, missing ones are new arrays. The codec cannot tell a corrupt
   * shard from a good one: check each shard's hash before.
   */
  reconstruct (shards: (Uint8Array | undefined)[]): Uint8Array[]
}

/** Options of createErasureCodec. */
export interface ErasureCodecInit {
  /** 'auto' (default): WebAssembly SIMD where the runtime has it, else JavaScript. */
  backend?: 'auto' | ErasureBackend
}

/** Checks k and m (and their sum) and throws ErasureParamsError when out of range. */
function checkParams (k: number, m: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || m < 0 || k + m > MAX_SHARDS) {
    throw new ErasureParamsError(`erasure parameters out of range (k = ${describeValue(k)}, m = ${describeValue(m)}): use integers with 1 ≤ k, 0 ≤ m and k + m ≤ ${MAX_SHARDS}`)
  }
}

/**
 * A codec for k data and m parity shards. Synchronous: the wasm kernel is
 * small enough to compile at once in Node and on a browser's main thread.
 */
export function createErasureCodec (k: number, m: number, init: ErasureCodecInit = {}): ErasureCodec {
  checkParams(k, m)
  const backend = init?.backend ?? 'auto'
  if (backend !== 'auto' && backend !== 'wasm-simd' && backend !== 'js') {
    throw new ErasureParamsError(`unknown erasure backend ${describeValue(backend)}: use 'auto', 'wasm-simd' or 'js'`)
  }
  let kernel: MatrixKernel = jsKernel
  if (backend !== 'js') {
    const wasm = wasmKernel()
    if (wasm !== undefined) kernel = wasm
    else if (backend === 'wasm-simd') throw new ErasureBackendError()
  }
  return new ReedSolomonCodec(k, m, kernel)
}

class ReedSolomonCodec implements ErasureCodec {
  readonly k: number
  readonly m: number
  readonly backend: ErasureBackend
  readonly #kernel: MatrixKernel
  readonly #parity: Uint8Array
  readonly #decodeCache = new Map<string, { rows: Uint8Array, use: number[] }>()

  constructor (k: number, m: number, kernel: MatrixKernel) {
    this.k = k
    this.m = m
    this.backend = kernel.backend
    this.#kernel = kernel
    this.#parity = parityMatrix(k, m)
  }

  encode (data: Uint8Array[]): Uint8Array[] {
    const { k, m } = this
    if (!Array.isArray(data) || data.length !== k) {
      throw new ShardCountError(`encode takes exactly k = ${k} data shards, got ${describeValue(data)}: pass the stripe's data shards (splitIntoShards makes them)`)
    }
    const size = sizeOf(data, 0)
    for (let i = 0; i < k; i++) {
      if (!(data[i] instanceof Uint8Array)) throw new InvalidShardError(`data shard ${i} is ${describeValue(data[i])}: encode needs all k data shards as Uint8Arrays`)
      if (data[i].length !== size) throw sizeError(i, data[i].length, 0, size)
    }
    const parity = Array.from({ length: m }, () => new Uint8Array(size))
    if (m > 0) this.#kernel.apply(this.#parity, data, parity, size)
    return parity
  }

  reconstruct (shards: (Uint8Array | undefined)[]): Uint8Array[] {
    const { k, m } = this
    const n = k + m
    if (!Array.isArray(shards) || shards.length !== n) {
      throw new ShardCountError(`reconstruct takes exactly k + m = ${n} slots, got ${describeValue(shards)}: put shard i in slot i and undefined where one is missing`)
    }
    const present: number[] = []
    let size = -1
    let first = -1
    for (let i = 0; i < n; i++) {
      const s = shards[i]
      if (s === undefined || s === null) continue
      if (!(s instanceof Uint8Array)) throw new InvalidShardError(`slot ${i} holds ${describeValue(s)}: a slot holds a Uint8Array shard, or undefined when the shard is missing`)
      if (size === -1) {
        size = s.length
        first = i
      } else if (s.length !== size) {
        throw sizeError(i, s.length, first, size)
      }
      present.push(i)
    }
    if (present.length < k) {
      throw new TooFewShardsError(`only ${present.length} of ${n} shards present, ${k} needed: fetch at least ${k - present.length} more shards of this stripe`)
    }
    const out = shards.slice() as Uint8Array[]
    if (present.length === n) return out
    const missing: number[] = []
    for (let i = 0; i < n; i++) if (shards[i] === undefined || shards[i] === null) missing.push(i)
    const { rows, use } = this.#decodeMatrix(shards, missing)
    const filled = missing.map(() => new Uint8Array(size))
    this.#kernel.apply(rows, use.map(i => shards[i] as Uint8Array), filled, size)
    missing.forEach((index, j) => { out[index] = filled[j] })
    return out
  }

  /**
   * For a pattern of missing shards: which k present shards to read (the first
   * k present, so data shards when they are there), and the matrix that turns
   * them into the missing ones, one row per missing shard. Missing shard i
   * is G[i]·D where G is the generator and D the inverse of G's rows `use`.
   */
  #decodeMatrix (shards: (Uint8Array | undefined)[], missing: number[]): { rows: Uint8Array, use: number[] } {
    const { k } = this
    const key = missing.join(',')
    const cached = this.#decodeCache.get(key)
    if (cached !== undefined) {
      this.#decodeCache.delete(key) // re-inserted below: most recently used last
      this.#decodeCache.set(key, cached)
      return cached
    }
    const use: number[] = []
    for (let i = 0; use.length < k; i++) if (shards[i] !== undefined && shards[i] !== null) use.push(i)
    let rows: Uint8Array
    if (use[k - 1] === k - 1) {
      // every data shard is present: only parity is missing, and D is the identity
      rows = new Uint8Array(missing.length * k)
      missing.forEach((index, j) => { rows.set(generatorRow(k, this.#parity, index), j * k) })
    } else {
      const sub = new Uint8Array(k * k)
      use.forEach((index, j) => { sub.set(generatorRow(k, this.#parity, index), j * k) })
      const d = invert(sub, k)
      const g = new Uint8Array(missing.length * k)
      missing.forEach((index, j) => { g.set(generatorRow(k, this.#parity, index), j * k) })
      rows = multiply(g, d, missing.length, k, k)
    }
    const entry = { rows, use }
    this.#decodeCache.set(key, entry)
    if (this.#decodeCache.size > DECODE_CACHE_SIZE) this.#decodeCache.delete(this.#decodeCache.keys().next().value as string)
    return entry
  }
}

/** The length of data[at] when it is a Uint8Array (checked properly by the caller), else 0. */
function sizeOf (data: unknown[], at: number): number {
  const s = data[at]
  return s instanceof Uint8Array ? s.length : 0
}

function sizeError (index: number, length: number, firstIndex: number, size: number): ShardSizeError {
  return new ShardSizeError(`shard ${index} has ${length} bytes but shard ${firstIndex} has ${size}: every shard of one stripe must be the same size (make them with splitIntoShards)`)
}

/** A short, safe description of any value for an error message (never throws, whatever the value). */
export function describeValue (value: unknown): string {
  try {
    switch (typeof value) {
      case 'number':
      case 'bigint':
      case 'boolean':
        return String(value)
      case 'string':
        return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
      case 'undefined':
        return 'undefined'
      case 'object':
        if (value === null) return 'null'
        if (value instanceof Uint8Array) return `a Uint8Array of ${value.length} bytes`
        if (Array.isArray(value)) return `an array of ${value.length}`
        return `a ${Object.prototype.toString.call(value).slice(8, -1)}`
      default:
        return `a ${typeof value}`
    }
  } catch {
    return 'an unreadable value'
  }
}
