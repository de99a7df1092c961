// compileTask: ABI-conforming modules, diagnostics on failure, caching; and
// the AssemblyScript API (`@webfabric/sdk/assembly`) seen from a host.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ByteReader, ByteWriter, TASK_IMPORTS, checkAbi, compileTask, decodeCounts } from '../src/index.ts'
import type { CompileError } from '../src/index.ts'
import * as mandelbrot from '../../../examples/mandelbrot/index.ts'
import * as matmul from '../../../examples/matmul/index.ts'
import * as pow from '../../../examples/sha256-pow/index.ts'
import * as wordcount from '../../../examples/wordcount/index.ts'
import { runInTestHost } from './fixtures/host.ts'

const API_TASK = fileURLToPath(new URL('./fixtures/assembly/api.ts', import.meta.url))
const EXAMPLES = [mandelbrot.TASK_SOURCE, pow.TASK_SOURCE, pow.HASH_TASK_SOURCE, matmul.TASK_SOURCE, wordcount.MAP_SOURCE, wordcount.REDUCE_SOURCE]

let dir = ''
before(async () => { dir = await mkdtemp(path.join(tmpdir(), 'wf-sdk-')) })
after(async () => { await rm(dir, { recursive: true, force: true }) })

async function compileError (source: string): Promise<CompileError> {
  const file = path.join(dir, `task-${Math.random().toString(36).slice(2)}.ts`)
  await writeFile(file, source)
  const err = await compileTask(file).then(() => null, (e: CompileError) => e)
  assert.ok(err !== null, 'expected a CompileError')
  assert.equal(err.name, 'CompileError')
  return err
}

describe('compileTask', () => {
  it('compiles every example to a module that imports only ABI names and exports memory and run', async () => {
    const allowed = new Set(TASK_IMPORTS.map(([m, n]) => `${m}.${n}`))
    for (const source of EXAMPLES) {
      const wasm = await compileTask(source)
      const module = new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>)
      for (const imp of WebAssembly.Module.imports(module)) {
        assert.equal(imp.kind, 'function')
        assert.ok(allowed.has(`${imp.module}.${imp.name}`), `${source} imports ${imp.module}.${imp.name}`)
      }
      assert.deepEqual(WebAssembly.Module.exports(module).map(e => `${e.name}:${e.kind}`).sort(), ['memory:memory', 'run:function'])
      assert.deepEqual(checkAbi(module, wasm), [], source)
    }
  })

  it('reports a type error as CompileError with file, line, column and message', async () => {
    const err = await compileError("import { output } from '@webfabric/sdk/assembly'\nexport function run (): void {\n  output(notDefined)\n}\n")
    const d = err.diagnostics[0]
    assert.match(d.file, /task-.*\.ts$/)
    assert.equal(d.line, 3)
    assert.equal(d.column, 10)
    assert.match(d.message, /Cannot find name 'notDefined'/)
    assert.match(err.message, /task-.*\.ts:3:10/)
  })

  it('refuses Math.random (env.seed) and names the SDK replacement', async () => {
    const err = await compileError('export function run (): void {\n  if (Math.random() > 2) unreachable()\n}\n')
    assert.match(err.message, /env\.seed/)
    assert.match(err.message, /randomU32/)
  })

  it('refuses a task without run, or with a run that takes arguments', async () => {
    assert.match((await compileError('export function main (): void {}\n')).message, /export `run`/)
    assert.match((await compileError('export function run (x: i32): void {}\n')).message, /no arguments/)
  })

  it('recompiles when the source changes, and returns the same module for unchanged sources', async () => {
    const file = path.join(dir, 'cached.ts')
    await writeFile(file, "import { outputString } from '@webfabric/sdk/assembly'\nexport function run (): void { outputString('one') }\n")
    const one = await compileTask(file)
    assert.deepEqual(await compileTask(file), one)
    await writeFile(file, "import { outputString } from '@webfabric/sdk/assembly'\nexport function run (): void { outputString('two') }\n")
    const two = await compileTask(file)
    assert.equal(new TextDecoder().decode((await runInTestHost(two, new Uint8Array(0))).output), 'two')
  })
})

describe('@webfabric/sdk/assembly', () => {
  let wasm: Uint8Array
  before(async () => { wasm = await compileTask(API_TASK) })

  it('Reader and Writer agree with ByteReader and ByteWriter; count tables are sorted by key bytes', async () => {
    const input = new ByteWriter().u8(0).u32(41).i64(-5n).f64(1.25).string('héllo').finish()
    const r = new ByteReader((await runInTestHost(wasm, input)).output)
    assert.equal(r.u32(), 42)
    assert.equal(r.i64(), 5n)
    assert.equal(r.f64(), 2.5)
    assert.equal(r.string(), 'héllo!')
    const rest = r.bytesN(r.remaining)
    assert.deepEqual([...decodeCounts(rest)], [['alpha', 1n], ['zeta', 3n], ['émile', 2n]])
  })

  it('inputString, outputString and log carry UTF-8; global initialisers ran before run', async () => {
    const res = await runInTestHost(wasm, new TextEncoder().encode('\x01ça marche ✓'))
    assert.equal(res.status, 'ok', res.message)
    assert.equal(new TextDecoder().decode(res.output), 'ça marche ✓')
    assert.deepEqual(res.logs, ['hello from a global initialiser: ça marche ✓'])
  })

  it('random values come from wf.random_fill: the same seed gives the same values, another seed others', async () => {
    const seedA = new Uint8Array(32).fill(1)
    const a = await runInTestHost(wasm, new Uint8Array([2]), seedA)
    const again = await runInTestHost(wasm, new Uint8Array([2]), seedA)
    const b = await runInTestHost(wasm, new Uint8Array([2]), new Uint8Array(32).fill(2))
    assert.deepEqual(again.output, a.output)
    assert.notDeepEqual(b.output, a.output)
    const r = new ByteReader(a.output)
    for (let i = 0; i < 4; i++) r.u32()
    for (let i = 0; i < 2; i++) { const f = r.f64(); assert.ok(f >= 0 && f < 1) }
    assert.ok(r.u32() < 10)
  })

  it('reading past the end of the input aborts with the offset', async () => {
    const res = await runInTestHost(wasm, new Uint8Array([3, 1, 2]))
    assert.equal(res.status, 'abort')
    assert.match(res.message ?? '', /need 8 bytes at offset 1/)
  })
})
