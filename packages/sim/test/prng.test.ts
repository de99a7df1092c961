import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { EventQueue, Prng } from '../src/index.ts'

test('the same seed gives the same stream; different seeds differ', () => {
  const a = new Prng(42)
  const b = new Prng(42)
  const c = new Prng(43)
  const sa = Array.from({ length: 100 }, () => a.next())
  const sb = Array.from({ length: 100 }, () => b.next())
  const sc = Array.from({ length: 100 }, () => c.next())
  assert.deepEqual(sa, sb)
  assert.notDeepEqual(sa, sc)
  assert.ok(sa.every(x => Number.isInteger(x) && x >= 0 && x < 2 ** 32))
})

test('int, range, float and chance stay in bounds', () => {
  fc.assert(fc.property(fc.integer(), fc.integer({ min: 1, max: 2 ** 31 }), (seed, n) => {
    const r = new Prng(seed)
    for (let i = 0; i < 20; i++) {
      const x = r.int(n)
      assert.ok(Number.isInteger(x) && x >= 0 && x < n)
      const f = r.float()
      assert.ok(f >= 0 && f < 1)
      const y = r.range(-3, 3)
      assert.ok(y >= -3 && y <= 3)
    }
    assert.equal(r.chance(0), false)
  }))
})

test('int is roughly uniform', () => {
  const r = new Prng(7)
  const counts = new Array(10).fill(0)
  for (let i = 0; i < 100_000; i++) counts[r.int(10)]++
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `bucket count ${c}`)
})

test('shuffle is a permutation and pick chooses members', () => {
  fc.assert(fc.property(fc.integer(), fc.array(fc.integer(), { maxLength: 50 }), (seed, arr) => {
    const r = new Prng(seed)
    const s = r.shuffle([...arr])
    assert.deepEqual([...s].sort((x, y) => x - y), [...arr].sort((x, y) => x - y))
    if (arr.length > 0) assert.ok(arr.includes(r.pick(arr)))
  }))
  assert.throws(() => new Prng(1).pick([]), RangeError)
})

test('forks are reproducible and independent of the parent stream', () => {
  const p1 = new Prng(9)
  const p2 = new Prng(9)
  const f1 = p1.fork()
  const f2 = p2.fork()
  assert.deepEqual([f1.next(), f1.next()], [f2.next(), f2.next()])
  assert.notDeepEqual([p1.next(), p1.next()], [f1.next(), f1.next()])
})

test('the event queue pops by time, ties in insertion order', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
    const q = new EventQueue<{ at: number, seq: number, i: number }>()
    times.forEach((at, i) => { q.push({ at, seq: 0, i }) })
    const out: { at: number, i: number }[] = []
    for (let e = q.pop(); e !== undefined; e = q.pop()) out.push({ at: e.at, i: e.i })
    const expected = times.map((at, i) => ({ at, i })).sort((a, b) => a.at - b.at || a.i - b.i)
    assert.deepEqual(out, expected)
  }))
})
