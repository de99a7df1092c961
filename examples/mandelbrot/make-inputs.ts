// Write the demo image's tile inputs as files, one task input each:
//   node examples/mandelbrot/make-inputs.ts DIR
// then `webfabric run examples/mandelbrot/assembly/index.ts --inputs DIR --out OUT`
// and `node examples/mandelbrot/make-png.ts DIR OUT mandelbrot.png`.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DEMO, tiles } from './index.ts'

const dir = process.argv[2]
if (dir == null) {
  console.error('usage: node examples/mandelbrot/make-inputs.ts DIR')
  process.exit(2)
}
await mkdir(dir, { recursive: true })
const inputs = tiles(DEMO.width, DEMO.height, DEMO.tileSize)
for (const [i, input] of inputs.entries()) await writeFile(join(dir, `tile-${String(i).padStart(3, '0')}`), input)
console.log(`wrote ${inputs.length} tile inputs (${DEMO.width}x${DEMO.height}) to ${dir}`)
