// The erasure codec's inner loop, AssemblyScript compiled to WebAssembly with
// SIMD (build.ts beside this file turns it into ../kernel-wasm.ts).
//
// mulRows computes, for r in 0..rows-1 and every byte position p < len,
//   out[r][p] = XOR over c in 0..k-1 of coef[r][c] · in[c][p]   in GF(2^8)
// with the split-nibble method: a product c·x is c·(x & 15) XOR c·(x & 0xf0),
// and each half is a lookup in a 16-entry table, which i8x16.swizzle does for
// 16 bytes at once. The tables come precomputed from JavaScript.
//
// Memory layout (the caller's, in the imported memory):
//   tables:  rows × k entries of 32 bytes, row-major: 16 products of the low
//            nibble, then 16 of the high nibble, for coefficient coef[r][c]
//   inputs:  k shards of len bytes, one after the other
//   outputs: rows shards of len bytes, one after the other
// len is a multiple of 16 (the caller pads its chunk; bytes past the real
// end are garbage in, garbage out, and never copied back).

const LOW_NIBBLE: v128 = i8x16.splat(0x0f)

// @ts-ignore: decorator
@inline function product (table: usize, low: v128, high: v128): v128 {
  return v128.xor(i8x16.swizzle(v128.load(table), low), i8x16.swizzle(v128.load(table, 16), high))
}

// Four output rows at once: each input vector is loaded and split once and
// feeds four accumulators that stay in registers.
function rows4 (tables: usize, k: usize, inputs: usize, out: usize, len: usize): void {
  const rowTables = k << 5
  for (let p: usize = 0; p < len; p += 16) {
    let a0 = i64x2.splat(0)
    let a1 = a0
    let a2 = a0
    let a3 = a0
    let input = inputs + p
    let t = tables
    const end = tables + rowTables
    while (t < end) {
      const v = v128.load(input)
      const low = v128.and(v, LOW_NIBBLE)
      const high = i8x16.shr_u(v, 4)
      a0 = v128.xor(a0, product(t, low, high))
      a1 = v128.xor(a1, product(t + rowTables, low, high))
      a2 = v128.xor(a2, product(t + 2 * rowTables, low, high))
      a3 = v128.xor(a3, product(t + 3 * rowTables, low, high))
      input += len
      t += 32
    }
    v128.store(out + p, a0)
    v128.store(out + len + p, a1)
    v128.store(out + 2 * len + p, a2)
    v128.store(out + 3 * len + p, a3)
  }
}

function rows2 (tables: usize, k: usize, inputs: usize, out: usize, len: usize): void {
  const rowTables = k << 5
  for (let p: usize = 0; p < len; p += 16) {
    let a0 = i64x2.splat(0)
    let a1 = a0
    let input = inputs + p
    let t = tables
    const end = tables + rowTables
    while (t < end) {
      const v = v128.load(input)
      const low = v128.and(v, LOW_NIBBLE)
      const high = i8x16.shr_u(v, 4)
      a0 = v128.xor(a0, product(t, low, high))
      a1 = v128.xor(a1, product(t + rowTables, low, high))
      input += len
      t += 32
    }
    v128.store(out + p, a0)
    v128.store(out + len + p, a1)
  }
}

function rows1 (tables: usize, k: usize, inputs: usize, out: usize, len: usize): void {
  const rowTables = k << 5
  for (let p: usize = 0; p < len; p += 16) {
    let a0 = i64x2.splat(0)
    let input = inputs + p
    let t = tables
    const end = tables + rowTables
    while (t < end) {
      const v = v128.load(input)
      a0 = v128.xor(a0, product(t, v128.and(v, LOW_NIBBLE), i8x16.shr_u(v, 4)))
      input += len
      t += 32
    }
    v128.store(out + p, a0)
  }
}

/** out[r] = Σ coef[r][c] · in[c] for r < rows, over len bytes (a multiple of 16); see the layout above. */
export function mulRows (tables: usize, k: usize, rows: usize, inputs: usize, outputs: usize, len: usize): void {
  const rowTables = k << 5
  let r: usize = 0
  while (r + 4 <= rows) {
    rows4(tables + r * rowTables, k, inputs, outputs + r * len, len)
    r += 4
  }
  if (r + 2 <= rows) {
    rows2(tables + r * rowTables, k, inputs, outputs + r * len, len)
    r += 2
  }
  if (r < rows) rows1(tables + r * rowTables, k, inputs, outputs + r * len, len)
}
