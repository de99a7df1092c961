// System behaviours on 100 nodes with 10% loss: restart, graceful leave,
// clock skew, forged heartbeats, and exact replay of a seed.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { membershipBounds } from '../src/index.ts'
import { gossip, hb } from './fixtures/core.ts'
import { GossipHarness } from './fixtures/sim-gossip.ts'

const N = 100
const LATENCY = { min: 5, max: 50 }
const B = membershipBounds({ n: N, maxLatencyMs: LATENCY.max })

function boot (seed: number, skew?: (i: number) => number): GossipHarness {
  const h = new GossipHarness(seed, { seeds: ['n0', 'n1'] }, { loss: 0.1, latency: LATENCY, duplicate: 0.01, reorder: 0.05, reorderMs: 200 }, true)
  for (let i = 0; i < N; i++) {
    h.sim.at(i * 20, () => {
      h.add(`n${i}`)
      if (skew !== undefined) h.sim.setSkew(`n${i}`, skew(i))
    })
  }
  h.sim.run(N * 20)
  const at = h.sim.runUntil(() => h.complete(), B.joinMs, 50)
  assert.ok(at !== undefined, `boot of seed ${seed} did not converge within ${B.joinMs} ms`)
  return h
}

const RESTART_SEED = 301
test(`a restarted node (higher incarnation) is back in every view within B.joinMs, before or after its removal (seed ${RESTART_SEED})`, () => {
  const h = boot(RESTART_SEED)
  const incOf = (o: string, p: string): number | undefined => h.sim.node(o).core.view().find(m => m.peer === p)?.heartbeat.body.inc
  // quick restart: most views still hold the old incarnation
  h.crash('n5')
  h.sim.run(h.sim.now() + 1000)
  h.restart('n5')
  const quick = h.sim.runUntil(() => h.liveIds().every(o => o === 'n5' || incOf(o, 'n5') === 2) && h.complete(), B.joinMs, 50)
  assert.ok(quick !== undefined, 'every view holds incarnation 2')
  // slow restart: after everyone removed it
  h.crash('n6')
  assert.ok(h.sim.runUntil(() => (h.holders.get('n6') ?? 0) === 0, B.goneMs, 50) !== undefined)
  h.restart('n6')
  const slow = h.sim.runUntil(() => h.liveIds().every(o => o === 'n6' || incOf(o, 'n6') === 2) && h.complete(), B.joinMs, 50)
  assert.ok(slow !== undefined, 'the restarted node rejoined every view')
  assert.deepEqual(h.falseRemovals.filter(f => f.peer !== 'n5' && f.peer !== 'n6'), [])
})

const LEAVE_SEED = 302
test(`a graceful leave reaches every view within B.spreadMs + one period, as 'left' (seed ${LEAVE_SEED})`, () => {
  const h = boot(LEAVE_SEED)
  const reasons: string[] = []
  const inner = h.hooks.onEffect!
  h.hooks.onEffect = (node, e) => {
    if (e.type === 'leave' && e.peer === 'n7') reasons.push(e.reason)
    inner(node, e)
  }
  h.leave('n7')
  const at = h.sim.now()
  const done = h.sim.runUntil(() => (h.holders.get('n7') ?? 0) === 0, B.spreadMs + 1000, 10)
  assert.ok(done !== undefined, `still held by ${h.holders.get('n7')} nodes`)
  assert.equal(reasons.length, N - 1)
  assert.ok(reasons.every(r => r === 'left'))
  // the leaver's stale heartbeats do not bring it back
  h.sim.run(h.sim.now() + B.goneMs)
  assert.equal(h.holders.get('n7'), 0)
  assert.ok(done - at <= B.spreadMs + 1000)
})

const SKEW_SEED = 303
test(`clock skew of up to ±1 h changes nothing: views converge and a crash is detected within the bounds (seed ${SKEW_SEED})`, () => {
  const h = boot(SKEW_SEED, i => (i % 3 - 1) * 3_600_000 + i)
  h.crash('n9')
  const gone = h.sim.runUntil(() => (h.holders.get('n9') ?? 0) === 0, B.goneMs, 50)
  assert.ok(gone !== undefined)
  h.sim.run(h.sim.now() + 10_000)
  assert.ok(h.complete())
  assert.deepEqual(h.falseRemovals, [])
})

const FORGE_SEED = 304
test(`a forged heartbeat relayed by another node is refused by the driver and never reaches a view (seed ${FORGE_SEED})`, () => {
  const h = boot(FORGE_SEED)
  const victim = h.sim.node('n3')
  const forged = hb('n4', 1, 99)
  forged.sig = new Uint8Array([1, 2, 3, 4])
  victim.onMessage('n8', gossip(forged))
  victim.onMessage('n8', gossip({ ...hb('ghost', 1, 1), sig: new Uint8Array(0) }))
  assert.equal(h.hooks.rejected, 2)
  assert.notEqual(victim.core.view().find(m => m.peer === 'n4')?.heartbeat.body.seq, 99)
  assert.ok(!victim.core.has('ghost'))
})

function replay (seed: number): { hash: string, views: string } {
  const h = boot(seed)
  h.crash('n11')
  h.leave('n12')
  h.sim.partition([h.liveIds().slice(0, 50)])
  h.sim.run(h.sim.now() + 15_000)
  h.sim.heal()
  h.sim.run(h.sim.now() + 15_000)
  const views = h.liveIds().map(id => `${id}:${h.sim.node(id).core.view().map(m => `${m.peer}@${m.heartbeat.body.seq}`).sort().join(',')}`).join(';')
  return { hash: h.sim.traceHash(), views }
}

const REPLAY_SEED = 305
test(`a seed replays a membership run exactly; another seed diverges (seed ${REPLAY_SEED})`, () => {
  const a = replay(REPLAY_SEED)
  const b = replay(REPLAY_SEED)
  const c = replay(REPLAY_SEED + 1)
  assert.equal(a.hash, b.hash)
  assert.equal(a.views, b.views)
  assert.notEqual(a.hash, c.hash)
})
