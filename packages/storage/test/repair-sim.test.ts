// The repair protocol in the deterministic simulator: 500 nodes under churn
// and message faults, the durability bound and where it ends, split views
// with two leaders, corruption. Every scenario names its seed; a failure
// replays exactly with it (the message prints it).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { rankHolders } from '../src/placement.ts'
import { keyOf, RepairSim, redundancyOf, scheduleChurn, spread } from './fixtures/repair-sim.ts'
import type { RepairSimOptions } from './fixtures/repair-sim.ts'

// Timing of every scenario (virtual ms).
const CORE = { graceMs: 10_000, warmupMs: 10_000, rebuildTimeoutMs: 15_000, antiEntropyMs: 10_000, maxConcurrentRebuilds: 8, failedTargetMs: 30_000 }
const DETECT = { min: 1000, max: 4000 } // D: failure detection, per observer
const TRANSFER = { min: 1000, max: 4000 } // T: one rebuild transfer
const FAULTS = { loss: 0.03, duplicate: 0.02, reorder: 0.05, reorderMs: 500, latency: { min: 5, max: 50 } }
// The repair window R = D + G + 2T (+ message slack): a failed holder's
// position is refilled within R while its leader lives, allowing one failed
// target. f failures per f·R keep every object within its tolerance f (README).
const SLACK = 1000
const R = DETECT.max + CORE.graceMs + 2 * TRANSFER.max + SLACK
const F = 2 // r − 1 for r = 3, m for 4 + 2
const WINDOW = F * R

function options (seed: number, faults: RepairSimOptions['faults'] = FAULTS): RepairSimOptions {
  return { seed, faults, core: CORE, detectMs: DETECT, transferMs: TRANSFER, fetchFailMs: 2000 }
}

// Boots `nodes` nodes (weights 1–3), lets views settle, writes `objects`.
function fabric (seed: number, nodes: number, objects: number, faults?: RepairSimOptions['faults']): RepairSim {
  const h = new RepairSim(options(seed, faults))
  for (let i = 0; i < nodes; i++) h.add(`n${i}`, 1 + h.rnd.int(3))
  h.sim.run(DETECT.max + 1000)
  for (let i = 0; i < objects; i++) assert.ok(h.put(`obj${i}`, redundancyOf(i)))
  return h
}

function settle (h: RepairSim, maxMs: number, seed: number, what: string): number {
  const start = h.sim.now()
  const at = h.sim.runUntil(() => h.violations(1).length === 0, maxMs, 2000)
  assert.ok(at !== undefined, `seed ${seed}: ${what} not back at full redundancy within ${maxMs} ms: ${h.violations(8).join('; ')}`)
  return at - start
}

const BIG_SEED = 20261121
test(`500 nodes, 3,000+ objects (r=3 and 4+2), 8 min of churn with 3% loss, duplication and reordering: nothing lost, then full redundancy with at most one extra share per 500 objects (seed ${BIG_SEED})`, (t) => {
  const wall = performance.now()
  const h = fabric(BIG_SEED, 500, 3000)
  h.sim.run(h.sim.now() + 20_000)
  assert.deepEqual(h.violations(5), [], `seed ${BIG_SEED}: not at full redundancy after the writes`)
  const churnMs = 8 * 60_000
  const churn = scheduleChurn(h, {
    durationMs: churnMs, everyMs: 1500, joinShare: 0.3, departShare: 0.3,
    blipMs: { min: 2000, max: 8000 }, longMs: { min: 15_000, max: 60_000 }, windowMs: WINDOW, putEveryMs: 2000
  }, 'j')
  const churnEnd = h.sim.now() + churnMs
  h.sim.run(churnEnd)
  assert.deepEqual([...h.lost.keys()], [], `seed ${BIG_SEED}: acknowledged objects lost during churn`)
  assert.deepEqual(h.unrecoverable, [], `seed ${BIG_SEED}: a leader found an object unrecoverable`)
  // churn stops; crashed nodes come back with their disks (within 60 s)
  h.sim.run(churnEnd + 61_000)
  // full redundancy: every object fully held under its winning record; all
  // but a few settle to that one record with no other share anywhere (a
  // holder that saw the one it would drop for live holds on: a leak, never a
  // loss — repair README, "Adoption")
  const start = h.sim.now()
  const at = h.sim.runUntil(() => h.lineageViolations(1).violations.length === 0 && h.violations(100).length <= 10, 180_000, 2000)
  assert.ok(at !== undefined, `seed ${BIG_SEED}: the fabric not back at full redundancy within 180000 ms: ${h.lineageViolations(8).violations.join('; ')}; ${h.violations(8).join('; ')}`)
  const settled = at - start
  const leftover = h.lineageViolations()
  assert.ok(leftover.leaked <= h.objects.size / 500, `seed ${BIG_SEED}: ${leftover.leaked} extra shares left`)
  assert.deepEqual([...h.lost.keys()], [], `seed ${BIG_SEED}: objects lost`)
  const s = h.stats
  t.diagnostic(`seed ${BIG_SEED}: ${h.sim.upIds().length} nodes up at the end, ${h.objects.size} objects (${s.puts - 3000} written during churn)`)
  t.diagnostic(`churn: ${s.departures} departures, ${s.crashes} crashes (${s.restarts} restarts), ${s.joins - 500} joins over ${churnMs / 60_000} min; ${churn.skipped} victims skipped to respect ≤ ${F} failures per object per ${WINDOW} ms`)
  t.diagnostic(`repairs: ${s.repaired} installed, ${s.rebuilds} rebuilds (${s.rebuildFailed} failed), ${s.drops} superseded shares dropped; failure → repaired ${spread(h.repairLatency)} (R = ${R})`)
  t.diagnostic(`messages: ${h.sim.totals.sent} sent (${h.sim.totals.sentSize} entries), ${h.sim.totals.dropped} dropped, ${h.sim.totals.duplicated} duplicated`)
  t.diagnostic(`full redundancy ${61_000 + settled} ms after churn stopped (the last crashed node was back within 60 s), ${leftover.split} objects with a second record and ${leftover.leaked} extra shares left; virtual ${Math.round(h.sim.now() / 1000)} s, wall ${Math.round(performance.now() - wall)} ms`)
  assert.ok(s.departures > 50 && s.crashes > 100 && s.joins - 500 > 60, `seed ${BIG_SEED}: churn too light`)
  // within R while the leader lives; a leader failing mid-repair restarts it
  assert.ok(Math.max(...h.repairLatency) <= WINDOW, `seed ${BIG_SEED}: a repair took longer than f·R = ${WINDOW} ms: ${spread(h.repairLatency)}`)
})

const REPLAY_SEED = 77
test(`a seed replays exactly: same trace, same figures (seed ${REPLAY_SEED})`, () => {
  const run = (seed: number): string => {
    const h = fabric(seed, 60, 200)
    scheduleChurn(h, {
      durationMs: 120_000, everyMs: 2000, joinShare: 0.3, departShare: 0.3,
      blipMs: { min: 2000, max: 8000 }, longMs: { min: 15_000, max: 40_000 }, windowMs: WINDOW, putEveryMs: 5000
    }, 'r')
    h.sim.run(h.sim.now() + 200_000)
    return `${h.sim.traceHash()} ${JSON.stringify(h.stats)} ${h.sim.totals.sent}`
  }
  const a = run(REPLAY_SEED)
  assert.equal(run(REPLAY_SEED), a, `seed ${REPLAY_SEED} did not replay`)
  assert.notEqual(run(REPLAY_SEED + 1), a)
})

const BOUND_SEED = 1337
test(`the bound is real: m+1 holders of a 4+2 object, or all r of an r=3 one, gone inside one window → lost, and reported (seed ${BOUND_SEED})`, () => {
  const h = fabric(BOUND_SEED, 120, 40, {})
  h.sim.run(h.sim.now() + 20_000)
  assert.deepEqual(h.violations(), [])
  const holdersOf = (root: string): string[] => h.sim.node(h.sim.upIds().find(id => h.sim.node(id).core.held(root).length > 0)!).core.record(root)!.holders
  // three objects with disjoint holders, so that each cut is exactly the intended one
  const pick = (want: 'replicas' | 'erasure', avoid: Set<string>): string => [...h.objects.keys()].find(root =>
    h.objects.get(root)!.redundancy.kind === want && holdersOf(root).every(p => !avoid.has(p)))!
  const x = pick('erasure', new Set()) // 4+2: three holders go, the leader among them
  const y = pick('replicas', new Set(holdersOf(x))) // r=3: every holder goes
  const z = pick('erasure', new Set([...holdersOf(x), ...holdersOf(y)])) // 4+2: exactly m = 2 go — within the bound
  const victims = new Set([...holdersOf(x).slice(0, 3), ...holdersOf(y), ...holdersOf(z).slice(1, 3)])
  // which objects the truth says are lost: fewer than need positions survive
  const expected = [...h.objects].filter(([root, info]) => {
    let left = 0
    for (const nodes of h.where.get(root)!.values()) if ([...nodes].some(n => !victims.has(n))) left++
    return left < info.need
  }).map(([root]) => root).sort()
  assert.ok(expected.includes(x) && expected.includes(y) && !expected.includes(z), `seed ${BOUND_SEED}: victims ${[...victims]} do not make the intended cut`)
  const at = h.sim.now()
  for (const v of victims) h.depart(v)
  h.sim.run(at + DETECT.max + CORE.graceMs + 5000)
  assert.deepEqual([...h.lost.keys()].sort(), expected, `seed ${BOUND_SEED}: the harness must see exactly the objects that lost too many holders`)
  // a surviving holder leads x and reports it: the loss is not hidden
  const reported = new Set(h.unrecoverable.map(u => u.root))
  for (const root of expected) {
    const survivors = h.sim.upIds().filter(id => h.sim.node(id).core.held(root).length > 0)
    if (survivors.length > 0) assert.ok(reported.has(root), `seed ${BOUND_SEED}: ${root} lost but no survivor among ${survivors} reported it`)
  }
  assert.ok(reported.has(x), `seed ${BOUND_SEED}: ${x} not reported unrecoverable`)
  const ev = h.unrecoverable.find(u => u.root === x)!
  assert.ok(ev.at - at <= DETECT.max + CORE.graceMs + 1000, `seed ${BOUND_SEED}: reported ${ev.at - at} ms after the failures`)
  // everything within its bound is repaired (z included)
  h.sim.run(h.sim.now() + 60_000)
  const bad = h.violations(100).filter(v => !expected.some(root => v.startsWith(`${root} `) || v.startsWith(`${root}:`)))
  assert.deepEqual(bad, [], `seed ${BOUND_SEED}: objects within the bound not repaired`)
  assert.equal(h.livePositions(z), 6)
})

// Settles a healed partition: every object has a fully held record (see lineageViolations).
function settleLineages (h: RepairSim, maxMs: number, seed: number, what: string): { leaked: number, split: number } {
  // the records move for a while after healing (minorities follow, restarted
  // holders catch up): let them, then the state must hold still for a minute
  h.sim.run(h.sim.now() + maxMs)
  const settled = h.lineageViolations(8)
  assert.deepEqual(settled.violations, [], `seed ${seed}: ${what} not settled within ${maxMs} ms`)
  const drops = h.stats.drops
  h.sim.run(h.sim.now() + 60_000)
  const end = h.lineageViolations(8)
  assert.deepEqual(end.violations, [], `seed ${seed}: ${what} unsettled again`)
  assert.equal(h.stats.drops, drops, `seed ${seed}: ${what} still dropping shares`)
  return { leaked: end.leaked, split: end.split }
}

const SPLIT_SEED = 9001
test(`partition: both halves repair (conflicting records); after healing nothing is lost, minorities follow the majority's record, every object has a fully held record (seed ${SPLIT_SEED})`, (t) => {
  const h = fabric(SPLIT_SEED, 24, 80)
  h.sim.run(h.sim.now() + 20_000)
  assert.deepEqual(h.violations(), [])
  const ids = h.sim.ids()
  const a = ids.filter((_, i) => i % 2 === 0)
  const b = ids.filter((_, i) => i % 2 === 1)
  h.split([a, b])
  h.sim.run(h.sim.now() + DETECT.max + CORE.graceMs + 3 * TRANSFER.max + 30_000)
  // records diverged: some object has different records on the two sides
  let conflicts = 0
  for (const root of h.objects.keys()) {
    const seen = new Set<string>()
    for (const id of ids) {
      const rec = h.sim.node(id).core.record(root)
      if (rec !== undefined && h.sim.node(id).core.held(root).length > 0) seen.add(`${rec.version}:${rec.holders.join(',')}`)
    }
    if (seen.size > 1) conflicts++
  }
  assert.ok(conflicts > 10, `seed ${SPLIT_SEED}: only ${conflicts} objects diverged during the split`)
  assert.equal(h.lost.size, 0, `seed ${SPLIT_SEED}: a split must not lose data`)
  assert.equal(h.stats.drops, 0, `seed ${SPLIT_SEED}: nothing may be dropped while the holders cannot confirm`)
  h.heal()
  const settled = settleLineages(h, 120_000, SPLIT_SEED, 'the healed fabric')
  assert.equal(h.lost.size, 0, `seed ${SPLIT_SEED}: objects lost`)
  t.diagnostic(`seed ${SPLIT_SEED}: ${conflicts} of ${h.objects.size} objects had two records; ${h.stats.drops} shares of the cut-off minorities dropped, ${settled.split} objects still on two lineages (${settled.leaked} extra shares kept)`)
})

const LIAR_SEED = 666
test(`byzantine holders: a tenth of the members forge newer records naming each other, under churn and faults — no honest node that did not restart takes one or drops a share for one, nothing is lost (seed ${LIAR_SEED})`, (t) => {
  const h = fabric(LIAR_SEED, 80, 300)
  const ids = h.sim.ids()
  for (let i = 0; i < ids.length; i += 10) h.liars.add(ids[i])
  h.sim.run(h.sim.now() + 20_000)
  assert.deepEqual(h.violations(5), [], `seed ${LIAR_SEED}: not at full redundancy after the writes`)
  // a node that restarted trusts what its co-holders vouch for, for a while
  // (see the repair README): a lie vouched for by a liar among them can take
  // it in; counted apart
  const RECENT = Number.POSITIVE_INFINITY
  const recent = (id: string): boolean => h.failedAt.has(id)
  const fooled: string[] = []
  let forgedDrops = 0
  let forgedDropsAfterRestart = 0
  const drop = h.dropShare.bind(h)
  h.dropShare = (id, root, p) => {
    const r = h.sim.node(id).core.record(root)
    if (!h.liars.has(id) && r !== undefined && h.forged.has(`${root}:${r.version}:${r.holders.join(',')}`)) {
      if (recent(id)) forgedDropsAfterRestart++
      else forgedDrops++
    }
    drop(id, root, p)
  }
  const churnMs = 4 * 60_000
  const watch = (): void => {
    fooled.push(...h.fooled(RECENT))
    if (h.sim.now() < churnEnd + 240_000) h.sim.after(1000, watch)
  }
  const churnEnd = h.sim.now() + churnMs
  h.sim.after(1000, watch)
  scheduleChurn(h, {
    durationMs: churnMs, everyMs: 3000, joinShare: 0.3, departShare: 0.3,
    blipMs: { min: 2000, max: 8000 }, longMs: { min: 15_000, max: 60_000 }, windowMs: WINDOW, putEveryMs: 0
  }, 'b')
  h.sim.run(churnEnd + 61_000)
  assert.ok(h.forged.size > 100, `seed ${LIAR_SEED}: the liars forged only ${h.forged.size} records`)
  assert.deepEqual(fooled.slice(0, 5), [], `seed ${LIAR_SEED}: honest nodes that never restarted took forged records`)
  assert.equal(forgedDrops, 0, `seed ${LIAR_SEED}: honest shares dropped for forged records`)
  assert.deepEqual([...h.lost.keys()], [], `seed ${LIAR_SEED}: objects lost`)
  // every object fully held under an honest record (restarted nodes taken in
  // may still hold to a forgery beside it)
  const settled = settleLineages(h, 120_000, LIAR_SEED, 'the fabric with liars')
  assert.deepEqual(h.fooled(RECENT), [])
  t.diagnostic(`seed ${LIAR_SEED}: ${h.liars.size} liars of ${ids.length}, ${h.forged.size} forged records pressed on every honest holder each round; ${h.stats.repaired} repairs; ${settled.split} objects with a forged record beside the honest one at the end; ${forgedDropsAfterRestart} shares dropped for forged records by nodes that had restarted (each kept by the honest co-holders the forgery removed)`)
})

const ROT_SEED = 4711
test(`corruption: lost() on holders (leaders included) is repaired in place (seed ${ROT_SEED})`, (t) => {
  const h = fabric(ROT_SEED, 100, 300)
  h.sim.run(h.sim.now() + 20_000)
  assert.deepEqual(h.violations(), [])
  const picks: [string, string][] = []
  for (let i = 0; i < 60; i++) {
    const root = `obj${(i * 7) % 300}`
    const holders = rankHolders(keyOf(root), h.sim.upIds().map(peer => ({ peer, weight: h.weights.get(peer)! })), 6)
    const rec = h.sim.node(holders[0]).core.record(root) ?? h.sim.node(holders[1]).core.record(root)!
    const victim = rec.holders[i % 3 === 0 ? 0 : h.rnd.int(rec.holders.length)]
    if (picks.some(([n, r]) => r === root && n === victim)) continue
    picks.push([victim, root])
  }
  for (const [node, root] of picks) h.corrupt(node, root)
  const settled = settle(h, 60_000, ROT_SEED, 'corrupted objects')
  assert.equal(h.lost.size, 0)
  assert.equal(h.repairLatency.length, picks.length, `seed ${ROT_SEED}: every rotten share is restored in place`)
  t.diagnostic(`seed ${ROT_SEED}: ${picks.length} rotten shares restored; lost() → restored ${spread(h.repairLatency)}; all healthy within ${settled} ms`)
})

const SPLIT_SEEDS = [31, 32, 33, 34, 35, 36, 37, 38, 39, 40]
test(`partitions into 2–3 groups with crashes inside: after healing nothing is lost, every object has a fully held record (seeds ${SPLIT_SEEDS.join(', ')})`, (t) => {
  let diverged = 0
  let leaked = 0
  let split = 0
  for (const seed of SPLIT_SEEDS) {
    const h = fabric(seed, 36, 120)
    h.sim.run(h.sim.now() + 20_000)
    const ids = h.sim.ids()
    const k = 2 + (seed % 2)
    h.split(Array.from({ length: k }, (_, g) => ids.filter((_, i) => i % k === g)))
    h.sim.run(h.sim.now() + 20_000 + h.rnd.int(40_000))
    // a few holders crash and come back inside the split (replaced or not)
    for (let c = 0; c < 3; c++) {
      const v = h.sim.upIds()[h.rnd.int(h.sim.upIds().length)]
      h.crash(v)
      h.sim.after(5000 + h.rnd.int(30_000), () => h.restart(v))
    }
    h.sim.run(h.sim.now() + 40_000)
    for (const root of h.objects.keys()) {
      const recs = new Set(h.sim.upIds().map(id => h.sim.node(id).core.record(root)).filter(r => r !== undefined).map(r => `${r.version}:${r.holders}`))
      if (recs.size > 1) diverged++
    }
    assert.equal(h.lost.size, 0, `seed ${seed}: lost during the split`)
    h.heal()
    const s = settleLineages(h, 180_000, seed, `the ${k}-way split, healed,`)
    assert.equal(h.lost.size, 0, `seed ${seed}: objects lost`)
    leaked += s.leaked
    split += s.split
  }
  assert.ok(diverged > 100, `only ${diverged} objects diverged`)
  t.diagnostic(`${SPLIT_SEEDS.length} splits: ${diverged} object-splits had diverging records; after healing ${split} objects kept more than one lineage, ${leaked} extra shares in all`)
})
