// The committed wasm kernel (src/erasure/kernel-wasm.ts) is what its source
// (src/erasure/assembly/kernel.ts) compiles to with this assemblyscript: a
// change to the source, or a new compiler, without regenerating fails here.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { compileKernel, KERNEL_MODULE_PATH, renderKernelModule } from '../src/erasure/assembly/build.ts'

const compiled = compileKernel()

describe('erasure wasm kernel', () => {
  it('kernel-wasm.ts is current with assembly/kernel.ts', async () => {
    const binary = await compiled
    const committed = readFileSync(KERNEL_MODULE_PATH, 'utf8')
    assert.ok(committed === renderKernelModule(binary),
      'src/erasure/kernel-wasm.ts is stale: run `node packages/storage/src/erasure/assembly/build.ts` and commit the result')
  })

  it('imports only env.memory and exports only mulRows', async () => {
    const module = new WebAssembly.Module(await compiled as Uint8Array<ArrayBuffer>)
    assert.deepEqual(WebAssembly.Module.imports(module), [{ module: 'env', name: 'memory', kind: 'memory' }])
    assert.deepEqual(WebAssembly.Module.exports(module), [{ name: 'mulRows', kind: 'function' }])
  })
})
