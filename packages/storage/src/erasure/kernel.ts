// The two backends of the codec's one heavy operation, a GF(2^8) matrix
// applied to shards: outputs[r] = XOR over c of coefficients[r·k + c] · inputs[c],
// byte by byte. Both give the same bytes; the wasm one is ~9-14x faster
// (bench/erasure.ts).
//
// - wasm-simd: the split-nibble kernel in kernel-wasm.ts (see assembly/kernel.ts),
//   run over chunks of the shards copied into its memory (one instance per
//   realm, shared by all codecs). The module is under 1 KiB, so it compiles
//   synchronously, on a browser's main thread too.
// - js: byte-by-byte lookups in the 64 KiB multiplication table, for runtimes
//   without WebAssembly SIMD (or where a CSP forbids WebAssembly).

import { MUL, NIBBLES } from './gf.ts'
import { KERNEL_WASM_BASE64 } from './kernel-wasm.ts'

/** Which implementation runs a codec's arithmetic. */
export type ErasureBackend = 'wasm-simd' | 'js'

/** Applies a rows×k coefficient matrix to k input shards, overwriting rows output shards of `size` bytes. */
export interface MatrixKernel {
  readonly backend: ErasureBackend
  apply (coefficients: Uint8Array, inputs: Uint8Array[], outputs: Uint8Array[], size: number): void
}

/** The JavaScript kernel: no setup, any k and row count. */
export const jsKernel: MatrixKernel = {
  backend: 'js',
  apply (coefficients, inputs, outputs, size) {
    const k = inputs.length
    for (let r = 0; r < outputs.length; r++) {
      const out = outputs[r]
      let written = false
      for (let c = 0; c < k; c++) {
        const f = coefficients[r * k + c]
        if (f === 0) continue
        const input = inputs[c]
        const t = f << 8
        if (!written) {
          if (f === 1) out.set(input.subarray(0, size))
          else for (let i = 0; i < size; i++) out[i] = MUL[t | input[i]]
          written = true
        } else if (f === 1) {
          for (let i = 0; i < size; i++) out[i] ^= input[i]
        } else {
          for (let i = 0; i < size; i++) out[i] ^= MUL[t | input[i]]
        }
      }
      if (!written) out.fill(0, 0, size)
    }
  }
}

let wasmModule: WebAssembly.Module | null | undefined

/** The compiled kernel module, or null when this runtime cannot compile it (no WebAssembly, no SIMD, or a CSP that forbids it). */
function kernelModule (): WebAssembly.Module | null {
  if (wasmModule !== undefined) return wasmModule
  try {
    const text = atob(KERNEL_WASM_BASE64)
    const bytes = new Uint8Array(text.length)
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i)
    wasmModule = new WebAssembly.Module(bytes)
  } catch {
    wasmModule = null
  }
  return wasmModule
}

/** Whether this runtime can run the WebAssembly SIMD kernel. */
export function wasmSimdAvailable (): boolean {
  return getEngine() !== null
}

/** Bytes of shard data the wasm kernel works on at a time, over all k + rows shards: small enough to stay in L2. */
const WORKING_SET = 256 * 1024
const MIN_CHUNK = 1024
const MAX_CHUNK = 32 * 1024
const PAGE = 65536

/** The largest power of two ≤ WORKING_SET / shards, within [MIN_CHUNK, MAX_CHUNK]. */
function chunkFor (shards: number): number {
  let chunk = MAX_CHUNK
  while (chunk > MIN_CHUNK && chunk * shards > WORKING_SET) chunk >>= 1
  return chunk
}

type MulRows = (tables: number, k: number, rows: number, inputs: number, outputs: number, len: number) => void

/** The one instance of the kernel in this realm, shared by every codec (calls are synchronous, so never interleave). */
interface Engine { memory: WebAssembly.Memory, mulRows: MulRows, heap: Uint8Array }
let engine: Engine | null | undefined
let shared: MatrixKernel | null | undefined

function getEngine (): Engine | null {
  if (engine !== undefined) return engine
  engine = null
  const module = kernelModule()
  if (module === null) return engine
  try {
    const memory = new WebAssembly.Memory({ initial: Math.ceil((WORKING_SET + 64 * 1024) / PAGE) })
    const instance = new WebAssembly.Instance(module, { env: { memory } })
    engine = { memory, mulRows: instance.exports.mulRows as MulRows, heap: new Uint8Array(memory.buffer) }
  } catch {
    engine = null
  }
  return engine
}

/** Grows the engine's memory to at least `bytes` (at most ~2.3 MiB: 255 × 255 tables and a 256 KiB working set). */
function reserve (e: Engine, bytes: number): void {
  if (e.heap.length >= bytes) return
  e.memory.grow(Math.ceil((bytes - e.heap.length) / PAGE))
  e.heap = new Uint8Array(e.memory.buffer)
}

/**
 * The wasm-simd kernel, or undefined when this runtime has no WebAssembly
 * SIMD. Each call lays out the shared memory as: the rows × k nibble tables,
 * then a chunk of each input, then a chunk of each output.
 */
export function wasmKernel (): MatrixKernel | undefined {
  if (shared !== undefined) return shared ?? undefined
  const e = getEngine()
  shared = e === null ? null : {
    backend: 'wasm-simd',
    apply (coefficients, inputs, outputs, size) {
      const k = inputs.length
      const rows = outputs.length
      const chunk = chunkFor(k + rows)
      const inputsAt = rows * k * 32
      const outputsAt = inputsAt + k * chunk
      reserve(e, outputsAt + rows * chunk)
      const heap = e.heap
      for (let i = 0; i < rows * k; i++) heap.set(NIBBLES.subarray(coefficients[i] * 32, coefficients[i] * 32 + 32), i * 32)
      for (let at = 0; at < size; at += chunk) {
        const n = Math.min(chunk, size - at)
        const len = (n + 15) & ~15
        for (let c = 0; c < k; c++) heap.set(inputs[c].subarray(at, at + n), inputsAt + c * len)
        e.mulRows(0, k, rows, inputsAt, outputsAt, len)
        for (let r = 0; r < rows; r++) outputs[r].set(heap.subarray(outputsAt + r * len, outputsAt + r * len + n), at)
      }
    }
  }
  return shared ?? undefined
}
