// Pub-sub with capabilities carried by reference: delivery, fetch on a miss,
// and the refusals (outsiders, forged references, revoked and expired grants).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Message } from '@libp2p/gossipsub'
import { type Capability, decode, encode, revoke } from '@webfabric/protocol'
import type { FabricNode } from '@webfabric/runtime'
import { CID } from 'multiformats/cid'
import { type TestOrigin, didOf, grant, makeOrigin, sleep, startNode, waitFor } from './fixtures.ts'

const EXPIRING_TTL_MS = 8000

describe('pub-sub: capabilities by reference', () => {
  let origin: TestOrigin
  let counter = 0
  const all: FabricNode[] = []
  let author: FabricNode // every topic
  let subs: FabricNode[] // every topic
  let outsider: { node: FabricNode, cap: Capability } // publish and subscribe on topic/other only
  let revoked: { node: FabricNode, cap: Capability } // topic/rev only
  let authorCap: Capability

  /** A node whose topic capabilities we hold, so tests can refer to them. */
  async function nodeWith (resource: string, ttlMs = 3600e3): Promise<{ node: FabricNode, cap: Capability }> {
    const dataDir = join(origin.dir, `ps-${++counter}`)
    const did = await didOf(origin, dataDir)
    const member = await grant(origin, did, 'fabric/membership', ['membership/gossip'])
    const cap = await grant(origin, did, resource, ['pubsub/*'], ttlMs)
    const bootstrap = all.length === 0 ? [] : all[0].addrs().filter(a => !a.includes('/ws'))
    const node = await startNode(origin, { dataDir, bootstrap, credentials: [member.bytes, cap.bytes] })
    all.push(node)
    return { node, cap }
  }

  /** Subscribe the subscribers and wait until `from` knows them all. */
  async function subscribeAll (topic: string, from: FabricNode): Promise<void> {
    for (const s of subs) await s.pubsub.subscribe(topic)
    const gossip = from.pubsub.gossipTopic(topic)
    await waitFor(`${topic}'s subscribers known`, () => subs.every(s => from.host.services.pubsub.getSubscribers(gossip).some(p => p.equals(s.host.peerId))))
  }

  /** Payloads delivered on `topic` at each subscriber, as text. */
  function collect (topic: string): string[][] {
    return subs.map(s => {
      const got: string[] = []
      s.pubsub.addEventListener('message', e => {
        const m = (e as CustomEvent).detail
        if (m.topic === topic) got.push(new TextDecoder().decode(m.data))
      })
      return got
    })
  }

  /** Publish an envelope of our choosing, signed by `node`'s key, bypassing its pub-sub service. */
  async function publishRaw (node: FabricNode, topic: string, env: Record<string, unknown>): Promise<void> {
    await node.host.services.pubsub.publish(node.pubsub.gossipTopic(topic), encode(env))
  }

  const idOf = (cap: Capability): Uint8Array => CID.parse(cap.id).bytes
  const text = (s: string): Uint8Array => new TextEncoder().encode(s)
  const rejected = (): number => subs.reduce((n, s) => n + s.pubsub.rejected, 0)

  before(async () => {
    origin = await makeOrigin()
    const a = await nodeWith('topic/*')
    author = a.node
    authorCap = a.cap
    subs = [(await nodeWith('topic/*')).node, (await nodeWith('topic/*')).node]
    outsider = await nodeWith('topic/other')
    revoked = await nodeWith('topic/rev')
    await waitFor('every node connected to every other', () => all.every(n => n.host.getPeers().length >= all.length - 1))
  })

  after(async () => {
    for (const n of all) await n.stop()
    await origin.cleanup()
  })

  it('attaches the capability only when a receiver may lack it, delivering every message in order', async () => {
    await subscribeAll('ref', author)
    const got = collect('ref')
    const carried: boolean[] = []
    const gossip = author.pubsub.gossipTopic('ref')
    subs[0].host.services.pubsub.addEventListener('message', (e: CustomEvent<Message>) => {
      if (e.detail.topic === gossip) carried.push((decode(e.detail.data) as { c?: Uint8Array }).c != null)
    })
    const sent = Array.from({ length: 30 }, (_, i) => `m${i}`)
    for (const m of sent) await author.pubsub.publish('ref', text(m))
    await waitFor('30 deliveries at each subscriber', () => got.every(g => g.length === sent.length))
    for (const g of got) assert.deepEqual(g, sent)
    assert.equal(carried.length, sent.length)
    assert.equal(carried[0], true, 'the first message carries the capability')
    assert.ok(carried.filter(Boolean).length <= 2, `at most the first message and one after a late subscription carry it (${carried.filter(Boolean).length} did)`)
  })

  it('a receiver that lacks the capability fetches it by reference, then delivers', async () => {
    // the author's first message on the topic (nobody listening yet) is the only one carrying it
    await author.pubsub.publish('fetch', text('before anyone listened'))
    await subscribeAll('fetch', author)
    const got = collect('fetch')
    const fetched = subs.map(s => s.pubsub.capsFetched)
    await publishRaw(author, 'fetch', { i: idOf(authorCap), d: text('by reference') })
    await waitFor('delivery at each subscriber', () => got.every(g => g.length === 1))
    assert.deepEqual(got, [['by reference'], ['by reference']])
    assert.ok(subs.every((s, i) => s.pubsub.capsFetched > fetched[i]), 'each subscriber fetched the capability')
    assert.ok(author.pubsub.capsServed >= 1)
  })

  it('never delivers a message from an outsider, by forged reference or carried', async () => {
    const o = outsider.node
    await subscribeAll('guarded', author)
    const gossip = o.pubsub.gossipTopic('guarded')
    o.host.services.pubsub.subscribe(gossip)
    await waitFor('the outsider knows the subscribers', () => subs.every(s => o.host.services.pubsub.getSubscribers(gossip).some(p => p.equals(s.host.peerId))))
    const got = collect('guarded')
    // the outsider's own capability is for topic/other: seen and accepted there
    await o.pubsub.publish('other', text('fine elsewhere'))
    // a lying responder: it answers fetches for 'guarded' with its topic/other capability
    const lie = idOf(outsider.cap)
    ;(o.pubsub as unknown as { capsOf: (topic: string) => { held: { set: (k: string, v: unknown) => void } } }).capsOf('guarded').held
      .set(String.fromCharCode(...lie.subarray(lie.length - 16)), { id: lie, author: o.host.peerId.toMultihash().bytes, authorId: o.peerId, bytes: outsider.cap.bytes })
    const attempts: Array<[string, Record<string, unknown>]> = [
      ['the id of a capability it does not hold', { i: idOf(authorCap), d: text('1') }],
      ['another peer\'s capability, carried', { i: idOf(authorCap), c: authorCap.bytes, d: text('2') }],
      ['its capability for another topic, carried', { i: idOf(outsider.cap), c: outsider.cap.bytes, d: text('3') }],
      ['its capability for another topic, by reference', { i: idOf(outsider.cap), d: text('4') }],
      ['a reference that is no CID', { i: text('x'), d: text('5') }]
    ]
    for (const [what, env] of attempts) {
      const before = rejected()
      await publishRaw(o, 'guarded', env)
      await waitFor(`both subscribers to reject ${what}`, () => rejected() >= before + 2)
    }
    await sleep(300)
    assert.deepEqual(got, [[], []])
    // the honest author still gets through
    await author.pubsub.publish('guarded', text('ok'))
    await waitFor('the author\'s message', () => got.every(g => g.length === 1))
  })

  it('stops a revoked author\'s messages, its capability already cached', async () => {
    const r = revoked.node
    await subscribeAll('rev', r)
    const got = collect('rev')
    await r.pubsub.publish('rev', text('before'))
    await waitFor('delivery before the revocation', () => got.every(g => g.length === 1))
    const rev = await revoke(origin.identity, revoked.cap, Date.now())
    // what the revocation feed does on receipt, minus clearing caches: the cached path must honour it
    for (const s of subs) s.revocations.add(rev)
    const before = rejected()
    await r.pubsub.publish('rev', text('after')) // the author does not know: it refers to the cached capability
    await waitFor('both subscribers to reject it', () => rejected() >= before + 2)
    await sleep(300)
    assert.deepEqual(got, [['before'], ['before']])
  })

  it('stops an author\'s messages when its capability expires', async () => {
    const expiring = await nodeWith('topic/exp', EXPIRING_TTL_MS) // topic/exp only, expires soon
    const e = expiring.node
    await waitFor('the new node connected to the subscribers', () => subs.every(s => e.host.getConnections(s.host.peerId).length > 0))
    await subscribeAll('exp', e)
    const got = collect('exp')
    await e.pubsub.publish('exp', text('fresh'))
    await waitFor('delivery before expiry', () => got.every(g => g.length === 1))
    await sleep(Math.max(0, expiring.cap.payload.exp - Date.now()) + 50)
    await assert.rejects(e.pubsub.publish('exp', text('stale')), { name: 'MissingAbilityError' })
    const before = rejected()
    await publishRaw(e, 'exp', { i: idOf(expiring.cap), d: text('stale') })
    await waitFor('both subscribers to reject it', () => rejected() >= before + 2)
    await sleep(300)
    assert.deepEqual(got, [['fresh'], ['fresh']])
  })
})
