// A browser tab joins a fabric of Node nodes (real Chromium, real libp2p over
// WebSockets through the rendezvous): it presents its origin-granted
// membership capability, appears in the Node nodes' membership views and sees
// them in its own, exchanges capability-guarded pub-sub messages both ways,
// refuses a tampered manifest by name, and its departure is seen (within the membership TTL).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { IDENTITY_ROTATION_MS, Keyring, epochAt, signedManifestToJSON } from '@webfabric/protocol'
import type { FabricNode } from '@webfabric/runtime'
import { type BrowserPage, openInBrowser } from '../../../scripts/browser.ts'
import { type TestOrigin, grant, makeOrigin, startNode, waitFor } from './fixtures.ts'

const ENTRY = fileURLToPath(new URL('./browser/tab-entry.ts', import.meta.url))
const MEMBERSHIP = { intervalMs: 250, ttlMs: 4000 }

describe('a browser tab in the fabric (Chromium)', () => {
  let origin: TestOrigin
  let rendezvous: FabricNode
  let member: FabricNode
  let page: BrowserPage
  let tab: { peerId: string, did: string }

  before(async () => {
    origin = await makeOrigin()
    rendezvous = await startNode(origin, { dataDir: join(origin.dir, 'rv'), rendezvous: true, roles: ['rendezvous'], membership: MEMBERSHIP })
    member = await startNode(origin, { bootstrap: rendezvous.addrs(), roles: ['compute'], membership: MEMBERSHIP })
    page = await openInBrowser(ENTRY)
    // the tab's keyring lives in the page; the origin grants its identity for this epoch
    const keyring = await Keyring.generate()
    const id = await keyring.identityFor(origin.identity.did, epochAt(Date.now(), IDENTITY_ROTATION_MS))
    const creds = await Promise.all([
      grant(origin, id.did, 'fabric/membership', ['membership/gossip']),
      grant(origin, id.did, 'topic/*', ['pubsub/*'])
    ])
    const ws = rendezvous.addrs().filter(a => a.includes('/ws/'))
    assert.ok(ws.length > 0, 'the rendezvous listens on WebSockets')
    tab = await page.call('join', signedManifestToJSON(origin.manifest), creds.map(c => [...c.bytes]), ws, [...keyring.secret])
    assert.equal(tab.did, id.did)
  })

  after(async () => {
    await page?.close()
    for (const n of [member, rendezvous]) await n?.stop()
    await origin?.cleanup()
  })

  it('joins: the Node nodes see the tab, and the tab sees them', async () => {
    await waitFor('the rendezvous sees the tab', () => rendezvous.membership.view().some(m => m.peerId === tab.peerId))
    await waitFor('the member sees the tab', () => member.membership.view().some(m => m.peerId === tab.peerId))
    await waitFor('the tab sees both', async () => {
      const seen = await page.call<string[]>('members')
      return seen.includes(rendezvous.peerId) && seen.includes(member.peerId)
    })
    // this tab lends no compute (no lease, no sandbox), so it claims no role a coordinator would assign to
    assert.deepEqual(rendezvous.membership.view().find(m => m.peerId === tab.peerId)?.roles, [])
  })

  it('exchanges capability-guarded pub-sub messages with Node nodes, both ways', async () => {
    await page.call('subscribe', 'chat')
    const got: string[] = []
    await member.pubsub.subscribe('chat')
    member.pubsub.addEventListener('message', (evt: Event) => {
      const m = (evt as CustomEvent<{ topic: string, data: Uint8Array }>).detail
      if (m.topic === 'chat') got.push(new TextDecoder().decode(m.data))
    })
    await waitFor('node → tab', async () => {
      await member.pubsub.publish('chat', new TextEncoder().encode('hello tab'))
      return (await page.call<string[]>('received')).includes('hello tab')
    })
    await waitFor('tab → node', async () => {
      await page.call('publish', 'chat', 'hello node')
      return got.includes('hello node')
    })
  })

  it('refuses a manifest whose signature was tampered with, by name', async () => {
    const json = signedManifestToJSON(origin.manifest) as { manifest: { name: string } }
    const tampered = { ...json, manifest: { ...json.manifest, name: `${json.manifest.name} (evil)` } }
    assert.equal(await page.call('tryTampered', tampered), 'InvalidSignatureError')
  })

  it('leaving is a departure the fabric sees', async () => {
    await page.call('leave')
    await waitFor('the rendezvous drops the tab', () => !rendezvous.membership.view().some(m => m.peerId === tab.peerId))
  })
})
