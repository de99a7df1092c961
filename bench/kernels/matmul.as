// Dense f64 matrix multiply, n × n, naive i-k-j loop order.
import { param, emitU32 } from './common'

export function run (): void {
  const n = <i32>param()
  const a = new StaticArray<f64>(n * n)
  const b = new StaticArray<f64>(n * n)
  const c = new StaticArray<f64>(n * n)
  for (let i = 0; i < n * n; i++) {
    unchecked(a[i] = <f64>(i % 7) * 0.5)
    unchecked(b[i] = <f64>(i % 5) * 0.25)
  }
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = unchecked(a[i * n + k])
      for (let j = 0; j < n; j++) unchecked(c[i * n + j] += aik * unchecked(b[k * n + j]))
    }
  }
  let s = 0.0
  for (let i = 0; i < n * n; i++) s += unchecked(c[i])
  emitU32(<u32>(<u64>s & 0xffffffff))
}
