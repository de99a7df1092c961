import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type NodeEnv, type SimNode, Simulator, type TraceEvent } from '../src/index.ts'

// A node that records what it receives and when.
class Recorder implements SimNode<number> {
  readonly env: NodeEnv<number>
  readonly got: { from: string, msg: number, at: number }[] = []
  readonly fired: unknown[] = []
  started = 0
  constructor (env: NodeEnv<number>) { this.env = env }
  start (): void { this.started++ }
  onMessage (from: string, msg: number): void { this.got.push({ from, msg, at: this.env.now() }) }
  onTimer (tag: unknown): void { this.fired.push(tag) }
}

function pair (seed: number, faults = {}): { sim: Simulator<number, Recorder>, a: Recorder, b: Recorder } {
  const sim = new Simulator<number, Recorder>({ seed, faults })
  const a = sim.add('a', env => new Recorder(env))
  const b = sim.add('b', env => new Recorder(env))
  sim.run(0)
  return { sim, a, b }
}

test('latency stays within [min, max] and jitter reorders (seed 1)', () => {
  const { sim, a, b } = pair(1, { latency: { min: 5, max: 50 } })
  for (let i = 0; i < 200; i++) a.env.send('b', i)
  sim.run(1000)
  assert.equal(b.got.length, 200)
  assert.ok(b.got.every(g => g.at >= 5 && g.at <= 50))
  const order = b.got.map(g => g.msg)
  assert.notDeepEqual(order, [...order].sort((x, y) => x - y), 'jitter should reorder some messages')
  assert.equal(sim.totals.delivered, 200)
})

test('loss drops about the configured fraction and is counted (seed 2)', () => {
  const { sim, a, b } = pair(2, { loss: 0.1 })
  for (let i = 0; i < 10_000; i++) a.env.send('b', i)
  sim.run(1000)
  const lost = 10_000 - b.got.length
  assert.ok(lost > 850 && lost < 1150, `lost ${lost}`)
  assert.equal(sim.totals.droppedBy.loss, lost)
  assert.equal(sim.nodeMetrics('a').dropped, lost)
  assert.equal(sim.nodeMetrics('a').sent, 10_000)
  assert.equal(sim.nodeMetrics('b').delivered, b.got.length)
})

test('duplication delivers some messages twice (seed 3)', () => {
  const { sim, a, b } = pair(3, { duplicate: 0.2 })
  for (let i = 0; i < 1000; i++) a.env.send('b', i)
  sim.run(1000)
  assert.equal(b.got.length, 1000 + sim.totals.duplicated)
  assert.ok(sim.totals.duplicated > 150 && sim.totals.duplicated < 250)
})

test('explicit reordering holds messages back even with fixed latency (seed 4)', () => {
  const { sim, a, b } = pair(4, { latency: { min: 10, max: 10 }, reorder: 0.3, reorderMs: 100 })
  for (let i = 0; i < 100; i++) a.env.send('b', i)
  sim.run(1000)
  const order = b.got.map(g => g.msg)
  assert.notDeepEqual(order, [...order].sort((x, y) => x - y))
  assert.ok(b.got.every(g => g.at >= 10 && g.at <= 110))
})

test('per-link faults override the defaults in one direction only (seed 5)', () => {
  const { sim, a, b } = pair(5)
  sim.setLink('a', 'b', { loss: 1 })
  a.env.send('b', 1)
  b.env.send('a', 2)
  sim.run(100)
  assert.equal(b.got.length, 0)
  assert.equal(a.got.length, 1)
  sim.setLink('a', 'b', undefined)
  a.env.send('b', 3)
  sim.run(200)
  assert.deepEqual(b.got.map(g => g.msg), [3])
})

test('a partition drops messages across it, including those in flight; heal restores (seed 6)', () => {
  const sim = new Simulator<number, Recorder>({ seed: 6, faults: { latency: { min: 10, max: 10 } } })
  const nodes = ['a', 'b', 'c', 'd'].map(id => sim.add(id, env => new Recorder(env)))
  sim.run(0)
  nodes[0].env.send('c', 1) // in flight when the partition starts
  sim.run(5)
  sim.partition([['a', 'b'], ['c', 'd']])
  nodes[0].env.send('b', 2)
  nodes[0].env.send('d', 3)
  sim.run(50)
  assert.deepEqual(nodes[1].got.map(g => g.msg), [2])
  assert.equal(nodes[2].got.length, 0)
  assert.equal(nodes[3].got.length, 0)
  assert.equal(sim.totals.droppedBy.partition, 2)
  assert.equal(sim.reachable('a', 'c'), false)
  sim.heal()
  nodes[0].env.send('d', 4)
  sim.run(100)
  assert.deepEqual(nodes[3].got.map(g => g.msg), [4])
})

test('nodes in no partition group reach only each other (seed 7)', () => {
  const sim = new Simulator<number, Recorder>({ seed: 7 })
  for (const id of ['a', 'b', 'x', 'y']) sim.add(id, env => new Recorder(env))
  sim.partition([['a'], ['b']])
  assert.equal(sim.reachable('x', 'y'), true)
  assert.equal(sim.reachable('x', 'a'), false)
  assert.equal(sim.reachable('a', 'b'), false)
})

test('a crash drops pending timers and messages in flight; restart is a fresh instance with persisted state (seed 8)', () => {
  const sim = new Simulator<number, Recorder>({ seed: 8, faults: { latency: { min: 10, max: 10 } } })
  const lives: Recorder[] = []
  const factory = (env: NodeEnv<number>): Recorder => {
    const r = new Recorder(env)
    lives.push(r)
    env.persist(((env.persisted as number | undefined) ?? 0) + 1)
    return r
  }
  const a = sim.add('a', env => new Recorder(env))
  const b1 = sim.add('b', factory)
  sim.run(0)
  b1.env.setTimer(50, 'old')
  a.env.send('b', 1)
  sim.run(5)
  sim.crash('b')
  assert.equal(sim.isUp('b'), false)
  assert.throws(() => sim.node('b'))
  a.env.send('b', 2) // sent while b is down, arrives after the restart: delivered
  b1.env.send('a', 99) // a dead instance cannot act
  sim.run(8)
  const b2 = sim.restart('b')
  sim.run(200)
  assert.notEqual(b1, b2)
  assert.equal(b1.got.length, 0)
  assert.deepEqual(b2.got.map(g => g.msg), [2])
  assert.deepEqual(b1.fired, [])
  assert.equal(b2.started, 1)
  assert.equal(b2.env.persisted, 1)
  assert.equal(lives.length, 2)
  assert.equal(a.got.length, 0)
  assert.equal(sim.totals.droppedBy.crash, 1)
})

test('clock skew shifts now() and timers set in local time (seed 9)', () => {
  const sim = new Simulator<number, Recorder>({ seed: 9 })
  const a = sim.add('a', env => new Recorder(env), { skew: 1000 })
  sim.run(0)
  assert.equal(a.env.now(), 1000)
  a.env.setTimerAt(1100, 'local')
  a.env.setTimer(50, 'delay')
  sim.run(49)
  assert.deepEqual(a.fired, [])
  sim.run(50)
  assert.deepEqual(a.fired, ['delay'])
  sim.run(100)
  assert.deepEqual(a.fired, ['delay', 'local'])
  sim.setSkew('a', -5)
  assert.equal(a.env.now(), 95)
})

test('cancelled timers do not fire', () => {
  const sim = new Simulator<number, Recorder>({ seed: 10 })
  const a = sim.add('a', env => new Recorder(env))
  const h = a.env.setTimer(10, 'x')
  a.env.setTimer(20, 'y')
  a.env.cancelTimer(h)
  sim.run(100)
  assert.deepEqual(a.fired, ['y'])
})

test('the size hook feeds the size metrics', () => {
  const sim = new Simulator<number, Recorder>({ seed: 11, size: m => m * 10 })
  const a = sim.add('a', env => new Recorder(env))
  sim.add('b', env => new Recorder(env))
  a.env.send('b', 1)
  a.env.send('b', 2)
  sim.run(100)
  assert.equal(sim.nodeMetrics('a').sentSize, 30)
  assert.equal(sim.nodeMetrics('b').deliveredSize, 30)
  assert.equal(sim.totals.sentSize, 30)
  sim.resetMetrics()
  assert.equal(sim.totals.sent, 0)
  assert.equal(sim.nodeMetrics('a').sent, 0)
})

test('runUntil stops when the predicate holds and reports the time', () => {
  const { sim, a, b } = pair(12, { latency: { min: 7, max: 7 } })
  a.env.send('b', 1)
  const at = sim.runUntil(() => b.got.length > 0, 1000)
  assert.equal(at, 7)
  assert.equal(sim.runUntil(() => false, 100), undefined)
  assert.equal(sim.now(), 107)
  assert.equal(sim.runUntil(() => sim.now() >= 150, 1000, 25), 157)
})

// A rumor-spreading node: a node that knows the rumor forwards it to a random
// peer every 100 ms, so every choice comes from the node's PRNG.
class Rumor implements SimNode<number> {
  readonly env: NodeEnv<number>
  readonly peers: string[]
  knows: boolean
  constructor (env: NodeEnv<number>, peers: string[]) {
    this.env = env
    this.peers = peers
    this.knows = env.id === 'n0'
  }

  start (): void { this.env.setTimer(this.env.random.int(100), 'tick') }
  onMessage (_from: string, msg: number): void { if (msg === 1) this.knows = true }
  onTimer (): void {
    if (this.knows) this.env.send(this.env.random.pick(this.peers), 1)
    this.env.setTimer(100, 'tick')
  }
}

function rumorRun (seed: number): { hash: string, trace: string[], done: number | undefined } {
  const trace: string[] = []
  const sim = new Simulator<number, Rumor>({
    seed,
    faults: { loss: 0.1, latency: { min: 1, max: 30 }, duplicate: 0.01 },
    onEvent: (e: TraceEvent<number>) => { if (trace.length < 200) trace.push(`${e.at} ${e.kind} ${e.from ?? ''}>${e.node}`) }
  })
  const ids = Array.from({ length: 300 }, (_, i) => `n${i}`)
  for (const id of ids) sim.add(id, env => new Rumor(env, ids))
  sim.at(500, () => sim.crash('n5'))
  sim.at(900, () => sim.restart('n5'))
  const done = sim.runUntil(() => ids.every(id => !sim.isUp(id) || sim.node(id).knows), 20_000, 100)
  sim.run(sim.now() + 500)
  return { hash: sim.traceHash(), trace, done }
}

const DETERMINISM_SEED = 20260101

test(`a seed replays a run exactly; another seed diverges (seed ${DETERMINISM_SEED})`, () => {
  const r1 = rumorRun(DETERMINISM_SEED)
  const r2 = rumorRun(DETERMINISM_SEED)
  const r3 = rumorRun(DETERMINISM_SEED + 1)
  assert.ok(r1.done !== undefined, 'the rumor should reach every node')
  assert.equal(r1.hash, r2.hash)
  assert.deepEqual(r1.trace, r2.trace)
  assert.equal(r1.done, r2.done)
  assert.notEqual(r1.hash, r3.hash)
})
