import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { cidOf, cidString, decode, encode, fromBase64url, omitUndefined, signingInput, toBase64url } from '../src/index.ts'
import { isProtocolError, refuses } from './fixtures.ts'

const hex = (s: string): Uint8Array => Uint8Array.from((s.match(/../g) ?? []).map(b => Number.parseInt(b, 16)))

// Values of the IPLD data model that round-trip through DAG-CBOR unchanged.
const ipldValue = fc.letrec(tie => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.boolean(),
    fc.constant(null),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter(d => !Object.is(d, -0)),
    fc.string(),
    fc.uint8Array({ maxLength: 32 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter(k => k !== '__proto__'), tie('value'), { maxKeys: 4, noNullPrototype: true })
  )
})).value

describe('encode / decode', () => {
  it('is deterministic: key order of the input does not matter', () => {
    assert.deepEqual(encode({ b: 1, a: 2, aa: [3] }), encode({ aa: [3], a: 2, b: 1 }))
  })

  it('round-trips every IPLD value, and re-encodes to the same bytes', () => {
    fc.assert(fc.property(ipldValue, v => {
      const bytes = encode(v)
      const back = decode(bytes)
      assert.deepEqual(back, v)
      assert.deepEqual(encode(back), bytes)
    }), { numRuns: 300 })
  })

  it('refuses undefined, NaN and Infinity with MalformedError', async () => {
    await refuses(() => encode({ a: undefined }), 'MalformedError')
    await refuses(() => encode(Number.NaN), 'MalformedError')
    await refuses(() => encode([Number.POSITIVE_INFINITY]), 'MalformedError')
  })

  it('omitUndefined drops only undefined fields', () => {
    assert.deepEqual(omitUndefined({ a: 1, b: undefined, c: null }), { a: 1, c: null })
  })

  it('refuses non-canonical encodings of a valid value', async () => {
    // {b: 1, a: 2}: keys out of order
    await refuses(() => decode(hex('a2616201616102')), 'MalformedError')
    // 1 as a two-byte integer
    await refuses(() => decode(hex('1801')), 'MalformedError')
    // 1.5 as float32 (DAG-CBOR floats are always float64)
    await refuses(() => decode(hex('fa3fc00000')), 'MalformedError')
    // indefinite-length array [1]
    await refuses(() => decode(hex('9f01ff')), 'MalformedError')
    // duplicate key {a: 1, a: 1}
    await refuses(() => decode(hex('a2616101616101')), 'MalformedError')
    // the canonical forms decode
    assert.deepEqual(decode(hex('a2616102616201')), { a: 2, b: 1 })
    assert.equal(decode(hex('fb3ff8000000000000')), 1.5)
  })

  it('with canonical: false, takes a valid but non-canonical encoding (transport frames) and still refuses invalid ones', () => {
    const unsorted = new Uint8Array([0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02]) // {b: 1, a: 2}
    assert.throws(() => decode(unsorted), { name: 'MalformedError' })
    assert.deepEqual(decode(unsorted, { canonical: false }), { a: 2, b: 1 })
    assert.throws(() => decode(new Uint8Array([0x18, 0x01]), { canonical: false }), { name: 'MalformedError' })
    assert.throws(() => decode(new Uint8Array(10), { canonical: false, maxBytes: 4 }), { name: 'MalformedError' })
  })

  it('refuses garbage, truncation, trailing bytes and non-byte input with MalformedError', async () => {
    const good = encode({ hello: 'world', n: [1, 2, 3] })
    for (let i = 0; i < good.length; i++) await refuses(() => decode(good.subarray(0, i)), 'MalformedError')
    const trailing = new Uint8Array(good.length + 1)
    trailing.set(good)
    await refuses(() => decode(trailing), 'MalformedError')
    await refuses(() => decode('not bytes' as unknown as Uint8Array), 'MalformedError')
    await refuses(() => decode(undefined as unknown as Uint8Array), 'MalformedError')
    // unknown tag, CID tag without the 0x00 prefix
    await refuses(() => decode(hex('c501')), 'MalformedError')
    await refuses(() => decode(hex('d82a4101')), 'MalformedError')
  })

  it('refuses oversized input before parsing it', async () => {
    const big = encode(new Uint8Array(2000))
    await refuses(() => decode(big, { maxBytes: 1000 }), 'MalformedError')
    assert.equal((decode(big, { maxBytes: 3000 }) as Uint8Array).length, 2000)
    const e = await refuses(() => decode(new Uint8Array(1024 * 1024 + 1)), 'MalformedError')
    assert.equal(e.field, 'bytes')
  })

  it('turns pathological nesting into MalformedError, not a stack overflow', async () => {
    const deep = new Uint8Array(200_001).fill(0x81) // [[[…[1]…]]]
    deep[200_000] = 0x01
    await refuses(() => decode(deep, { maxBytes: Number.POSITIVE_INFINITY }), 'MalformedError')
  })

  it('arbitrary bytes never throw anything but MalformedError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), bytes => {
      try {
        decode(bytes)
      } catch (err) {
        assert.equal((err as Error).name, 'MalformedError', String(err))
      }
    }), { numRuns: 2000 })
  })

  it('mutated valid encodings never throw anything but MalformedError', () => {
    fc.assert(fc.property(ipldValue, fc.nat(), fc.integer({ min: 1, max: 255 }), (v, at, mask) => {
      const bytes = encode(v)
      const bad = new Uint8Array(bytes)
      bad[at % bad.length] ^= mask
      try {
        decode(bad)
      } catch (err) {
        assert.ok(isProtocolError(err) && (err as Error).name === 'MalformedError', String(err))
      }
    }), { numRuns: 1000 })
  })
})

describe('content ids', () => {
  it('are CIDv1, dag-cbor, sha2-256', async () => {
    const bytes = encode({ a: 1 })
    const cid = await cidOf(bytes)
    assert.equal(cid.version, 1)
    assert.equal(cid.code, 0x71)
    assert.equal(cid.multihash.code, 0x12)
    assert.equal(await cidString(bytes), cid.toString())
    assert.match(cid.toString(), /^bafyrei/)
  })

  it('differ for different bytes and agree for equal bytes', async () => {
    assert.equal(await cidString(encode({ a: 1 })), await cidString(encode({ a: 1 })))
    assert.notEqual(await cidString(encode({ a: 1 })), await cidString(encode({ a: 2 })))
  })
})

describe('signingInput', () => {
  it('separates domains: the same value signs differently per domain', () => {
    const v = { a: 1 }
    assert.notDeepEqual(signingInput('webfabric/x/v1', v), signingInput('webfabric/y/v1', v))
    const input = signingInput('d', v)
    assert.deepEqual(input.subarray(0, 2), Uint8Array.from([0x64, 0]))
    assert.deepEqual(input.subarray(2), encode(v))
  })
})

describe('base64url', () => {
  it('matches the platform encoder and round-trips', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), bytes => {
      const text = toBase64url(bytes)
      assert.equal(text, Buffer.from(bytes).toString('base64url'))
      assert.deepEqual(fromBase64url(text), bytes)
    }), { numRuns: 500 })
  })

  it('is strict: one text per byte string', async () => {
    await refuses(() => fromBase64url('AA=='), 'MalformedError')
    await refuses(() => fromBase64url('A+/A'), 'MalformedError')
    await refuses(() => fromBase64url('A'), 'MalformedError')
    await refuses(() => fromBase64url('AB'), 'MalformedError') // non-zero trailing bits
    await refuses(() => fromBase64url('é'), 'MalformedError')
    await refuses(() => fromBase64url(7 as unknown as string), 'MalformedError')
    assert.deepEqual(fromBase64url(''), new Uint8Array(0))
    assert.deepEqual(fromBase64url('AA'), new Uint8Array(1))
  })
})
