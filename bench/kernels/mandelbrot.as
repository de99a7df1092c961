// Mandelbrot: escape-time iteration over a size × size grid (f64 arithmetic, tight inner loop).
import { param, emitU32 } from './common'

export function run (): void {
  const size = param()
  const maxIter: u32 = 256
  let total: u32 = 0
  for (let py: u32 = 0; py < size; py++) {
    const ci = -1.5 + 3.0 * <f64>py / <f64>size
    for (let px: u32 = 0; px < size; px++) {
      const cr = -2.0 + 3.0 * <f64>px / <f64>size
      let zr = 0.0, zi = 0.0, zr2 = 0.0, zi2 = 0.0
      let n: u32 = 0
      while (n < maxIter && zr2 + zi2 <= 4.0) {
        zi = 2.0 * zr * zi + ci
        zr = zr2 - zi2 + cr
        zr2 = zr * zr
        zi2 = zi * zi
        n++
      }
      total += n
    }
  }
  emitU32(total)
}
