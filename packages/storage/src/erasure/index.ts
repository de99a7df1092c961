// Reed-Solomon erasure coding for the CAS store: a stripe of k data shards
// plus m parity shards survives the loss of any m. Browser-safe (no node:
// imports); WebAssembly SIMD where the runtime has it, JavaScript elsewhere.
// See README.md beside this file.

export { createErasureCodec, MAX_SHARDS } from './codec.ts'
export type { ErasureCodec, ErasureCodecInit } from './codec.ts'
export {
  ErasureBackendError,
  ErasureParamsError,
  InvalidShardError,
  JoinLengthError,
  ShardCountError,
  ShardSizeError,
  TooFewShardsError
} from './errors.ts'
export { wasmSimdAvailable } from './kernel.ts'
export type { ErasureBackend } from './kernel.ts'
export { joinShards, splitIntoShards } from './shards.ts'
