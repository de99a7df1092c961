// Compute over real libp2p in one process: a coordinator (the origin granted
// it compute/assign) and workers with the compute role. Jobs run to quorum,
// a saboteur is outvoted and blacklisted, receipts are signed and
// countersigned, and bad frames on the compute protocol are refused.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { readFile } from 'node:fs/promises'
import { decodeReceipt, execute, loadModule, receiptCid, verifyReceipt } from '@webfabric/compute'
import { encode, fromBase64url } from '@webfabric/protocol'
import { COMPUTE_PROTOCOL, type FabricNode, MAX_COMPUTE_FRAME, PROC_PROTOCOL, type ProcEvent } from '@webfabric/runtime'
import { compileTask } from '@webfabric/sdk'
import { type TestOrigin, didOf, grant, makeOrigin, startNode, waitFor } from './fixtures.ts'
import { connectionOf, lengthPrefixed, sendRaw } from './raw-streams.ts'

const SPIN = fileURLToPath(new URL('../../compute/test/fixtures/assembly/spin.ts', import.meta.url))
const TICKER = fileURLToPath(new URL('./fixtures/assembly/ticker.ts', import.meta.url))

/** Ticker input: count, sleep ms, topic. */
function tickerInput (count: number, ms: number, topic: string): Uint8Array {
  const t = new TextEncoder().encode(topic)
  const b = new Uint8Array(8 + t.length)
  new DataView(b.buffer).setUint32(0, count, true)
  new DataView(b.buffer).setUint32(4, ms, true)
  b.set(t, 8)
  return b
}
// calmer than the fixtures' default: on a loaded 2-core machine 100 ms / 1.5 s makes members flap
const MEMBERSHIP = { intervalMs: 250, ttlMs: 5000 }
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
      grant(origin, did, 'fabric/compute', ['compute/assign', 'compute/spawn'])
    ])
    coordinator = await startNode(origin, { dataDir, rendezvous: true, roles: ['rendezvous'], credentials: creds.map(c => c.bytes), membership: MEMBERSHIP })
    for (let i = 0; i < 3; i++) workers.push(await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['compute'], compute: { slots: 1 }, membership: MEMBERSHIP }))
    saboteur = await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['compute'], compute: { slots: 1, saboteur: 'wrong' }, membership: MEMBERSHIP })
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
    // and the job's report says so: the saboteur's results rejected, it (and no one else) caught in this job
    assert.deepEqual(report.caught, [saboteur.peerId])
    assert.ok(report.rejectedResults >= 1)
  })

  it('a receipt that names another input than the one run is refused: its worker is never relied on', async () => {
    const liar = await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['compute'], compute: { slots: 1, saboteur: 'misnamed' }, membership: MEMBERSHIP })
    try {
      await waitFor('the coordinator sees the liar', () => coordinator.membership.view().some(m => m.peerId === liar.peerId && m.roles.includes('compute')))
      const inputs = Array.from({ length: 24 }, (_, i) => u32(500 + i * 31))
      const report = await coordinator.submitJob({ module, inputs, name: 'misnamed' })
      assert.equal(report.accepted, 24)
      // its results are right, but its receipts misstate what ran: none is counted toward a quorum
      for (const t of report.tasks) assert.ok(!t.workers!.includes(liar.peerId), `task ${t.task} rests on a misnamed receipt`)
      assert.ok(coordinator.coordinator!.reputation().workers.some(w => w.peer === liar.peerId && w.blacklisted), 'the liar was blacklisted')
    } finally {
      await liar.stop()
    }
  })

  it('workers sign a receipt per execution; the coordinator countersigns the accepted ones', async () => {
    const report = await coordinator.submitJob({ module, inputs: [u32(7), u32(8), u32(9)], name: 'receipts' })
    assert.equal(report.failed, 0)
    const honest = workers.filter(w => report.tasks.some(t => t.workers!.includes(w.peerId)))
    assert.ok(honest.length >= 2)
    for (const w of honest) {
      // every receipt of a result the job accepted on this worker's word is countersigned
      const carried = (r: { task: string }): boolean => report.tasks.some(t => t.task === r.task && t.workers!.includes(w.peerId))
      await waitFor('countersignatures', async () => (await w.receipts.list({ job: report.job })).filter(carried).every(r => r.accepted === true))
      const list = await w.receipts.list({ job: report.job })
      assert.ok(list.filter(carried).length > 0)
      for (const r of list) {
        assert.equal(r.worker, w.did)
        assert.equal(r.coordinator, coordinator.did)
        assert.equal(r.origin, origin.identity.did)
        assert.ok(report.tasks.some(t => t.commitment === r.commitment))
      }
      // each logged receipt verifies on its own (alone, or by its path to a batch's signed root) and is named by its CID
      const lines = (await readFile(w.receipts.path, 'utf8')).split('\n').filter(l => l.length > 0).map(l => JSON.parse(l) as { t: string, cid?: string, b: string })
      for (const line of lines.filter(l => l.t === 'r')) {
        const bytes = fromBase64url(line.b)
        const receipt = decodeReceipt(bytes)
        assert.equal((await verifyReceipt(receipt)).worker, w.did)
        assert.equal(await receiptCid(receipt), line.cid)
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
    ['wrong shape', lengthPrefixed(encode({ k: 'run', a: 7 }))],
    ['runs with one malformed assignment', lengthPrefixed(encode({ k: 'runs', j: 'j', m: 'm', f: 1, r: [{ a: 'a1', t: 't1', i: new Uint8Array(4) }, { a: 'a2', t: 't2', i: 4 }] }))]
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
    const leaver = await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['compute'], compute: { slots: 1 }, membership: MEMBERSHIP })
    await waitFor('the coordinator sees the newcomer', () => coordinator.membership.view().some(m => m.peerId === leaver.peerId))
    const inputs = Array.from({ length: 16 }, (_, i) => u32(2_000_000 + i))
    const job = coordinator.submitJob({ module, inputs, name: 'churn' }, p => { if (p.done >= 2) void leaver.stop() })
    const report = await job
    assert.equal(report.failed, 0)
    assert.equal(report.accepted, 16)
  })

  describe('processes', () => {
    let ticker: Uint8Array
    before(async () => { ticker = await compileTask(TICKER, { profile: 'process' }) })

    it('a process streams its stdout and stderr, publishes on the topic it was granted, and ends with a receipt', async () => {
      const subscriber = workers[2]
      await subscriber.pubsub.subscribe('ticks')
      const heard: string[] = []
      subscriber.pubsub.addEventListener('message', e => {
        const m = (e as CustomEvent).detail
        if (m.topic === 'ticks') heard.push(new TextDecoder().decode(m.data))
      })
      await new Promise(resolve => setTimeout(resolve, 1000)) // let the gossipsub mesh form
      const p = await coordinator.spawnProcess({ module: ticker, input: tickerInput(3, 20, 'ticks'), topics: ['ticks'], on: workers[0].peerId, name: 'ticker' })
      assert.equal(p.peer, workers[0].peerId)
      const events: ProcEvent[] = []
      const done = await coordinator.waitProcess(p.id, e => events.push(e))
      assert.equal(done.state, 'exited')
      assert.equal(done.status, 'ok')
      const stdout = events.filter(e => e.stream === 'stdout').map(e => new TextDecoder().decode(e.data as Uint8Array)).join('')
      assert.equal(stdout, 'tick 0\ntick 1\ntick 2\n')
      assert.deepEqual(events.filter(e => e.stream === 'stderr').map(e => e.data), ['log 0', 'log 1', 'log 2'])
      await waitFor('the published ticks', () => heard.length === 3)
      assert.deepEqual(heard.sort(), ['tick 0', 'tick 1', 'tick 2'])
      const receipts = await workers[0].receipts.list({ job: 'proc' })
      assert.ok(receipts.some(r => r.task === p.id && r.status === 'ok' && r.commitment === done.commitment))
    })

    it('a process cannot publish on a topic it was not granted', async () => {
      const p = await coordinator.spawnProcess({ module: ticker, input: tickerInput(1, 1, 'ticks'), topics: ['other'] })
      const events: ProcEvent[] = []
      const done = await coordinator.waitProcess(p.id, e => events.push(e))
      assert.equal(done.status, 'ok')
      assert.ok(events.some(e => e.stream === 'stderr' && e.data === 'publish refused: -1'))
    })

    it('ls shows a running process; kill stops it at its next slice', async () => {
      const p = await coordinator.spawnProcess({ module: ticker, input: tickerInput(0, 5, 'ticks'), name: 'forever' })
      assert.equal(p.state, 'running')
      assert.ok(coordinator.processes!.list().some(x => x.id === p.id && x.state === 'running'))
      await new Promise(resolve => setTimeout(resolve, 200))
      const killed = await coordinator.processes!.kill(p.id)
      assert.equal(killed.state, 'killed')
      const host = [...workers, saboteur].find(w => w.peerId === p.peer)!
      await waitFor('the process gone from its host', () => host.processHost!.count === 0)
    })

    it('refuses to place a process on a peer that is not a compute member, or with bad limits, by name', async () => {
      await assert.rejects(coordinator.spawnProcess({ module: ticker, on: coordinator.peerId }), { name: 'ProcessError' })
      await assert.rejects(coordinator.spawnProcess({ module: ticker, topics: Array.from({ length: 17 }, (_, i) => `t${i}`) }), { name: 'ProcessError' })
      await assert.rejects(coordinator.spawnProcess({ module: ticker, fuelLimit: -1 }), { name: 'ProcessError' })
      await assert.rejects(coordinator.spawnProcess({ module: ticker, memoryLimitBytes: 2 ** 40 }), { name: 'ProcessError' })
    })

    it('a member without compute/spawn cannot start a process', async () => {
      const outsider = await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['relay'] })
      try {
        const victim = workers[0]
        const before = victim.processHost!.refused
        const cap = await grant(origin, outsider.did, 'fabric/compute', ['compute/assign'])
        const frame = encode({ k: 'spawn', c: cap.bytes, id: 'x', mb: ticker, i: tickerInput(0, 5, 't'), f: 1e9, mem: 2 ** 24, tp: [] })
        const stream = await sendRaw(outsider, victim, PROC_PROTOCOL, lengthPrefixed(frame))
        await waitFor('the spawn refused', () => victim.processHost!.refused > before)
        await waitFor('the outsider disconnected', () => connectionOf(outsider, stream).status !== 'open')
        assert.equal(victim.processHost!.count, 0)
      } finally {
        await outsider.stop()
      }
    })
  })
})
