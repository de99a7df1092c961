// Node-side helpers of the sha256-pow example: build search inputs, split a
// nonce space into tasks, decode and verify results. Formats: README.md.
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { ByteReader, ByteWriter } from '@webfabric/sdk'

/** The proof-of-work task's source, for compileTask. */
export const TASK_SOURCE = fileURLToPath(new URL('./assembly/index.ts', import.meta.url))
/** A task whose output is sha256(input): checks the AS SHA-256 against known vectors. */
export const HASH_TASK_SOURCE = fileURLToPath(new URL('./assembly/hash.ts', import.meta.url))

/** One search: nonces start, start+1, …, start+count-1. */
export interface PowSearch { prefix: Uint8Array, difficulty: number, start: bigint, count: bigint }

/** What a search found: the first qualifying nonce and its digest, or that none of `tried` qualified. */
export type PowResult = { found: true, nonce: bigint, digest: Uint8Array } | { found: false, tried: bigint }

/** Encodes a search as the task input. */
export function encodeSearch (s: PowSearch): Uint8Array {
  return new ByteWriter().lenBytes(s.prefix).u32(s.difficulty).u64(s.start).u64(s.count).finish()
}

/** Splits nonces [0, total) into `tasks` contiguous searches (task inputs). */
export function searches (prefix: Uint8Array, difficulty: number, total: bigint, tasks: number): Uint8Array[] {
  const per = (total + BigInt(tasks) - 1n) / BigInt(tasks)
  const out: Uint8Array[] = []
  for (let start = 0n; start < total; start += per) {
    out.push(encodeSearch({ prefix, difficulty, start, count: start + per > total ? total - start : per }))
  }
  return out
}

/** Decodes a task output. */
export function decodeResult (bytes: Uint8Array): PowResult {
  const r = new ByteReader(bytes)
  if (r.u8() === 1) return { found: true, nonce: r.u64(), digest: r.bytesN(32).slice() }
  return { found: false, tried: r.u64() }
}

/** The bytes hashed for a nonce: prefix || nonce as u64 little-endian. */
export function message (prefix: Uint8Array, nonce: bigint): Uint8Array {
  return new ByteWriter().bytes(prefix).u64(nonce).finish()
}

/** Leading zero bits of a digest. */
export function leadingZeroBits (digest: Uint8Array): number {
  let n = 0
  for (const b of digest) {
    if (b === 0) { n += 8; continue }
    return n + Math.clz32(b) - 24
  }
  return n
}

/** Whether `nonce` meets `difficulty` for `prefix` (node:crypto's SHA-256: anyone can check a claimed result cheaply). */
export function verify (prefix: Uint8Array, difficulty: number, nonce: bigint): boolean {
  return leadingZeroBits(createHash('sha256').update(message(prefix, nonce)).digest()) >= difficulty
}

/** The JS reference of the task (node:crypto's SHA-256). */
export function searchReference (s: PowSearch): PowResult {
  for (let i = 0n; i < s.count; i++) {
    const nonce = s.start + i
    const digest = new Uint8Array(createHash('sha256').update(message(s.prefix, nonce)).digest())
    if (leadingZeroBits(digest) >= s.difficulty) return { found: true, nonce, digest }
  }
  return { found: false, tried: s.count }
}
