// The kernels of the metering benchmarks (bench/metering.ts, wall clock, and
// bench/metering-instructions.ts, callgrind instruction counts), so both
// measure the same modules on the same inputs.
//
// Two sets: bench/kernels/*.as (AssemblyScript, our own, self-contained;
// their size parameter is a little-endian u32 input), and the examples/ tasks
// compiled by the SDK (compileTask) with inputs built by their README's
// formats.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import asc from 'assemblyscript/asc'
import { concatBytes } from '../../packages/protocol/src/index.ts'
import { compileTask } from '../../packages/sdk/src/index.ts'

const bench = join(dirname(fileURLToPath(import.meta.url)), '..')

/** A benchmark kernel: its module (compiled on demand: compiling may fail, and the caller reports it) and its input. */
export interface Kernel {
  name: string
  /** the size parameter shown in the tables */
  param: number
  bytes: () => Promise<Uint8Array>
  input: Uint8Array
}

/**
 * Kernel name → its size parameter (chosen for roughly 50-300 ms per run on a 2-core VM; the matrix sizes so
 * that the commitment's hashing of input and output, O(n²), is not a large part of an O(n³) run).
 */
const OWN_KERNELS: Record<string, number> = {
  mandelbrot: 600,
  sha256: 200_000,
  matmul: 400,
  wordcount: 4000
}

async function compileOwn (name: string): Promise<Uint8Array> {
  const read = (f: string): string => readFileSync(join(bench, 'kernels', f), 'utf8')
  const { binary, stderr, error } = await asc.compileString({ 'input.ts': read(`${name}.as`), 'common.ts': read('common.as') }, {
    optimizeLevel: 3, shrinkLevel: 0, runtime: 'incremental', noAssert: true
  })
  if (error !== null || binary === null) throw new Error(`asc failed for ${name}: ${stderr.toString()}`)
  return binary
}

/** Little-endian bytes of the given u32, u64 and f64 values, in order. */
export function le (...parts: [('u32' | 'u64' | 'f64'), number][]): Uint8Array {
  const size = parts.reduce((n, [t]) => n + (t === 'u32' ? 4 : 8), 0)
  const b = new Uint8Array(size)
  const dv = new DataView(b.buffer)
  let at = 0
  for (const [t, v] of parts) {
    if (t === 'u32') { dv.setUint32(at, v, true); at += 4 } else if (t === 'u64') { dv.setBigUint64(at, BigInt(v), true); at += 8 } else { dv.setFloat64(at, v, true); at += 8 }
  }
  return b
}

const example = (path: string): (() => Promise<Uint8Array>) => () => compileTask(join(bench, '..', 'examples', path))
const MATMUL_N = 384
const matrix = (seed: number): Uint8Array => {
  const b = new Uint8Array(MATMUL_N * MATMUL_N * 8)
  const dv = new DataView(b.buffer)
  for (let i = 0; i < MATMUL_N * MATMUL_N; i++) dv.setFloat64(i * 8, ((i * seed) % 97) / 7, true)
  return b
}
const words = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'fabric', 'web']
const text = new TextEncoder().encode(Array.from({ length: 300_000 }, (_, i) => words[(i * 7919) % words.length] + (i % 13 === 0 ? 's' : '')).join(' '))
const prefix = new TextEncoder().encode('webfabric bench')

/** Every kernel, in the order the benchmarks run them: our own, then the examples (prefixed `ex:`). */
export const kernels: Kernel[] = [
  ...Object.entries(OWN_KERNELS).map(([name, param]) => ({ name, param, bytes: () => compileOwn(name), input: le(['u32', param]) })),
  { name: 'ex:mandelbrot', param: 400, bytes: example('mandelbrot/assembly/index.ts'), input: le(['u32', 400], ['u32', 400], ['u32', 0], ['u32', 0], ['u32', 400], ['u32', 400], ['u32', 1000], ['f64', -2], ['f64', -1.5], ['f64', 1], ['f64', 1.5]) },
  { name: 'ex:matmul', param: MATMUL_N, bytes: example('matmul/assembly/index.ts'), input: concatBytes(le(['u32', MATMUL_N], ['u32', MATMUL_N], ['u32', MATMUL_N]), matrix(31), matrix(17)) },
  { name: 'ex:sha256-pow', param: 100_000, bytes: example('sha256-pow/assembly/index.ts'), input: concatBytes(le(['u32', prefix.length]), prefix, le(['u32', 256], ['u64', 0], ['u64', 100_000])) },
  { name: 'ex:wordcount', param: text.length, bytes: example('wordcount/assembly/map.ts'), input: text }
]
