import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { placementHash, rankHolders } from '../src/placement.ts'
import type { PlacementMember } from '../src/placement.ts'

const peerArb = fc.stringMatching(/^[a-z0-9]{1,12}$/)
const membersArb = fc.uniqueArray(fc.record({ peer: peerArb, weight: fc.integer({ min: 1, max: 8 }) }), { selector: m => m.peer, minLength: 1, maxLength: 40 })
const keyArb = fc.string({ minLength: 1, maxLength: 40 })

function members (n: number, weight = (_i: number) => 1): PlacementMember[] {
  return Array.from({ length: n }, (_, i) => ({ peer: `12D3KooW${i.toString(36).padStart(6, 'x')}`, weight: weight(i) }))
}

test('deterministic: the same input ranks the same, whatever the order of the members', () => {
  fc.assert(fc.property(keyArb, membersArb, fc.integer({ min: 0, max: 50 }), (key, ms, count) => {
    const a = rankHolders(key, ms, count)
    assert.deepEqual(rankHolders(key, ms, count), a)
    assert.deepEqual(rankHolders(key, [...ms].reverse(), count), a)
  }))
})

test('returns min(count, eligible) distinct members, best first (a shorter list is a prefix of a longer one)', () => {
  fc.assert(fc.property(keyArb, membersArb, fc.integer({ min: 0, max: 50 }), (key, ms, count) => {
    const r = rankHolders(key, ms, count)
    assert.equal(r.length, Math.min(count, ms.length))
    assert.equal(new Set(r).size, r.length)
    for (const p of r) assert.ok(ms.some(m => m.peer === p))
    assert.deepEqual(rankHolders(key, ms, ms.length).slice(0, r.length), r)
  }))
})

test('exclude and weight 0 members are never chosen; excluding = removing', () => {
  fc.assert(fc.property(keyArb, membersArb, fc.integer({ min: 1, max: 10 }), fc.nat(), (key, ms, count, pick) => {
    const out = new Set([ms[pick % ms.length].peer])
    const zeroed = ms.map(m => out.has(m.peer) ? { ...m, weight: 0 } : m)
    const removed = ms.filter(m => !out.has(m.peer))
    const expected = rankHolders(key, removed, count)
    assert.deepEqual(rankHolders(key, ms, count, out), expected)
    assert.deepEqual(rankHolders(key, zeroed, count), expected)
  }))
})

test('minimal disruption: removing a member moves only the keys it held; adding one moves only keys to it', () => {
  fc.assert(fc.property(fc.array(keyArb, { minLength: 1, maxLength: 30 }), membersArb, fc.integer({ min: 1, max: 6 }), fc.nat(), (keys, ms, count, pick) => {
    const gone = ms[pick % ms.length].peer
    const rest = ms.filter(m => m.peer !== gone)
    for (const key of keys) {
      const before = rankHolders(key, ms, count)
      const after = rankHolders(key, rest, count)
      if (!before.includes(gone)) assert.deepEqual(after, before, 'a key the member did not hold kept its holders')
      else {
        // survivors keep their places in order; at most one newcomer, at the end
        assert.deepEqual(after.slice(0, before.length - 1), before.filter(p => p !== gone))
      }
      // and the reverse direction: joining
      const joined = rankHolders(key, ms, count)
      const wasHolders = new Set(after)
      for (const p of joined) assert.ok(p === gone || wasHolders.has(p), 'a join only brings in the joiner')
    }
  }))
})

test('load follows weight: over 10,000 keys a 2x member gets ~2x the keys (count 1) and ~more at count 3', () => {
  const ms = members(20, i => (i < 5 ? 2 : 1)) // 5 members of weight 2, 15 of weight 1: total 25
  const wins = new Map<string, number>()
  const holds = new Map<string, number>()
  for (let i = 0; i < 10_000; i++) {
    const key = `bafy${i}`
    const [first] = rankHolders(key, ms, 1)
    wins.set(first, (wins.get(first) ?? 0) + 1)
    for (const p of rankHolders(key, ms, 3)) holds.set(p, (holds.get(p) ?? 0) + 1)
  }
  const sum = (pred: (i: number) => boolean, m: Map<string, number>): number => ms.reduce((s, x, i) => s + (pred(i) ? (m.get(x.peer) ?? 0) : 0), 0)
  const heavy = sum(i => i < 5, wins) / 5
  const light = sum(i => i >= 5, wins) / 15
  // expected 800 vs 400 per member
  assert.ok(Math.abs(heavy / light - 2) < 0.15, `heavy/light = ${heavy / light}`)
  for (const [i, m] of ms.entries()) {
    const expected = 10_000 * m.weight / 25
    const got = wins.get(m.peer) ?? 0
    assert.ok(Math.abs(got - expected) < 0.2 * expected, `member ${i}: ${got} keys, expected ~${expected}`)
  }
  // count 3: sampling without replacement — heavier still gets more, less than 2x
  const h3 = sum(i => i < 5, holds) / 5
  const l3 = sum(i => i >= 5, holds) / 15
  assert.ok(h3 / l3 > 1.5 && h3 / l3 < 2.1, `count 3 heavy/light = ${h3 / l3}`)
})

test('placementHash is uniform in (0, 1) and sensitive to both key and peer', () => {
  const buckets = new Array(10).fill(0)
  for (let i = 0; i < 20_000; i++) {
    const u = placementHash(`k${i % 200}`, `p${Math.floor(i / 200)}`)
    assert.ok(u > 0 && u < 1)
    buckets[Math.floor(u * 10)]++
  }
  for (const b of buckets) assert.ok(Math.abs(b - 2000) < 200, `bucket ${b}`)
  assert.notEqual(placementHash('ab', 'c'), placementHash('a', 'bc'))
  assert.notEqual(placementHash('a', 'b'), placementHash('b', 'a'))
})

test('bad input is refused with InvalidPlacementInputError', () => {
  const ok = members(3)
  const bad: [string, () => unknown][] = [
    ['negative count', () => rankHolders('k', ok, -1)],
    ['fractional count', () => rankHolders('k', ok, 1.5)],
    ['NaN count', () => rankHolders('k', ok, Number.NaN)],
    ['NaN weight', () => rankHolders('k', [{ peer: 'a', weight: Number.NaN }], 1)],
    ['infinite weight', () => rankHolders('k', [{ peer: 'a', weight: Number.POSITIVE_INFINITY }], 1)],
    ['negative weight', () => rankHolders('k', [{ peer: 'a', weight: -1 }], 1)],
    ['string weight', () => rankHolders('k', [{ peer: 'a', weight: '1' as unknown as number }], 1)],
    ['empty peer', () => rankHolders('k', [{ peer: '', weight: 1 }], 1)],
    ['duplicate peer', () => rankHolders('k', [{ peer: 'a', weight: 1 }, { peer: 'a', weight: 2 }], 1)],
    ['non-string key', () => rankHolders(7 as unknown as string, ok, 1)]
  ]
  for (const [what, fn] of bad) assert.throws(fn, { name: 'InvalidPlacementInputError' }, what)
  assert.deepEqual(rankHolders('k', [], 3), [])
  assert.deepEqual(rankHolders('k', ok, 0), [])
})
