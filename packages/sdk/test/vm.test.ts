// The examples under the real WebDeterministicVM (packages/compute/src/vm):
// the modules compileTask produces load under the task profile (no refused
// import, feature or start function), run to 'ok' with fuel metering, match
// the JS references, and replicas agree on the commitment.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { execute, loadModule } from '../../compute/src/vm/index.ts'
import { compileTask } from '../src/index.ts'
import * as mandelbrot from '../../../examples/mandelbrot/index.ts'
import * as matmul from '../../../examples/matmul/index.ts'
import * as pow from '../../../examples/sha256-pow/index.ts'
import * as wordcount from '../../../examples/wordcount/index.ts'

const FUEL = 5_000_000_000

async function runInVm (source: string, input: Uint8Array) {
  const mod = await loadModule(await compileTask(source), { profile: 'task' })
  const ex = await execute(mod, { input, fuelLimit: FUEL })
  assert.equal(ex.status, 'ok', ex.message)
  return ex
}

describe('examples under the VM', () => {
  it('mandelbrot: a tile equals the reference, and two runs commit to the same result', async () => {
    const input = mandelbrot.tiles(64, 48, 32, { maxIter: 200 })[1]
    const a = await runInVm(mandelbrot.TASK_SOURCE, input)
    assert.deepEqual(a.output, mandelbrot.renderTile(input))
    const b = await runInVm(mandelbrot.TASK_SOURCE, input)
    assert.equal(b.commitment.toString(), a.commitment.toString())
    assert.equal(b.fuel, a.fuel)
  })

  it('sha256-pow: the found nonce equals the reference and verifies', async () => {
    const search = { prefix: new TextEncoder().encode('vm'), difficulty: 10, start: 0n, count: 50_000n }
    const ex = await runInVm(pow.TASK_SOURCE, pow.encodeSearch(search))
    const result = pow.decodeResult(ex.output)
    assert.deepEqual(result, pow.searchReference(search))
    if (result.found) assert.ok(pow.verify(search.prefix, 10, result.nonce))
  })

  it('matmul: the product equals the reference bit for bit', async () => {
    const a = matmul.matrix(6, 4, (i, j) => i - j * 0.5)
    const b = matmul.matrix(4, 5, (i, j) => 1 / (1 + i + j))
    const ex = await runInVm(matmul.TASK_SOURCE, matmul.encodeProduct(a, b))
    assert.deepEqual(matmul.decodeMatrix(ex.output, 6, 5), matmul.multiply(a, b))
  })

  it('wordcount: map then reduce equals the reference count', async () => {
    const text = 'one two two three three three\nOne TWO'
    const tables = []
    for (const chunk of wordcount.splitText(text, 2)) tables.push((await runInVm(wordcount.MAP_SOURCE, chunk)).output)
    const merged = await runInVm(wordcount.REDUCE_SOURCE, wordcount.reduceInput(tables))
    assert.deepEqual(merged.output, wordcount.encodeCounts(wordcount.countWords(text)))
  })
})
