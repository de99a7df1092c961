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
  const c = new Uint8Array(n * m * 8) // zeroed: every sum starts at 0.0
  const cp = c.dataStart
  // i-p-j order: row i of C accumulates A[i][p] × row p of B. Per element the
  // additions still happen in p order, so the result equals the i-j-p loop's.
  for (let i = 0; i < n; i++) {
    const crow = cp + <usize>(i * m * 8)
    for (let p = 0; p < k; p++) {
      const aip = load<f64>(a + <usize>((i * k + p) * 8))
      const brow = b + <usize>(p * m * 8)
      for (let j = 0; j < m; j++) {
        const at = crow + <usize>(j * 8)
        store<f64>(at, load<f64>(at) + aip * load<f64>(brow + <usize>(j * 8)))
      }
    }
  }
  output(c)
}
