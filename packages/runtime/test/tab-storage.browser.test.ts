// A browser tab holds storage for the fabric (real Chromium, real libp2p,
// IndexedDB): the node serving the page enrols it with a storage/hold grant
// delegated from its own; the tab stores a shard of an erasure-coded object,
// serves it when Node holders are gone, is a source when repair rebuilds
// their positions, and Revoke deletes what it stored while repair moves its
// position to a Node holder — the object stays byte-identical throughout.
// Databases a closed tab left behind are deleted by the next tab that starts;
// a second tab of the same identity is refused, not left half-started.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { IDENTITY_ROTATION_MS, Keyring, epochAt, fromBase64url, signedManifestToJSON } from '@webfabric/protocol'
import type { FabricNode, StorageService } from '@webfabric/runtime'
import { parseReadCap } from '@webfabric/storage'
import type { RevokeReport, TabMeters } from '../src/browser/types.ts'
import { JOIN_PATH, type JoinResponse } from '../src/web-wire.ts'
import { type BrowserPage, openInBrowser } from '../../../scripts/browser.ts'
import { type TestOrigin, bytesOf, holderNode, makeOrigin, pieces, readAll, storageClient, waitFor } from './fixtures.ts'

const ENTRY = fileURLToPath(new URL('./browser/tab-entry.ts', import.meta.url))
const LEASE = { cpuShare: 0.25, memoryMiB: 64, storageMiB: 16, durationMs: 3600e3 }

describe('a browser tab holds storage for the fabric (Chromium, IndexedDB)', () => {
  let origin: TestOrigin
  let client: FabricNode
  let server: FabricNode
  let holders: FabricNode[] = []
  let page: BrowserPage
  let appDir: string
  let tab: { peerId: string, did: string }
  let cap: string
  const data = bytesOf(3 * 2 ** 20 + 4321, 77)

  const svc = (): StorageService => client.storage!.service
  const keyringFor = async (): Promise<{ keyring: Keyring, did: string }> => {
    const keyring = await Keyring.generate()
    return { keyring, did: (await keyring.identityFor(origin.identity.did, epochAt(Date.now(), IDENTITY_ROTATION_MS))).did }
  }
  /** Enrol like the participant page: POST /fabric/join to the node serving the app. */
  const enrol = async (did: string, storageMiB: number): Promise<Response> =>
    await fetch(new URL(JOIN_PATH, server.webUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ did, durationMs: LEASE.durationMs, storageMiB }) })
  const joinTab = async (p: BrowserPage, keyring: Keyring, did: string): Promise<{ peerId: string, did: string }> => {
    const res = await enrol(did, LEASE.storageMiB)
    assert.equal(res.status, 200)
    const granted = await res.json() as JoinResponse
    assert.equal(granted.credentials.length, 2, 'membership and storage/hold')
    return await p.call('join', signedManifestToJSON(origin.manifest), granted.credentials.map(c => [...fromBase64url(c)]), granted.bootstrap, [...keyring.secret], LEASE, { compute: false })
  }

  before(async () => {
    origin = await makeOrigin()
    client = await storageClient(origin)
    appDir = await mkdtemp(join(tmpdir(), 'webfabric-app-'))
    await writeFile(join(appDir, 'index.html'), '<!doctype html><title>participant</title>')
    // a storage holder that also serves the page and enrols tabs
    server = await holderNode(origin, client.addrs(), { web: { root: appDir, port: 0 } })
    holders = [server, await holderNode(origin, client.addrs()), await holderNode(origin, client.addrs())]
    page = await openInBrowser(ENTRY)
    const { keyring, did: tabDid } = await keyringFor()
    tab = await joinTab(page, keyring, tabDid)
    await waitFor('the client sees 3 Node holders and the tab as storage members', () => svc().storageMembers().length === 4 && svc().storageMembers().some(m => m.peer === tab.peerId), 30_000)
  })

  after(async () => {
    await page?.close()
    for (const n of [...holders, client]) await n?.stop()
    await origin?.cleanup()
    if (appDir != null) await rm(appDir, { recursive: true, force: true })
  })

  it('enrolment delegates storage/hold only within the manifest\'s storage, and only to a tab that lends some', async () => {
    const { did } = await keyringFor()
    const none = await (await enrol(did, 0)).json() as JoinResponse
    assert.equal(none.credentials.length, 1, 'no storage lent: membership only')
    const over = await enrol(did, origin.manifest.manifest.qos.storageMiB + 1)
    assert.equal(over.status, 400)
    assert.equal((await over.json() as { error: { name: string } }).error.name, 'MalformedError')
  })

  it('holds a shard of a 2+2 object in IndexedDB, and the meters show it', async () => {
    const r = await svc().put(pieces(data), { redundancy: { kind: 'erasure', k: 2, m: 2 } })
    cap = r.cap
    assert.ok(r.holders.includes(tab.peerId), 'the tab is one of the four holders')
    const s = await svc().stat(parseReadCap(cap))
    assert.equal(s.healthy, 4)
    assert.equal(s.holders.find(h => h.peer === tab.peerId)?.holds, true, 'the tab answers that it holds its shard')
    const m = await page.call<TabMeters>('meters')
    await waitFor('the storage meter counts the shard', async () => ((await page.call<TabMeters>('meters')).storage.blocks) > 0)
    assert.equal(m.storage.limitMiB, LEASE.storageMiB)
    assert.deepEqual(await page.call<string[]>('storageDatabases'), [`webfabric-storage-${tab.peerId}`, `webfabric-storage-${tab.peerId}-state`].sort())
  })

  it('serves its shard with two Node holders gone, and repair rebuilds their positions from it', async () => {
    const gone = holders.filter(h => h !== server).slice(0, 2)
    for (const h of gone) await h.stop()
    holders = holders.filter(h => !gone.includes(h))
    // need 2 of 4: the server's shard and the tab's
    assert.deepEqual(await readAll(svc(), cap), data)
    holders.push(await holderNode(origin, client.addrs()), await holderNode(origin, client.addrs()))
    await waitFor('repair restores 4 live positions on the tab, the server and the two new holders', async () => {
      try {
        const s = await svc().stat(parseReadCap(cap))
        return s.healthy === 4 && s.holders.every(h => !gone.some(g => g.peerId === h.peer))
      } catch { return false }
    }, 60_000)
  })

  it('Revoke deletes what the tab stored; repair moves its position to a Node holder and the object is intact', async () => {
    const before = await page.call<TabMeters>('meters')
    const rev = await page.call<RevokeReport>('revokeLease')
    assert.equal(rev.gossiped, true)
    assert.ok(rev.released.blocks > 0 && rev.released.bytes > 0, 'it had stored blocks and released them')
    assert.equal(rev.released.blocks, before.storage.blocks)
    assert.deepEqual(await page.call<string[]>('storageDatabases'), [], 'the IndexedDB databases are gone')
    holders.push(await holderNode(origin, client.addrs()))
    await waitFor('repair restores 4 live positions without the tab', async () => {
      try {
        const s = await svc().stat(parseReadCap(cap))
        return s.healthy === 4 && !s.holders.some(h => h.peer === tab.peerId)
      } catch { return false }
    }, 60_000)
    assert.deepEqual(await readAll(svc(), cap), data)
  })

  it('the next tab to start deletes the storage a closed tab left behind', async () => {
    const other = await page.another()
    const { keyring, did } = await keyringFor()
    const left = await joinTab(other, keyring, did)
    await waitFor('the second tab\'s databases exist', async () => (await page.call<string[]>('storageDatabases')).some(n => n.includes(left.peerId)))
    await other.close()
    // the closed tab's lock is gone with it; a tab that starts now finds its databases orphaned
    const fresh = await keyringFor()
    const next = await joinTab(page, fresh.keyring, fresh.did)
    const names = await page.call<string[]>('storageDatabases')
    assert.ok(!names.some(n => n.includes(left.peerId)), `the closed tab's storage is deleted (${names.join(', ')})`)
    assert.ok(names.some(n => n.includes(next.peerId)))

    // the same identity in a second tab (a copied keyring) cannot take storage the first still holds
    const twin = await page.another()
    try {
      const err = await joinTab(twin, fresh.keyring, fresh.did).then(() => 'joined', (e: Error) => e.message)
      assert.match(err, /StorageInUseError|another tab already holds/)
      assert.deepEqual(await twin.call<string[]>('members'), [], 'the refused tab is not left running')
    } finally {
      await twin.close()
    }
  })
})
