// Dense f64 matrix product C = A × B. Input and output formats: ../README.md.
// Each C[i][j] is summed over p = 0, 1, …, k-1 in that order starting from
// 0.0 (no FMA, no reordering), so results match any replica and the JS
// reference bit for bit.
import { input, output, Reader } from '@webfabric/sdk/assembly'

export function run (): void {
  const r = new Reader(input())
  const n = <i32>r.u32()
  const k = <i32>r.u32()
  const m = <i32>r.u32()
  if (r.remaining != (n * k + k * m) * 8) abort('matmul: input length does not match n×k + k×m f64 values')
  const a = r.bytesN(n * k * 8).dataStart
  const b = r.bytesN(k * m * 8).dataStart
  const c = new Uint8Array(n * m * 8)
  const cp = c.dataStart
  const bstride = <usize>(m * 8)
  // Four elements of a row of C at a time, each summed in a local of its own
  // over p in order: the four sums are independent (the CPU overlaps their
  // additions), A[i][p] is loaded once for four products, B is read four
  // neighbours at a time, and C is stored once per element — a float stored
  // to memory pays the VM's NaN check (../../../packages/compute/README.md),
  // a local does not.
  for (let i = 0; i < n; i++) {
    const arow = a + <usize>(i * k * 8)
    const crow = cp + <usize>(i * m * 8)
    let j = 0
    for (; j + 4 <= m; j += 4) {
      let s0 = 0.0
      let s1 = 0.0
      let s2 = 0.0
      let s3 = 0.0
      let bp = b + <usize>(j * 8)
      for (let p = 0; p < k; p++) {
        const aip = load<f64>(arow + <usize>(p * 8))
        s0 += aip * load<f64>(bp)
        s1 += aip * load<f64>(bp, 8)
        s2 += aip * load<f64>(bp, 16)
        s3 += aip * load<f64>(bp, 24)
        bp += bstride
      }
      const at = crow + <usize>(j * 8)
      store<f64>(at, s0)
      store<f64>(at, s1, 8)
      store<f64>(at, s2, 16)
      store<f64>(at, s3, 24)
    }
    for (; j < m; j++) {
      let s = 0.0
      let bp = b + <usize>(j * 8)
      for (let p = 0; p < k; p++) {
        s += load<f64>(arow + <usize>(p * 8)) * load<f64>(bp)
        bp += bstride
      }
      store<f64>(crow + <usize>(j * 8), s)
    }
  }
  output(c)
}
