// The code's generator matrix and the linear algebra reconstruction needs.
// Matrices are row-major Uint8Arrays over GF(2^8).
//
// The generator of a (k, m) code is the k×k identity (data shards pass
// through unchanged: the code is systematic) over an m×k Cauchy matrix
// C[i][j] = 1 / (x_i + y_j) with x_i = k + i and y_j = j (addition is XOR).
// The x's and y's are distinct field elements, so every square submatrix of
// C is invertible, and hence any k rows of the generator are: any k shards
// of the k + m reconstruct the data. Distinct x's and y's exist for
// k + m ≤ 256. This matrix is part of the stored format: shards encoded
// today must decode with every later version, so it never changes.

import { gfInv, MUL } from './gf.ts'

/** The m×k parity part of the generator: row i, column j holds 1 / ((k + i) XOR j). */
export function parityMatrix (k: number, m: number): Uint8Array {
  const out = new Uint8Array(m * k)
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < k; j++) out[i * k + j] = gfInv((k + i) ^ j)
  }
  return out
}

/** Row `index` (0 ≤ index < k + m) of the (k + m)×k generator, given its parity part. */
export function generatorRow (k: number, parity: Uint8Array, index: number): Uint8Array {
  if (index >= k) return parity.slice((index - k) * k, (index - k + 1) * k)
  const row = new Uint8Array(k)
  row[index] = 1
  return row
}

/** The inverse of the n×n matrix `a` (Gauss-Jordan); throws if singular, which a generator's k rows never are. */
export function invert (a: Uint8Array, n: number): Uint8Array {
  const w = a.slice()
  const inv = new Uint8Array(n * n)
  for (let i = 0; i < n; i++) inv[i * n + i] = 1
  for (let col = 0; col < n; col++) {
    let pivot = col
    while (pivot < n && w[pivot * n + col] === 0) pivot++
    if (pivot === n) throw new Error('erasure: singular matrix (a bug: any k rows of the generator are invertible)')
    if (pivot !== col) {
      swapRows(w, n, pivot, col)
      swapRows(inv, n, pivot, col)
    }
    const scale = gfInv(w[col * n + col]) << 8
    for (let j = 0; j < n; j++) {
      w[col * n + j] = MUL[scale | w[col * n + j]]
      inv[col * n + j] = MUL[scale | inv[col * n + j]]
    }
    for (let r = 0; r < n; r++) {
      const f = w[r * n + col]
      if (r === col || f === 0) continue
      const t = f << 8
      for (let j = 0; j < n; j++) {
        w[r * n + j] ^= MUL[t | w[col * n + j]]
        inv[r * n + j] ^= MUL[t | inv[col * n + j]]
      }
    }
  }
  return inv
}

/** The product of a (rows×inner) and b (inner×cols). */
export function multiply (a: Uint8Array, b: Uint8Array, rows: number, inner: number, cols: number): Uint8Array {
  const out = new Uint8Array(rows * cols)
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < inner; i++) {
      const f = a[r * inner + i]
      if (f === 0) continue
      const t = f << 8
      for (let c = 0; c < cols; c++) out[r * cols + c] ^= MUL[t | b[i * cols + c]]
    }
  }
  return out
}

function swapRows (a: Uint8Array, n: number, x: number, y: number): void {
  for (let j = 0; j < n; j++) {
    const t = a[x * n + j]
    a[x * n + j] = a[y * n + j]
    a[y * n + j] = t
  }
}
