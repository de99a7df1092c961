// Mandelbrot tile: renders one rectangle of a larger image.
// Input and output formats: see ../README.md.
import { input, output, Reader } from '@webfabric/sdk/assembly'

export function run (): void {
  const r = new Reader(input())
  const width = r.u32()
  const height = r.u32()
  const tileX = r.u32()
  const tileY = r.u32()
  const tileW = r.u32()
  const tileH = r.u32()
  const maxIter = r.u32()
  const x0 = r.f64()
  const y0 = r.f64()
  const x1 = r.f64()
  const y1 = r.f64()
  if (width == 0 || height == 0 || maxIter == 0) abort('mandelbrot: width, height and maxIter must be > 0')

  const dx = (x1 - x0) / <f64>width
  const dy = (y1 - y0) / <f64>height
  const pixels = new Uint8Array(<i32>(tileW * tileH))
  const maxF = <f64>maxIter
  let i = 0
  for (let py: u32 = 0; py < tileH; py++) {
    const ci = y0 + (<f64>(tileY + py) + 0.5) * dy
    for (let px: u32 = 0; px < tileW; px++) {
      const cr = x0 + (<f64>(tileX + px) + 0.5) * dx
      let zr = 0.0
      let zi = 0.0
      let zr2 = 0.0
      let zi2 = 0.0
      let n: u32 = 0
      while (n < maxIter && zr2 + zi2 <= 4.0) {
        zi = 2.0 * zr * zi + ci
        zr = zr2 - zi2 + cr
        zr2 = zr * zr
        zi2 = zi * zi
        n++
      }
      // 0 = inside the set; escaped points get 1..255, denser near the boundary.
      // sqrt is correctly rounded in wasm and JS alike, so replicas agree.
      let v: u8 = 0
      if (n < maxIter) v = <u8>(1 + <u32>(254.0 * Math.sqrt(<f64>n / maxF)))
      unchecked(pixels[i++] = v)
    }
  }
  output(pixels)
}
