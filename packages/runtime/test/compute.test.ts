// Compute over real libp2p in one process: a coordinator (the origin granted
// it compute/assign) and workers with the compute role. Jobs run to quorum,
// a saboteur is outvoted and blacklisted, receipts are signed and
// countersigned, and bad frames on the compute protocol are refused.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { execute, loadModule } from '@webfabric/compute'
import { encode } from '@webfabric/protocol'
import { COMPUTE_PROTOCOL, type FabricNode, MAX_COMPUTE_FRAME } from '@webfabric/runtime'
import { compileTask } from '@webfabric/sdk'
import { type TestOrigin, didOf, grant, makeOrigin, startNode, waitFor } from './fixtures.ts'
import { connectionOf, lengthPrefixed, sendRaw } from './raw-streams.ts'

const SPIN = fileURLToPath(new URL('../../compute/test/fixtures/assembly/spin.ts', import.meta.url))
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer)

describe('compute on real libp2p (in one process)', () => {
  let origin: TestOrigin
  let coordinator: FabricNode
  const workers: FabricNode[] = []
  let saboteur: FabricNode
  let module: Uint8Array

  before(async () => {
    module = await compileTask(SPIN)
    origin = await makeOrigin()
    const { join } = await import('node:path')
    const dataDir = join(origin.dir, 'coordinator')
    const did = await didOf(origin, dataDir)
    const creds = await Promise.all([
      grant(origin, did, 'fabric/membership', ['membership/gossip']),
      grant(origin, did, 'fabric/compute', ['compute/assign'])
    ])
    coordinator = await startNode(origin, { dataDir, rendezvous: true, roles: ['rendezvous'], credentials: creds.map(c => c.bytes) })
    for (let i = 0; i < 3; i++) workers.push(await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['compute'], compute: { slots: 1 } }))
    saboteur = await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['compute'], compute: { slots: 1, saboteur: 'wrong' } })
    await waitFor('the coordinator sees 4 workers', () => coordinator.membership.view().filter(m => m.roles.includes('compute')).length === 4)
  })

  after(async () => {
    for (const n of [...workers, saboteur, coordinator]) await n?.stop()
    await origin?.cleanup()
  })

  it('runs a job to 2-of-2 agreement; every accepted output is the VM\'s, the saboteur\'s never', async () => {
    const inputs = Array.from({ length: 24 }, (_, i) => u32(1000 + i * 997))
    const progress: number[] = []
    const report = await coordinator.submitJob({ module, inputs, name: 'spin' }, p => progress.push(p.done))
    assert.equal(report.failed, 0)
    assert.equal(report.accepted, 24)
    const loaded = await loadModule(module, { profile: 'task' })
    for (const t of report.tasks) {
      const expected = await execute(loaded, { input: inputs[t.index], fuelLimit: 1e10 })
      assert.deepEqual(t.output, expected.output, `task ${t.task}`)
      assert.equal(t.commitment, expected.commitment.toString())
      assert.equal(t.status, 'ok')
      assert.ok(!t.workers!.includes(saboteur.peerId), `task ${t.task} rests on the saboteur`)
    }
    assert.equal(progress.at(-1), 24)
    assert.ok(report.executions >= 48, 'k=2: at least two executions per task')
    // the saboteur's lies conflicted with honest results and the coordinator's check caught it
    assert.ok(coordinator.coordinator!.stats().blacklisted >= 1, 'the saboteur was blacklisted')
    assert.ok(coordinator.coordinator!.reputation().workers.some(w => w.peer === saboteur.peerId && w.blacklisted))
  })

  it('workers sign a receipt per execution; the coordinator countersigns the accepted ones', async () => {
    const report = await coordinator.submitJob({ module, inputs: [u32(7), u32(8), u32(9)], name: 'receipts' })
    assert.equal(report.failed, 0)
    const honest = workers.filter(w => report.tasks.some(t => t.workers!.includes(w.peerId)))
    assert.ok(honest.length >= 2)
    for (const w of honest) {
      await waitFor('countersignatures', async () => (await w.receipts.list({ job: report.job })).every(r => r.accepted === true))
      const list = await w.receipts.list({ job: report.job })
      for (const r of list) {
        assert.equal(r.worker, w.did)
        assert.equal(r.coordinator, coordinator.did)
        assert.equal(r.origin, origin.identity.did)
        assert.ok(report.tasks.some(t => t.commitment === r.commitment))
      }
    }
  })

  it('deterministic failures are results: an infinite loop is accepted as out-of-fuel', async () => {
    const report = await coordinator.submitJob({ module, inputs: [u32(0)], fuelLimit: 1_000_000, name: 'loop' })
    assert.equal(report.accepted, 1)
    assert.equal(report.tasks[0].status, 'out-of-fuel')
    assert.equal(report.tasks[0].fuel, 1_000_000)
  })

  it('refuses a job it cannot run, by name, before any worker sees it', async () => {
    await assert.rejects(coordinator.submitJob({ module: new Uint8Array([1, 2, 3]), inputs: [u32(1)] }), (e: Error) => e.name === 'JobRefusedError' && /InvalidModuleError/.test(e.message))
    await assert.rejects(coordinator.submitJob({ module, inputs: [new Uint8Array(8 * 1024 * 1024 + 1)] }), (e: Error) => e.name === 'JobRefusedError' && /split it/.test(e.message))
    await assert.rejects(coordinator.submitJob({ module, inputs: [] }), { name: 'JobRefusedError' })
  })

  it('a member without compute/assign cannot make a worker run anything', async () => {
    const outsider = await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['relay'] })
    try {
      const victim = workers[0]
      const before = victim.computeWorker!.refused
      // it presents the capability it has (membership), not the one the protocol needs
      const cap = await grant(origin, outsider.did, 'fabric/membership', ['membership/gossip'])
      const frame = encode({ k: 'run', c: cap.bytes, a: 'a1', j: 'j', t: 't0', m: 'bafkx', mb: module, i: u32(5), f: 1000 })
      const stream = await sendRaw(outsider, victim, COMPUTE_PROTOCOL, lengthPrefixed(frame))
      await waitFor('the frame refused', () => victim.computeWorker!.refused > before)
      await waitFor('the outsider disconnected', () => connectionOf(outsider, stream).status !== 'open')
      assert.ok((await victim.receipts.list()).every(r => r.coordinator !== outsider.did))
    } finally {
      await outsider.stop()
    }
  })

  for (const [label, bytes] of [
    ['garbage', new Uint8Array([0x05, 0xff, 0x00, 0x13, 0x37, 0x42])],
    ['oversized', (() => { const n = MAX_COMPUTE_FRAME + 10; const f: number[] = []; let x = n; while (x >= 0x80) { f.push((x & 0x7f) | 0x80); x = Math.floor(x / 128) } f.push(x); return new Uint8Array(f) })()],
    ['wrong shape', lengthPrefixed(encode({ k: 'run', a: 7 }))]
  ] as const) {
    it(`refuses a ${label} compute frame, disconnects the sender, and keeps working`, async () => {
      const attacker = await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['relay'] })
      try {
        const victim = workers[1]
        const before = victim.computeWorker!.refused
        const stream = await sendRaw(attacker, victim, COMPUTE_PROTOCOL, bytes)
        await waitFor('the frame refused', () => victim.computeWorker!.refused > before)
        await waitFor('the attacker disconnected', () => connectionOf(attacker, stream).status !== 'open')
        const report = await coordinator.submitJob({ module, inputs: [u32(11), u32(12)], name: 'after' })
        assert.equal(report.failed, 0)
      } finally {
        await attacker.stop()
      }
    })
  }

  it('a worker that leaves mid-job has its tasks reassigned; the job completes', async () => {
    const leaver = await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['compute'], compute: { slots: 1 } })
    await waitFor('the coordinator sees the newcomer', () => coordinator.membership.view().some(m => m.peerId === leaver.peerId))
    const inputs = Array.from({ length: 16 }, (_, i) => u32(2_000_000 + i))
    const job = coordinator.submitJob({ module, inputs, name: 'churn' }, p => { if (p.done >= 2) void leaver.stop() })
    const report = await job
    assert.equal(report.failed, 0)
    assert.equal(report.accepted, 16)
  })
})
