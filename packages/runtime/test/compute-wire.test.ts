// The compute protocol's frames as a worker decodes them: a runs frame (several
// assignments of one job) survives encoding, and one malformed assignment
// refuses the whole frame, naming the field, before anything runs.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encode } from '@webfabric/protocol'
import { MAX_INPUT_BYTES, MAX_RUNS_PER_FRAME, type RunsFrame, decodeCoordinatorFrame, encodeFrame } from '../src/compute-wire.ts'

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
