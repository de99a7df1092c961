// A 1,000-node fabric split in two halves, then healed.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defaults, membershipBounds } from '../src/index.ts'
import { GossipHarness } from './fixtures/sim-gossip.ts'

const SEED = 4242
const N = 1000
const LATENCY = { min: 5, max: 50 }
const LOSS = 0.1
const PARTITION_MS = 30_000
const B = membershipBounds({ n: N, maxLatencyMs: LATENCY.max })

test(`1,000 nodes split in halves for 30 s heal within B.healMs after heal(), 10% loss, no live node removed afterwards (seed ${SEED})`, (t) => {
  const h = new GossipHarness(SEED, { seeds: ['n0', 'n1', 'n2'] }, { loss: LOSS, latency: LATENCY })
  for (let i = 0; i < N; i++) h.sim.at(Math.floor(i * 10_000 / N), () => h.add(`n${i}`))
  h.sim.run(10_000)
  assert.ok(h.sim.runUntil(() => h.complete(), B.joinMs + 3 * defaults.SYNC_MS, 100) !== undefined, 'boot converges')
  const ids = h.liveIds()
  const halves = [ids.filter((_, i) => i % 2 === 0), ids.filter((_, i) => i % 2 === 1)]
  // removing the other half is correct while split
  h.watchFalseRemovals(false)
  h.sim.partition(halves)
  const splitAt = h.sim.now()
  const seen = (o: string, s: string): boolean => h.sim.node(o).core.has(s)
  const split = h.sim.runUntil(() => halves[0].every(o => !seen(o, halves[1][0])) && halves[1].every(o => !seen(o, halves[0][0])), PARTITION_MS, 250)
  h.sim.run(splitAt + PARTITION_MS)
  for (const [mine, other] of [[halves[0], halves[1]], [halves[1], halves[0]]]) {
    for (const o of mine.slice(0, 20)) {
      const view = h.sim.node(o).core
      assert.equal(view.size, mine.length, `${o} sees exactly its half after ${PARTITION_MS} ms`)
      assert.ok(!other.some(p => view.has(p)))
    }
  }
  t.diagnostic(`split: sample nodes dropped the other half ${split === undefined ? `> ${PARTITION_MS}` : split - splitAt} ms after partition()`)
  h.sim.heal()
  const healAt = h.sim.now()
  const healed = h.sim.runUntil(() => h.complete(), B.healMs, 100)
  assert.ok(healed !== undefined, `views not complete ${B.healMs} ms after heal(): ${h.missingPairs(0, 5).join('; ')}`)
  t.diagnostic(`heal: every view complete ${healed - healAt} ms after heal() (bound ${B.healMs})`)
  h.watchFalseRemovals(true)
  h.sim.run(h.sim.now() + 2 * B.goneMs)
  assert.deepEqual(h.falseRemovals, [])
  assert.ok(h.complete())
})
