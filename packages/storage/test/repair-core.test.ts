// The repair core on its own: inputs in, effects out, with a few cores wired
// by a synchronous in-memory network where the protocol needs peers.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { rankHolders } from '../src/placement.ts'
import { compareRecords, RepairCore, validateRepairMessage } from '../src/repair/index.ts'
import type { PlacementRecord, RebuildEffect, RepairEffect, RepairInit, RepairMessage, SendEffect, StorageMember } from '../src/repair/index.ts'

const GRACE = 10_000
const INIT = { graceMs: GRACE, antiEntropyMs: 5000, rebuildTimeoutMs: 20_000, maxConcurrentRebuilds: 4, failedTargetMs: 60_000 }

function members (...peers: string[]): StorageMember[] {
  return peers.map(peer => ({ peer, weight: 1 }))
}

function rec (holders: string[], version = 1, root = 'bafyroot'): PlacementRecord {
  return { root, redundancy: holders.length === 6 ? { kind: 'erasure', k: 4, m: 2 } : { kind: 'replicas', r: holders.length }, holders, version, shareBytes: 1000 }
}

function ofType<T extends RepairEffect['type']> (effects: RepairEffect[], type: T): Extract<RepairEffect, { type: T }>[] {
  return effects.filter((e): e is Extract<RepairEffect, { type: T }> => e.type === type)
}

// Cores wired by a FIFO in-memory network: `send` effects queue, `flush`
// delivers until quiet (or only to some peers, to model loss); everything
// else is collected per node for the test to look at.
class Net {
  readonly cores = new Map<string, RepairCore>()
  readonly effects = new Map<string, RepairEffect[]>()
  readonly queue: { from: string, to: string, msg: RepairMessage }[] = []
  now = 0

  add (self: string, init: Partial<RepairInit> = {}): RepairCore {
    const core = new RepairCore({ ...INIT, ...init, self })
    this.cores.set(self, core)
    this.effects.set(self, [])
    return core
  }

  core (id: string): RepairCore { return this.cores.get(id)! }

  apply (id: string, effects: RepairEffect[]): RepairEffect[] {
    for (const e of effects) {
      if (e.type === 'send') this.queue.push({ from: id, to: e.to, msg: e.msg })
      else this.effects.get(id)!.push(e)
    }
    return effects
  }

  take (id: string): RepairEffect[] {
    const out = this.effects.get(id)!
    this.effects.set(id, [])
    return out
  }

  flush (deliver: (to: string) => boolean = () => true): number {
    let n = 0
    while (this.queue.length > 0) {
      const m = this.queue.shift()!
      if (!this.cores.has(m.to) || !deliver(m.to)) continue
      n++
      this.apply(m.to, this.core(m.to).message(m.from, m.msg, this.now))
    }
    return n
  }

  // every listed core sees `view`
  view (ids: string[], view: StorageMember[]): void {
    for (const id of ids) this.apply(id, this.core(id).view(view.filter(m => m.peer !== id), this.now))
  }

  tick (ids: string[], now: number): void {
    this.now = now
    for (const id of ids) this.apply(id, this.core(id).tick(now))
  }
}

// A replicated object on a, b, c with d, e, f as spare members.
function trio (): { net: Net, record: PlacementRecord, all: StorageMember[] } {
  const net = new Net()
  const all = members('a', 'b', 'c', 'd', 'e', 'f')
  for (const m of all) net.add(m.peer)
  const record = rec(['a', 'b', 'c'])
  net.view(all.map(m => m.peer), all)
  record.holders.forEach((h, i) => { net.apply(h, net.core(h).hold(record, i, 0)) })
  net.tick(all.map(m => m.peer), 0)
  net.flush()
  for (const m of all) net.take(m.peer)
  return { net, record, all }
}

test('hold persists the share; the snapshot is plain data and restores the same state', () => {
  const core = new RepairCore({ self: 'a' })
  const r = rec(['a', 'b', 'c'])
  const eff = core.hold(r, 0, 100, 'index-of-root')
  assert.deepEqual(ofType(eff, 'persist').length, 1)
  assert.deepEqual(ofType(eff, 'timer'), [], 'no timer before the first view')
  const snap = core.snapshot()
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap)
  assert.deepEqual(snap, { format: 1, objects: [{ record: r, held: [0], key: 'index-of-root' }] })
  const again = new RepairCore({ self: 'a', snapshot: structuredClone(snap) })
  assert.deepEqual(again.snapshot(), snap)
  assert.deepEqual(again.held('bafyroot'), [0])
  assert.deepEqual(core.health('bafyroot'), { live: 1, n: 3, need: 1 })
  assert.equal(core.health('nope'), undefined)
  // mutating what the driver passed in changes nothing inside
  r.holders[1] = 'zz'
  assert.equal(core.record('bafyroot')!.holders[1], 'b')
})

test('the leader waits out the grace: a blip is not repaired, an absence is, onto the best-ranked non-holder', () => {
  const { net, record, all } = trio()
  // c blips: gone and back within the grace
  net.now = 1000
  net.apply('a', net.core('a').leave('c', 1000))
  net.tick(['a'], 1000 + GRACE - 1)
  net.apply('a', net.core('a').join({ peer: 'c', weight: 1 }, 1000 + GRACE - 1))
  net.tick(['a'], 1000 + GRACE + 1)
  assert.deepEqual(ofType(net.take('a'), 'rebuild'), [])
  // c leaves for good
  net.apply('a', net.core('a').leave('c', 20_000))
  net.apply('b', net.core('b').leave('c', 20_000))
  net.tick(['a', 'b'], 20_000 + GRACE - 1)
  assert.deepEqual(ofType(net.take('a'), 'rebuild'), [], 'not before the grace')
  net.tick(['a', 'b'], 20_000 + GRACE)
  const [rb] = ofType(net.take('a'), 'rebuild')
  const target = rankHolders('bafyroot', all.filter(m => m.peer !== 'c'), 1, new Set(record.holders))[0]
  assert.equal(rb.target, target)
  assert.equal(rb.position, 2)
  assert.equal(rb.need, 1)
  assert.deepEqual(rb.sources, [{ peer: 'a', position: 0 }, { peer: 'b', position: 1 }], 'self first')
  assert.deepEqual(rb.record.holders, ['a', 'b', target])
  assert.equal(rb.record.version, 2)
  assert.ok(rb.deadline > 20_000 + GRACE)
  assert.deepEqual(ofType(net.take('b'), 'rebuild'), [], 'only the leader acts')
  assert.deepEqual(net.core('a').health('bafyroot'), { live: 2, n: 3, need: 1 })
})

test('a successful rebuild installs the record at every holder; the replaced one is told when it is back, and drops once confirmed', () => {
  const { net } = trio()
  for (const id of ['a', 'b']) net.apply(id, net.core(id).leave('c', 0))
  net.tick(['a', 'b'], GRACE)
  const [rb] = ofType(net.take('a'), 'rebuild')
  // the driver moves the data: the target holds it, then the leader hears
  net.apply(rb.target, net.core(rb.target).hold(rb.record, rb.position, GRACE + 100))
  const eff = net.apply('a', net.core('a').rebuilt({ root: rb.root, position: rb.position, target: rb.target, ok: true }, GRACE + 200))
  assert.deepEqual(ofType(eff, 'repaired'), [{ type: 'repaired', root: 'bafyroot', position: 2, target: rb.target, replaced: 'c', version: 2 }])
  assert.deepEqual(ofType(eff, 'send').map(s => s.to).sort(), ['b', rb.target].sort(), 'every holder in view')
  net.flush()
  for (const id of ['a', 'b', rb.target]) assert.deepEqual(net.core(id).record('bafyroot'), rb.record)
  assert.deepEqual(net.core('a').health('bafyroot'), { live: 3, n: 3, need: 1 })
  // c was cut off (it saw a and b gone too) and comes back with its disk: the
  // next round tells it (a former holder), it adopts the record, asks the new
  // holders, and drops once they confirmed
  for (const id of ['a', 'b']) net.apply('c', net.core('c').leave(id, 0))
  for (const id of ['a', 'b']) net.apply(id, net.core(id).join({ peer: 'c', weight: 1 }, 20_000))
  for (const id of ['a', 'b']) net.apply('c', net.core('c').join({ peer: id, weight: 1 }, 20_000))
  net.tick(['a', 'b', 'c', rb.target], 20_000)
  net.flush()
  assert.deepEqual(net.core('c').record('bafyroot'), rb.record)
  net.tick(['a', 'b', 'c', rb.target], 26_000)
  net.flush()
  assert.deepEqual(ofType(net.take('c'), 'drop'), [{ type: 'drop', root: 'bafyroot', position: 2 }])
  assert.equal(net.core('c').record('bafyroot'), undefined, 'and forgets the root')
  assert.deepEqual(net.core('a').health('bafyroot'), { live: 3, n: 3, need: 1 })
})

test('a failed or timed-out rebuild is retried on another target; a late success is still installed, the later one dropped', () => {
  const { net } = trio()
  net.apply('a', net.core('a').leave('c', 0))
  net.tick(['a'], GRACE)
  const [first] = ofType(net.take('a'), 'rebuild')
  let eff = net.core('a').rebuilt({ root: first.root, position: 2, target: first.target, ok: false }, GRACE + 10)
  assert.equal(ofType(eff, 'rebuild-failed')[0].reason, 'failed')
  const [second] = ofType(eff, 'rebuild')
  assert.notEqual(second.target, first.target)
  eff = net.core('a').tick(second.deadline)
  assert.equal(ofType(eff, 'rebuild-failed')[0].reason, 'timeout')
  const [third] = ofType(eff, 'rebuild')
  assert.ok(third.target !== first.target && third.target !== second.target)
  // the timed-out one finishes after all: it is installed
  eff = net.core('a').rebuilt({ root: second.root, position: 2, target: second.target, ok: true }, second.deadline + 10)
  assert.equal(ofType(eff, 'repaired')[0].target, second.target)
  const installed = net.core('a').record('bafyroot')!
  assert.equal(installed.holders[2], second.target)
  // the third finishes too: obsolete, the record stands (its copy is dropped by the target)
  eff = net.core('a').rebuilt({ root: third.root, position: 2, target: third.target, ok: true }, second.deadline + 20)
  assert.deepEqual(ofType(eff, 'repaired'), [])
  assert.deepEqual(net.core('a').record('bafyroot'), installed)
  assert.ok(installed.version > third.record.version, 'the installed record beats every proposal the leader made')
})

test('only the first live holder leads; when it leaves, the next takes over at once', () => {
  const { net } = trio()
  net.apply('b', net.core('b').leave('c', 0))
  net.tick(['b'], GRACE + 1)
  assert.deepEqual(ofType(net.take('b'), 'rebuild'), [], 'a leads')
  net.apply('b', net.core('b').leave('a', GRACE + 2))
  net.tick(['b'], 2 * GRACE + 2)
  const rbs = ofType(net.take('b'), 'rebuild')
  assert.deepEqual(rbs.map(r => r.position).sort(), [0, 2], 'b repairs both, each after its own grace')
  assert.notEqual(rbs[0].target, rbs[1].target)
})

test('a share reported lost is restored in place on its holder', () => {
  const { net } = trio()
  net.apply('c', net.core('c').lost('bafyroot', 100))
  assert.deepEqual(net.core('c').held('bafyroot'), [])
  net.flush()
  const [rb] = ofType(net.take('a'), 'rebuild')
  assert.equal(rb.target, 'c')
  assert.equal(rb.position, 2)
  assert.equal(rb.record.version, 1, 'the record does not change')
  net.apply('c', net.core('c').hold(rb.record, 2, 200))
  const eff = net.apply('a', net.core('a').rebuilt({ root: 'bafyroot', position: 2, target: 'c', ok: true }, 300))
  assert.equal(ofType(eff, 'repaired')[0].replaced, 'c')
  net.flush()
  assert.deepEqual(net.core('a').health('bafyroot'), { live: 3, n: 3, need: 1 })
})

test('a holder that hands off (leaves for good) is rebuilt elsewhere at once, never on itself, whether its leave or its word arrives first', () => {
  for (const leaveFirst of [true, false]) {
    const { net } = trio()
    if (leaveFirst) net.apply('a', net.core('a').leave('c', 100))
    const eff = net.apply('c', net.core('c').handOff(100))
    assert.deepEqual(net.core('c').held('bafyroot'), [])
    const sent = ofType(eff, 'send')
    assert.deepEqual(sent.map(x => x.to).sort(), ['a', 'b'])
    assert.ok(sent.every(x => x.msg.leaving === true && x.msg.entries.every(e => e.held.length === 0)))
    net.flush(to => to === 'a')
    const [rb] = ofType(net.take('a'), 'rebuild')
    assert.equal(rb?.position, 2, 'rebuilt at once')
    assert.ok(!['a', 'b', 'c'].includes(rb.target), 'elsewhere')
  }
  // the flag is checked like everything else
  assert.throws(() => validateRepairMessage({ type: 'status', entries: [], leaving: false }), { name: 'MalformedRepairMessageError' })
  assert.doesNotThrow(() => validateRepairMessage({ type: 'status', entries: [], leaving: true }))
})

test('a leader that lost its own share hands over: the next holder restores it', () => {
  const { net } = trio()
  net.apply('a', net.core('a').lost('bafyroot', 100))
  net.flush()
  assert.deepEqual(ofType(net.take('a'), 'rebuild'), [])
  const [rb] = ofType(net.take('b'), 'rebuild')
  assert.equal(rb.target, 'a')
  assert.deepEqual(rb.sources, [{ peer: 'b', position: 1 }, { peer: 'c', position: 2 }])
})

test('4+2 with three holders gone past the grace: reported unrecoverable once, nothing rebuilt', () => {
  const net = new Net()
  const all = members('h0', 'h1', 'h2', 'h3', 'h4', 'h5', 's1', 's2')
  for (const m of all) net.add(m.peer)
  const r = rec(['h0', 'h1', 'h2', 'h3', 'h4', 'h5'])
  net.view(['h3'], all)
  net.apply('h3', net.core('h3').hold(r, 3, 0))
  for (const p of ['h0', 'h1', 'h2']) net.apply('h3', net.core('h3').leave(p, 0))
  net.tick(['h3'], GRACE - 1)
  assert.deepEqual(ofType(net.take('h3'), 'unrecoverable'), [], 'not within the grace: they may return')
  net.tick(['h3'], GRACE)
  assert.deepEqual(ofType(net.take('h3'), 'unrecoverable'), [{ type: 'unrecoverable', root: 'bafyroot', live: 3, need: 4 }])
  net.tick(['h3'], GRACE + 5000)
  const later = net.take('h3')
  assert.deepEqual(ofType(later, 'unrecoverable'), [], 'edge-triggered')
  assert.deepEqual(ofType(later, 'rebuild'), [])
  // two come back: recoverable again, the third position is rebuilt
  net.apply('h3', net.core('h3').join({ peer: 'h0', weight: 1 }, GRACE + 6000))
  net.apply('h3', net.core('h3').join({ peer: 'h1', weight: 1 }, GRACE + 6000))
  assert.equal(ofType(net.take('h3'), 'rebuild').length, 0, 'h0 leads now')
  assert.deepEqual(net.core('h3').health('bafyroot'), { live: 5, n: 6, need: 4 })
})

test('rebuilds are bounded by maxConcurrentRebuilds, the most endangered first', () => {
  const net = new Net()
  const spare = Array.from({ length: 20 }, (_, i) => `s${i}`)
  const all = members('a', 'x', 'y', 'q0', 'q1', 'q2', 'q3', 'q4', ...spare)
  net.add('a', { maxConcurrentRebuilds: 2 })
  net.view(['a'], all)
  // three r=3 objects missing one holder, one 4+2 missing two
  for (const root of ['r1', 'r2', 'r3']) net.apply('a', net.core('a').hold(rec(['a', 'x', `gone-${root}`], 1, root), 0, 0))
  net.apply('a', net.core('a').hold(rec(['a', 'q0', 'q1', 'q2', 'gone-e1', 'gone-e2'], 1, 'e1'), 0, 0))
  net.tick(['a'], 0)
  net.tick(['a'], GRACE)
  const first = ofType(net.take('a'), 'rebuild')
  assert.equal(first.length, 2)
  assert.deepEqual(first.map(r => r.root), ['e1', 'e1'], '4+2 with 4 of 6 left (slack 0) before r=3 with 2 of 3 (slack 1)')
  const [done] = first
  const eff = net.core('a').rebuilt({ root: done.root, position: done.position, target: done.target, ok: true }, GRACE + 100)
  assert.equal(ofType(eff, 'rebuild').length, 1, 'a slot frees, the next starts')
  assert.equal(net.core('a').stats().rebuilding, 2)
})

test('two leaders with split views both repair; neither record removes a holder the other side saw live, so nothing is dropped', () => {
  const net = new Net()
  const all = members('a', 'b', 'c', 'd', 'e', 'f', 'g')
  for (const m of all) net.add(m.peer)
  const r = rec(['a', 'b', 'c'])
  net.view(all.map(m => m.peer), all)
  r.holders.forEach((h, i) => { net.apply(h, net.core(h).hold(r, i, 0)) })
  net.tick(all.map(m => m.peer), 0)
  net.flush()
  for (const m of all) net.take(m.peer)
  // a sees c gone; b sees a gone (split views): both lead, at once
  net.apply('a', net.core('a').leave('c', 100))
  net.apply('b', net.core('b').leave('a', 100))
  net.tick(['a', 'b'], GRACE + 100)
  const [ra] = ofType(net.take('a'), 'rebuild')
  const [rb] = ofType(net.take('b'), 'rebuild')
  assert.equal(ra.position, 2)
  assert.equal(rb.position, 0)
  for (const x of [ra, rb]) {
    net.apply(x.target, net.core(x.target).hold(x.record, x.position, GRACE + 200))
  }
  net.queue.length = 0
  net.apply('a', net.core('a').rebuilt({ root: ra.root, position: ra.position, target: ra.target, ok: true }, GRACE + 300))
  net.apply('b', net.core('b').rebuilt({ root: rb.root, position: rb.position, target: rb.target, ok: true }, GRACE + 300))
  assert.equal(ra.record.version, rb.record.version, 'a tie, broken by the holders')
  // views heal (each side's absence was shorter than being apart); everything is delivered
  net.view(all.map(m => m.peer), all)
  net.flush()
  for (let t = 1; t <= 4; t++) { net.tick(all.map(m => m.peer), GRACE + 300 + t * 6000); net.flush() }
  // c never left b's view and a never left c's: neither record is taken by
  // the holder that saw the removed one live, so no share is dropped — the
  // object keeps five shares (a leak, never a loss)
  const dropped = all.flatMap(m => ofType(net.take(m.peer), 'drop'))
  assert.deepEqual(dropped, [])
  const holders = all.map(m => m.peer).filter(id => net.core(id).held('bafyroot').length > 0).sort()
  assert.deepEqual(holders, [...new Set(['a', 'b', 'c', ra.target, rb.target])].sort())
  assert.deepEqual(net.core('c').record('bafyroot'), r, 'c saw a live throughout: it keeps its record')
})

test('a holder cannot make honest holders drop: a record that removes holders live in their views is refused, whoever sends it', () => {
  const net = new Net()
  const all = members('a', 'b', 'c', 'L', 's1', 's2', 's3')
  for (const m of all) net.add(m.peer)
  const quad: PlacementRecord = { root: 'bafyroot', redundancy: { kind: 'erasure', k: 2, m: 2 }, holders: ['a', 'b', 'c', 'L'], version: 1, shareBytes: 1000 }
  net.view(all.map(m => m.peer), all)
  quad.holders.forEach((h, i) => { net.apply(h, net.core(h).hold(quad, i, 0)) })
  net.tick(all.map(m => m.peer), 0)
  net.flush()
  for (const m of all) net.take(m.peer)
  // L (a holder) forges records: every honest holder replaced by sybils, or
  // one at a time, with the version as high as it likes; the sybils confirm
  // whatever L says, every round
  const forgeries: PlacementRecord[] = [
    { ...quad, holders: ['s1', 's2', 's3', 'L'], version: 2 },
    { ...quad, holders: ['s1', 'b', 'c', 'L'], version: 3 },
    { ...quad, holders: ['a', 's2', 'c', 'L'], version: 4 },
    { ...quad, holders: ['a', 'b', 'c', 'L'].map((h, i) => (i === 2 ? 's3' : h)), version: Number.MAX_SAFE_INTEGER - 1 }
  ]
  for (let t = 1; t <= 8; t++) {
    const now = t * 6000
    for (const f of forgeries) {
      for (const to of ['a', 'b', 'c']) {
        net.apply(to, net.core(to).message('L', { type: 'status', entries: [{ record: f, held: [3], ask: true }] }, now))
        f.holders.forEach((h, q) => {
          if (h.startsWith('s')) net.apply(to, net.core(to).message(h, { type: 'status', entries: [{ record: f, held: [q], ask: false }] }, now))
        })
      }
    }
    net.tick(['a', 'b', 'c'], now)
    net.queue.length = 0
  }
  for (const id of ['a', 'b', 'c']) {
    assert.deepEqual(ofType(net.take(id), 'drop'), [], `${id} dropped nothing`)
    assert.deepEqual(net.core(id).record('bafyroot'), quad, `${id} kept the record`)
    assert.equal(net.core(id).held('bafyroot').length, 1)
  }
  // a push of a share with a forged record (a rebuild L never led) does not
  // change a holder's record either; the share is kept as an extra one
  net.apply('a', net.core('a').hold(forgeries[0], 1, 60_000))
  assert.deepEqual(net.core('a').record('bafyroot'), quad)
  assert.deepEqual(net.core('a').held('bafyroot'), [0, 1])
})

test('a record that replaces a holder gone from this node\'s view is taken; one that raises the version too far is not', () => {
  const { net, record } = trio()
  const newer = { ...record, holders: ['a', 'b', 'd'], version: 2 }
  // c is live in b's view: not yet
  net.core('b').message('a', { type: 'status', entries: [{ record: newer, held: [0], ask: false }] }, 100)
  assert.deepEqual(net.core('b').record('bafyroot'), record)
  // c left b's view: taken from a holder
  net.core('b').leave('c', 200)
  net.core('b').message('a', { type: 'status', entries: [{ record: { ...newer, version: 2 + 2 ** 20 }, held: [0], ask: false }] }, 300)
  assert.deepEqual(net.core('b').record('bafyroot'), record, 'a jump past MAX_VERSION_STEP is refused')
  net.core('b').message('a', { type: 'status', entries: [{ record: newer, held: [0], ask: false }] }, 300)
  assert.deepEqual(net.core('b').record('bafyroot'), newer)
  // c came back after being apart: a record replacing it is taken too (the
  // leader's install can reach a holder after the replaced one returned)
  const { net: net2 } = trio()
  net2.core('b').leave('c', 1000)
  net2.core('b').join({ peer: 'c', weight: 1 }, 1000 + GRACE)
  net2.core('b').message('a', { type: 'status', entries: [{ record: newer, held: [0], ask: false }] }, 2000 + GRACE)
  assert.deepEqual(net2.core('b').record('bafyroot'), newer)
  // …but not after a blip
  const { net: net3 } = trio()
  net3.core('b').leave('c', 1000)
  net3.core('b').join({ peer: 'c', weight: 1 }, 1500)
  net3.core('b').message('a', { type: 'status', entries: [{ record: newer, held: [0], ask: false }] }, 2000)
  assert.deepEqual(net3.core('b').record('bafyroot'), record)
})

test('a holder that was never cut off keeps its share when told it was replaced', () => {
  const { net, record } = trio()
  const replaced = { ...record, holders: ['a', 'b', 'd'], version: 2 }
  const eff: RepairEffect[] = []
  for (let t = 1; t <= 6; t++) {
    eff.push(...net.core('c').message('a', { type: 'status', entries: [{ record: replaced, held: [0], ask: true }] }, t * 6000))
    eff.push(...net.core('c').message('d', { type: 'status', entries: [{ record: replaced, held: [2], ask: false }] }, t * 6000))
    eff.push(...net.core('c').tick(t * 6000))
  }
  assert.deepEqual(net.core('c').record('bafyroot'), record)
  assert.deepEqual(ofType(eff, 'drop'), [])
})

test('a record from a stranger is never adopted and can never make a holder drop', () => {
  const { net, record } = trio()
  const forged = rec(['x', 'y', 'z'], 99)
  let eff = net.core('b').message('x', { type: 'status', entries: [{ record: forged, held: [0], ask: false }] }, 100)
  assert.deepEqual(net.core('b').record('bafyroot'), record)
  eff = [...eff, ...net.core('b').tick(10_000), ...net.core('b').tick(20_000)]
  assert.deepEqual(ofType(eff, 'drop'), [])
  // nor one naming this node among its holders, from a peer ours does not list
  net.core('b').message('x', { type: 'status', entries: [{ record: rec(['x', 'b', 'z'], 99), held: [0], ask: true }] }, 150)
  assert.deepEqual(net.core('b').record('bafyroot'), record)
  // a holder's newer record is taken (c gone from b's view)
  const newer = { ...record, holders: ['a', 'b', 'd'], version: 2 }
  net.core('b').leave('c', 200)
  net.core('b').message('a', { type: 'status', entries: [{ record: newer, held: [0], ask: false }] }, 200)
  assert.deepEqual(net.core('b').record('bafyroot'), newer)
})

test('malformed messages are refused whole; unknown roots are ignored unless asked, then answered "not held"', () => {
  const core = new RepairCore({ self: 'a' })
  core.hold(rec(['a', 'b', 'c']), 0, 0)
  const bad: unknown[] = [
    null, 'x', { type: 'status' }, { type: 'status', entries: 'no' }, { type: 'other', entries: [] },
    { type: 'status', entries: [{ record: rec(['b', 'b', 'c']), held: [], ask: false }] },
    { type: 'status', entries: [{ record: rec(['a', 'b', 'c']), held: [3], ask: false }] },
    { type: 'status', entries: [{ record: rec(['a', 'b', 'c']), held: [0, 0], ask: false }] },
    { type: 'status', entries: [{ record: { ...rec(['a', 'b', 'c']), version: -1 }, held: [], ask: false }] },
    { type: 'status', entries: [{ record: { ...rec(['a', 'b', 'c']), extra: 1 }, held: [], ask: false }] },
    { type: 'status', entries: [{ record: rec(['a', 'b', 'c']), held: [], ask: 'yes' }] },
    { type: 'status', entries: Array.from({ length: 129 }, () => ({ record: rec(['a', 'b', 'c']), held: [], ask: false })) },
    { type: 'status', entries: [{ record: rec(['a', 'b', 'c'].map(p => p.repeat(300))), held: [], ask: false }] }
  ]
  for (const m of bad) {
    const eff = core.message('b', m as RepairMessage, 10)
    assert.equal(eff.length, 1, JSON.stringify(m)?.slice(0, 80))
    assert.equal(eff[0].type, 'refused')
    assert.throws(() => validateRepairMessage(m), { name: 'MalformedRepairMessageError' })
  }
  const other = rec(['x', 'a', 'z'], 1, 'bafyother')
  assert.deepEqual(core.message('x', { type: 'status', entries: [{ record: other, held: [0], ask: false }] }, 20), [])
  const [reply] = ofType(core.message('x', { type: 'status', entries: [{ record: other, held: [0], ask: true }] }, 20), 'send') as SendEffect[]
  assert.deepEqual(reply, { type: 'send', to: 'x', msg: { type: 'status', entries: [{ record: other, held: [], ask: false }] } })
  assert.equal(core.record('bafyother'), undefined, 'and keeps no state for it')
})

test('no input from a peer ever throws, whatever it sends', () => {
  const core = new RepairCore({ self: 'a' })
  core.hold(rec(['a', 'b', 'c']), 0, 0)
  core.view(members('b', 'c', 'd'), 0)
  const junk = fc.oneof(
    fc.anything(),
    fc.record({ type: fc.constant('status'), entries: fc.array(fc.record({ record: fc.anything(), held: fc.array(fc.integer()), ask: fc.boolean() })) }),
    fc.record({ type: fc.constant('status'), entries: fc.array(fc.record({
      record: fc.record({ root: fc.constantFrom('bafyroot', 'other'), redundancy: fc.constantFrom({ kind: 'replicas', r: 3 }, { kind: 'erasure', k: 1, m: 2 }, { kind: 'replicas', r: 2 }), holders: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 3, maxLength: 3 }), version: fc.nat(5), shareBytes: fc.constantFrom(1000, 7) }),
      held: fc.uniqueArray(fc.nat(2), { maxLength: 3 }),
      ask: fc.boolean()
    })) })
  )
  fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom('b', 'c', 'd', 'x'), junk), { maxLength: 20 }), (msgs) => {
    let now = 1
    for (const [from, m] of msgs) core.message(from, m as RepairMessage, now++)
    // the share is never dropped: no record it could see is confirmed by its holders
    assert.ok(core.held('bafyroot').includes(0) || core.record('bafyroot')?.holders[0] !== 'a')
  }))
})

test('driver input is checked: named errors, state unchanged', () => {
  const core = new RepairCore({ self: 'a' })
  assert.throws(() => core.hold({ ...rec(['a', 'b', 'c']), holders: ['a', 'b'] }, 0, 0), { name: 'MalformedRecordError' })
  assert.throws(() => core.hold(rec(['a', 'b', 'c']), 3, 0), { name: 'InvalidRepairInputError' })
  assert.throws(() => core.hold(rec(['a', 'b', 'c']), 0, Number.NaN), { name: 'InvalidRepairInputError' })
  core.hold(rec(['a', 'b', 'c']), 0, 0)
  assert.throws(() => core.hold({ ...rec(['a', 'b', 'c']), shareBytes: 5 }, 0, 0), { name: 'RecordConflictError' })
  assert.throws(() => core.view([{ peer: 'b', weight: -1 }], 0), { name: 'InvalidRepairInputError' })
  assert.throws(() => core.view([{ peer: 'b', weight: 1 }, { peer: 'b', weight: 1 }], 0), { name: 'InvalidRepairInputError' })
  assert.throws(() => core.rebuilt({ root: 'bafyroot' } as never, 0), { name: 'InvalidRepairInputError' })
  assert.throws(() => new RepairCore({ self: 'a', snapshot: { format: 1, objects: [{ record: rec(['a']), held: [1], key: 'k' }] } }), { name: 'MalformedSnapshotError' })
  assert.throws(() => new RepairCore({ self: 'a', graceMs: 10, warmupMs: 20 }), { name: 'InvalidRepairInputError' })
  assert.deepEqual(core.held('bafyroot'), [0])
  assert.deepEqual(core.record('bafyroot'), rec(['a', 'b', 'c']))
})

test('a restarted holder re-announces, and leads only once a holder confirms its record is current', () => {
  const { net, record } = trio()
  // a restarts from its snapshot
  const snap = net.core('a').snapshot()
  net.cores.delete('a')
  const a = net.add('a', { snapshot: snap })
  const eff = net.apply('a', a.view(members('b', 'd', 'e', 'f'), 50_000))
  assert.ok(ofType(eff, 'timer').length > 0)
  net.tick(['a'], 50_000)
  const asked = net.queue.filter(m => m.from === 'a').map(m => m.to).sort()
  assert.deepEqual(asked, ['b'], 'every live holder of its record is asked')
  // c is gone too, but a does not act until someone confirms its record…
  net.tick(['a'], 50_000 + 4000)
  assert.deepEqual(ofType(net.take('a'), 'rebuild'), [])
  // …b answers with the same record and its share: a is current, and leads
  net.flush()
  net.tick(['a'], 50_000 + GRACE)
  const [rb] = ofType(net.take('a'), 'rebuild')
  assert.equal(rb.position, 2)
  assert.deepEqual(rb.record.holders.slice(0, 2), record.holders.slice(0, 2))
})

test('a restarted holder takes a newer record only once the co-holders it keeps vouch for it, so one co-holder cannot mislead it', () => {
  const { net, record } = trio()
  const snap = net.core('c').snapshot()
  net.cores.delete('c')
  const c = net.add('c', { snapshot: snap })
  net.apply('c', c.view(members('a', 'b', 'd', 'e', 'f'), 50_000))
  // a says c was replaced by d: b, which the record keeps, has not said so
  const replaced = { ...record, holders: ['a', 'b', 'd'], version: 2 }
  c.message('a', { type: 'status', entries: [{ record: replaced, held: [0], ask: false }] }, 50_100)
  assert.deepEqual(c.record('bafyroot'), record)
  // b holds that record too: taken
  c.message('b', { type: 'status', entries: [{ record: replaced, held: [1], ask: false }] }, 50_200)
  assert.deepEqual(c.record('bafyroot'), replaced)
})

test('a holder a record names lately is not counted missing before a warm-up, however long ago it left this node\'s view', () => {
  const net = new Net()
  net.add('a', { warmupMs: 4000 })
  net.apply('a', net.core('a').view(members('b', 'x', 's1'), 0))
  net.apply('a', net.core('a').leave('x', 1000))
  // long after x left a's view, a writer that sees x live names it
  net.tick(['a'], 60_000)
  net.take('a')
  net.apply('a', net.core('a').hold(rec(['a', 'b', 'x']), 0, 60_000))
  net.tick(['a'], 60_000 + 3999)
  assert.deepEqual(ofType(net.take('a'), 'rebuild'), [], 'x was named 4 s ago: not missing yet')
  net.tick(['a'], 60_000 + 4000)
  const [rb] = ofType(net.take('a'), 'rebuild')
  assert.equal(rb.position, 2, 'then it is (it never came back)')
})

test('compareRecords: version first, then holders element-wise', () => {
  assert.ok(compareRecords(rec(['a', 'b', 'c'], 2), rec(['z', 'z', 'z'], 1)) > 0)
  assert.ok(compareRecords(rec(['a', 'b', 'd'], 2), rec(['a', 'b', 'c'], 2)) > 0)
  assert.equal(compareRecords(rec(['a', 'b', 'c'], 2), rec(['a', 'b', 'c'], 2)), 0)
})

test('rebuild effects carry everything the driver needs and nothing undefined', () => {
  const { net } = trio()
  net.apply('a', net.core('a').leave('c', 0))
  net.tick(['a'], GRACE)
  const [rb] = ofType(net.take('a'), 'rebuild') as RebuildEffect[]
  const roundTrip = JSON.parse(JSON.stringify(rb))
  assert.deepEqual(roundTrip, rb)
  assert.deepEqual(Object.keys(rb).sort(), ['deadline', 'key', 'need', 'position', 'record', 'root', 'sources', 'target', 'type'])
  assert.equal(rb.key, 'bafyroot', 'the root, when hold was given no key')
})
