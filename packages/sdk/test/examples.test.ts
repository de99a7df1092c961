// The examples, compiled with compileTask and run in the minimal test host,
// agree byte for byte with their JS references.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { compileTask } from '../src/index.ts'
import * as mandelbrot from '../../../examples/mandelbrot/index.ts'
import * as matmul from '../../../examples/matmul/index.ts'
import * as pow from '../../../examples/sha256-pow/index.ts'
import * as wordcount from '../../../examples/wordcount/index.ts'
import { runInTestHost } from './fixtures/host.ts'

async function runOk (wasm: Uint8Array, input: Uint8Array): Promise<Uint8Array> {
  const r = await runInTestHost(wasm, input)
  assert.equal(r.status, 'ok', r.message)
  return r.output
}

describe('mandelbrot', () => {
  it('renders tiles equal to the JS reference and assembles a PNG', async () => {
    const wasm = await compileTask(mandelbrot.TASK_SOURCE)
    // A small image with uneven edge tiles, at the demo's view.
    const inputs = mandelbrot.tiles(96, 72, 40, { maxIter: 300 })
    assert.equal(inputs.length, 6)
    const parts = []
    for (const input of inputs) {
      const output = await runOk(wasm, input)
      assert.deepEqual(output, mandelbrot.renderTile(input))
      parts.push({ input, output })
    }
    const png = mandelbrot.assemble(parts)
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    assert.ok(new Set(parts.flatMap(p => [...p.output])).size > 20, 'the view shows structure, not a flat colour')
  })

  it('splits the demo image into 64 tiles covering it exactly', () => {
    const specs = mandelbrot.tiles(mandelbrot.DEMO.width, mandelbrot.DEMO.height, mandelbrot.DEMO.tileSize).map(mandelbrot.decodeTile)
    assert.equal(specs.length, 64)
    assert.equal(specs.reduce((s, t) => s + t.tileW * t.tileH, 0), 1024 * 768)
  })
})

describe('sha256-pow', () => {
  it('hashes the FIPS 180-4 vectors and odd lengths like node:crypto', async () => {
    const wasm = await compileTask(pow.HASH_TASK_SOURCE)
    const vectors: Array<[string, string]> = [
      ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
      ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
      ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1']
    ]
    for (const [text, hex] of vectors) {
      assert.equal(Buffer.from(await runOk(wasm, new TextEncoder().encode(text))).toString('hex'), hex, JSON.stringify(text))
    }
    for (const len of [55, 56, 63, 64, 65, 119, 1000]) {
      const data = new Uint8Array(len).map((_, i) => (i * 31 + 7) & 0xff)
      assert.deepEqual(await runOk(wasm, data), new Uint8Array(createHash('sha256').update(data).digest()), `length ${len}`)
    }
  })

  it('finds the first nonce meeting the difficulty, as the reference does, and it verifies', async () => {
    const wasm = await compileTask(pow.TASK_SOURCE)
    const prefix = new TextEncoder().encode('webfabric/pow-test/a prefix longer than one sha256 block, so the midstate path is used')
    const search = { prefix, difficulty: 12, start: 0n, count: 100_000n }
    const result = pow.decodeResult(await runOk(wasm, pow.encodeSearch(search)))
    assert.equal(result.found, true)
    assert.deepEqual(result, pow.searchReference(search))
    if (result.found) assert.ok(pow.verify(prefix, 12, result.nonce))
  })

  it('reports none found when no nonce in the range qualifies', async () => {
    const wasm = await compileTask(pow.TASK_SOURCE)
    const search = { prefix: new Uint8Array([1, 2, 3]), difficulty: 40, start: 5n, count: 200n }
    assert.deepEqual(pow.decodeResult(await runOk(wasm, pow.encodeSearch(search))), { found: false, tried: 200n })
  })

  it('splits a nonce space into contiguous searches', () => {
    const inputs = pow.searches(new Uint8Array(0), 8, 1000n, 3)
    assert.equal(inputs.length, 3)
  })
})

describe('matmul', () => {
  it('multiplies like the JS reference, bit for bit', async () => {
    const wasm = await compileTask(matmul.TASK_SOURCE)
    const a = matmul.matrix(7, 5, (i, j) => Math.sin(i * 5 + j) * 1e3)
    const b = matmul.matrix(5, 9, (i, j) => 1 / (i + j + 1) - 0.3)
    const c = matmul.decodeMatrix(await runOk(wasm, matmul.encodeProduct(a, b)), 7, 9)
    assert.deepEqual(c, matmul.multiply(a, b))
  })

  it('a block-decomposed product reassembles to the whole product', async () => {
    const wasm = await compileTask(matmul.TASK_SOURCE)
    const a = matmul.matrix(33, 20, (i, j) => ((i * 7 + j * 13) % 17) / 3 - 2)
    const b = matmul.matrix(20, 27, (i, j) => ((i * 11 + j * 5) % 23) / 7 - 1.5)
    const tasks = matmul.blocks(a, b, 16)
    assert.equal(tasks.length, 3 * 2)
    const parts = []
    for (const task of tasks) parts.push({ task, output: await runOk(wasm, task.input) })
    assert.deepEqual(matmul.assembleBlocks(33, 27, parts), matmul.multiply(a, b))
  })

  it('aborts on an input whose length does not match its dimensions', async () => {
    const wasm = await compileTask(matmul.TASK_SOURCE)
    const bad = matmul.encodeProduct(matmul.matrix(2, 2), matmul.matrix(2, 2)).subarray(0, 40)
    const r = await runInTestHost(wasm, bad)
    assert.equal(r.status, 'abort')
    assert.match(r.message ?? '', /input length/)
  })
})

describe('wordcount', () => {
  const text = [
    "It was the best of times, it was the worst of times, it was the age of wisdom,",
    "it was the age of foolishness… Ça va? Naïve café, naïve CAFÉ! don't stop; 2024 and 2024.",
    'The end. THE END. the-end'
  ].join('\n').repeat(20)

  it('map then reduce equals a JS count of the whole text, byte for byte', async () => {
    const map = await compileTask(wordcount.MAP_SOURCE)
    const reduce = await compileTask(wordcount.REDUCE_SOURCE)
    const chunks = wordcount.splitText(text, 5)
    assert.ok(chunks.length >= 4)
    assert.equal(Buffer.concat(chunks).toString(), text)
    const tables = []
    for (const chunk of chunks) {
      const table = await runOk(map, chunk)
      assert.deepEqual(table, wordcount.encodeCounts(wordcount.countWords(chunk)), 'each map output is the canonical table of its chunk')
      tables.push(table)
    }
    const merged = await runOk(reduce, wordcount.reduceInput(tables))
    const expected = wordcount.countWords(text)
    assert.deepEqual(merged, wordcount.encodeCounts(expected))
    const decoded = wordcount.decodeCounts(merged)
    assert.equal(decoded.get('was'), 80n)
    assert.equal(decoded.get('naïve'), 40n)
    assert.equal(decoded.get("don't"), 20n)
  })

  it('an empty text maps to an empty table', async () => {
    const map = await compileTask(wordcount.MAP_SOURCE)
    assert.deepEqual(await runOk(map, new Uint8Array(0)), new Uint8Array(4))
  })
})
