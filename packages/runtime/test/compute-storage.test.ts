// Large task inputs and outputs through the fabric's storage, over real libp2p
// in one process: a coordinator that may put and get, and workers that hold
// storage. An input over the inline limit is stored once and read by every
// replica's worker; an output over it is stored by the worker and read back
// by the coordinator, each checked against the CID the task or its result names.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { execute, loadModule } from '@webfabric/compute'
import { type FabricNode, MAX_INPUT_BYTES, MAX_OUTPUT_BYTES, MAX_STORED_BYTES } from '@webfabric/runtime'
import { compileTask } from '@webfabric/sdk'
import { STORAGE_MEMBERSHIP, type TestOrigin, bytesOf, didOf, grant, makeOrigin, pieces, readAll, startNode, waitFor } from './fixtures.ts'

const BULK = fileURLToPath(new URL('./fixtures/assembly/bulk.ts', import.meta.url))
const MEMBERSHIP = { intervalMs: 250, ttlMs: 5000 }

/** The bulk task's input: u32 output length, then `body`. */
function bulkInput (outLen: number, body: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + body.length)
  new DataView(b.buffer).setUint32(0, outLen, true)
  b.set(body, 4)
  return b
}

describe('compute through the fabric\'s storage (real libp2p, in one process)', () => {
  let origin: TestOrigin
  let coordinator: FabricNode
  const workers: FabricNode[] = []
  let module: Uint8Array
  let loaded: Awaited<ReturnType<typeof loadModule>>

  /** The output the VM gives `input` here: what every accepted result must equal. */
  const expected = async (input: Uint8Array): Promise<Uint8Array> => (await execute(loaded, { input, fuelLimit: 1e10, outputLimitBytes: 64 << 20 })).output

  before(async () => {
    module = await compileTask(BULK)
    loaded = await loadModule(module, { profile: 'task' })
    origin = await makeOrigin()
    const dataDir = join(origin.dir, 'coordinator')
    const did = await didOf(origin, dataDir)
    const creds = await Promise.all([
      grant(origin, did, 'fabric/membership', ['membership/gossip']),
      grant(origin, did, 'fabric/compute', ['compute/assign']),
      grant(origin, did, 'fabric/storage', ['storage/put', 'storage/get'])
    ])
    coordinator = await startNode(origin, { dataDir, rendezvous: true, roles: ['rendezvous'], credentials: creds.map(c => c.bytes), membership: MEMBERSHIP })
    // four workers that hold storage: worker 0 may also write to it; worker 1 too, but it stores a corrupted
    // copy of a large output under a true result; workers 2 and 3 may only read
    for (let i = 0; i < 4; i++) {
      const wDir = join(origin.dir, `worker-${i}`)
      const wDid = await didOf(origin, wDir)
      const abilities = i < 2 ? ['storage/hold', 'storage/get', 'storage/put'] : ['storage/hold', 'storage/get']
      const wCreds = await Promise.all([grant(origin, wDid, 'fabric/membership', ['membership/gossip']), grant(origin, wDid, 'fabric/storage', abilities)])
      const compute = i === 1 ? { slots: 1, saboteur: 'stored-wrong' as const } : { slots: 1 }
      workers.push(await startNode(origin, { dataDir: wDir, bootstrap: coordinator.addrs(), roles: ['compute', 'storage'], compute, credentials: wCreds.map(c => c.bytes), membership: STORAGE_MEMBERSHIP }))
    }
    await waitFor('the coordinator sees 4 workers holding storage', () =>
      coordinator.membership.view().filter(m => m.roles.includes('compute')).length === 4 && coordinator.storage!.service.storageMembers().length === 4)
  })

  after(async () => {
    for (const n of [...workers, coordinator]) await n?.stop()
    await origin?.cleanup()
  })

  it('an input over the inline limit goes through storage once; every replica reads it and agrees', async () => {
    const input = bulkInput(16, bytesOf(MAX_INPUT_BYTES + 1_000_000, 7))
    const report = await coordinator.submitJob({ module, inputs: [input, bulkInput(16, bytesOf(1000, 8))], replicas: 2, quorum: 2 })
    assert.equal(report.failed, 0, JSON.stringify(report.tasks.map(t => t.reason)))
    assert.deepEqual(report.tasks[0].output, await expected(input))
    // two workers agreed: an input over the inline limit cannot cross in a frame, so each read it from storage
    assert.equal(report.tasks[0].workers!.length, 2)
    assert.ok(!report.tasks[0].workers!.includes(coordinator.peerId))
    assert.deepEqual(report.tasks[1].output, await expected(bulkInput(16, bytesOf(1000, 8))))
  })

  it('an input named by a read capability is read by the coordinator and the workers', async () => {
    const input = bulkInput(8, bytesOf(MAX_INPUT_BYTES + 4096, 9))
    const put = await coordinator.storage!.service.put(pieces(input), { redundancy: { kind: 'replicas', r: 2 }, size: input.length })
    const small = bulkInput(8, bytesOf(300, 10))
    const smallPut = await coordinator.storage!.service.put(pieces(small), { redundancy: { kind: 'replicas', r: 2 }, size: small.length })
    const report = await coordinator.submitJob({ module, inputs: [put.cap, smallPut.cap], replicas: 2, quorum: 2 })
    assert.equal(report.failed, 0, JSON.stringify(report.tasks.map(t => t.reason)))
    assert.deepEqual(report.tasks[0].output, await expected(input))
    assert.deepEqual(report.tasks[1].output, await expected(small))
  })

  it('an output over the inline limit is stored by a worker that may write, and read back against the agreed CID', async () => {
    const input = bulkInput(MAX_OUTPUT_BYTES + 123_456, bytesOf(64, 11))
    // the read-only workers cannot return it (NoStorageError): the task goes to the two that can, and the
    // coordinator must not name the copy worker 1 corrupted, whatever order their results came in
    const report = await coordinator.submitJob({ module, inputs: [input], replicas: 2, quorum: 2 })
    assert.equal(report.failed, 0, JSON.stringify(report.tasks.map(t => t.reason)))
    const t = report.tasks[0]
    assert.deepEqual(new Set(t.workers), new Set([workers[0].peerId, workers[1].peerId]))
    // the report names the stored copy the coordinator read and checked, instead of carrying it
    assert.equal(t.output, undefined)
    assert.match(t.outputCap ?? '', /^wf-read:/)
    const stored = await readAll(coordinator.storage!.service, t.outputCap!)
    assert.equal(stored.byteLength, 4 + MAX_OUTPUT_BYTES + 123_456)
    assert.deepEqual(stored, await expected(input))
  })

  it('refuses by name what it cannot move: a malformed capability, an input over the stored limit', async () => {
    await assert.rejects(coordinator.submitJob({ module, inputs: ['wf-read:nonsense'] }), (e: Error) => e.name === 'JobRefusedError' && /input 0: MalformedCapabilityError/.test(e.message))
    await assert.rejects(coordinator.submitJob({ module, inputs: [new Uint8Array(MAX_STORED_BYTES + 1)] }), (e: Error) => e.name === 'JobRefusedError' && /split it/.test(e.message))
    // and still works
    const report = await coordinator.submitJob({ module, inputs: [bulkInput(4, bytesOf(10, 12))], replicas: 2, quorum: 2 })
    assert.equal(report.failed, 0)
  })

  it('never names a stored copy that does not hash to the agreed output: with only a liar\'s copy, the task has none', async (ctx) => {
    // worker 0 leaves: worker 1 is the only one that can store the output, and its copy is corrupted
    await workers[0].stop()
    await waitFor('the coordinator sees worker 0 gone', () => !coordinator.membership.view().some(m => m.peerId === workers[0].peerId), 20_000)
    const input = bulkInput(MAX_OUTPUT_BYTES + 4096, bytesOf(64, 13))
    const report = await coordinator.submitJob({ module, inputs: [input], replicas: 1, quorum: 1 })
    const t = report.tasks[0]
    ctx.diagnostic(`the task ${t.state === 'accepted' ? 'kept the bytes of the coordinator\'s own run' : `failed: ${t.reason}`}`)
    assert.equal(t.outputCap, undefined, 'the corrupted copy was named')
    // the coordinator's own run of it (a spot-check) is the only good copy; without one the task fails, saying why
    if (t.state === 'accepted') assert.deepEqual(t.output, await expected(input))
    else assert.match(t.reason ?? '', /could not be read: TaskObjectMismatchError/)
  })
})
