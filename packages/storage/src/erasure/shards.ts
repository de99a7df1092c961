// Cutting an object's bytes into the k data shards of one stripe, and
// putting them back together.

import { describeValue, MAX_SHARDS } from './codec.ts'
import { ErasureParamsError, InvalidShardError, JoinLengthError, ShardCountError, ShardSizeError } from './errors.ts'

/**
 * Cuts `bytes` into k shards of ceil(length / k) bytes, the last padded with
 * zeros. The shards are copies, each with its own buffer; keep `length` to join them.
 */
export function splitIntoShards (bytes: Uint8Array, k: number): { shards: Uint8Array[], shardSize: number } {
  if (!(bytes instanceof Uint8Array)) throw new InvalidShardError(`splitIntoShards takes the object's bytes as a Uint8Array, got ${describeValue(bytes)}`)
  checkK(k)
  const shardSize = Math.ceil(bytes.length / k)
  const shards: Uint8Array[] = []
  for (let i = 0; i < k; i++) {
    const shard = new Uint8Array(shardSize)
    shard.set(bytes.subarray(Math.min(i * shardSize, bytes.length), Math.min((i + 1) * shardSize, bytes.length)))
    shards.push(shard)
  }
  return { shards, shardSize }
}

/**
 * The first `length` bytes of the first k shards laid end to end: the
 * inverse of splitIntoShards. Takes k shards, or a whole reconstructed
 * stripe (the parity after the first k is not read).
 */
export function joinShards (shards: Uint8Array[], k: number, length: number): Uint8Array {
  checkK(k)
  if (!Array.isArray(shards) || shards.length < k) {
    throw new ShardCountError(`joinShards needs the k = ${k} data shards, got ${describeValue(shards)}: reconstruct the stripe first`)
  }
  const shardSize = shards[0] instanceof Uint8Array ? shards[0].length : 0
  for (let i = 0; i < k; i++) {
    if (!(shards[i] instanceof Uint8Array)) throw new InvalidShardError(`data shard ${i} is not a Uint8Array: reconstruct the stripe first, then join its first k shards`)
    if (shards[i].length !== shardSize) {
      throw new ShardSizeError(`shard ${i} has ${shards[i].length} bytes but shard 0 has ${shardSize}: every shard of one stripe must be the same size`)
    }
  }
  if (!Number.isInteger(length) || length < 0 || length > k * shardSize) {
    throw new JoinLengthError(`length ${describeValue(length)} does not fit ${k} shards of ${shardSize} bytes: pass the object's original byte length (0 to ${k * shardSize})`)
  }
  const out = new Uint8Array(length)
  for (let i = 0; i < k && i * shardSize < length; i++) {
    out.set(shards[i].subarray(0, Math.min(shardSize, length - i * shardSize)), i * shardSize)
  }
  return out
}

function checkK (k: number): void {
  if (!Number.isInteger(k) || k < 1 || k > MAX_SHARDS) {
    throw new ErasureParamsError(`k = ${describeValue(k)} is out of range: the number of data shards is an integer from 1 to ${MAX_SHARDS}`)
  }
}
