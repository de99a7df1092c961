import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { encode } from '@webfabric/protocol'
import { type FabricNode, MAX_MEMBERSHIP_FRAME, MEMBERSHIP_PROTOCOL, connectAdmin } from '@webfabric/runtime'
import { type TestOrigin, grant, makeOrigin, sleep, startNode, waitFor } from './fixtures.ts'
import { connectionOf, lengthPrefixed, sendRaw } from './raw-streams.ts'

describe('fabric nodes on real libp2p (in one process)', () => {
  let origin: TestOrigin
  let rendezvous: FabricNode
  const nodes: FabricNode[] = []

  before(async () => {
    origin = await makeOrigin()
    rendezvous = await startNode(origin, { rendezvous: true, bootstrap: [] })
    const bootstrap = rendezvous.addrs().filter(a => !a.includes('/ws'))
    for (let i = 0; i < 3; i++) nodes.push(await startNode(origin, { bootstrap }))
  })

  after(async () => {
    for (const n of [...nodes, rendezvous]) await n.stop()
    await origin.cleanup()
  })

  it('every node sees every other through the rendezvous, with roles', async () => {
    const all = [rendezvous, ...nodes]
    await waitFor('full views', () => all.every(n => n.membership.view().length === all.length))
    const view = nodes[0].membership.view()
    assert.deepEqual(view.find(m => m.peerId === rendezvous.peerId)?.roles, ['rendezvous'])
    assert.ok(view.every(m => m.addrs.length > 0))
  })

  it('delivers a topic message to every subscriber, capability-checked', async () => {
    const received: string[] = []
    for (const n of nodes.slice(1)) {
      await n.pubsub.subscribe('chat')
      n.pubsub.addEventListener('message', e => { received.push(`${n.peerId}:${new TextDecoder().decode((e as CustomEvent).detail.data)}`) })
    }
    await nodes[0].pubsub.subscribe('chat')
    const topic = nodes[0].pubsub.gossipTopic('chat')
    await waitFor('the subscriptions known', () => nodes[0].host.services.pubsub.getSubscribers(topic).length >= 2)
    await nodes[0].pubsub.publish('chat', new TextEncoder().encode('hi'))
    await waitFor('two deliveries', () => received.length === 2)
    assert.deepEqual(received.sort(), nodes.slice(1).map(n => `${n.peerId}:hi`).sort())
  })

  it('a node without the topic capability cannot publish on it', async () => {
    const outsider = await startNode(origin, {
      bootstrap: rendezvous.addrs(),
      topics: { resource: 'topic/other', abilities: ['pubsub/*'] }
    })
    nodes.push(outsider)
    await assert.rejects(outsider.pubsub.publish('chat', new Uint8Array([1])), { name: 'MissingAbilityError' })
    await assert.rejects(outsider.pubsub.subscribe('chat'), { name: 'MissingAbilityError' })

    // bypassing its own check does not help: every receiver's validator rejects it
    const got: unknown[] = []
    nodes[1].pubsub.addEventListener('message', e => { if ((e as CustomEvent).detail.from === outsider.peerId) got.push(e) })
    await outsider.pubsub.subscribe('other')
    const topic = nodes[0].pubsub.gossipTopic('chat')
    outsider.host.services.pubsub.subscribe(topic)
    await waitFor('the outsider knows the subscribers', () => outsider.host.services.pubsub.getSubscribers(topic).length >= 2)
    const forged = encode({ i: 'x', c: new Uint8Array(10), d: new Uint8Array([1]) })
    await outsider.host.services.pubsub.publish(topic, forged)
    await waitFor('a rejection', () => nodes.some(n => n.pubsub.rejected > 0))
    await sleep(500)
    assert.equal(got.length, 0)
  })

  for (const [label, bytes] of [
    ['garbage', new Uint8Array([0x05, 0xff, 0x00, 0x13, 0x37, 0x42])],
    ['truncated', (() => { const b = encode({ c: new Uint8Array(40), m: { x: 1 } }); const f = new Uint8Array(b.length + 1); f[0] = b.length; f.set(b, 1); return f.subarray(0, 10) })()],
    ['oversized', (() => { const f = new Uint8Array(8); const n = MAX_MEMBERSHIP_FRAME + 10; f[0] = (n & 0x7f) | 0x80; f[1] = ((n >> 7) & 0x7f) | 0x80; f[2] = n >> 14; return f.subarray(0, 3) })()]
  ] as const) {
    it(`refuses a ${label} membership frame, disconnects the sender and keeps serving`, async () => {
      const victim = nodes[0]
      const attacker = await startAttacker()
      const rejectedBefore = victim.membership.rejected
      const stream = await sendRaw(attacker, victim, MEMBERSHIP_PROTOCOL, bytes)
      if (label === 'truncated') await stream.close().catch(() => {})
      await waitFor('the frame refused', () => victim.membership.rejected > rejectedBefore, 10000)
      await waitFor('the attacker\'s connection closed', () => connectionOf(attacker, stream).status !== 'open')
      await stillServing(victim)
    })
  }

  // the libp2p protocols the node runs, guarded frame by frame (src/guard.ts)
  const lpCases: Array<[string, Uint8Array, boolean]> = [
    ['garbage', new Uint8Array([0x05, 0xff, 0xff, 0xff, 0xff, 0xff]), false],
    ['truncated', new Uint8Array([0x0a, 0x08, 0x01, 0x12]), true],
    ['oversized', new Uint8Array([0xff, 0xff, 0xff, 0x7f]), false]
  ]
  // (identify is left out: its responder answers and closes at once, so it takes no input at all)
  for (const protocol of ['/meshsub/1.1.0']) {
    for (const [label, bytes, closeAfter] of lpCases) {
      it(`refuses a ${label} frame on ${protocol}, disconnects the sender and keeps serving`, async () => {
        await expectRefused(protocol, bytes, closeAfter)
      })
    }
  }
  it('refuses a truncated ping on /ipfs/ping/1.0.0 (any 32 bytes are a valid ping, so garbage and size do not apply)', async () => {
    await expectRefused('/ipfs/ping/1.0.0', new Uint8Array(10), true)
  })
  it('refuses a garbage circuit relay hop request on the rendezvous', async () => {
    await expectRefused('/libp2p/circuit/relay/0.2.0/hop', new Uint8Array([0x05, 0xff, 0xff, 0xff, 0xff, 0xff]), false, rendezvous)
  })

  async function expectRefused (protocol: string, bytes: Uint8Array, closeAfter: boolean, victim = nodes[0]): Promise<void> {
    const attacker = await startAttacker()
    const before = victim.violations.length
    const stream = await sendRaw(attacker, victim, protocol, bytes)
    if (closeAfter) await stream.close().catch(() => {})
    await waitFor(`the ${protocol} stream refused`, () => victim.violations.length > before, 10000)
    assert.equal(victim.violations.at(-1)?.protocol, protocol)
    assert.equal(victim.violations.at(-1)?.peer, attacker.peerId)
    await waitFor('the attacker\'s connection closed', () => connectionOf(attacker, stream).status !== 'open')
    await stillServing(victim)
  }

  /** A fresh member to misbehave, so no case inherits another's torn-down connection. */
  async function startAttacker (): Promise<FabricNode> {
    const a = await startNode(origin, { bootstrap: rendezvous.addrs() })
    nodes.push(a)
    return a
  }

  /** The victim keeps serving the others: a message nodes[1] publishes reaches it. */
  async function stillServing (victim: FabricNode): Promise<void> {
    await victim.pubsub.subscribe('alive')
    await nodes[1].pubsub.subscribe('alive')
    const text = `still there? ${Math.random()}`
    let got = false
    const onMessage = (e: Event): void => { if (new TextDecoder().decode((e as CustomEvent).detail.data) === text) got = true }
    victim.pubsub.addEventListener('message', onMessage)
    try {
      for (let i = 0; i < 60 && !got; i++) {
        await nodes[1].pubsub.publish('alive', new TextEncoder().encode(text))
        await sleep(250)
      }
      assert.ok(got, 'the victim stopped serving the others')
    } finally {
      victim.pubsub.removeEventListener('message', onMessage)
    }
  }

  it('refuses a membership frame whose capability is not the sender\'s', async () => {
    const victim = nodes[0]
    const rejectedBefore = victim.membership.rejected
    // nodes[1] presents a capability made out to somebody else
    const notMine = await grant(origin, origin.identity.did, 'fabric/membership', ['membership/gossip'])
    await sendRaw(nodes[1], victim, MEMBERSHIP_PROTOCOL, lengthPrefixed(encode({ c: notMine.bytes, m: {} })))
    await waitFor('the frame refused', () => victim.membership.rejected > rejectedBefore, 10000)
  })
})

describe('admin API', () => {
  it('closes a connection that sends garbage or oversized frames and keeps serving others', async () => {
    const origin = await makeOrigin()
    const node = await startNode(origin, { bootstrap: [], admin: { port: 0 } })
    try {
      for (const payload of ['not json at all {{{', 'x'.repeat(2 * 1024 * 1024)]) {
        const ws = new WebSocket(node.adminUrl!)
        await new Promise(resolve => ws.addEventListener('open', resolve, { once: true }))
        const closed = new Promise(resolve => ws.addEventListener('close', resolve, { once: true }))
        ws.send(payload)
        await closed
      }
      const { api, close } = await connectAdmin(node.adminUrl!, node.adminToken!)
      assert.equal((await api.info()).peerId, node.peerId)
      close()
    } finally {
      await node.stop()
      await origin.cleanup()
    }
  })

  it('hands out nothing without the token, everything with it', async () => {
    const origin = await makeOrigin()
    const node = await startNode(origin, { bootstrap: [], admin: { port: 0 } })
    try {
      await assert.rejects(connectAdmin(node.adminUrl!, 'wrong-token'), /UnauthorizedError/)
      const { api, close } = await connectAdmin(node.adminUrl!, node.adminToken!)
      const info = await api.info()
      assert.equal(info.peerId, node.peerId)
      assert.equal((await api.members()).length, 1)
      close()
    } finally {
      await node.stop()
      await origin.cleanup()
    }
  })
})

describe('data directory', () => {
  it('a node restarted on the same directory keeps its identity; another origin gets an unrelated one', async () => {
    const origin = await makeOrigin()
    try {
      const dataDir = `${origin.dir}/persistent`
      const first = await startNode(origin, { bootstrap: [], dataDir })
      const peerId = first.peerId
      await first.stop()
      const again = await startNode(origin, { bootstrap: [], dataDir })
      assert.equal(again.peerId, peerId)
      assert.equal((await again.leasesGranted()).length, 2, 'each start grants (and records) a lease')
      await again.stop()
      const other = await makeOrigin()
      const elsewhere = await startNode(other, { bootstrap: [], dataDir })
      assert.notEqual(elsewhere.peerId, peerId)
      await elsewhere.stop()
      await other.cleanup()
    } finally {
      await origin.cleanup()
    }
  })
})
