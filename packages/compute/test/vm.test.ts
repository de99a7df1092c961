import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { cidOf, encode } from '@webfabric/protocol'
import fc from 'fast-check'
import { sha256 } from 'multiformats/hashes/sha2'
import { Reader } from '../src/vm/binary.ts'
import {
  ChaCha20Stream, type CommitmentRecord, execute, instrument, loadModule, rawCid, replay, STACK_BUDGET_UNITS, VM_VERSION
} from '../src/vm/index.ts'
import { BRANCH_HINT_SECTION } from '../src/vm/instrument.ts'
import { AS_PRELUDE, compileAS } from './fixtures/asc.ts'
import { F64, funcType, I32, I64, s32, section, taskModule, u32, vec } from './fixtures/wasm.ts'

const enc = new TextEncoder()
const dec = new TextDecoder()
const valid = (b: Uint8Array): boolean => WebAssembly.validate(b as Uint8Array<ArrayBuffer>)
const u32le = (n: number): Uint8Array => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n, true); return b }

const HELLO = `${AS_PRELUDE}
export function run(): void {
  const inp = readInput()
  let s: u32 = 0
  for (let i = 0; i < inp.length; i++) s = s * 31 + inp[i]
  logString("hashed " + inp.length.toString() + " bytes")
  const r = new Uint8Array(4); random_fill(r.dataStart, 4)
  writeString("sum=" + s.toString() + " rnd=" + r[0].toString())
}`

const LOOP = `${AS_PRELUDE}
export function run(): void {
  const inp = readInput()
  const n = load<u32>(inp.dataStart)
  let x: u32 = 7
  for (let i: u32 = 0; i < n; i++) { x = x * 1103515245 + 12345; if (x & 1) x ^= i }
  const out = new Uint8Array(4); store<u32>(out.dataStart, x); writeBytes(out)
}`

describe('WebDeterministicVM: execution', () => {
  it('runs an AssemblyScript task: output, logs, fuel, CIDs and a repeatable commitment', async () => {
    const mod = await loadModule(await compileAS(HELLO), { profile: 'task' })
    const input = enc.encode('hello fabric')
    const a = await execute(mod, { input, fuelLimit: 1e9 })
    const b = await execute(mod, { input, fuelLimit: 1e9 })
    assert.equal(a.status, 'ok')
    assert.match(dec.decode(a.output), /^sum=\d+ rnd=\d+$/)
    assert.deepEqual(a.logs, ['hashed 12 bytes'])
    assert.ok(a.fuel > 0)
    assert.equal(a.inputCid.toString(), (await rawCid(input)).toString())
    assert.equal(a.moduleCid.toString(), mod.cid.toString())
    assert.deepEqual(b.output, a.output)
    assert.equal(b.fuel, a.fuel)
    assert.equal(b.commitment.toString(), a.commitment.toString())
    // a different seed draws different bytes and so commits differently
    const c = await execute(mod, { input, fuelLimit: 1e9, seed: new Uint8Array(32).fill(9) })
    assert.notEqual(c.commitment.toString(), a.commitment.toString())
  })

  it('charges fuel linearly in loop iterations, identically across runs and slice sizes', async () => {
    const mod = await loadModule(await compileAS(LOOP), { profile: 'task' })
    const fuel = async (n: number, sliceFuel?: number): Promise<number> => (await execute(mod, { input: u32le(n), fuelLimit: 1e12, sliceFuel })).fuel
    const [f1, f2, f3] = [await fuel(1000), await fuel(2000), await fuel(3000)]
    assert.ok(f2 > f1)
    assert.equal(f3 - f2, f2 - f1)
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 200_000 }), async (n, slice) => {
      const ref = await execute(mod, { input: u32le(n), fuelLimit: 1e12 })
      const e = await execute(mod, { input: u32le(n), fuelLimit: 1e12, sliceFuel: slice })
      assert.equal(e.fuel, ref.fuel)
      assert.equal(e.commitment.toString(), ref.commitment.toString())
    }), { numRuns: 40 })
  })

  it('stops out-of-fuel with fuel = limit, at the same point whatever the slice size', async () => {
    const mod = await loadModule(await compileAS(LOOP), { profile: 'task' })
    const runs = await Promise.all([1, 7, 1000, 1e7].map(sliceFuel => execute(mod, { input: u32le(1e6), fuelLimit: 50_000, sliceFuel })))
    for (const e of runs) {
      assert.equal(e.status, 'out-of-fuel')
      assert.equal(e.fuel, 50_000)
      assert.equal(e.commitment.toString(), runs[0].commitment.toString())
    }
  })

  it('charges a then-arm that branches to its own if\'s end like one that falls through (it was free)', async () => {
    const work = Array.from({ length: 100 }, () => [0x41, 0x01, 0x1a]).flat() // 100 × (i32.const 1; drop)
    const fuel = async (tail: number[]): Promise<number> => {
      const bytes = taskModule({ funcs: [{ type: 0, code: [0x41, 0x01, 0x04, 0x40, ...work, ...tail, 0x0b] }] }) // i32.const 1 if … end
      return (await execute(await loadModule(bytes, { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 10_000 })).fuel
    }
    assert.equal(await fuel([0x01]), 202) // … nop: the 200 instructions of work, i32.const, if
    assert.equal(await fuel([0x0c, 0x00]), 203) // … br 0 (to the if's end): the same and the br
  })

  it('charges a simple if its costlier arm when its arms differ by at most 8, else each path exactly its instructions', async () => {
    // block (i32.const c; if (k1 × (i32.const 1; drop)) else (k2 × …) end) end; i32.const 9; drop
    const fuel = async (c: number, k1: number, k2: number): Promise<number> => {
      const work = (k: number): number[] => Array.from({ length: k }, () => [0x41, 0x01, 0x1a]).flat()
      const code = [0x02, 0x40, 0x41, c, 0x04, 0x40, ...work(k1), 0x05, ...work(k2), 0x0b, 0x0b, 0x41, 0x09, 0x1a]
      const bytes = taskModule({ funcs: [{ type: 0, code }] })
      return (await execute(await loadModule(bytes, { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 10_000 })).fuel
    }
    // arms of 2 and 4 (VM_VERSION 7): i32.const, if, the costlier arm whichever runs, after the block
    assert.equal(await fuel(1, 1, 2), 2 + 4 + 2)
    assert.equal(await fuel(0, 1, 2), 2 + 4 + 2)
    // arms of 2 and 12, apart by more than 8: each path pays its own arm
    assert.equal(await fuel(1, 1, 6), 2 + 2 + 2)
    assert.equal(await fuel(0, 1, 6), 2 + 12 + 2)
  })

  it('charges a path through nested branch-free ifs at least its instructions and at most 8 more per if it passes', async () => {
    // a tree of work (k × (i32.const 1; drop)) and if/else on constants, with work after each if
    interface Node { work: number, branch?: { cond: boolean, thenArm: Node, else?: Node, after: number } }
    const node = fc.letrec<{ node: Node }>(tie => ({
      node: fc.record({
        work: fc.integer({ min: 0, max: 7 }),
        branch: fc.option(fc.record({
          cond: fc.boolean(), thenArm: tie('node'), else: fc.option(tie('node'), { nil: undefined }), after: fc.integer({ min: 0, max: 5 })
        }, { requiredKeys: ['cond', 'thenArm', 'after'] }), { nil: undefined, depthSize: 'small' })
      }, { requiredKeys: ['work'] })
    })).node
    const code = (n: Node): number[] => {
      const out = Array.from({ length: n.work }, () => [0x41, 0x01, 0x1a]).flat()
      const b = n.branch
      if (b === undefined) return out
      return [...out, 0x41, b.cond ? 1 : 0, 0x04, 0x40, ...code(b.thenArm), ...(b.else === undefined ? [] : [0x05, ...code(b.else)]), 0x0b,
        ...Array.from({ length: b.after }, () => [0x41, 0x01, 0x1a]).flat()]
    }
    const path = (n: Node): { cost: number, ifs: number } => { // the instructions the run executes, and the ifs it passes
      const b = n.branch
      if (b === undefined) return { cost: 2 * n.work, ifs: 0 }
      const arm = b.cond ? path(b.thenArm) : b.else === undefined ? { cost: 0, ifs: 0 } : path(b.else)
      return { cost: 2 * n.work + 2 + arm.cost + 2 * b.after, ifs: 1 + arm.ifs }
    }
    await fc.assert(fc.asyncProperty(node, async n => {
      const mod = await loadModule(taskModule({ funcs: [{ type: 0, code: code(n) }] }), { profile: 'task' })
      const a = await execute(mod, { input: new Uint8Array(0), fuelLimit: 1e6 })
      const b = await execute(mod, { input: new Uint8Array(0), fuelLimit: 1e6, sliceFuel: 3 })
      const { cost, ifs } = path(n)
      assert.ok(a.fuel >= cost && a.fuel <= cost + 8 * ifs, `fuel ${a.fuel} for a path of ${cost} through ${ifs} ifs`)
      assert.equal(b.commitment.toString(), a.commitment.toString())
    }), { numRuns: 200 })
  })

  it('charges the code after a construct with the block before it only when no path leaves between them', async () => {
    // block (i32.const c; br_if 0; i32.const 1; if (20 × work) end; 10 × work) end; i32.const 9; drop
    const work = (k: number): number[] => Array.from({ length: k }, () => [0x41, 0x01, 0x1a]).flat()
    const fuel = async (c: number, exit: boolean): Promise<number> => {
      const code = [0x02, 0x40, ...(exit ? [0x41, c, 0x0d, 0x00] : []), 0x41, 0x01, 0x04, 0x40, ...work(20), 0x0b, ...work(10), 0x0b, 0x41, 0x09, 0x1a]
      const bytes = taskModule({ funcs: [{ type: 0, code }] })
      return (await execute(await loadModule(bytes, { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 10_000 })).fuel
    }
    assert.equal(await fuel(0, false), 2 + 40 + 20 + 2) // the join after the if is paid before it: same total
    // the br_if leaves first: it pays its block up to the if (as ever, a block is charged whole), not what follows the if
    assert.equal(await fuel(1, true), 2 + 2 + 2)
    assert.equal(await fuel(0, true), 2 + 2 + 40 + 20 + 2)
  })

  it('charges a loop-free helper its costliest path at the call site when its paths differ by at most 8', async () => {
    // helper(c): if c (k1 × (i32.const 1; drop)) else (k2 × …) end; run: i32.const c; call helper
    const fuel = async (c: number, k1: number, k2: number): Promise<number> => {
      const work = (k: number): number[] => Array.from({ length: k }, () => [0x41, 0x01, 0x1a]).flat()
      const bytes = taskModule({
        types: [funcType([], []), funcType([I32], [])],
        funcs: [{ type: 0, code: [0x41, c, 0x10, 0x01] }, { type: 1, code: [0x20, 0x00, 0x04, 0x40, ...work(k1), 0x05, ...work(k2), 0x0b] }]
      })
      return (await execute(await loadModule(bytes, { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 10_000 })).fuel
    }
    // run's i32.const and call, the helper's local.get and if, then its costlier arm (10) whichever runs
    assert.equal(await fuel(1, 2, 5), 2 + 2 + 10)
    assert.equal(await fuel(0, 2, 5), 2 + 2 + 10)
    // arms 4 and 20 apart by more than 8: each path is charged exactly
    assert.equal(await fuel(1, 2, 10), 2 + 2 + 4)
    assert.equal(await fuel(0, 2, 10), 2 + 2 + 20)
  })

  it('counts host calls and aborts inside a prepaid helper the same at every slice size', async () => {
    // helper 2 logs 64 bytes (4 fuel on top of its 3 instructions); run calls it twice, then helper 3(1) aborts
    const bytes = taskModule({
      types: [funcType([], []), funcType([I32, I32], []), funcType([I32, I32, I32, I32], []), funcType([I32], [])],
      imports: [['wf', 'log', 1], ['env', 'abort', 2]],
      funcs: [
        { type: 0, code: [0x10, 0x03, 0x10, 0x03, 0x41, 0x00, 0x10, 0x04, 0x41, 0x01, 0x10, 0x04] },
        { type: 0, code: [0x41, 0x00, 0x41, 0xc0, 0x00, 0x10, 0x00] },
        { type: 3, code: [0x20, 0x00, 0x04, 0x40, 0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x10, 0x01, 0x00, 0x0b] }
      ]
    })
    const mod = await loadModule(bytes, { profile: 'task' })
    const runs = await Promise.all([1, 3, 7, 1e7].map(sliceFuel => execute(mod, { input: new Uint8Array(0), fuelLimit: 10_000, sliceFuel })))
    for (const e of runs) {
      assert.equal(e.status, 'abort')
      assert.equal(e.logs.length, 2)
      assert.equal(e.fuel, runs[0].fuel)
      assert.equal(e.commitment.toString(), runs[0].commitment.toString())
    }
    assert.equal(runs[0].fuel, 10_000) // an abort is charged its limit (VM_VERSION 6)
    const short = await execute(mod, { input: new Uint8Array(0), fuelLimit: 9, sliceFuel: 1 })
    assert.equal(short.status, 'out-of-fuel')
    assert.equal(short.fuel, 9)
  })

  it('ends an infinite loop out-of-fuel', async () => {
    const bytes = taskModule({ funcs: [{ type: 0, code: [0x03, 0x40, 0x0c, 0x00, 0x0b] }] }) // loop br 0 end
    const e = await execute(await loadModule(bytes, { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 1_000_000 })
    assert.equal(e.status, 'out-of-fuel')
    assert.equal(e.fuel, 1_000_000)
  })

  it('calls onSlice once per slice, and a throw from it aborts the run unchanged', async () => {
    const mod = await loadModule(await compileAS(LOOP), { profile: 'task' })
    const slices: number[] = []
    const e = await execute(mod, { input: u32le(20_000), fuelLimit: 1e12, sliceFuel: 10_000, onSlice: s => slices.push(s.fuelUsed) })
    assert.equal(e.status, 'ok')
    // each slice ends at the first check past its budget: never more slices than fuel / sliceFuel
    assert.ok(slices.length >= Math.floor(e.fuel / 10_000) - 1 && slices.length <= Math.floor(e.fuel / 10_000), `${slices.length} slices for ${e.fuel} fuel`)
    assert.deepEqual(slices, [...slices].sort((a, b) => a - b))
    class Revoked extends Error {}
    const err = new Revoked('lease revoked')
    await assert.rejects(execute(mod, { input: u32le(1e6), fuelLimit: 1e12, sliceFuel: 10_000, onSlice: () => { throw err } }), (x: unknown) => x === err)
  })

  it('checks fuel inside a call tree of loop-free functions: the work between checks stays small', async () => {
    // run calls f1 twice, f_i calls f_(i+1) twice (inside an `if`, so no entry block prepays the calls below it),
    // the leaf does nothing: 2^depth calls and not one loop
    const tree = (depth: number): Uint8Array => taskModule({
      funcs: [...Array.from({ length: depth }, (_, i) => ({ type: 0, code: [0x41, 0x01, 0x04, 0x40, 0x10, i + 1, 0x10, i + 1, 0x0b] })), { type: 0, code: [0x01] }]
    })
    const small = await loadModule(tree(14), { profile: 'task' })
    const slices: number[] = []
    const e = await execute(small, { input: new Uint8Array(0), fuelLimit: 1e12, sliceFuel: 1000, onSlice: s => slices.push(s.fuelUsed) })
    assert.equal(e.status, 'ok')
    for (let i = 0; i < slices.length; i++) assert.ok(slices[i] - (slices[i - 1] ?? 0) <= 1000 + 64, `slice ${i} ran ${slices[i] - (slices[i - 1] ?? 0)} fuel`)
    assert.ok(slices.length >= Math.floor(e.fuel / 1064), `${slices.length} slices for ${e.fuel} fuel`)
    // 2^60 calls: stops at its limit instead of running them all
    const huge = await execute(await loadModule(tree(60), { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 100_000 })
    assert.equal(huge.status, 'out-of-fuel')
    assert.equal(huge.fuel, 100_000)
  })

  it('holds no fuel credit across a recursive call: loops still to come cannot cheapen the descent before them', async () => {
    // Each level of f recurses, then runs a for-loop whose hoisted body is refunded on its exit path. A refund
    // credited before the recursive call would be outstanding on every level below, so the deepest level (which
    // logs) would be reached at a lower limit than the same descent without the loops (measured before eb5d1f2:
    // 20.6 fuel a level against 31.7).
    const source = (loop: boolean): string => `${AS_PRELUDE}
const DEEPEST = memory.data<u8>([100, 101, 101, 112, 101, 115, 116]) // "deepest", static: no allocation in f
function f(d: i32, n: i32): i32 {
  let s = d
  if (d > 0) s = f(d - 1, n); else wf_log(DEEPEST, 7)
  ${loop ? 'for (let i = 0; i < n; i++) { s = s * 31 + (i ^ d); s ^= s >>> 7; s = s * 17 + i; s ^= s << 3; s += i * d }' : ''}
  return s
}
export function run(): void {
  const inp = readInput()
  const out = new Uint8Array(4)
  store<i32>(out.dataStart, f(load<i32>(inp.dataStart), load<i32>(inp.dataStart, 4)))
  writeBytes(out)
}`
    const input = new Uint8Array([...u32le(500), ...u32le(3)])
    /** The least fuel limit at which the run reaches the deepest level's log. */
    const reach = async (loop: boolean): Promise<number> => {
      const mod = await loadModule(await compileAS(source(loop)), { profile: 'task' })
      const whole = await execute(mod, { input, fuelLimit: 1e9 })
      assert.equal(whole.status, 'ok')
      assert.deepEqual(whole.logs, ['deepest'])
      let lo = 0
      let hi = whole.fuel
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2)
        if ((await execute(mod, { input, fuelLimit: mid })).logs.length > 0) hi = mid; else lo = mid + 1
      }
      return lo
    }
    const descent = await reach(false)
    assert.ok(descent >= 500 * 11, `the descent reached its log at ${descent} fuel, below its 11 instructions a level`)
    const withLoops = await reach(true)
    assert.ok(withLoops >= descent, `with loops after the call the deepest log came at ${withLoops} fuel, before the descent's ${descent}`)
  })

  it('charges a run that traps its whole fuel limit, whatever the slice size (VM_VERSION 6)', async () => {
    // run: if 0 { call 1; call 1 } unreachable — two call sites, so run checks fuel at entry; function 1 loops.
    // Version 5 wrote the counter back only when that check ended a slice, so the trap's fuel depended on the slice size.
    const bytes = taskModule({
      funcs: [{ type: 0, code: [0x41, 0x00, 0x04, 0x40, 0x10, 0x01, 0x10, 0x01, 0x0b, 0x00] }, { type: 0, code: [0x03, 0x40, 0x0b] }]
    })
    const mod = await loadModule(bytes, { profile: 'task' })
    const runs = await Promise.all([1, 2, 3, 5, 8, 1e7].map(sliceFuel => execute(mod, { input: new Uint8Array(0), fuelLimit: 1000, sliceFuel })))
    for (const e of runs) {
      assert.equal(e.status, 'trap')
      assert.equal(e.trapKind, 'unreachable')
      assert.equal(e.fuel, 1000)
      assert.equal(e.commitment.toString(), runs[0].commitment.toString())
    }
    const short = await execute(mod, { input: new Uint8Array(0), fuelLimit: 1, sliceFuel: 1 })
    assert.equal(short.status, 'out-of-fuel')
    assert.equal(short.fuel, 1)
  })

  it('passes the fuel counter through internal calls: parameters, locals and results keep their values', async () => {
    // helper(p0: i32, p1: i64, p2: f64) -> (i32, f64), locals l3: i32, l4: f64:
    //   loop { l3 = l3 + 1; br_if l3 < p0 } l4 = p2 * 2; return (l3 + wrap(p1), l4)
    // run: [0] = helper(7, 100, 1.5).0, [8] = .1; output 16 bytes
    const f64 = (x: number): number[] => { const b = new Uint8Array(8); new DataView(b.buffer).setFloat64(0, x, true); return [0x44, ...b] }
    const bytes = taskModule({
      types: [funcType([], []), funcType([I32, I32], []), funcType([I32, I64, F64], [I32, F64])],
      imports: [['wf', 'output_write', 1]],
      funcs: [
        {
          type: 0,
          locals: [F64],
          code: [0x41, 0x00, 0x41, 0x07, 0x42, 0xe4, 0x00, ...f64(1.5), 0x10, 0x02, 0x21, 0x00, 0x36, 0x02, 0x00,
            0x41, 0x08, 0x20, 0x00, 0x39, 0x03, 0x00, 0x41, 0x00, 0x41, 0x10, 0x10, 0x00]
        },
        {
          type: 2,
          locals: [I32, F64],
          code: [0x03, 0x40, 0x20, 0x03, 0x41, 0x01, 0x6a, 0x22, 0x03, 0x20, 0x00, 0x49, 0x0d, 0x00, 0x0b,
            0x20, 0x02, ...f64(2), 0xa2, 0x21, 0x04, 0x20, 0x03, 0x20, 0x01, 0xa7, 0x6a, 0x20, 0x04]
        }
      ]
    })
    // the helper's instrumented type: the counter added as its last parameter and its last result
    const { bytes: out } = instrument(bytes, { profile: 'task' })
    assert.ok(Buffer.from(out).includes(Buffer.from([0x60, 0x04, I32, I64, F64, I64, 0x03, I32, F64, I64])))
    const mod = await loadModule(bytes, { profile: 'task' })
    const runs = await Promise.all([1, 3, 1e7].map(sliceFuel => execute(mod, { input: new Uint8Array(0), fuelLimit: 10_000, sliceFuel })))
    for (const e of runs) {
      assert.equal(e.status, 'ok')
      const o = new DataView(e.output.buffer, e.output.byteOffset, e.output.length)
      assert.equal(o.getUint32(0, true), 107)
      assert.equal(o.getFloat64(8, true), 3)
      assert.equal(e.commitment.toString(), runs[0].commitment.toString())
    }
  })

  it('hints the branches that end a slice as unlikely, at offsets that hold those branches', async () => {
    const bytes = await compileAS(LOOP)
    const { bytes: out } = instrument(bytes, { profile: 'task' })
    const mod = new WebAssembly.Module(out as Uint8Array<ArrayBuffer>)
    assert.equal(WebAssembly.Module.customSections(mod, BRANCH_HINT_SECTION).length, 1)
    // the sections: the hints (function → offsets in its body) and each body's start in the code section
    const r = new Reader(out, 8)
    const hinted = new Map<number, number[]>()
    const bodies: number[] = []
    let imported = 0
    while (!r.done) {
      const id = r.u8()
      const size = r.u32()
      const end = r.pos + size
      if (id === 0 && r.name() === BRANCH_HINT_SECTION) {
        for (let n = r.u32(); n > 0; n--) {
          const f = r.u32()
          const offsets: number[] = []
          for (let k = r.u32(); k > 0; k--) { offsets.push(r.u32()); assert.equal(r.u32(), 1); assert.equal(r.u8(), 0) }
          hinted.set(f, offsets)
        }
      } else if (id === 2) {
        for (let n = r.u32(); n > 0; n--) { r.name(); r.name(); assert.equal(r.u8(), 0); r.u32(); imported++ }
      } else if (id === 10) {
        for (let n = r.u32(); n > 0; n--) { const len = r.u32(); bodies.push(r.pos); r.pos += len }
      }
      r.pos = end
    }
    assert.ok(hinted.size > 0)
    for (const [f, offsets] of hinted) {
      assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b))
      for (const at of offsets) assert.ok([0x04, 0x0d].includes(out[bodies[f - imported] + at]), `function ${f} offset ${at}`)
    }
    // hints change no result
    const e = await execute(await loadModule(bytes, { profile: 'task' }), { input: u32le(1000), fuelLimit: 1e9, sliceFuel: 100 })
    assert.equal(e.status, 'ok')
  })

  it('caps memory: memory.grow past the cap returns -1, and an AS allocation bomb aborts', async () => {
    // run: output_write the i32 result of memory.grow(100) (pages)
    const bytes = taskModule({
      types: [funcType([], []), funcType([I32, I32], [])],
      imports: [['wf', 'output_write', 1]],
      funcs: [{ type: 0, code: [0x41, 0x00, 0x41, ...s32(100), 0x40, 0x00, 0x36, 0x02, 0x00, 0x41, 0x00, 0x41, 0x04, 0x10, 0x00] }]
    })
    const capped = await execute(await loadModule(bytes, { profile: 'task', memoryLimitBytes: 2 * 65536 }), { input: new Uint8Array(0), fuelLimit: 1e6 })
    assert.equal(new DataView(capped.output.buffer).getInt32(0, true), -1)
    const roomy = await execute(await loadModule(bytes, { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 1e6 })
    assert.equal(new DataView(roomy.output.buffer).getInt32(0, true), 1)
    const bomb = `${AS_PRELUDE}
      const keep = new Array<Uint8Array>()
      export function run(): void { for (;;) keep.push(new Uint8Array(1 << 20)) }`
    const e = await execute(await loadModule(await compileAS(bomb), { profile: 'task', memoryLimitBytes: 16 << 20 }), { input: new Uint8Array(0), fuelLimit: 1e10 })
    assert.ok(e.status === 'abort' || e.status === 'trap', `${e.status}: ${e.message}`)
  })

  it('traps deep recursion deterministically at the stack budget, not at V8\'s limit', async () => {
    // f(n) = n == 0 ? 0 : 1 + f(n - 1); run: f(10^7)
    const bytes = taskModule({
      types: [funcType([], []), funcType([I32], [I32])],
      funcs: [
        { type: 0, code: [0x41, ...s32(10_000_000), 0x10, 0x01, 0x1a] },
        { type: 1, code: [0x20, 0x00, 0x04, I32, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x01, 0x41, 0x01, 0x6a, 0x05, 0x41, 0x00, 0x0b] }
      ]
    })
    const mod = await loadModule(bytes, { profile: 'task' })
    const a = await execute(mod, { input: new Uint8Array(0), fuelLimit: 1e12 })
    const b = await execute(mod, { input: new Uint8Array(0), fuelLimit: 1e12, sliceFuel: 333 })
    assert.equal(a.status, 'trap')
    assert.equal(a.trapKind, 'stack-overflow')
    assert.match(a.message ?? '', /stack depth|depth budget/)
    assert.equal(b.fuel, a.fuel)
    assert.equal(b.commitment.toString(), a.commitment.toString())
    assert.ok(STACK_BUDGET_UNITS > 0)
  })

  it('traps a long acyclic chain of heavy frames, and recursion through a table, on the budget too', async () => {
    // 300 functions, each with 500 i64 locals, each calling the next: no cycle, but far past the budget
    const n = 300
    const funcs = [{ type: 0, code: [0x10, 0x01] }, ...Array.from({ length: n }, (_, i) => ({ type: 0, locals: new Array(500).fill(0x7e), code: i + 1 < n ? [0x10, ...u32(i + 2)] : [] }))]
    const chain = await execute(await loadModule(taskModule({ funcs }), { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 1e9 })
    assert.equal(chain.trapKind, 'stack-overflow')
    // f calls itself through table slot 0 (call_indirect), forever
    const bytes = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
      ...section(1, vec([funcType([], [])])),
      ...section(3, vec([[0x00], [0x00]])),
      ...section(4, vec([[0x70, 0x00, 0x01]])),
      ...section(5, vec([[0x00, 0x01]])),
      ...section(7, vec([[3, 0x72, 0x75, 0x6e, 0x00, 0x00], [6, ...enc.encode('memory'), 0x02, 0x00]])),
      ...section(9, vec([[0x00, 0x41, 0x00, 0x0b, ...vec([[0x01]])]])),
      ...section(10, vec([[4, 0x00, 0x10, 0x01, 0x0b], [7, 0x00, 0x41, 0x00, 0x11, 0x00, 0x00, 0x0b]]))
    ])
    const viaTable = await execute(await loadModule(bytes, { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 1e9 })
    assert.equal(viaTable.trapKind, 'stack-overflow')
  })

  it('classifies traps into fixed kinds', async () => {
    const cases: [number[], string][] = [
      [[0x00], 'unreachable'],
      [[0x41, 0x01, 0x41, 0x00, 0x6d, 0x1a], 'divide-by-zero'],
      [[0x41, ...s32(-1), 0x28, 0x02, 0x00, 0x1a], 'memory-out-of-bounds']
    ]
    for (const [code, kind] of cases) {
      const e = await execute(await loadModule(taskModule({ funcs: [{ type: 0, code }] }), { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 1e6 })
      assert.equal(e.status, 'trap')
      assert.equal(e.trapKind, kind)
    }
  })

  it('reports env.abort with its AssemblyScript message', async () => {
    const src = `${AS_PRELUDE}export function run(): void { if (input_size() == 0) abort("no input given") }`
    const e = await execute(await loadModule(await compileAS(src), { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 1e6 })
    assert.equal(e.status, 'abort')
    assert.match(e.message ?? '', /^no input given/)
  })

  it('stops with output-limit past the output cap', async () => {
    const src = `${AS_PRELUDE}export function run(): void { for (let i = 0; i < 100; i++) writeString("0123456789") }`
    const e = await execute(await loadModule(await compileAS(src), { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 1e8, outputLimitBytes: 55 })
    assert.equal(e.status, 'output-limit')
    assert.equal(e.output.length, 50)
  })

  it('canonicalises NaN bits when a float is stored (0/0 stores 0x7ff8000000000000 on every CPU)', async () => {
    // store f64 (0/0) at 0 then (-(0/0)) at 8; output 16 bytes
    const code = [0x41, 0x00, 0x44, ...new Array(8).fill(0), 0x44, ...new Array(8).fill(0), 0xa3, 0x39, 0x03, 0x00,
      0x41, 0x08, 0x44, ...new Array(8).fill(0), 0x44, ...new Array(8).fill(0), 0xa3, 0x9a, 0x39, 0x03, 0x00,
      0x41, 0x00, 0x41, 0x10, 0x10, 0x00]
    const bytes = taskModule({ types: [funcType([], []), funcType([I32, I32], [])], imports: [['wf', 'output_write', 1]], funcs: [{ type: 0, code }] })
    const e = await execute(await loadModule(bytes, { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 1e6 })
    const dv = new DataView(e.output.buffer)
    assert.equal(dv.getBigUint64(0, true), 0x7ff8000000000000n)
    assert.equal(dv.getBigUint64(8, true), 0x7ff8000000000000n)
    void F64
  })

  it('runs a start function before run', async () => {
    // start: memory[0] = 42; run: output_write(0, 1)
    const bytes = taskModule({
      types: [funcType([], []), funcType([I32, I32], [])],
      imports: [['wf', 'output_write', 1]],
      funcs: [{ type: 0, code: [0x41, 0x00, 0x41, 0x01, 0x10, 0x00] }, { type: 0, code: [0x41, 0x00, 0x41, 42, 0x3a, 0x00, 0x00] }],
      start: 2
    })
    const e = await execute(await loadModule(bytes, { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 1e6 })
    assert.deepEqual([...e.output], [42])
  })

  it('replay confirms an honest commitment and detects a tampered output', async () => {
    const bytes = await compileAS(HELLO)
    const input = enc.encode('replay me')
    const honest = await execute(await loadModule(bytes, { profile: 'task' }), { input, fuelLimit: 1e9 })
    const ok = await replay(bytes, input, honest.commitment, { profile: 'task', fuelLimit: 1e9 })
    assert.equal(ok.matches, true)
    // a worker that claims another output commits to a record with another output CID
    const tampered: CommitmentRecord = {
      v: VM_VERSION,
      module: honest.moduleCid,
      input: honest.inputCid,
      output: await rawCid(enc.encode('sum=0 rnd=0')),
      fuel: honest.fuel,
      status: 'ok',
      reason: null,
      logs: (await sha256.digest(encode({ d: 0, e: honest.logs.map(l => enc.encode(l)) }))).digest
    }
    const forged = await cidOf(encode(tampered))
    assert.equal((await cidOf(encode({ ...tampered, output: honest.outputCid }))).toString(), honest.commitment.toString(), 'the record layout is the documented one')
    const bad = await replay(bytes, input, forged, { profile: 'task', fuelLimit: 1e9 })
    assert.equal(bad.matches, false)
  })

  it('uses the ChaCha20 keystream of RFC 8439 (test vector 2.3.2)', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i)
    const nonce = Uint8Array.from([0, 0, 0, 9, 0, 0, 0, 0x4a, 0, 0, 0, 0])
    const out = new Uint8Array(16)
    new ChaCha20Stream(key, nonce, 1).fill(out)
    assert.equal(Buffer.from(out).toString('hex'), '10f1e7e4d13b5915500fdd1fa32071c4')
  })
})

describe('WebDeterministicVM: instrumented modules stay valid', () => {
  // Random structured bodies: nested block/loop/if (and a loop with a result), br/br_if/br_table to any open
  // label (out of loops too, and to the function itself), return, calls, float stores, bulk fill.
  type Stmt = number[]
  const MAX_NEST = 5
  const list = (s: fc.Arbitrary<Stmt>): fc.Arbitrary<Stmt> => fc.array(s, { maxLength: 4 }).map(xs => xs.flat())
  /** A statement with `left` more levels of nesting allowed: MAX_NEST - left labels are open around it. */
  const stmtAt = (fns: number): fc.Memo<Stmt> => fc.memo((left: number): fc.Arbitrary<Stmt> => {
    const open = MAX_NEST - left
    const leaves: fc.Arbitrary<Stmt>[] = [
      fc.constant<Stmt>([0x41, 0x01, 0x1a]),
      fc.constant<Stmt>([0x41, 0x00, 0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0xa3, 0x39, 0x03, 0x00]),
      fc.constant<Stmt>([0x41, 0x00, 0x41, 0x07, 0x41, 0x10, 0xfc, 0x0b, 0x00]),
      fc.integer({ min: 0, max: Math.max(0, fns - 1) }).map(f => [0x10, ...u32(f + 1)]),
      fc.constant<Stmt>([0x0f]),
      fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: open })).map(([c, d]) => [0x41, c, 0x0d, ...u32(d)]),
      fc.tuple(fc.integer({ min: 0, max: 2 }), fc.array(fc.integer({ min: 0, max: open }), { minLength: 1, maxLength: 3 }))
        .map(([c, ds]) => [0x41, c, 0x0e, ...u32(ds.length - 1), ...ds.flatMap(d => u32(d))])
    ]
    if (left <= 0) return fc.oneof(...leaves)
    const inner = list(stmtAt(fns)(left - 1))
    return fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      ...leaves,
      inner.map(b => [0x02, 0x40, ...b, 0x0b]),
      inner.map(b => [0x03, 0x40, ...b, 0x0b]),
      inner.map(b => [0x03, 0x7f, ...b, 0x41, 0x05, 0x0b, 0x1a]),
      fc.tuple(fc.integer({ min: 0, max: 1 }), inner, inner).map(([c, t, e]) => [0x41, c, 0x04, 0x40, ...t, 0x05, ...e, 0x0b])
    )
  })

  it('validates, and runs deterministically, for generated module shapes', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 4 }).chain(n => fc.array(list(stmtAt(n)(MAX_NEST)), { minLength: n, maxLength: n })), async bodies => {
      // function 0 is run; functions 1..n are () -> () helpers
      const bytes = taskModule({ funcs: [{ type: 0, code: bodies[0] }, ...bodies.map(code => ({ type: 0, code }))] })
      assert.equal(valid(bytes), true)
      const { bytes: out } = instrument(bytes, { profile: 'task' })
      assert.equal(valid(out), true)
      const mod = await loadModule(bytes, { profile: 'task' })
      const a = await execute(mod, { input: new Uint8Array(0), fuelLimit: 20_000 })
      const b = await execute(mod, { input: new Uint8Array(0), fuelLimit: 20_000, sliceFuel: 97 })
      assert.equal(b.commitment.toString(), a.commitment.toString())
    }), { numRuns: 150 })
  })

  it('keeps multi-value functions, tables and element segments valid', async () => {
    // type 1: () -> (i32, i32); run calls it through the table and drops both
    const bytes = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
      ...section(1, vec([funcType([], []), funcType([], [I32, I32])])),
      ...section(3, vec([[0x00], [0x01]])),
      ...section(4, vec([[0x70, 0x00, 0x01]])),
      ...section(5, vec([[0x00, 0x01]])),
      ...section(7, vec([[...[3, 0x72, 0x75, 0x6e], 0x00, 0x00], [6, ...new TextEncoder().encode('memory'), 0x02, 0x00]])),
      ...section(9, vec([[0x00, 0x41, 0x00, 0x0b, ...vec([[0x01]])]])),
      ...section(10, vec([
        [...u32(9), 0x00, 0x41, 0x00, 0x11, 0x01, 0x00, 0x1a, 0x1a, 0x0b],
        [...u32(7), 0x00, 0x41, 0x01, 0x41, 0x02, 0x0f, 0x0b]
      ]))
    ])
    assert.equal(valid(bytes), true)
    const e = await execute(await loadModule(bytes, { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 1000 })
    assert.equal(e.status, 'ok')
  })
})

describe('WebDeterministicVM: prepaid counted loops and the NaN rule', () => {
  // counted loops of many shapes, some prepaid (short), some not (long), with stores that trap for lim > 0
  const PREPAID = `${AS_PRELUDE}
export function run(): void {
  const inp = readInput()
  const n = load<u32>(inp.dataStart)
  const m = load<i32>(inp.dataStart + 4)
  const lim = load<i32>(inp.dataStart + 8)
  const buf = new StaticArray<u32>(64)
  let x: u32 = 7
  for (let k: u32 = 0; k < n; k++) {
    for (let i: i32 = 0; i < m; i++) { x = x * 1103515245 + 12345; if (x & 1) x ^= <u32>i; unchecked(buf[i & 63] = x) }
    for (let i: i32 = lim; i > 3; i--) x += 1
    for (let i: u32 = 5; i < 9; i++) { store<u32>(<usize>(<i32>(x & 0xff) + lim * 1000), x); x++ }
    if ((k & 7) == 3) { const o = new Uint8Array(4); store<u32>(o.dataStart, x); writeBytes(o) }
  }
  const out = new Uint8Array(4); store<u32>(out.dataStart, x); writeBytes(out)
}`
  const input = (n: number, m: number, lim: number): Uint8Array => {
    const b = new Uint8Array(12)
    const dv = new DataView(b.buffer)
    dv.setUint32(0, n, true)
    dv.setInt32(4, m, true)
    dv.setInt32(8, lim, true)
    return b
  }

  it('gives the same commitment for every slice size, completed, out of fuel or trapped; a trap is charged its limit', async () => {
    const mod = await loadModule(await compileAS(PREPAID), { profile: 'task' })
    let traps = 0
    for (const [n, m, lim] of [[10, 100, 0], [20, 50, 100000], [5, -3, 0], [12, 5000, 1]]) {
      const inp = input(n, m, lim)
      const full = await execute(mod, { input: inp, fuelLimit: 1e12 })
      // a completed run: every limit at or above its fuel gives its commitment; a trapped one has fuel = limit,
      // and the point to look around is the least limit at which it traps rather than stops out-of-fuel
      let point = full.fuel
      if (full.status === 'trap') {
        traps++
        assert.equal(full.fuel, 1e12)
        let lo = 0
        while (lo < point) {
          const mid = Math.floor((lo + point) / 2)
          if ((await execute(mod, { input: inp, fuelLimit: mid })).status === 'trap') point = mid
          else lo = mid + 1
        }
      }
      for (const limit of [1, 1000, 12345, Math.floor(point / 2), point - 1, point, point + 1]) {
        const ref = await execute(mod, { input: inp, fuelLimit: limit })
        if (limit >= point && full.status === 'ok') assert.equal(ref.commitment.toString(), full.commitment.toString())
        if (full.status === 'trap') {
          assert.equal(ref.status, limit >= point ? 'trap' : 'out-of-fuel')
          assert.equal(ref.fuel, limit)
        }
        for (const sliceFuel of [1, 97, 65536, 1e7]) {
          const e = await execute(mod, { input: inp, fuelLimit: limit, sliceFuel })
          assert.equal(e.commitment.toString(), ref.commitment.toString(), `n=${n} m=${m} lim=${lim} limit=${limit} slice=${sliceFuel}`)
        }
      }
    }
    assert.ok(traps > 0)
  })

  it('charges a counted loop whose bound is below its start as one that does not iterate (its head once)', async () => {
    // m = 0: the prepaid form, trip 0; m < 0: n - i is negative, so the loop runs unprepaid and exits at its head
    const mod = await loadModule(await compileAS(PREPAID), { profile: 'task' })
    const fuel = async (m: number): Promise<number> => (await execute(mod, { input: input(7, m, 0), fuelLimit: 1e12 })).fuel
    const zero = await fuel(0)
    for (const m of [-1, -3, -0x7fffffff]) assert.equal(await fuel(m), zero, `m=${m}`)
    assert.ok(await fuel(1) > zero)
  })

  it('canonicalises NaNs stored in a loop whose check branches out of it (counted and plain loops), same fuel', async () => {
    // loop k (counted: i < 4; plain: j != 4): [64 + 32k + 8i] = [8i] - [32 + 8i]; i++; br — then output 64 bytes
    const loop = (counter: number, cmp: number[], base: number): number[] => [
      0x03, 0x40, 0x20, counter, ...cmp, 0x04, 0x40,
      0x20, counter, 0x41, 0x03, 0x74, 0x41, ...s32(base), 0x6a, // address
      0x20, counter, 0x41, 0x03, 0x74, 0x2b, 0x03, 0x00, 0x20, counter, 0x41, 0x03, 0x74, 0x2b, 0x03, 0x20, 0xa1, // a - b
      0x39, 0x03, 0x00, 0x20, counter, 0x41, 0x01, 0x6a, 0x21, counter, 0x0c, 0x01, 0x0b, 0x0b]
    const code = [0x41, 0x00, 0x41, 0x00, 0x41, 0xc0, 0x00, 0x10, 0x00, 0x1a, // input_read(0, 0, 64)
      ...loop(0, [0x41, 0x04, 0x48], 64), ...loop(1, [0x41, 0x04, 0x47], 96),
      0x41, 0xc0, 0x00, 0x41, 0xc0, 0x00, 0x10, 0x01]
    const bytes = taskModule({
      types: [funcType([], []), funcType([I32, I32, I32], [I32]), funcType([I32, I32], [])],
      imports: [['wf', 'input_read', 1], ['wf', 'output_write', 2]],
      funcs: [{ type: 0, locals: [I32, I32], code }]
    })
    const { bytes: out } = instrument(bytes, { profile: 'task' })
    assert.ok(Buffer.from(out).includes(Buffer.from([0x62, 0x0d])), 'a NaN check that branches (f64.ne; br_if)')
    const input = new Uint8Array(64)
    const dv = new DataView(input.buffer)
    for (const [i, v] of [Infinity, 1.5, 0, 2].entries()) dv.setFloat64(8 * i, v, true)
    dv.setBigUint64(16, 0xfff8000000000001n, true) // a NaN with a payload
    for (const [i, v] of [Infinity, 0.25, 0].entries()) dv.setFloat64(32 + 8 * i, v, true)
    dv.setBigUint64(56, 0x7ff4000000000000n, true) // a signalling NaN
    const mod = await loadModule(bytes, { profile: 'task' })
    const runs = await Promise.all([1, 5, 1e7].map(sliceFuel => execute(mod, { input, fuelLimit: 10_000, sliceFuel })))
    const want = ['7ff8000000000000', '3ff4000000000000', '7ff8000000000000', '7ff8000000000000']
    for (const e of runs) {
      assert.equal(e.status, 'ok')
      const o = new DataView(e.output.buffer, e.output.byteOffset)
      assert.deepEqual([0, 8, 16, 24, 32, 40, 48, 56].map(i => o.getBigUint64(i, true).toString(16)), [...want, ...want])
      assert.equal(e.commitment.toString(), runs[0].commitment.toString())
    }
  })

  it('keeps a float copied from memory bit for bit, and canonicalises computed and constant NaNs', async () => {
    const le64 = (v: bigint): number[] => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, v, true); return [...b] }
    const i64c = (v: bigint): number[] => {
      const out: number[] = []
      let x = BigInt.asIntN(64, v)
      for (;;) {
        const b = Number(x & 0x7fn)
        x >>= 7n
        if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) { out.push(b); return out }
        out.push(b | 0x80)
      }
    }
    const code = [
      0x41, 0x00, 0x42, ...i64c(0xfff8000000000001n), 0x37, 0x03, 0x00, // [0] = NaN with a payload (as integer bits)
      0x41, 0x08, 0x41, 0x00, 0x2b, 0x03, 0x00, 0x39, 0x03, 0x00, // [8] = f64.load [0]: a copy keeps its bits
      0x41, 0x10, 0x41, 0x00, 0x2b, 0x03, 0x00, 0x9a, 0x39, 0x03, 0x00, // [16] = -load [0]: computed, canonical
      0x41, 0x18, 0x44, ...le64(0x7ff4000000000000n), 0x39, 0x03, 0x00, // [24] = a signalling NaN constant: canonical
      0x41, 0x20, 0x44, ...le64(0x4000000000000000n), 0x39, 0x03, 0x00, // [32] = 2.0
      0x41, 0x28, 0x41, 0x7f, 0xb7, 0x39, 0x03, 0x00, // [40] = f64.convert_i32_s(-1)
      0x41, 0x30, 0x41, 0x00, 0x2b, 0x03, 0x00, 0x41, 0x00, 0x2b, 0x03, 0x00, 0xa0, 0x39, 0x03, 0x00, // [48] = load + load: canonical
      0x41, 0x38, 0x41, 0x00, 0x2b, 0x03, 0x00, 0xbd, 0x37, 0x03, 0x00, // [56] = i64.reinterpret(load [0]): the bits
      0x41, 0x00, 0x41, 0xc0, 0x00, 0x10, 0x00]
    const bytes = taskModule({ types: [funcType([], []), funcType([I32, I32], [])], imports: [['wf', 'output_write', 1]], funcs: [{ type: 0, code }] })
    const e = await execute(await loadModule(bytes, { profile: 'task' }), { input: new Uint8Array(0), fuelLimit: 1e6 })
    assert.equal(e.status, 'ok')
    const dv = new DataView(e.output.buffer, e.output.byteOffset)
    const at = (i: number): string => dv.getBigUint64(i, true).toString(16)
    assert.deepEqual([0, 8, 16, 24, 32, 40, 48, 56].map(at), [
      'fff8000000000001', 'fff8000000000001', '7ff8000000000000', '7ff8000000000000',
      '4000000000000000', 'bff0000000000000', '7ff8000000000000', 'fff8000000000001'
    ])
  })
})
