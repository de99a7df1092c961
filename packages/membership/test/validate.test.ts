import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { defaults, MalformedMessageError, type MembershipMessage, validateMessage } from '../src/index.ts'
import { gossip, hb } from './fixtures/core.ts'
import { GossipHarness } from './fixtures/sim-gossip.ts'

function refuses (x: unknown, why: RegExp): void {
  assert.throws(() => validateMessage(x), (err: Error) => {
    assert.equal(err.name, 'MalformedMessageError')
    assert.match(err.message, why)
    return true
  })
}

const good = (): Record<string, unknown> => ({ type: 'ping', nonce: 3, heartbeats: [hb('x', 1, 2)], suspects: [{ peer: 'y', inc: 1, seq: 1 }] })

test('validateMessage accepts each well-formed message type', () => {
  const msgs: MembershipMessage[] = [
    { type: 'ping', nonce: 1, heartbeats: [hb('a', 1, 1)], suspects: [] },
    { type: 'ack', nonce: 1, heartbeats: [], suspects: [{ peer: 'b', inc: 2, seq: 3 }] },
    { type: 'ping-req', nonce: 9, target: 'c', heartbeats: [], suspects: [] },
    gossip(hb('d', 1, 1, 'left')),
    { type: 'sync', nonce: 1, digest: [0, 4294967295, 7, 8], heartbeats: [], suspects: [] },
    { type: 'sync-summary', nonce: 1, buckets: 4, cover: [0, 3], have: [{ peer: 'e', inc: 1, seq: 2 }], settled: 1, heartbeats: [], suspects: [] },
    { type: 'sync-push', nonce: 1, need: ['f', 'g'], heartbeats: [hb('h', 1, 1)], suspects: [] }
  ]
  for (const m of msgs) assert.equal(validateMessage(m), m)
})

test('validateMessage refuses garbage with MalformedMessageError', () => {
  refuses(null, /plain object/)
  refuses('ping', /plain object/)
  refuses([good()], /plain object/)
  refuses(new Uint8Array(3), /plain object/)
  refuses(new Map(), /plain object/)
  refuses({ ...good(), type: 'pong' }, /type/)
  refuses({ ...good(), type: '__proto__' }, /type/)
  refuses({ type: 'ping', nonce: 1, heartbeats: [] }, /exactly the keys/)
  refuses({ ...good(), extra: 1 }, /exactly the keys/)
})

test('validateMessage refuses ill-typed fields', () => {
  const withBody = (patch: Record<string, unknown>): unknown => ({ ...good(), heartbeats: [{ body: { ...hb('x', 1, 2).body, ...patch }, sig: new Uint8Array(4) }] })
  refuses({ ...good(), nonce: -1 }, /nonce/)
  refuses({ ...good(), nonce: 1.5 }, /nonce/)
  refuses({ ...good(), nonce: '1' }, /nonce/)
  refuses({ ...good(), heartbeats: 'x' }, /heartbeats must be an array/)
  refuses(withBody({ inc: Number.NaN }), /inc/)
  refuses(withBody({ seq: 2 ** 60 }), /seq/)
  refuses(withBody({ status: 'dead' }), /status/)
  refuses(withBody({ peer: '' }), /peer/)
  refuses(withBody({ peer: 7 }), /peer/)
  refuses(withBody({ roles: 'compute' }), /roles/)
  refuses(withBody({ roles: [1] }), /roles\[0\]/)
  refuses(withBody({ capacity: { cpu: Number.POSITIVE_INFINITY } }), /capacity\.cpu/)
  refuses(withBody({ load: { cpu: '1' } }), /load\.cpu/)
  refuses(withBody({ load: [1] }), /load/)
  refuses(withBody({ addrs: [undefined] }), /addrs\[0\]/)
  refuses(withBody({ extra: 1 }), /exactly the keys/)
  refuses({ ...good(), heartbeats: [{ body: hb('x', 1, 1).body, sig: [1, 2] }] }, /sig/)
  refuses({ ...good(), heartbeats: [{ body: hb('x', 1, 1).body }] }, /exactly the keys/)
  refuses({ ...good(), suspects: [{ peer: 'y', inc: 1 }] }, /exactly the keys/)
  refuses({ type: 'sync', nonce: 1, digest: [1, 2, 3], heartbeats: [], suspects: [] }, /power-of-two/)
  refuses({ type: 'sync', nonce: 1, digest: [2 ** 33], heartbeats: [], suspects: [] }, /32-bit/)
  const summary = { type: 'sync-summary', nonce: 1, buckets: 4, cover: [], have: [], settled: 0, heartbeats: [], suspects: [] }
  refuses({ ...summary, cover: [4] }, /bucket index/)
  refuses({ ...summary, buckets: 3 }, /power of two/)
  refuses({ ...summary, have: [{ peer: 'x', inc: 1 }] }, /have\[0\]/)
  refuses({ ...summary, have: 'x' }, /have/)
  refuses({ ...summary, settled: 1 }, /settled/)
  refuses({ type: 'sync-push', nonce: 1, need: [7], heartbeats: [], suspects: [] }, /need\[0\]/)
  refuses({ type: 'sync-push', nonce: 1, heartbeats: [], suspects: [] }, /exactly the keys/)
})

test('validateMessage refuses oversized messages', () => {
  const L = defaults.LIMITS
  refuses({ ...good(), suspects: Array.from({ length: L.records + 1 }, (_, i) => ({ peer: `p${i}`, inc: 1, seq: 1 })) }, /more than/)
  refuses({ type: 'sync-summary', nonce: 1, buckets: 1, cover: [0], settled: 0, have: Array.from({ length: L.versions + 1 }, (_, i) => ({ peer: `p${i}`, inc: 1, seq: 1 })), heartbeats: [], suspects: [] }, /more than/)
  refuses({ type: 'sync-push', nonce: 1, need: Array.from({ length: L.versions + 1 }, (_, i) => `p${i}`), heartbeats: [], suspects: [] }, /more than/)
  refuses({ ...good(), heartbeats: Array.from({ length: 200 }, (_, i) => hb(`p${i}`, 1, 1)), suspects: Array.from({ length: 100 }, (_, i) => ({ peer: `q${i}`, inc: 1, seq: 1 })) }, /more than 256 records/)
  refuses({ ...good(), heartbeats: [hb('x'.repeat(L.peerChars + 1), 1, 1)] }, /peer/)
  refuses({ ...good(), heartbeats: [{ body: hb('x', 1, 1).body, sig: new Uint8Array(L.sigBytes + 1) }] }, /sig/)
  refuses({ ...good(), heartbeats: [hb('x', 1, 1, 'alive', { roles: [], capacity: {}, load: {}, addrs: Array(L.addrs + 1).fill('/ip4/1.2.3.4') })] }, /addrs/)
  const capacity = Object.fromEntries(Array.from({ length: L.keys + 1 }, (_, i) => [`k${i}`, 1]))
  refuses({ ...good(), heartbeats: [hb('x', 1, 1, 'alive', { roles: [], capacity, load: {}, addrs: [] })] }, /keys/)
  // within every per-field limit, but too many bytes in total
  const fat = { roles: Array(L.roles).fill('r'.repeat(L.roleChars)), capacity: {}, load: {}, addrs: Array(L.addrs).fill('a'.repeat(L.addrChars)) }
  refuses({ ...good(), heartbeats: Array.from({ length: 60 }, (_, i) => hb(`p${i}`, 1, 1, 'alive', fat)) }, /bytes/)
})

test('validateMessage throws only MalformedMessageError, whatever the input', () => {
  fc.assert(fc.property(fc.anything({ withTypedArray: true, withMap: true, withSet: true, withNullPrototype: true }), (x) => {
    try {
      validateMessage(x)
    } catch (err) {
      assert.equal((err as Error).name, 'MalformedMessageError')
      assert.ok(err instanceof MalformedMessageError)
    }
  }), { numRuns: 2000 })
  // small mutations of a valid message
  fc.assert(fc.property(fc.constantFrom('type', 'nonce', 'heartbeats', 'suspects'), fc.anything(), (key, value) => {
    try { validateMessage({ ...good(), [key]: value }) } catch (err) { assert.equal((err as Error).name, 'MalformedMessageError') }
  }), { numRuns: 1000 })
})

const WIRE_SEED = 202
test(`every message the core emits round-trips DAG-CBOR and passes validateMessage (seed ${WIRE_SEED})`, () => {
  const h = new GossipHarness(WIRE_SEED, { seeds: ['n0'], intervalMs: 500, ttlMs: 3000 }, { loss: 0.1, latency: { min: 1, max: 40 } }, true)
  const types = new Set<string>()
  let n = 0
  h.hooks.inspect = (m) => {
    types.add(m.type)
    if (n++ % 7 !== 0) return
    const back = dagCbor.decode(dagCbor.encode(m))
    assert.deepEqual(validateMessage(back), m)
  }
  for (let i = 0; i < 30; i++) h.add(`n${i}`)
  h.sim.run(10_000)
  h.crash('n5')
  h.leave('n6')
  h.sim.partition([Array.from({ length: 15 }, (_, i) => `n${i}`)])
  h.sim.run(20_000)
  h.sim.heal()
  h.sim.run(40_000)
  assert.equal(h.hooks.rejected ?? 0, 0)
  assert.deepEqual([...types].sort(), ['ack', 'gossip', 'ping', 'ping-req', 'sync', 'sync-push', 'sync-summary'])
  assert.ok(n > 1000)
})
