// Browser tabs compute for the fabric (real Chromium, real libp2p): two tabs
// under leases they signed themselves, beside a Node worker, take tasks from a
// Node coordinator in their Web Worker sandboxes; their trace commitments equal
// the Node worker's and the VM's for the same tasks; their receipts list what
// they ran and the coordinator's verdicts. Revoking a tab's lease mid-job stops
// its execution within one fuel slice, the revocation reaches the coordinator,
// and the job still completes with every task accepted. A tab opened later
// in the same browser lists the receipts the earlier tabs kept.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { execute, loadModule } from '@webfabric/compute'
import { IDENTITY_ROTATION_MS, Keyring, epochAt, signedManifestToJSON } from '@webfabric/protocol'
import type { FabricNode } from '@webfabric/runtime'
import type { RevokeReport, TabMeters, TabReceipt } from '../src/browser/types.ts'
import { compileTask } from '@webfabric/sdk'
import { type BrowserPage, openInBrowser } from '../../../scripts/browser.ts'
import { type TestOrigin, grant, makeOrigin, startCoordinator, startNode, waitFor } from './fixtures.ts'

const ENTRY = fileURLToPath(new URL('./browser/tab-entry.ts', import.meta.url))
const WORKER = fileURLToPath(new URL('../../compute/src/sandbox/worker-web.ts', import.meta.url))
const SPIN = fileURLToPath(new URL('../../compute/test/fixtures/assembly/spin.ts', import.meta.url))
const MEMBERSHIP = { intervalMs: 250, ttlMs: 5000 }
const LEASE = { cpuShare: 0.5, memoryMiB: 512, storageMiB: 0, durationMs: 3600e3 }
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer)

describe('browser tabs compute under their own leases (Chromium)', () => {
  let origin: TestOrigin
  let coordinator: FabricNode
  let worker: FabricNode
  let module: Uint8Array
  const pages: BrowserPage[] = []
  const tabs: Array<{ peerId: string, did: string, leaseId?: string }> = []

  before(async () => {
    module = await compileTask(SPIN)
    origin = await makeOrigin()
    coordinator = await startCoordinator(origin, { membership: MEMBERSHIP })
    worker = await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['compute'], compute: { slots: 1 }, membership: MEMBERSHIP })
    const ws = coordinator.addrs().filter(a => a.includes('/ws/'))
    pages.push(await openInBrowser(ENTRY, { workers: { worker: WORKER } }))
    pages.push(await pages[0].another())
    for (const page of pages) {
      const keyring = await Keyring.generate()
      const id = await keyring.identityFor(origin.identity.did, epochAt(Date.now(), IDENTITY_ROTATION_MS))
      const cred = await grant(origin, id.did, 'fabric/membership', ['membership/gossip'])
      tabs.push(await page.call('join', signedManifestToJSON(origin.manifest), [[...cred.bytes]], ws, [...keyring.secret], LEASE))
    }
    await waitFor('the coordinator sees both tabs and the worker as compute members', () =>
      coordinator.membership.view().filter(m => m.roles.includes('compute')).length === 3)
  })

  after(async () => {
    for (const p of pages.toReversed()) await p.close()
    for (const n of [worker, coordinator]) await n?.stop()
    await origin?.cleanup()
  })

  it('runs a k=2 job on tabs and a Node worker; every commitment is the VM\'s, on Node and in the tab alike', async () => {
    const inputs = Array.from({ length: 12 }, (_, i) => u32(200_000 + i * 7919))
    const report = await coordinator.submitJob({ module, inputs, name: 'tabs', replicas: 2, quorum: 2 })
    assert.equal(report.accepted, 12)
    const loaded = await loadModule(module, { profile: 'task' })
    const expected = new Map<string, string>()
    for (const t of report.tasks) expected.set(t.task, (await execute(loaded, { input: inputs[t.index], fuelLimit: 1e10 })).commitment.toString())

    const tabReceipts = (await Promise.all(pages.map(async p => await p.call<TabReceipt[]>('receipts')))).flat().filter(r => r.job === report.job)
    const nodeReceipts = (await worker.receipts.list({ job: report.job }))
    assert.ok(tabReceipts.length > 0, 'the tabs ran tasks of the job')
    for (const r of [...tabReceipts, ...nodeReceipts]) {
      assert.equal(r.status, 'ok')
      assert.equal(r.commitment, expected.get(r.task), `${r.worker === worker.did ? 'node' : 'tab'} commitment of ${r.task}`)
    }
    const tabTasks = new Set(tabReceipts.map(r => r.task))
    assert.ok(nodeReceipts.some(r => tabTasks.has(r.task)), 'some task ran both in a tab and on the Node worker')
    // receipts name the lease the tab granted, and carry the coordinator's verdict
    for (const r of tabReceipts) assert.ok(tabs.some(t => t.leaseId === r.lease && t.did === r.worker))
    await waitFor('the coordinator countersigned the tabs\' receipts', async () =>
      (await Promise.all(pages.map(async p => await p.call<TabReceipt[]>('receipts')))).flat().filter(r => r.job === report.job).every(r => r.accepted === true))
    const m = await pages[0].call<TabMeters>('meters')
    assert.ok(m.runs > 0 && m.cpu.busyMs > 0 && m.traffic.inBytes > 0 && m.traffic.outBytes > 0, 'the meters count the work')
    assert.equal(m.cpu.share, LEASE.cpuShare)
  })

  it('a tab opened later in the same browser lists the receipts earlier tabs kept, with their verdicts', async () => {
    const earlier = (await Promise.all(pages.map(async p => await p.call<TabReceipt[]>('receipts')))).flat().filter(r => r.accepted === true)
    assert.ok(earlier.length > 0)
    // the archive takes receipts in batches (within RECEIPT_ARCHIVE_BATCH_MS): wait for this one's
    for (const p of pages) await p.call('archiveReceipts')
    const later = await pages[1].another()
    try {
      const keyring = await Keyring.generate()
      const id = await keyring.identityFor(origin.identity.did, epochAt(Date.now(), IDENTITY_ROTATION_MS))
      const cred = await grant(origin, id.did, 'fabric/membership', ['membership/gossip'])
      await later.call('join', signedManifestToJSON(origin.manifest), [[...cred.bytes]], coordinator.addrs().filter(a => a.includes('/ws/')), [...keyring.secret])
      const listed = new Map((await later.call<TabReceipt[]>('receipts')).map(r => [r.cid, r]))
      for (const r of earlier) assert.equal(listed.get(r.cid)?.accepted, true, `receipt ${r.cid} of ${r.task} is listed, accepted`)
    } finally {
      await later.call('leave')
      await later.close()
    }
  })

  it('tabs connect to each other directly over WebRTC, signalled through the relay', async () => {
    await waitFor('a WebRTC connection between the two tabs', async () => {
      const conns = await pages[0].call<Array<{ peer: string, addr: string }>>('connections')
      return conns.some(c => c.peer === tabs[1].peerId && c.addr.includes('/webrtc'))
    }, 30_000)
  })

  it('revoking a tab\'s lease mid-job stops it within one fuel slice; the job completes without it', async () => {
    // long enough (about a second each) that the tab is surely mid-task when Revoke comes
    const inputs = Array.from({ length: 10 }, (_, i) => u32(200_000_000 + i * 7919))
    const job = coordinator.submitJob({ module, inputs, name: 'revoke', replicas: 2, quorum: 2 })
    // (revoked in the page in the same turn it sees a run: a round trip from here could let that run end first)
    const rev = await pages[0].call<RevokeReport>('revokeLeaseWhileRunning', 30_000)
    assert.equal(rev.leaseId, tabs[0].leaseId)
    assert.equal(rev.stoppedRuns, 1, 'it was running a task')
    assert.ok(rev.slicesAfter <= 1, `the domain began ${rev.slicesAfter} slices after Revoke`)
    assert.ok(rev.stoppedAt >= rev.revokedAt)
    assert.equal(rev.gossiped, true, 'the revocation went out on the feed')
    await waitFor('the revocation reached the coordinator', () => coordinator.revocations.revokers(tabs[0].leaseId!).includes(tabs[0].did))
    const report = await job
    assert.equal(report.accepted, 10)
    assert.equal(report.failed, 0)
    for (const t of report.tasks) assert.ok(!t.workers!.includes(tabs[0].peerId) || (await pages[0].call<TabReceipt[]>('receipts')).some(r => r.task === t.task && r.job === report.job),
      'a task rests on the revoked tab only through a result it returned before Revoke')
  })
})
