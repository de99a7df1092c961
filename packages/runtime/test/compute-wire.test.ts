// The compute protocol's frames as a worker and a coordinator decode them: a
// runs frame (several assignments of one job) and a results frame (several
// results) survive encoding, and one malformed entry refuses the whole frame,
// naming the field, before anything uses it.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encode } from '@webfabric/protocol'
import {
  MAX_CAP_CHARS,
  MAX_INPUT_BYTES,
  MAX_OUTPUT_BYTES,
  MAX_RESULTS_BYTES,
  MAX_RESULTS_PER_FRAME,
  MAX_RUNS_PER_FRAME,
  MAX_WORKER_FRAME,
  type ResultEntry,
  type ResultsFrame,
  type RunsFrame,
  decodeCoordinatorFrame,
  decodeWorkerFrame,
  encodeFrame,
  resultBytes
} from '../src/compute-wire.ts'

const runs = (r: unknown[], extra: Record<string, unknown> = {}): Uint8Array => encode({ k: 'runs', j: 'job-1', m: 'bafkmodule', f: 1000, mem: 65536, r, ...extra })
const ok = { a: 'a1', t: 't1', i: new Uint8Array([1, 2, 3]) }
const refused = (bytes: Uint8Array, field: string): void => {
  assert.throws(() => decodeCoordinatorFrame(bytes), (e: Error & { field?: string }) => e.name === 'MalformedError' && e.field === field, `field ${field}`)
}

describe('compute frames: runs', () => {
  it('several assignments of one job survive encoding; absent seeds stay absent', () => {
    const frame: RunsFrame = { k: 'runs', c: new Uint8Array([9]), j: 'job-1', m: 'bafkmodule', f: 1000, mem: 65536, r: [ok, { a: 'a2', t: 't2', i: new Uint8Array(0), s: new Uint8Array(32) }] }
    assert.deepEqual(decodeCoordinatorFrame(encodeFrame(frame)), frame)
    assert.deepEqual(decodeCoordinatorFrame(encodeFrame({ ...frame, r: [{ ...ok, s: undefined }] })), { ...frame, r: [ok] })
  })

  it('refuses the whole frame when one assignment is malformed, naming the field', () => {
    refused(runs([ok, { a: 7, t: 't2', i: new Uint8Array(0) }]), 'r.a')
    refused(runs([ok, { a: 'a2', t: '', i: new Uint8Array(0) }]), 'r.t')
    refused(runs([ok, { a: 'a2', t: 't2', i: 'bytes' }]), 'r.i')
    refused(runs([ok, { a: 'a2', t: 't2' }]), 'r.i')
    refused(runs([ok, { a: 'a2', t: 't2', i: new Uint8Array(0), s: new Uint8Array(65) }]), 'r.s')
    refused(runs([ok, { a: 'a2', t: 't2', i: new Uint8Array(0), mb: new Uint8Array(1) }]), 'mb')
    refused(runs([ok, 'run']), 'frame')
    refused(runs([ok, { ...ok, t: 't2' }]), 'r')
  })

  it('refuses an empty or overlong list, a bad shared field, or an unknown one', () => {
    refused(runs([]), 'r')
    refused(runs(Array.from({ length: MAX_RUNS_PER_FRAME + 1 }, (_, n) => ({ ...ok, a: `a${n}` }))), 'r')
    refused(encode({ k: 'runs', j: 'job-1', m: 'bafkmodule', f: 1000, r: ok }), 'r')
    refused(runs([ok], { f: -1 }), 'f')
    refused(runs([ok], { j: '' }), 'j')
    refused(runs([ok], { mem: 2 ** 40 }), 'mem')
    refused(runs([ok], { mb: new Uint8Array(1) }), 'mb')
  })

  it('holds an input up to the size a run frame holds', () => {
    const big = new Uint8Array(MAX_INPUT_BYTES)
    assert.equal((decodeCoordinatorFrame(runs([{ ...ok, i: big }])) as RunsFrame).r[0].i.byteLength, MAX_INPUT_BYTES)
    refused(runs([{ ...ok, i: new Uint8Array(MAX_INPUT_BYTES + 1) }]), 'r.i')
  })
})

describe('compute frames: results', () => {
  const entry = (a: string, extra: Record<string, unknown> = {}): ResultEntry => ({ a, st: 'ok', fuel: 12, cm: 'bafkcommit', oc: 'bafkout', o: new Uint8Array([4, 5]), rc: new Uint8Array([6]), ms: 0, ...extra })
  const refusedByCoordinator = (bytes: Uint8Array, field: string): void => {
    assert.throws(() => decodeWorkerFrame(bytes), (e: Error & { field?: string }) => e.name === 'MalformedError' && e.field === field, `field ${field}`)
  }

  it('several results survive encoding; an absent message stays absent', () => {
    const frame: ResultsFrame = { k: 'results', r: [entry('a1'), entry('a2', { st: 'trap', msg: 'unreachable' })] }
    assert.deepEqual(decodeWorkerFrame(encodeFrame(frame)), frame)
    assert.deepEqual(decodeWorkerFrame(encodeFrame({ k: 'results', r: [{ ...entry('a1'), msg: undefined }] })), { k: 'results', r: [entry('a1')] })
  })

  it('refuses the whole frame when one result is malformed, a list too long, or an assignment twice', () => {
    const results = (r: unknown[]): Uint8Array => encode({ k: 'results', r })
    refusedByCoordinator(results([entry('a1'), { ...entry('a2'), fuel: -1 }]), 'r.fuel')
    refusedByCoordinator(results([entry('a1'), { ...entry('a2'), rc: 'receipt' }]), 'r.rc')
    refusedByCoordinator(results([entry('a1'), { ...entry('a2'), k: 'result' }]), 'k')
    refusedByCoordinator(results([]), 'r')
    refusedByCoordinator(results(Array.from({ length: MAX_RESULTS_PER_FRAME + 1 }, (_, n) => entry(`a${n}`))), 'r')
    refusedByCoordinator(results([entry('a1'), entry('a1')]), 'r')
  })

  it('resultBytes bounds what a result adds to its frame, so frames packed by it stay readable', () => {
    const one = entry('a'.repeat(128), { st: 'x'.repeat(32), cm: 'é'.repeat(256), oc: '€'.repeat(256), msg: '😀'.repeat(512), fuel: 2 ** 50, ms: 2 ** 40, rc: new Uint8Array(4096) })
    const empty = encodeFrame({ k: 'results', r: [] }).byteLength
    const two = encodeFrame({ k: 'results', r: [one, { ...one, a: 'b' }] }).byteLength
    assert.ok(two - empty <= 2 * resultBytes(one), `${two - empty} > ${2 * resultBytes(one)}`)
    assert.ok(MAX_RESULTS_BYTES + 64 < MAX_WORKER_FRAME)
    // the largest single result (an output at the limit) is still read as one frame
    const big = entry('a1', { o: new Uint8Array(MAX_OUTPUT_BYTES), rc: new Uint8Array(4096), msg: 'm'.repeat(1024) })
    assert.ok(resultBytes(big) < MAX_WORKER_FRAME)
  })
})

describe('compute frames: inputs and outputs through the fabric\'s storage', () => {
  const stored = { a: 'a2', t: 't2', i: new Uint8Array(0), ir: 'wf-read:bafyroot:key', ic: 'bafkinput' }

  it('a large input travels as its read capability and CID, in a run or a runs frame', () => {
    const frame: RunsFrame = { k: 'runs', j: 'job-1', m: 'bafkmodule', f: 1000, r: [ok, stored] }
    assert.deepEqual(decodeCoordinatorFrame(encodeFrame(frame)), frame)
    const run = { k: 'run' as const, a: 'a1', j: 'job-1', t: 't1', m: 'bafkmodule', i: new Uint8Array(0), ir: stored.ir, ic: stored.ic, f: 10 }
    assert.deepEqual(decodeCoordinatorFrame(encodeFrame(run)), run)
  })

  it('refuses a capability beside inline bytes, without its CID, or too long', () => {
    refused(runs([{ ...stored, i: new Uint8Array(1) }]), 'r.i')
    const { ic: _ic, ...noCid } = stored
    const { ir: _ir, ...noCap } = stored
    refused(runs([noCid]), 'r.ic')
    refused(runs([noCap]), 'r.ir')
    refused(runs([{ ...stored, ir: 'x'.repeat(MAX_CAP_CHARS + 1) }]), 'r.ir')
    refused(encode({ k: 'run', a: 'a1', j: 'j', t: 't', m: 'm', i: new Uint8Array(2), ir: stored.ir, ic: stored.ic, f: 10 }), 'i')
  })

  it('a large output travels as its read capability, with no bytes beside it', () => {
    const result = { k: 'result' as const, a: 'a1', st: 'ok', fuel: 5, cm: 'bafycm', oc: 'bafkout', o: new Uint8Array(0), or: stored.ir, rc: new Uint8Array([1]), ms: 3 }
    assert.deepEqual(decodeWorkerFrame(encodeFrame(result)), result)
    assert.throws(() => decodeWorkerFrame(encodeFrame({ ...result, o: new Uint8Array(1) })), (e: Error & { field?: string }) => e.field === 'o')
    const { k: _k, ...entryOf } = result
    assert.throws(() => decodeWorkerFrame(encode({ k: 'results', r: [{ ...entryOf, or: 7 }] })), (e: Error & { field?: string }) => e.field === 'r.or')
  })
})
