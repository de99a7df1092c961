// One error class per refusal of the erasure codec. Callers match on `name`
// (never `instanceof`, which breaks across bundles and realms); each default
// message says what was wrong and what to do. Bad input is always refused
// with one of these, never a crash or a wrong answer.

/** k or m out of range: 1 ≤ k, 0 ≤ m, k + m ≤ 256, both integers. */
export class ErasureParamsError extends Error {
  static name = 'ErasureParamsError'
  constructor (message = 'erasure parameters out of range: use integers with 1 ≤ k, 0 ≤ m and k + m ≤ 256', options?: ErrorOptions) {
    super(message, options)
    this.name = 'ErasureParamsError'
  }
}

/** The wrong number of shards or slots: encode takes k data shards, reconstruct k + m slots. */
export class ShardCountError extends Error {
  static name = 'ShardCountError'
  constructor (message = 'wrong number of shards: encode takes exactly k data shards and reconstruct exactly k + m slots (undefined for a missing shard)', options?: ErrorOptions) {
    super(message, options)
    this.name = 'ShardCountError'
  }
}

/** A slot holding something other than a Uint8Array (or, for encode, a missing data shard). */
export class InvalidShardError extends Error {
  static name = 'InvalidShardError'
  constructor (message = 'a shard is not a Uint8Array: pass Uint8Array shards, and undefined only for a missing shard in reconstruct', options?: ErrorOptions) {
    super(message, options)
    this.name = 'InvalidShardError'
  }
}

/** Shards of one stripe that differ in length. */
export class ShardSizeError extends Error {
  static name = 'ShardSizeError'
  constructor (message = 'shards differ in length: every shard of one stripe must be the same size (make them with splitIntoShards)', options?: ErrorOptions) {
    super(message, options)
    this.name = 'ShardSizeError'
  }
}

/** Fewer than k shards present: the stripe cannot be reconstructed from what is left. */
export class TooFewShardsError extends Error {
  static name = 'TooFewShardsError'
  constructor (message = 'too few shards to reconstruct: any k of the k + m are needed; fetch more shards of this stripe', options?: ErrorOptions) {
    super(message, options)
    this.name = 'TooFewShardsError'
  }
}

/** joinShards asked for a length that the shards cannot hold (or that is not a whole number). */
export class JoinLengthError extends Error {
  static name = 'JoinLengthError'
  constructor (message = 'length out of range: joinShards takes the original byte length, an integer from 0 to k × shardSize', options?: ErrorOptions) {
    super(message, options)
    this.name = 'JoinLengthError'
  }
}

/** The WebAssembly SIMD backend was asked for by name but this runtime cannot run it. */
export class ErasureBackendError extends Error {
  static name = 'ErasureBackendError'
  constructor (message = 'WebAssembly SIMD is not available here: use backend \'auto\' (falls back to JavaScript) or \'js\'', options?: ErrorOptions) {
    super(message, options)
    this.name = 'ErasureBackendError'
  }
}
