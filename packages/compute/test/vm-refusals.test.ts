import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { instrument, loadModule } from '../src/vm/index.ts'
import { AS_PRELUDE, compileAS } from './fixtures/asc.ts'
import { F64, funcType, I32, module, s32, section, str, taskModule, u32, V128, vec } from './fixtures/wasm.ts'

const nothing = taskModule({ funcs: [{ type: 0, code: [] }] })

async function refuses (bytes: Uint8Array, name: string, match?: RegExp, init: Parameters<typeof loadModule>[1] = { profile: 'task' }): Promise<void> {
  await assert.rejects(loadModule(bytes, init), (err: Error) => {
    assert.equal(err.name, name, `${err.name}: ${err.message}`)
    if (match !== undefined) assert.match(err.message, match)
    return true
  })
}

describe('WebDeterministicVM: refusals at load time', () => {
  it('accepts the smallest task module', async () => {
    const mod = await loadModule(nothing, { profile: 'task' })
    assert.equal(mod.info.functions, 1)
  })

  it('refuses bytes that are not wasm, truncated, or too large', async () => {
    await refuses(new TextEncoder().encode('#!/bin/sh\necho hi\n'), 'InvalidModuleError', /\\0asm/)
    await refuses(nothing.subarray(0, 5), 'InvalidModuleError', /truncated/)
    await refuses(nothing.subarray(0, nothing.length - 3), 'InvalidModuleError', /truncated|malformed/)
    await refuses(Uint8Array.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]), 'InvalidModuleError', /component/)
    await refuses(nothing, 'ModuleTooLargeError', /over the limit/, { profile: 'task', maxModuleBytes: 16 })
  })

  it('refuses every truncation and any single corrupted byte with a named error, never a crash', async () => {
    const bytes = await compileAS(`${AS_PRELUDE}export function run(): void { writeString("x" + input_size().toString()) }`)
    for (let n = 0; n < bytes.length; n += Math.max(1, bytes.length >> 7)) {
      assert.throws(() => instrument(bytes.subarray(0, n), { profile: 'task' }), (e: Error) => /Error$/.test(e.name) && e.name !== 'Error' && e.name !== 'RangeError' && e.name !== 'TypeError')
    }
    fc.assert(fc.property(fc.integer({ min: 8, max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 }), (at, v) => {
      const b = bytes.slice()
      b[at] = v
      try {
        const out = instrument(b, { profile: 'task' })
        // whatever we accept, we emit well-formed bytes when the original is valid
        if (WebAssembly.validate(b as Uint8Array<ArrayBuffer>)) assert.equal(WebAssembly.validate(out.bytes as Uint8Array<ArrayBuffer>), true)
      } catch (e) {
        assert.ok(['InvalidModuleError', 'ForbiddenImportError', 'MissingExportError', 'NondeterministicFeatureError', 'UnsupportedFeatureError', 'MemoryLimitError'].includes((e as Error).name), `${(e as Error).name}: ${(e as Error).message}`)
      }
    }), { numRuns: 500 })
  })

  it('refuses hostile counts before allocating', async () => {
    // a type section announcing 2^32-1 types in 5 bytes
    await refuses(module(section(1, [...u32(0xffffffff)])), 'InvalidModuleError', /count/)
    // a function body announcing a huge local count
    const many = taskModule({ funcs: [{ type: 0, code: [] }] })
    const hostile = module(section(1, vec([funcType([], [])])), section(3, vec([[0]])), section(5, vec([[0, 1]])),
      section(7, vec([[...str('memory'), 2, 0], [...str('run'), 0, 0]])), section(10, vec([[...u32(8), 1, ...u32(0xfffffff0), I32, 0x0b]])))
    await refuses(hostile, 'InvalidModuleError', /locals/)
    assert.ok(many.length > 0)
  })

  it('refuses imports outside the profile, naming them', async () => {
    const imp = (m: string, n: string, t = funcType([], [])): Uint8Array =>
      taskModule({ types: [funcType([], []), t], imports: [[m, n, 1]], funcs: [{ type: 0, code: [] }] })
    await refuses(imp('env', 'seed', funcType([], [F64])), 'ForbiddenImportError', /env\.seed/)
    await refuses(imp('wasi_snapshot_preview1', 'fd_write', funcType([I32, I32, I32, I32], [I32])), 'ForbiddenImportError', /wasi_snapshot_preview1\.fd_write/)
    await refuses(imp('wf', 'now_ms', funcType([], [F64])), 'ForbiddenImportError', /profile 'process'/)
    await refuses(imp('wf', 'input_size', funcType([], [F64])), 'ForbiddenImportError', /\(\) -> i32/)
    await refuses(imp('wf', '__slice_end'), 'ForbiddenImportError', /wf\.__slice_end/)
    // a process may import now_ms
    await loadModule(imp('wf', 'now_ms', funcType([], [F64])), { profile: 'process' })
    // memory, table and global imports are refused
    const memImport = module(section(1, vec([funcType([], [])])), section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, 0x01]])))
    await refuses(memImport, 'ForbiddenImportError', /env\.memory is a memory/)
  })

  it('refuses threads, atomics, shared memory and SIMD as non-deterministic', async () => {
    await refuses(taskModule({ funcs: [{ type: 0, code: [] }], memory: [0x03, 0x01, 0x01] }), 'NondeterministicFeatureError', /shared/)
    // atomic.fence
    await refuses(taskModule({ funcs: [{ type: 0, code: [0xfe, 0x03, 0x00] }] }), 'NondeterministicFeatureError', /atomics/)
    // v128 local, v128.const, relaxed swizzle
    await refuses(taskModule({ funcs: [{ type: 0, locals: [V128], code: [] }] }), 'NondeterministicFeatureError', /SIMD/)
    await refuses(taskModule({ funcs: [{ type: 0, code: [0xfd, 0x0c, ...new Array(16).fill(0), 0x1a] }] }), 'NondeterministicFeatureError', /SIMD/)
    await refuses(taskModule({ funcs: [{ type: 0, code: [0xfd, ...u32(0x100)] }] }), 'NondeterministicFeatureError', /relaxed/)
  })

  it('refuses what it does not support: several memories, exceptions, GC', async () => {
    const two = module(section(1, vec([funcType([], [])])), section(3, vec([[0]])), section(5, vec([[0, 1], [0, 1]])))
    await refuses(two, 'UnsupportedFeatureError', /memories/)
    await refuses(taskModule({ funcs: [{ type: 0, code: [0x06, 0x40, 0x0b] }] }), 'UnsupportedFeatureError', /exception/)
    await refuses(module(section(1, [1, 0x4e, 0, 0])), 'UnsupportedFeatureError', /gc/)
  })

  it('refuses a module without memory or run, or with run of the wrong type', async () => {
    await refuses(taskModule({ funcs: [{ type: 0, code: [] }], exportMemory: false }), 'MissingExportError', /memory/)
    await refuses(taskModule({ funcs: [{ type: 0, code: [] }], memory: null, exportMemory: false }), 'MissingExportError', /memory/)
    await refuses(taskModule({ funcs: [{ type: 0, code: [] }], exportRun: false }), 'MissingExportError', /run/)
    await refuses(taskModule({ types: [funcType([I32], [])], funcs: [{ type: 0, code: [] }] }), 'MissingExportError', /run: \(\) -> \(\)/)
  })

  it('refuses an initial memory above the cap and lowers the maximum to it', async () => {
    await refuses(taskModule({ funcs: [{ type: 0, code: [] }], memory: [0x00, ...u32(100)] }), 'MemoryLimitError', /initial memory/, { profile: 'task', memoryLimitBytes: 64 * 65536 })
    const mod = await loadModule(taskModule({ funcs: [{ type: 0, code: [] }], memory: [0x01, 0x01, ...u32(60000)] }), { profile: 'task', memoryLimitBytes: 64 * 65536 })
    assert.deepEqual(mod.info.memoryPages, { initial: 1, maximum: 64 })
  })

  it('refuses exports with the VM\'s reserved prefix', async () => {
    const bytes = module(section(1, vec([funcType([], [])])), section(3, vec([[0]])), section(5, vec([[0, 1]])),
      section(7, vec([[...str('memory'), 2, 0], [...str('run'), 0, 0], [...str('__wf_fuel'), 0, 0]])), section(10, vec([[2, 0, 0x0b]])))
    await refuses(bytes, 'InvalidModuleError', /reserved/)
    assert.ok(s32(1).length === 1)
  })
})
