// Node-side helpers of the matmul example: encode a product as a task,
// split a big product into block tasks and reassemble, and the JS reference.
// Formats: README.md.
import { fileURLToPath } from 'node:url'
import { ByteReader, ByteWriter } from '@webfabric/sdk'

/** The task's source, for compileTask. */
export const TASK_SOURCE = fileURLToPath(new URL('./assembly/index.ts', import.meta.url))

/** A dense row-major f64 matrix. */
export interface Matrix { rows: number, cols: number, data: Float64Array }

/** A rows×cols matrix filled by f(i, j). */
export function matrix (rows: number, cols: number, f: (i: number, j: number) => number = () => 0): Matrix {
  const data = new Float64Array(rows * cols)
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[i * cols + j] = f(i, j)
  return { rows, cols, data }
}

/** Encodes A × B as the task input. */
export function encodeProduct (a: Matrix, b: Matrix): Uint8Array {
  if (a.cols !== b.rows) throw new RangeError(`cannot multiply ${a.rows}×${a.cols} by ${b.rows}×${b.cols}`)
  const w = new ByteWriter(12 + (a.data.length + b.data.length) * 8).u32(a.rows).u32(a.cols).u32(b.cols)
  for (const v of a.data) w.f64(v)
  for (const v of b.data) w.f64(v)
  return w.finish()
}

/** Decodes a task output (rows×cols f64, little-endian) into a matrix. */
export function decodeMatrix (bytes: Uint8Array, rows: number, cols: number): Matrix {
  if (bytes.length !== rows * cols * 8) throw new RangeError(`expected ${rows * cols * 8} bytes for ${rows}×${cols}, got ${bytes.length}`)
  const r = new ByteReader(bytes)
  const data = new Float64Array(rows * cols)
  for (let i = 0; i < data.length; i++) data[i] = r.f64()
  return { rows, cols, data }
}

/** The JS reference: the same summation order as the task, so products match bit for bit. */
export function multiply (a: Matrix, b: Matrix): Matrix {
  const c = matrix(a.rows, b.cols)
  for (let i = 0; i < a.rows; i++) {
    for (let p = 0; p < a.cols; p++) {
      const aip = a.data[i * a.cols + p]
      for (let j = 0; j < b.cols; j++) c.data[i * b.cols + j] += aip * b.data[p * b.cols + j]
    }
  }
  return c
}

/** The sub-matrix of rows [r0, r0+rows) and columns [c0, c0+cols). */
export function slice (m: Matrix, r0: number, c0: number, rows: number, cols: number): Matrix {
  return matrix(rows, cols, (i, j) => m.data[(r0 + i) * m.cols + c0 + j])
}

/** One block task of a decomposed product: C[row0.., col0..] = A[rows] × B[cols]. */
export interface BlockTask { row0: number, col0: number, rows: number, cols: number, input: Uint8Array }

/**
 * Splits A × B into tasks computing blockSize×blockSize blocks of C (edge
 * blocks are smaller). Each task gets the full inner dimension, so its
 * block equals the same block of the whole product bit for bit.
 */
export function blocks (a: Matrix, b: Matrix, blockSize: number): BlockTask[] {
  if (a.cols !== b.rows) throw new RangeError(`cannot multiply ${a.rows}×${a.cols} by ${b.rows}×${b.cols}`)
  const out: BlockTask[] = []
  for (let row0 = 0; row0 < a.rows; row0 += blockSize) {
    const rows = Math.min(blockSize, a.rows - row0)
    const aRows = slice(a, row0, 0, rows, a.cols)
    for (let col0 = 0; col0 < b.cols; col0 += blockSize) {
      const cols = Math.min(blockSize, b.cols - col0)
      out.push({ row0, col0, rows, cols, input: encodeProduct(aRows, slice(b, 0, col0, b.rows, cols)) })
    }
  }
  return out
}

/** Reassembles block outputs (paired with their tasks, any order) into the rows×cols product. */
export function assembleBlocks (rows: number, cols: number, parts: Array<{ task: BlockTask, output: Uint8Array }>): Matrix {
  const c = matrix(rows, cols)
  for (const { task, output } of parts) {
    const block = decodeMatrix(output, task.rows, task.cols)
    for (let i = 0; i < task.rows; i++) c.data.set(block.data.subarray(i * task.cols, (i + 1) * task.cols), (task.row0 + i) * cols + task.col0)
  }
  return c
}
