import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { Capability, Caveats } from '../src/index.ts'
import {
  MAX_CAPABILITY_BYTES,
  MAX_CHAIN_LENGTH,
  abilityCovers,
  capabilityChain,
  decode,
  decodeCapability,
  delegate,
  encode,
  encodeCapability,
  issue,
  resourceCovers,
  verifyCapability
} from '../src/index.ts'
import { HOUR, NOW, cast, flip, indexOfBytes, isProtocolError, mintRaw, refuses } from './fixtures.ts'

const { origin, alice, bob, carol, mallory } = await cast()

/** origin → alice: topics, pub-sub, some QoS, for an hour. */
async function rootToken (over: Partial<Parameters<typeof issue>[1]> = {}): Promise<Capability> {
  return issue(origin, {
    audience: alice.did,
    resource: 'topic/*',
    abilities: ['pubsub/*'],
    caveats: { cpuShare: 0.5, memoryMiB: 256 },
    expiresAt: NOW + HOUR,
    now: NOW,
    nonce: 'n0',
    ...over
  })
}

describe('resourceCovers / abilityCovers', () => {
  const table: Array<[string, string, boolean]> = [
    ['*', 'anything/at/all', true],
    ['*', '*', true],
    ['a/b', 'a/b', true],
    ['a/b', 'a/b/c', false],
    ['a/b', 'a/bc', false],
    ['a/b/*', 'a/b/c', true],
    ['a/b/*', 'a/b/c/d', true],
    ['a/b/*', 'a/b/c/*', true],
    ['a/b/*', 'a/b/*', true],
    ['a/b/*', 'a/b', false], // the wildcard covers what lies below a/b, not a/b itself
    ['a/b/*', 'a/b/', false],
    ['a/b/*', 'a/bc', false],
    ['a/b/*', '*', false],
    ['a/b/c', 'a/b/*', false],
    ['A/b', 'a/b', false]
  ]
  for (const [parent, child, expected] of table) {
    it(`${parent} ${expected ? 'covers' : 'does not cover'} ${child}`, () => {
      assert.equal(resourceCovers(parent, child), expected)
      assert.equal(abilityCovers(parent, child), expected)
    })
  }

  it('is reflexive and transitive over generated patterns', () => {
    const seg = fc.constantFrom('a', 'b', 'c')
    const pattern = fc.tuple(fc.array(seg, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([segs, wild]) => wild ? `${segs.join('/')}/*` : segs.join('/'))
    fc.assert(fc.property(pattern, pattern, pattern, (x, y, z) => {
      assert.ok(resourceCovers(x, x))
      if (resourceCovers(x, y) && resourceCovers(y, z)) assert.ok(resourceCovers(x, z))
    }), { numRuns: 2000 })
  })
})

describe('issue and verify', () => {
  it('verifies a root token and reports what it grants', async () => {
    const c = await rootToken()
    const v = await verifyCapability(c, { now: NOW, root: origin.did, audience: alice.did, need: { resource: 'topic/chat', ability: 'pubsub/publish' } })
    assert.equal(v.issuer, origin.did)
    assert.equal(v.audience, alice.did)
    assert.equal(v.resource, 'topic/*')
    assert.deepEqual(v.abilities, ['pubsub/*'])
    assert.deepEqual(v.caveats, { cpuShare: 0.5, memoryMiB: 256 })
    assert.equal(v.notBefore, NOW)
    assert.equal(v.expiresAt, NOW + HOUR)
    assert.deepEqual(v.chain, [c.id])
  })

  it('verifies a delegation chain with the tightest caveats and the chain ids', async () => {
    const root = await rootToken()
    const mid = await delegate(alice, root, { audience: bob.did, resource: 'topic/chat/*', caveats: { cpuShare: 0.25, memoryMiB: 256 }, now: NOW })
    const leaf = await delegate(bob, mid, { audience: carol.did, resource: 'topic/chat/room1', abilities: ['pubsub/publish'], caveats: { cpuShare: 0.25, memoryMiB: 100, storageMiB: 5 }, expiresAt: NOW + HOUR / 2, now: NOW })
    const v = await verifyCapability(await decodeCapability(leaf.bytes), { now: NOW, root: origin.did, audience: carol.did, need: { resource: 'topic/chat/room1', ability: 'pubsub/publish' } })
    assert.deepEqual(v.chain, [root.id, mid.id, leaf.id])
    assert.deepEqual(v.caveats, { cpuShare: 0.25, memoryMiB: 100, storageMiB: 5 })
    assert.equal(v.expiresAt, NOW + HOUR / 2)
    assert.deepEqual((await capabilityChain(leaf)).map(t => t.id), v.chain)
  })

  it('accepts any of several roots, and only those', async () => {
    const c = await rootToken()
    await verifyCapability(c, { now: NOW, root: [mallory.did, origin.did] })
    await refuses(verifyCapability(c, { now: NOW, root: [] }), 'BrokenChainError')
  })

  it('delegate inherits what it is not told, and starts no earlier than its parent', async () => {
    const root = await rootToken({ notBefore: NOW + 10 })
    const d = await delegate(alice, root, { audience: bob.did, now: NOW })
    assert.equal(d.payload.res, root.payload.res)
    assert.deepEqual(d.payload.can, root.payload.can)
    assert.deepEqual(d.payload.cav, root.payload.cav)
    assert.equal(d.payload.nbf, NOW + 10)
    assert.equal(d.payload.exp, root.payload.exp)
  })

  it('returns frozen tokens', async () => {
    const c = await decodeCapability((await rootToken()).bytes)
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.payload) && Object.isFrozen(c.payload.can))
  })

  it('verifies a token object rebuilt by hand (e.g. across a realm)', async () => {
    const c = await rootToken()
    const copy: Capability = { payload: structuredClone(c.payload), sig: new Uint8Array(c.sig), bytes: new Uint8Array(c.bytes), id: c.id }
    assert.equal((await verifyCapability(copy, { now: NOW, root: origin.did })).capability.id, c.id)
  })
})

describe('encodeCapability / decodeCapability', () => {
  it('round-trips and preserves the id', async () => {
    const words = fc.constantFrom('a', 'b', 'topic', 'x1')
    await fc.assert(fc.asyncProperty(
      fc.array(words, { minLength: 1, maxLength: 3 }),
      fc.uniqueArray(fc.constantFrom('pubsub/publish', 'pubsub/subscribe', 'store/*', '*'), { minLength: 1 }),
      fc.record({ cpuShare: fc.double({ min: 0, max: 1, noNaN: true }), memoryMiB: fc.nat() }, { requiredKeys: [] }),
      fc.integer({ min: 1, max: 10 * HOUR }),
      fc.string({ maxLength: 64 }),
      async (segs, can, cav, ttl, nonce) => {
        const c = await issue(origin, { audience: alice.did, resource: segs.join('/'), abilities: can, caveats: cav as Caveats, expiresAt: NOW + ttl, now: NOW, nonce })
        const d = await decodeCapability(encodeCapability(c))
        assert.equal(d.id, c.id)
        assert.deepEqual(d.payload, c.payload)
        assert.deepEqual(d.bytes, c.bytes)
        await verifyCapability(d, { now: NOW, root: origin.did })
      }
    ), { numRuns: 40 })
  })

  it('refuses bytes that are not in canonical form (so one token has one id)', async () => {
    const c = await rootToken()
    const { payload, sig } = decode(c.bytes) as { payload: unknown, sig: Uint8Array }
    // the same map, keys in the wrong order: 'payload' before 'sig'
    const p = encode(payload)
    const swapped = Uint8Array.from([0xa2, 0x67, ...new TextEncoder().encode('payload'), ...p, 0x63, ...new TextEncoder().encode('sig'), 0x58, 0x40, ...sig])
    await refuses(decodeCapability(swapped), 'MalformedError')
  })

  it('refuses unknown, missing and mistyped fields, naming them', async () => {
    const c = await rootToken()
    const { payload, sig } = decode(c.bytes) as { payload: Record<string, unknown>, sig: Uint8Array }
    const cases: Array<[unknown, string]> = [
      [{ payload, sig, extra: 1 }, 'extra'],
      [{ payload }, 'sig'],
      [{ payload, sig: sig.subarray(1) }, 'sig'],
      [{ payload: { ...payload, x: 1 }, sig }, 'x'],
      [{ payload: { ...payload, v: 2 }, sig }, 'v'],
      [{ payload: { ...payload, iss: 'did:web:example.com' }, sig }, 'iss'],
      [{ payload: { ...payload, aud: 'alice' }, sig }, 'aud'],
      [{ payload: { ...payload, res: '' }, sig }, 'res'],
      [{ payload: { ...payload, res: 'a/*/b' }, sig }, 'res'],
      [{ payload: { ...payload, res: 'a\nb' }, sig }, 'res'],
      [{ payload: { ...payload, can: [] }, sig }, 'can'],
      [{ payload: { ...payload, can: ['a', 'a'] }, sig }, 'can'],
      [{ payload: { ...payload, can: [1] }, sig }, 'can[0]'],
      [{ payload: { ...payload, cav: { gpu: 1 } }, sig }, 'cav.gpu'],
      [{ payload: { ...payload, cav: { cpuShare: 2 } }, sig }, 'cav.cpuShare'],
      [{ payload: { ...payload, cav: { memoryMiB: -1 } }, sig }, 'cav.memoryMiB'],
      [{ payload: { ...payload, nbf: 1.5 }, sig }, 'nbf'],
      [{ payload: { ...payload, exp: -1 }, sig }, 'exp'],
      [{ payload: { ...payload, nbf: NOW + 2 * HOUR }, sig }, 'nbf'],
      [{ payload: { ...payload, nnc: 'x'.repeat(65) }, sig }, 'nnc'],
      [{ payload: { ...payload, prf: ['x'] }, sig }, 'prf'],
      [{ payload: { ...payload, prf: [c.bytes, c.bytes] }, sig }, 'prf'],
      [{ payload: { ...payload, prf: [new Uint8Array([1, 2])] }, sig }, 'bytes'],
      [[payload, sig], 'token'],
      ['token', 'token']
    ]
    for (const [value, field] of cases) {
      const e = await refuses(decodeCapability(encode(value)), 'MalformedError')
      assert.equal(e.field, field, `${e.message}`)
    }
  })

  it('refuses oversized tokens (16 KiB by default, or the limit given)', async () => {
    const c = await rootToken({ resource: 'r'.repeat(1000) })
    await refuses(decodeCapability(c.bytes, { maxBytes: 100 }), 'MalformedError')
    const huge = encode({ payload: { pad: new Uint8Array(MAX_CAPABILITY_BYTES) }, sig: new Uint8Array(64) })
    const e = await refuses(decodeCapability(huge), 'MalformedError')
    assert.equal(e.field, 'bytes')
  })

  it('refuses garbage and truncated tokens with MalformedError only', async () => {
    const c = await delegate(alice, await rootToken(), { audience: bob.did, now: NOW })
    for (let i = 0; i < c.bytes.length; i += 7) await refuses(decodeCapability(c.bytes.subarray(0, i)), 'MalformedError')
    await refuses(decodeCapability(null as unknown as Uint8Array), 'MalformedError')
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async bytes => {
      try {
        await decodeCapability(bytes)
      } catch (err) {
        assert.equal((err as Error).name, 'MalformedError', String(err))
      }
    }), { numRuns: 1500 })
  })

  it('a flipped byte anywhere yields MalformedError or a token that fails verification by name', async () => {
    const c = await delegate(alice, await rootToken(), { audience: bob.did, now: NOW })
    await fc.assert(fc.asyncProperty(fc.nat({ max: c.bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, mask) => {
      let d: Capability
      try {
        d = await decodeCapability(flip(c.bytes, at, mask))
      } catch (err) {
        assert.equal((err as Error).name, 'MalformedError', String(err))
        return
      }
      await assert.rejects(verifyCapability(d, { now: NOW, root: origin.did, audience: bob.did }), err => isProtocolError(err))
    }), { numRuns: 300 })
  })

  it('refuses chains longer than the limit', async () => {
    // MAX_CHAIN_LENGTH tokens are fine; issue refuses to mint one more …
    const holders = [alice, bob, carol, mallory]
    let c = await rootToken()
    for (let i = 1; i < MAX_CHAIN_LENGTH; i++) {
      c = await delegate(holders[(i - 1) % 4], c, { audience: holders[i % 4].did, now: NOW })
    }
    assert.equal((await verifyCapability(c, { now: NOW, root: origin.did })).chain.length, MAX_CHAIN_LENGTH)
    const last = holders[(MAX_CHAIN_LENGTH - 1) % 4]
    await refuses(delegate(last, c, { audience: alice.did, now: NOW }), 'MalformedError')
    // … and a hand-minted one does not decode
    const raw = encode({ payload: { ...c.payload, iss: last.did, prf: [c.bytes] }, sig: new Uint8Array(64) })
    const e = await refuses(decodeCapability(raw), 'MalformedError')
    assert.equal(e.field, 'prf')
  })

  it('refuses multiple proofs when issuing', async () => {
    const a = await rootToken()
    const b = await rootToken({ nonce: 'n1' })
    await refuses(issue(alice, { audience: bob.did, resource: 'topic/x', abilities: ['pubsub/publish'], expiresAt: NOW + 1, now: NOW, proofs: [a, b] }), 'MalformedError')
  })

  it('refuses bad issue options with MalformedError', async () => {
    const base = { audience: alice.did, resource: 'r', abilities: ['a'], expiresAt: NOW + 1, now: NOW }
    await refuses(issue(origin, { ...base, abilities: [] }), 'MalformedError')
    await refuses(issue(origin, { ...base, resource: 'a*' }), 'MalformedError')
    await refuses(issue(origin, { ...base, caveats: { cpuShare: 1.5 } }), 'MalformedError')
    await refuses(issue(origin, { ...base, caveats: { gpus: 1 } as Caveats }), 'MalformedError')
    await refuses(issue(origin, { ...base, expiresAt: NOW - 1 }), 'MalformedError')
    await refuses(issue(origin, { ...base, audience: 'bob' }), 'MalformedError')
    await refuses(issue(origin, { ...base, expiresAt: Number.NaN }), 'MalformedError')
    // undefined optional caveats are simply left out
    assert.deepEqual((await issue(origin, { ...base, caveats: { cpuShare: undefined, memoryMiB: 1 } })).payload.cav, { memoryMiB: 1 })
  })

  it('refuses a token object whose bytes or id do not match its payload', async () => {
    const c = await rootToken()
    const other = await rootToken({ nonce: 'other' })
    await refuses(verifyCapability({ ...c, id: other.id }, { now: NOW, root: origin.did }), 'MalformedError')
    await refuses(verifyCapability({ ...c, bytes: other.bytes }, { now: NOW, root: origin.did }), 'MalformedError')
    await refuses(verifyCapability({ ...c, payload: other.payload }, { now: NOW, root: origin.did }), 'MalformedError')
  })
})

describe('verifyCapability refusals', () => {
  it('forged: a flipped signature byte', async () => {
    const c = await rootToken()
    const sigAt = indexOfBytes(c.bytes, c.sig)
    const d = await decodeCapability(flip(c.bytes, sigAt + 5))
    await refuses(verifyCapability(d, { now: NOW, root: origin.did }), 'InvalidSignatureError')
  })

  it('forged: a changed payload byte', async () => {
    const c = await rootToken({ resource: 'topic/chat' })
    const at = indexOfBytes(c.bytes, new TextEncoder().encode('topic/chat'))
    const d = await decodeCapability(flip(c.bytes, at + 9, 0x02)) // topic/chat -> topic/cha(v)
    assert.notEqual(d.payload.res, c.payload.res)
    await refuses(verifyCapability(d, { now: NOW, root: origin.did }), 'InvalidSignatureError')
  })

  it('forged: a payload re-encoded under the old signature', async () => {
    const c = await rootToken()
    const payload = { ...c.payload, res: '*' }
    const d = await decodeCapability(encode({ payload, sig: c.sig }))
    await refuses(verifyCapability(d, { now: NOW, root: origin.did }), 'InvalidSignatureError')
  })

  it('forged: an altered proof inside a valid-looking chain', async () => {
    const root = await rootToken()
    const child = await delegate(alice, root, { audience: bob.did, now: NOW })
    // mallory swaps in a root "issued by the origin" granting more, signed by herself
    const fakeRoot = await mintRaw(mallory, { ...root.payload, iss: origin.did, res: '*' })
    const fake = await mintRaw(alice, { ...child.payload, prf: [fakeRoot.bytes] })
    await refuses(verifyCapability(fake, { now: NOW, root: origin.did }), 'InvalidSignatureError')
  })

  it('wrong audience', async () => {
    const c = await rootToken()
    await refuses(verifyCapability(c, { now: NOW, root: origin.did, audience: bob.did }), 'WrongAudienceError')
  })

  it('expired (exp is exclusive) and not yet valid, with optional skew', async () => {
    const c = await rootToken({ notBefore: NOW, expiresAt: NOW + 1000 })
    await verifyCapability(c, { now: NOW + 999, root: origin.did })
    await refuses(verifyCapability(c, { now: NOW + 1000, root: origin.did }), 'TokenExpiredError')
    await refuses(verifyCapability(c, { now: NOW - 1, root: origin.did }), 'TokenNotYetValidError')
    await verifyCapability(c, { now: NOW + 1000, root: origin.did, skewMs: 5 })
    await verifyCapability(c, { now: NOW - 5, root: origin.did, skewMs: 5 })
    await refuses(verifyCapability(c, { now: NOW - 6, root: origin.did, skewMs: 5 }), 'TokenNotYetValidError')
  })

  it('an expired ancestor fails the chain', async () => {
    const root = await rootToken({ expiresAt: NOW + 1000 })
    const leaf = await delegate(alice, root, { audience: bob.did, now: NOW, expiresAt: NOW + 500 })
    await refuses(verifyCapability(leaf, { now: NOW + 1000, root: origin.did }), 'TokenExpiredError')
  })

  describe('escalation', () => {
    const escalations: Array<[string, Record<string, unknown>]> = [
      ['a wider resource', { resource: '*' }],
      ['a sibling resource', { resource: 'store/x' }],
      ['the wildcard\'s own prefix', { resource: 'topic' }],
      ['a new ability', { abilities: ['store/put'] }],
      ['a wider ability', { abilities: ['*'] }],
      ['a raised caveat', { caveats: { cpuShare: 0.75, memoryMiB: 256 } }],
      ['a dropped caveat', { caveats: { cpuShare: 0.5 } }],
      ['a later expiry', { expiresAt: NOW + 2 * HOUR }],
      ['an earlier start', { notBefore: NOW - 1 }]
    ]
    for (const [what, over] of escalations) {
      it(`issue refuses ${what}`, async () => {
        const root = await rootToken()
        await refuses(delegate(alice, root, { audience: bob.did, now: NOW, ...over }), 'EscalationError')
      })
    }

    const rawEscalations: Array<[string, Record<string, unknown>]> = [
      ['a wider resource', { res: '*' }],
      ['a new ability', { can: ['store/put'] }],
      ['a raised caveat', { cav: { cpuShare: 0.75, memoryMiB: 256 } }],
      ['a dropped caveat', { cav: { memoryMiB: 256 } }],
      ['a later expiry', { exp: NOW + 2 * HOUR }],
      ['an earlier start', { nbf: NOW - 1 }]
    ]
    for (const [what, over] of rawEscalations) {
      it(`verify refuses a hand-minted delegation with ${what}`, async () => {
        const root = await rootToken()
        const bad = await mintRaw(alice, { ...root.payload, iss: alice.did, aud: bob.did, ...over }, root)
        await refuses(verifyCapability(bad, { now: NOW, root: origin.did }), 'EscalationError')
      })
    }
  })

  it('broken chain: delegated by someone the proof is not addressed to', async () => {
    const root = await rootToken()
    await refuses(delegate(bob, root, { audience: carol.did, now: NOW }), 'BrokenChainError')
    const bad = await mintRaw(bob, { ...root.payload, iss: bob.did, aud: carol.did }, root)
    await refuses(verifyCapability(bad, { now: NOW, root: origin.did }), 'BrokenChainError')
  })

  it('broken chain: root issuer is not the expected authority', async () => {
    const selfMade = await issue(mallory, { audience: alice.did, resource: 'topic/*', abilities: ['pubsub/*'], expiresAt: NOW + HOUR, now: NOW })
    await refuses(verifyCapability(selfMade, { now: NOW, root: origin.did }), 'BrokenChainError')
    const leaf = await delegate(alice, selfMade, { audience: bob.did, now: NOW })
    await refuses(verifyCapability(leaf, { now: NOW, root: origin.did }), 'BrokenChainError')
  })

  it('missing ability: a valid token asked for something it does not grant', async () => {
    const c = await rootToken({ resource: 'topic/chat/*', abilities: ['pubsub/subscribe'] })
    const ok = { now: NOW, root: origin.did }
    await verifyCapability(c, { ...ok, need: { resource: 'topic/chat/a', ability: 'pubsub/subscribe' } })
    await refuses(verifyCapability(c, { ...ok, need: { resource: 'topic/chat/a', ability: 'pubsub/publish' } }), 'MissingAbilityError')
    await refuses(verifyCapability(c, { ...ok, need: { resource: 'topic/other', ability: 'pubsub/subscribe' } }), 'MissingAbilityError')
    await refuses(verifyCapability(c, { ...ok, need: { resource: 'topic/chat', ability: 'pubsub/subscribe' } }), 'MissingAbilityError')
    await refuses(verifyCapability(c, { ...ok, need: { resource: 'topic/chat/*', ability: 'pubsub/*' } }), 'MissingAbilityError')
  })

  it('refuses bad options with MalformedError', async () => {
    const c = await rootToken()
    await refuses(verifyCapability(c, { now: Number.NaN, root: origin.did }), 'MalformedError')
    await refuses(verifyCapability(c, { now: NOW, root: origin.did, skewMs: -1 }), 'MalformedError')
    await refuses(verifyCapability(c, { now: NOW, root: 7 as unknown as string }), 'MalformedError')
  })
})

describe('attenuation property', () => {
  // One delegation step that narrows its parent in random ways.
  const step = fc.record({
    extend: fc.boolean(),
    segment: fc.constantFrom('a', 'b', 'c'),
    keepWildcard: fc.boolean(),
    dropAbility: fc.boolean(),
    scale: fc.double({ min: 0, max: 1, noNaN: true }),
    addCaveat: fc.boolean(),
    shiftStart: fc.nat({ max: 1000 }),
    cutEnd: fc.nat({ max: 1000 })
  })

  it('any chain of attenuating delegations verifies, with the leaf as the effective grant', async () => {
    const holders = [origin, alice, bob, carol, mallory]
    await fc.assert(fc.asyncProperty(fc.array(step, { maxLength: MAX_CHAIN_LENGTH - 1 }), async steps => {
      let c = await issue(origin, { audience: alice.did, resource: 'res/*', abilities: ['x/read', 'x/write', 'y/*'], caveats: { cpuShare: 1 }, expiresAt: NOW + HOUR, now: NOW, nonce: 'p' })
      for (let i = 0; i < steps.length; i++) {
        const s = steps[i]
        const p = c.payload
        let res = p.res
        if (s.extend && res.endsWith('/*')) res = s.keepWildcard ? `${res.slice(0, -1)}${s.segment}/*` : `${res.slice(0, -1)}${s.segment}`
        const can = s.dropAbility && p.can.length > 1 ? p.can.slice(1) : [...p.can]
        const cav: Caveats = { ...p.cav, cpuShare: (p.cav.cpuShare ?? 1) * s.scale }
        if (s.addCaveat) cav.memoryMiB = Math.min(p.cav.memoryMiB ?? 1024, 512)
        const nbf = Math.min(p.nbf + s.shiftStart, p.exp)
        const exp = Math.max(nbf, p.exp - s.cutEnd)
        c = await issue(holders[(i + 1) % 5], { audience: holders[(i + 2) % 5].did, resource: res, abilities: can, caveats: cav, notBefore: nbf, expiresAt: exp, now: NOW, proofs: [c] })
      }
      const d = await decodeCapability(c.bytes)
      if (d.payload.nbf === d.payload.exp) return // an empty window verifies at no time
      const v = await verifyCapability(d, { now: d.payload.nbf, root: origin.did, audience: d.payload.aud })
      assert.equal(v.chain.length, steps.length + 1)
      assert.equal(v.resource, d.payload.res)
      assert.deepEqual(v.caveats, d.payload.cav)
      assert.equal(v.notBefore, d.payload.nbf)
      assert.equal(v.expiresAt, d.payload.exp)
    }), { numRuns: 30 })
  })
})
