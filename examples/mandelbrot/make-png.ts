// Assemble the outputs of a `webfabric run` of the mandelbrot task into a PNG:
//   node examples/mandelbrot/make-png.ts INPUTS_DIR OUT_DIR mandelbrot.png
// (OUT_DIR holds summary.json and one <input>.out per accepted tile).
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { assemble } from './index.ts'

const [inputs, out, png] = process.argv.slice(2)
if (inputs == null || out == null || png == null) {
  console.error('usage: node examples/mandelbrot/make-png.ts INPUTS_DIR OUT_DIR FILE.png')
  process.exit(2)
}
const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as { tasks: Array<{ input: string, output?: string }> }
const parts = await Promise.all(summary.tasks.filter(t => t.output != null).map(async t => ({
  input: new Uint8Array(await readFile(join(inputs, t.input))),
  output: new Uint8Array(await readFile(join(out, t.output!)))
})))
await writeFile(png, assemble(parts))
console.log(`wrote ${png} from ${parts.length} tiles`)
