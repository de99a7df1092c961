// The hand-written envelope codec writes exactly DAG-CBOR and reads nothing else.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encode } from '@webfabric/protocol'
import fc from 'fast-check'
import { MAX_CAP_ID_BYTES, decodeEnvelope, encodeEnvelope } from '../src/pubsub-envelope.ts'

// lengths around every CBOR length-prefix boundary (long ones filled with one byte: generating them is slow)
const filled = (min: number, max: number): fc.Arbitrary<Uint8Array> =>
  fc.tuple(fc.integer({ min, max }), fc.nat(255)).map(([n, b]) => new Uint8Array(n).fill(b))
const bytes = (max: number): fc.Arbitrary<Uint8Array> => fc.oneof(
  fc.uint8Array({ maxLength: 30 }),
  fc.uint8Array({ minLength: 250, maxLength: 260 }),
  filled(Math.min(max, 65530), Math.min(max, 65540))
)
const envelope = fc.record({
  i: fc.uint8Array({ minLength: 1, maxLength: MAX_CAP_ID_BYTES }),
  c: fc.option(bytes(2000), { nil: undefined }),
  d: bytes(60_000)
}).map(e => (e.c === undefined ? { i: e.i, d: e.d } : { i: e.i, c: e.c, d: e.d }))

const refuses = (data: Uint8Array): void => {
  assert.throws(() => decodeEnvelope(data), (e: Error) => e.name === 'MalformedError')
}

describe('pub-sub envelope', () => {
  it('writes the bytes DAG-CBOR writes, and reads them back', () => {
    fc.assert(fc.property(envelope, env => {
      const wire = encodeEnvelope(env)
      assert.deepEqual(wire, encode(env))
      const back = decodeEnvelope(wire)
      assert.deepEqual({ ...back }, env)
    }), { numRuns: 200 })
  })

  it('refuses every strict prefix and any trailing byte', () => {
    fc.assert(fc.property(envelope, fc.nat(), (env, cut) => {
      const wire = encodeEnvelope(env)
      refuses(wire.subarray(0, cut % wire.length))
      const longer = new Uint8Array(wire.length + 1)
      longer.set(wire)
      refuses(longer)
    }), { numRuns: 100 })
  })

  it('refuses other shapes: other keys, key order, non-bytes, long-form lengths, indefinite lengths, an empty id', () => {
    const i = new Uint8Array(36).fill(1)
    const d = new Uint8Array(3).fill(2)
    refuses(encode({ i, d, x: d }))
    refuses(encode({ i, c: d, d, x: d }))
    refuses(encode({ d }))
    refuses(encode({ i }))
    refuses(encode({ i, d: 'text' }))
    refuses(encode({ i: 7, d }))
    refuses(encode({ i: new Uint8Array(0), d }))
    refuses(encode({ i: new Uint8Array(MAX_CAP_ID_BYTES + 1), d }))
    refuses(encode([i, d]))
    // keys out of DAG-CBOR order: { i, d }
    refuses(new Uint8Array([0xa2, 0x61, 0x69, 0x41, 1, 0x61, 0x64, 0x41, 2]))
    // d's length 3 written in one extra byte (0x58 0x03) instead of in the head
    refuses(new Uint8Array([0xa2, 0x61, 0x64, 0x58, 3, 2, 2, 2, 0x61, 0x69, 0x41, 1]))
    // d as an indefinite-length byte string
    refuses(new Uint8Array([0xa2, 0x61, 0x64, 0x5f, 0x41, 2, 0xff, 0x61, 0x69, 0x41, 1]))
    // an indefinite-length map
    refuses(new Uint8Array([0xbf, 0x61, 0x64, 0x41, 2, 0x61, 0x69, 0x41, 1, 0xff]))
    refuses(new Uint8Array(0))
  })

  it('reads views of the message, not copies', () => {
    const wire = encodeEnvelope({ i: new Uint8Array([1, 2]), d: new Uint8Array([3, 4, 5]) })
    const env = decodeEnvelope(wire)
    assert.equal(env.d.buffer, wire.buffer)
    assert.deepEqual([...env.d], [3, 4, 5])
  })
})
