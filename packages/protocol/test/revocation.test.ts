import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { Revocation } from '../src/index.ts'
import {
  CAPABILITY_DOMAIN,
  RevocationSet,
  decodeRevocation,
  delegate,
  encode,
  encodeRevocation,
  issue,
  revoke,
  signingInput,
  verifyCapability,
  verifyRevocation,
  verifyRevocationSignature
} from '../src/index.ts'
import { HOUR, NOW, cast, flip, refuses } from './fixtures.ts'

const { origin, alice, bob, carol, mallory } = await cast()

/** origin → alice → bob. */
async function chain () {
  const root = await issue(origin, { audience: alice.did, resource: 'topic/*', abilities: ['pubsub/*'], expiresAt: NOW + HOUR, now: NOW })
  const leaf = await delegate(alice, root, { audience: bob.did, resource: 'topic/a', now: NOW })
  return { root, leaf }
}

/** A revocation of `tok` signed by `by`, whatever its authority: what a hostile peer can publish. */
async function rawRevocation (by: typeof mallory, tok: string): Promise<Revocation> {
  const body = { v: 1 as const, iss: by.did, tok, at: NOW }
  return { ...body, sig: await by.sign(signingInput('webfabric/revocation/v1', body)) }
}

describe('revoke and verifyRevocation', () => {
  it('the issuer of a token revokes it, and the revocation verifies', async () => {
    const { leaf } = await chain()
    const rev = await revoke(alice, leaf, NOW)
    assert.deepEqual({ v: rev.v, iss: rev.iss, tok: rev.tok, at: rev.at }, { v: 1, iss: alice.did, tok: leaf.id, at: NOW })
    await verifyRevocation(rev, leaf)
    assert.equal(await verifyRevocationSignature(rev), true)
  })

  it('an issuer higher in the chain may revoke a token below it', async () => {
    const { leaf } = await chain()
    await verifyRevocation(await revoke(origin, leaf, NOW), leaf)
  })

  it('refuses revokers outside the chain, and below the token', async () => {
    const { root, leaf } = await chain()
    await refuses(revoke(mallory, leaf, NOW), 'UnauthorizedRevocationError')
    await refuses(revoke(alice, root, NOW), 'UnauthorizedRevocationError') // alice holds root, she did not issue it
    await refuses(verifyRevocation(await rawRevocation(mallory, leaf.id), leaf), 'UnauthorizedRevocationError')
    await refuses(verifyRevocation(await rawRevocation(alice, root.id), root), 'UnauthorizedRevocationError')
  })

  it('refuses a revocation of another token', async () => {
    const { root, leaf } = await chain()
    const e = await refuses(verifyRevocation(await revoke(origin, root, NOW), leaf), 'MalformedError')
    assert.equal(e.field, 'tok')
  })

  it('refuses tampered revocations', async () => {
    const { leaf } = await chain()
    const rev = await revoke(alice, leaf, NOW)
    await refuses(verifyRevocation({ ...rev, at: NOW + 1 }, leaf), 'InvalidSignatureError')
    await refuses(verifyRevocation({ ...rev, sig: flip(rev.sig, 3) }, leaf), 'InvalidSignatureError')
    assert.equal(await verifyRevocationSignature({ ...rev, sig: flip(rev.sig, 3) }), false)
    // a signature made for another kind of object does not count (domain separation)
    const body = { v: 1 as const, iss: alice.did, tok: leaf.id, at: NOW }
    const crossSig = await alice.sign(signingInput(CAPABILITY_DOMAIN, body))
    await refuses(verifyRevocation({ ...body, sig: crossSig }, leaf), 'InvalidSignatureError')
    await refuses(verifyRevocation({ ...rev, iss: 'did:web:x' }, leaf), 'MalformedError')
    assert.equal(await verifyRevocationSignature({ ...rev, v: 2 } as unknown as Revocation), false)
  })

  it('encodes and decodes, refusing anything malformed with MalformedError', async () => {
    const { leaf } = await chain()
    const rev = await revoke(alice, leaf, NOW)
    assert.deepEqual(decodeRevocation(encodeRevocation(rev)), rev)
    const body = { v: 1, iss: alice.did, tok: leaf.id, at: NOW, sig: rev.sig }
    const bad: Array<[unknown, string]> = [
      [{ ...body, x: 1 }, 'x'],
      [{ ...body, v: 2 }, 'v'],
      [{ ...body, tok: 'not-a-cid' }, 'tok'],
      [{ ...body, at: -5 }, 'at'],
      [{ ...body, sig: new Uint8Array(3) }, 'sig'],
      [[1, 2], 'revocation']
    ]
    for (const [value, field] of bad) assert.equal((await refuses(() => decodeRevocation(encode(value)), 'MalformedError')).field, field)
    await refuses(() => decodeRevocation(new Uint8Array(2000)), 'MalformedError')
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), bytes => {
      try {
        decodeRevocation(bytes)
      } catch (err) {
        assert.equal((err as Error).name, 'MalformedError')
      }
    }), { numRuns: 500 })
  })
})

describe('verifyCapability with revocations', () => {
  it('refuses a revoked leaf, naming it', async () => {
    const { leaf } = await chain()
    const set = new RevocationSet()
    set.add(await revoke(alice, leaf, NOW))
    const e = await refuses(verifyCapability(leaf, { now: NOW, root: origin.did, revocations: set }), 'RevokedError')
    assert.equal(e.tokenId, leaf.id)
  })

  it('refuses a token whose ancestor is revoked, naming the ancestor', async () => {
    const { root, leaf } = await chain()
    const set = new RevocationSet()
    set.add(await revoke(origin, root, NOW))
    const e = await refuses(verifyCapability(leaf, { now: NOW, root: origin.did, revocations: set }), 'RevokedError')
    assert.equal(e.tokenId, root.id)
  })

  it('ignores revocations by signers with no authority over the token', async () => {
    const { root, leaf } = await chain()
    const set = new RevocationSet()
    set.add(await rawRevocation(mallory, leaf.id))
    set.add(await rawRevocation(mallory, root.id))
    set.add(await rawRevocation(alice, root.id)) // alice is below root: she cannot revoke it
    set.add(await rawRevocation(bob, leaf.id)) // bob is the audience, not an issuer
    assert.equal(set.has(leaf.id), true) // the set holds them …
    await verifyCapability(leaf, { now: NOW, root: origin.did, revocations: set }) // … verification ignores them
    set.add(await rawRevocation(origin, leaf.id))
    await refuses(verifyCapability(leaf, { now: NOW, root: origin.did, revocations: set }), 'RevokedError')
  })

  it('honours a trusted isRevoked callback for every token of the chain', async () => {
    const { root, leaf } = await chain()
    await refuses(verifyCapability(leaf, { now: NOW, root: origin.did, isRevoked: id => id === root.id }), 'RevokedError')
    await verifyCapability(leaf, { now: NOW, root: origin.did, isRevoked: () => false })
  })
})

describe('RevocationSet', () => {
  it('keeps one revocation per (token, signer), bounded', async () => {
    const { root, leaf } = await chain()
    const set = new RevocationSet({ maxSize: 3 })
    const r1 = await revoke(alice, leaf, NOW)
    assert.equal(set.add(r1), true)
    assert.equal(set.add(r1), false)
    assert.equal(set.add(await revoke(origin, leaf, NOW + 1)), true)
    assert.deepEqual(set.revokers(leaf.id).sort(), [alice.did, origin.did].sort())
    assert.equal(set.add(await revoke(origin, root, NOW)), true)
    assert.equal(set.add(await rawRevocation(carol, leaf.id)), false) // full
    assert.equal(set.size, 3)
    assert.equal(set.list().length, 3)
    assert.equal(set.has(root.id), true)
    assert.equal(set.has('bafyunknown'), false)
    assert.deepEqual(set.revokers('bafyunknown'), [])
  })

  it('moves its version with every revocation it takes, and only then', async () => {
    const { leaf } = await chain()
    const set = new RevocationSet({ maxSize: 2 })
    assert.equal(set.version, 0)
    const r1 = await revoke(alice, leaf, NOW)
    set.add(r1)
    assert.equal(set.version, 1)
    set.add(r1) // already held
    assert.equal(set.version, 1)
    set.add(await revoke(origin, leaf, NOW))
    assert.equal(set.version, 2)
    set.add(await rawRevocation(carol, leaf.id)) // full
    assert.equal(set.version, 2)
  })
})
