// The caches on the pub-sub validator's path fail closed: a cached verdict is
// refused the moment a revocation arrives or its time runs out (the clock is
// passed in), and is never used for another author, topic or capability.
// The validator is driven directly, on a host that is only what it touches.
import assert from 'node:assert/strict'
import { beforeEach, describe, it } from 'node:test'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { Message } from '@libp2p/gossipsub'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  type Capability,
  Identity,
  REVOCATION_DOMAIN,
  type Revocation,
  RevocationSet,
  encode,
  issue,
  revoke,
  signingInput
} from '@webfabric/protocol'
import { CID } from 'multiformats/cid'
import { CredentialVerifier } from '../src/credentials.ts'
import { PubSubService } from '../src/pubsub-service.ts'
import { didFromPublicKey } from '../src/peer-identity.ts'

const T0 = 1_750_000_000_000
const TTL = 60_000
const PREFIX = '/wf/test/'

type Validator = (source: PeerId, msg: Message) => string | Promise<string>

interface Author { identity: Identity, key: PrivateKey, peer: PeerId, did: string }

async function author (): Promise<Author> {
  const identity = await Identity.generate()
  const key = await generateKeyPairFromSeed('Ed25519', identity.seed)
  const peer = peerIdFromPrivateKey(key)
  return { identity, key, peer, did: didFromPublicKey(key.publicKey.raw) }
}

/** A revocation of `tok` signed by `by`, whether or not `by` may revoke it. */
async function rawRevocation (by: Identity, tok: string, at: number): Promise<Revocation> {
  const body = { v: 1 as const, iss: by.did, tok, at }
  return { ...body, sig: await by.sign(signingInput(REVOCATION_DOMAIN, body)) }
}

describe('pub-sub validator caches', () => {
  let origin: Identity
  let alice: Author
  let mallory: Author
  let aliceCap: Capability
  let clock: number
  let revocations: RevocationSet
  let verifier: CredentialVerifier
  let service: PubSubService
  let validators: Map<string, Validator>

  const idOf = (cap: Capability): Uint8Array => CID.parse(cap.id).bytes
  /** A signed gossipsub message on `topic` as gossipsub hands it to a validator (its signature already checked). */
  const message = (from: Author, topic: string, env: Record<string, unknown>): Message => ({
    type: 'signed',
    from: peerIdFromPrivateKey(from.key), // a fresh PeerId per message, as gossipsub makes
    data: encode(env),
    topic: `${PREFIX}ps/${topic}`,
    sequenceNumber: 1n,
    signature: new Uint8Array(64),
    key: from.key.publicKey
  })
  const validate = async (topic: string, msg: Message): Promise<string> => {
    const v = validators.get(`${PREFIX}ps/${topic}`)
    assert.ok(v != null, `subscribed to ${topic}`)
    return await v((msg as { from: PeerId }).from, msg) // the author forwarded its own message
  }
  const byRef = (from: Author, topic: string, cap: Capability): Message => message(from, topic, { i: idOf(cap), d: new Uint8Array([1]) })
  const carried = (from: Author, topic: string, cap: Capability): Message => message(from, topic, { i: idOf(cap), c: cap.bytes, d: new Uint8Array([1]) })

  beforeEach(async () => {
    origin = await Identity.generate()
    alice = await author()
    mallory = await author()
    const self = await author()
    clock = T0
    aliceCap = await issue(origin, { audience: alice.did, resource: 'topic/a', abilities: ['pubsub/publish'], expiresAt: T0 + TTL, now: T0 })
    const mine = await issue(origin, { audience: self.did, resource: 'topic/*', abilities: ['pubsub/*'], expiresAt: T0 + 10 * TTL, now: T0 })
    revocations = new RevocationSet()
    verifier = new CredentialVerifier({ origin: origin.did, revocations, now: () => clock })
    validators = new Map()
    const host = {
      peerId: self.peer,
      services: { pubsub: { topicValidators: validators, subscribe () {}, unsubscribe () {}, addEventListener () {}, removeEventListener () {} } },
      handle: async () => {},
      unhandle: async () => {}
    }
    service = new PubSubService(host as never, { origin: origin.did, prefix: PREFIX, verifier, grants: [mine.bytes] })
    service.start()
    await service.subscribe('a')
    await service.subscribe('b')
  })

  it('accepts by reference from the cache, without an async hop, once the capability was carried', async () => {
    assert.equal(await validate('a', carried(alice, 'a', aliceCap)), 'accept')
    const result = validators.get(`${PREFIX}ps/a`)?.(alice.peer, byRef(alice, 'a', aliceCap))
    assert.equal(result, 'accept', 'answered synchronously')
    assert.equal(service.rejected, 0)
  })

  it('refuses a cached capability right after its revocation arrives', async () => {
    assert.equal(await validate('a', carried(alice, 'a', aliceCap)), 'accept')
    assert.equal(await validate('a', byRef(alice, 'a', aliceCap)), 'accept')
    revocations.add(await revoke(origin, aliceCap, clock))
    assert.equal(await validate('a', byRef(alice, 'a', aliceCap)), 'reject')
    assert.equal(await validate('a', carried(alice, 'a', aliceCap)), 'reject')
    assert.equal(service.rejected, 2)
  })

  it('ignores a revocation signed by someone without authority over the chain, and verifies again only once', async () => {
    assert.equal(await validate('a', carried(alice, 'a', aliceCap)), 'accept')
    revocations.add(await rawRevocation(mallory.identity, aliceCap.id, clock))
    assert.equal(await validate('a', byRef(alice, 'a', aliceCap)), 'accept')
    const next = validators.get(`${PREFIX}ps/a`)?.(alice.peer, byRef(alice, 'a', aliceCap))
    assert.equal(next, 'accept', 'the renewed verdict is cached again')
  })

  it('refuses a cached capability at its expiry, by the clock passed in', async () => {
    assert.equal(await validate('a', carried(alice, 'a', aliceCap)), 'accept')
    clock = aliceCap.payload.exp - 1
    assert.equal(await validate('a', byRef(alice, 'a', aliceCap)), 'accept')
    clock = aliceCap.payload.exp
    assert.equal(await validate('a', byRef(alice, 'a', aliceCap)), 'reject')
    assert.equal(await validate('a', carried(alice, 'a', aliceCap)), 'reject')
  })

  it('never lends a cached capability to another author, another topic or other bytes', async () => {
    assert.equal(await validate('a', carried(alice, 'a', aliceCap)), 'accept')
    // mallory refers to alice's capability (held, verified) on the topic it was verified for: refused without a fetch
    assert.equal(await validate('a', byRef(mallory, 'a', aliceCap)), 'reject')
    assert.equal(await validate('a', carried(mallory, 'a', aliceCap)), 'reject')
    // alice's capability is for topic/a: carried on b it is refused; by reference on b it is not
    // held there, so it is fetched (this host cannot) and the message dropped, never delivered
    assert.equal(await validate('b', carried(alice, 'b', aliceCap)), 'reject')
    assert.equal(await validate('b', byRef(alice, 'b', aliceCap)), 'ignore')
    assert.equal(service.unverified, 1)
    // the reference of alice's capability with other bytes carried
    const other = await issue(origin, { audience: alice.did, resource: 'topic/a', abilities: ['pubsub/publish'], expiresAt: T0 + TTL, now: T0 })
    assert.equal(await validate('a', message(alice, 'a', { i: idOf(aliceCap), c: other.bytes, d: new Uint8Array([1]) })), 'reject')
    // and the cached one still works for its author
    assert.equal(await validate('a', byRef(alice, 'a', aliceCap)), 'accept')
  })
})

describe('CredentialVerifier verdicts', () => {
  it('hold until expiry or a revocation naming their chain, judged by the clock passed in', async () => {
    const origin = await Identity.generate()
    const a = await author()
    const cap = await issue(origin, { audience: a.did, resource: 'topic/a', abilities: ['pubsub/publish'], expiresAt: T0 + TTL, now: T0 })
    const revocations = new RevocationSet()
    let clock = T0
    const verifier = new CredentialVerifier({ origin: origin.did, revocations, now: () => clock })
    const need = { resource: 'topic/a', ability: 'pubsub/publish' }
    const v = await verifier.verdict(a.peer.toString(), cap.bytes, need)
    assert.equal(verifier.holds(v), true)
    assert.equal(await verifier.verdict(a.peer.toString(), cap.bytes, need), v, 'cached')
    clock = T0 + TTL
    assert.equal(verifier.holds(v), false)
    await assert.rejects(verifier.check(a.peer.toString(), cap.bytes, need), { name: 'TokenExpiredError' })
    clock = T0
    const again = await verifier.verdict(a.peer.toString(), cap.bytes, need)
    revocations.add(await revoke(origin, cap, clock))
    assert.equal(verifier.holds(again), false)
    await assert.rejects(verifier.check(a.peer.toString(), cap.bytes, need), { name: 'RevokedError' })
  })
})
