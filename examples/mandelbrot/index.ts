// Node-side helpers of the mandelbrot example: split an image into tile
// inputs, render a tile in JS (the reference), and assemble tile outputs
// into a PNG. Formats: README.md.
import { crc32, deflateSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { ByteReader, ByteWriter } from '@webfabric/sdk'

/** The task's source, for compileTask. */
export const TASK_SOURCE = fileURLToPath(new URL('./assembly/index.ts', import.meta.url))

/** The complex-plane rectangle mapped onto the image: left, top, right, bottom. */
export interface View { x0: number, y0: number, x1: number, y1: number }

/** One tile's parameters (the task input, decoded). */
export interface TileSpec {
  width: number, height: number
  tileX: number, tileY: number, tileW: number, tileH: number
  maxIter: number
  view: View
}

/** Options of tiles(). */
export interface TilesInit { maxIter?: number, view?: View }

/** Seahorse valley, 4:3: the demo's default view (tiles cost ~1–250 ms each, most ~50 ms). */
export const DEFAULT_VIEW: View = centered(-0.7475, 0.105, 0.05, 4 / 3)
/** Iteration cap of the default view. */
export const DEFAULT_MAX_ITER = 1000
/** The demo image: 1024x768 in 64 tiles of 128x96. */
export const DEMO = { width: 1024, height: 768, tileSize: [128, 96] as [number, number] }

/** A view of the given width centred on (cx, cy) with the image's aspect ratio. */
export function centered (cx: number, cy: number, viewWidth: number, aspect: number): View {
  const h = viewWidth / aspect
  return { x0: cx - viewWidth / 2, y0: cy - h / 2, x1: cx + viewWidth / 2, y1: cy + h / 2 }
}

/** Encodes a tile spec as the task input. */
export function encodeTile (t: TileSpec): Uint8Array {
  return new ByteWriter()
    .u32(t.width).u32(t.height).u32(t.tileX).u32(t.tileY).u32(t.tileW).u32(t.tileH).u32(t.maxIter)
    .f64(t.view.x0).f64(t.view.y0).f64(t.view.x1).f64(t.view.y1)
    .finish()
}

/** Decodes a task input back into its tile spec. */
export function decodeTile (bytes: Uint8Array): TileSpec {
  const r = new ByteReader(bytes)
  const [width, height, tileX, tileY, tileW, tileH, maxIter] = [r.u32(), r.u32(), r.u32(), r.u32(), r.u32(), r.u32(), r.u32()]
  return { width, height, tileX, tileY, tileW, tileH, maxIter, view: { x0: r.f64(), y0: r.f64(), x1: r.f64(), y1: r.f64() } }
}

/**
 * Splits a width×height image into tiles of tileSize (a square side or
 * [w, h]; edge tiles are cut to fit), row by row, returning one task input per tile.
 */
export function tiles (width: number, height: number, tileSize: number | [number, number], init: TilesInit = {}): Uint8Array[] {
  const [tw, th] = typeof tileSize === 'number' ? [tileSize, tileSize] : tileSize
  const view = init.view ?? DEFAULT_VIEW
  const maxIter = init.maxIter ?? DEFAULT_MAX_ITER
  const out: Uint8Array[] = []
  for (let y = 0; y < height; y += th) {
    for (let x = 0; x < width; x += tw) {
      out.push(encodeTile({ width, height, tileX: x, tileY: y, tileW: Math.min(tw, width - x), tileH: Math.min(th, height - y), maxIter, view }))
    }
  }
  return out
}

/** The JS reference of the task: the same arithmetic in the same order, so pixels match byte for byte. */
export function renderTile (input: Uint8Array): Uint8Array {
  const t = decodeTile(input)
  const { x0, y0, x1, y1 } = t.view
  const dx = (x1 - x0) / t.width
  const dy = (y1 - y0) / t.height
  const pixels = new Uint8Array(t.tileW * t.tileH)
  let i = 0
  for (let py = 0; py < t.tileH; py++) {
    const ci = y0 + (t.tileY + py + 0.5) * dy
    for (let px = 0; px < t.tileW; px++) {
      const cr = x0 + (t.tileX + px + 0.5) * dx
      let zr = 0
      let zi = 0
      let zr2 = 0
      let zi2 = 0
      let n = 0
      while (n < t.maxIter && zr2 + zi2 <= 4) {
        zi = 2 * zr * zi + ci
        zr = zr2 - zi2 + cr
        zr2 = zr * zr
        zi2 = zi * zi
        n++
      }
      pixels[i++] = n < t.maxIter ? 1 + Math.trunc(254 * Math.sqrt(n / t.maxIter)) : 0
    }
  }
  return pixels
}

/** 256 RGB colours: black for the set, then a dark-blue → white → gold → dark ramp over the escape values. */
export function palette (): Uint8Array {
  const stops: Array<[number, [number, number, number]]> = [
    [0, [0, 7, 100]], [0.16, [32, 107, 203]], [0.42, [237, 255, 255]], [0.6425, [255, 170, 0]], [0.8575, [0, 2, 0]], [1, [0, 7, 100]]
  ]
  const p = new Uint8Array(256 * 3)
  for (let v = 1; v < 256; v++) {
    const t = ((v - 1) / 254 * 3) % 1 // three passes through the ramp
    let s = 0
    while (s < stops.length - 2 && t > stops[s + 1][0]) s++
    const [ta, ca] = stops[s]
    const [tb, cb] = stops[s + 1]
    const f = (t - ta) / (tb - ta)
    for (let c = 0; c < 3; c++) p[v * 3 + c] = Math.round(ca[c] + (cb[c] - ca[c]) * f)
  }
  return p
}

/**
 * Assembles tile outputs (in any order, each paired with its input) into an
 * RGB PNG of the full image.
 */
export function assemble (parts: Array<{ input: Uint8Array, output: Uint8Array }>): Uint8Array {
  if (parts.length === 0) throw new RangeError('assemble needs at least one tile')
  const first = decodeTile(parts[0].input)
  const { width, height } = first
  const index = new Uint8Array(width * height)
  for (const { input, output } of parts) {
    const t = decodeTile(input)
    if (output.length !== t.tileW * t.tileH) throw new RangeError(`tile at ${t.tileX},${t.tileY} has ${output.length} pixels, expected ${t.tileW * t.tileH}`)
    for (let y = 0; y < t.tileH; y++) index.set(output.subarray(y * t.tileW, (y + 1) * t.tileW), (t.tileY + y) * width + t.tileX)
  }
  const pal = palette()
  const rgb = new Uint8Array(width * height * 3)
  for (let i = 0; i < index.length; i++) rgb.set(pal.subarray(index[i] * 3, index[i] * 3 + 3), i * 3)
  return encodePng(width, height, rgb)
}

/**
 * A minimal PNG encoder (8-bit RGB, filter 0, one IDAT) on node:zlib: no
 * dependency for ~30 lines, and the bytes are deterministic for given pixels.
 */
export function encodePng (width: number, height: number, rgb: Uint8Array): Uint8Array {
  const raw = new Uint8Array((width * 3 + 1) * height)
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1)
  const ihdr = new ByteWriter().bytes(be32(width)).bytes(be32(height)).u8(8).u8(2).u8(0).u8(0).u8(0).finish()
  const chunks = [chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]
  const png = new ByteWriter().bytes(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  for (const c of chunks) png.bytes(c)
  return png.finish()
}

function be32 (v: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, v)
  return b
}

function chunk (type: string, data: Uint8Array): Uint8Array {
  const typed = new Uint8Array(4 + data.length)
  typed.set(new TextEncoder().encode(type))
  typed.set(data, 4)
  return new ByteWriter().bytes(be32(data.length)).bytes(typed).bytes(be32(crc32(typed))).finish()
}
