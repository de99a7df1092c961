// The built pages in Chromium, served by a real node's web gateway: a person
// refuses nothing they cannot check (a tampered manifest gets no Grant
// button and no enrolment), grants a lease by keyboard, sees their tab's
// receipts as a Node coordinator's job runs on it, Revoke stops it and
// reaches the fabric, and a lease's end is said as such; the dashboard shows the fabric through the node's admin
// API, the tab marked as one, and rides out a dropped admin connection.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { signedManifestToJSON } from '@webfabric/protocol'
import type { FabricNode } from '@webfabric/runtime'
import { type AdminOps, type AdminServer, startAdminServer } from '@webfabric/runtime/admin'
import { compileTask } from '@webfabric/sdk'
import { type Browser, type Page, chromium } from 'playwright-core'
import { CHROMIUM_ARGS, ensureChromium } from '../../../scripts/chromium.ts'
import { type TestOrigin, makeOrigin, startCoordinator, startNode, waitFor } from '../../../packages/runtime/test/fixtures.ts'
import { buildWebApp } from '../build.ts'


const SPIN = fileURLToPath(new URL('../../../packages/compute/test/fixtures/assembly/spin.ts', import.meta.url))
const MEMBERSHIP = { intervalMs: 250, ttlMs: 5000 }
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer)

interface Hook { status: string, error?: { name: string, message: string }, revokeReport?: { leaseId: string, revokedAt: number, stoppedAt: number }, tab?: { did: string, peerId: string } }
const hook = async (page: Page): Promise<Hook> => await page.evaluate(() => {
  const h = (globalThis as unknown as { webfabricParticipant?: Hook }).webfabricParticipant
  return { status: h?.status ?? 'none', error: h?.error, revokeReport: h?.revokeReport, tab: h?.tab == null ? undefined : { did: h.tab.did, peerId: h.tab.peerId } }
})
const statusIs = async (page: Page, ...statuses: string[]): Promise<void> => {
  await page.waitForFunction(s => s.includes((globalThis as unknown as { webfabricParticipant?: { status: string } }).webfabricParticipant?.status ?? ''), statuses, { timeout: 30_000 })
}

describe('the participant page and the dashboard (Chromium, a real node)', () => {
  let origin: TestOrigin
  let coordinator: FabricNode
  let worker: FabricNode
  let browser: Browser
  let page: Page
  let module: Uint8Array
  let tab: { did: string, peerId: string }
  let leaseId: string

  before(async () => {
    const [dist, compiled] = await Promise.all([buildWebApp(), compileTask(SPIN)])
    module = compiled
    origin = await makeOrigin()
    coordinator = await startCoordinator(origin, { membership: MEMBERSHIP, admin: {}, web: { root: dist } })
    worker = await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['compute'], compute: { slots: 1 }, membership: MEMBERSHIP })
    browser = await chromium.launch({ executablePath: process.env.WEBFABRIC_CHROMIUM ?? ensureChromium(), args: CHROMIUM_ARGS, headless: true })
    page = await (await browser.newContext()).newPage()
  })

  after(async () => {
    await browser?.close()
    for (const n of [worker, coordinator]) await n?.stop()
    await origin?.cleanup()
  })

  it('refuses a tampered manifest: says so, offers no Grant button, and asks for nothing', async () => {
    const tampered = signedManifestToJSON(origin.manifest)
    tampered.manifest = { ...tampered.manifest, qos: { ...tampered.manifest.qos, cpuShare: 1 } }
    const joins: string[] = []
    const p = await browser.newPage()
    p.on('request', r => { if (r.url().includes('/fabric/join')) joins.push(r.url()) })
    await p.route('**/fabric/manifest', route => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(tampered) }))
    await p.goto(coordinator.webUrl!)
    await statusIs(p, 'refused')
    assert.equal((await hook(p)).error?.name, 'InvalidSignatureError')
    assert.equal((await p.getByRole('alert').innerText()).trim(),
      'This fabric\'s policy is not signed by its origin; it may have been tampered with. Nothing was granted.')
    assert.equal(await p.getByRole('button', { name: 'Grant lease and join' }).count(), 0)
    assert.deepEqual(joins, [])
    await p.close()
  })

  it('shows who asks, for what and within which limits, with controls inside the manifest\'s bounds', async () => {
    await page.goto(coordinator.webUrl!)
    await statusIs(page, 'consent')
    const text = await page.locator('main').innerText()
    const q = origin.manifest.manifest.qos
    for (const words of ['test fabric asks to use this device', 'run computations', 'store encrypted pieces of files', `${Math.round(q.cpuShare * 100)}% of the processor's time`]) {
      assert.ok(text.includes(words), `the page says "${words}"`)
    }
    assert.equal(await page.getByRole('button', { name: 'Grant lease and join' }).count(), 1)
    for (const [id, max] of [['cpuShare', q.cpuShare], ['memoryMiB', q.memoryMiB], ['storageMiB', q.storageMiB], ['durationMs', q.leaseMaxMs]] as const) {
      const input = page.locator(`#${id}`)
      assert.equal(Number(await input.getAttribute('max')), max, `${id} goes up to the manifest's ${max}`)
      assert.ok((await page.locator(`#${id}-value`).innerText()).length > 0, `${id} shows its value`)
    }
  })

  it('grants a lease from the keyboard; the tab computes a coordinator\'s job and lists accepted receipts', async () => {
    let focused = ''
    for (let i = 0; i < 20 && focused !== 'Grant lease and join'; i++) {
      await page.keyboard.press('Tab')
      focused = await page.evaluate(() => document.activeElement?.textContent ?? '')
    }
    assert.equal(focused, 'Grant lease and join', 'the Grant button is reachable with Tab')
    await page.keyboard.press('Enter')
    await statusIs(page, 'running', 'error')
    const h = await hook(page)
    assert.equal(h.status, 'running', `joined (${h.error?.name}: ${h.error?.message})`)
    tab = h.tab!
    leaseId = await page.evaluate(() => (globalThis as unknown as { webfabricParticipant: { tab: { lease: () => { id: string } } } }).webfabricParticipant.tab.lease().id)
    await waitFor('the coordinator sees the tab as a compute member', () =>
      coordinator.membership.view().some(m => m.peerId === tab.peerId && m.roles.includes('compute')))

    const report = await coordinator.submitJob({ module, inputs: Array.from({ length: 8 }, (_, i) => u32(200_000 + i * 7919)), name: 'page', replicas: 2, quorum: 2 })
    assert.equal(report.accepted, 8)
    await page.waitForFunction(() => document.querySelectorAll('#receipts tbody tr').length > 0, undefined, { timeout: 15_000 })
    await page.waitForFunction(() => [...document.querySelectorAll('#receipts tbody tr')].every(tr => tr.lastElementChild?.textContent === '✓ accepted'), undefined, { timeout: 15_000 })
    assert.match(await page.locator('#receipts tbody tr').first().innerText(), /page-|t\d/)
    // the meters are polled (every 500 ms), so they may trail the receipts a little
    await page.waitForFunction(() => /[1-9]\d* computations? finished/.test(document.querySelector('.runs')?.textContent ?? ''), undefined, { timeout: 5000 })
  })

  it('the dashboard shows members (the tab marked), the job\'s progress, receipts and storage', async () => {
    const dash = await browser.newPage()
    await dash.goto(`${new URL('/dashboard', coordinator.webUrl!)}#admin=${encodeURIComponent(coordinator.adminUrl!)}&token=${encodeURIComponent(coordinator.adminToken!)}`)
    await dash.waitForFunction(() => document.querySelectorAll('#members tbody tr').length >= 3, undefined, { timeout: 15_000 })
    const members = await dash.locator('#members tbody tr').allInnerTexts()
    const tabRow = members.find(r => r.includes(tab.peerId.slice(0, 8)) && r.includes(tab.peerId.slice(-6)))
    assert.ok(tabRow != null && /\btab\b/.test(tabRow), `the tab's row is marked: ${members.join(' | ')}`)
    await dash.waitForFunction(() => document.querySelector('#jobs progress') != null, undefined, { timeout: 5000 })
    const progress = dash.locator('#jobs progress').first()
    assert.equal(await progress.getAttribute('value'), await progress.getAttribute('max'), 'the job is complete')
    assert.match(await dash.locator('#jobs').innerText(), /\bpage\b[\s\S]*done/)
    assert.ok(await dash.locator('#storage').count() === 1)
    await dash.close()
  })

  it('Revoke stops the work, says how fast, and the revocation reaches the fabric', async () => {
    // focus rests on the running view's heading; Revoke is one Shift+Tab away
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'running-title')
    await page.keyboard.press('Shift+Tab')
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'revoke')
    await page.keyboard.press('Enter')
    await statusIs(page, 'revoked', 'error')
    const h = await hook(page)
    assert.equal(h.status, 'revoked', `revoked (${h.error?.message})`)
    assert.equal(h.revokeReport?.leaseId, leaseId)
    assert.match(await page.locator('#status').innerText(), /^Revoked: all work stopped in [\d.]+ ms\.$/)
    assert.match(await page.locator('main').innerText(), /The revocation was sent to the fabric/)
    assert.equal(await page.locator('#revoke').isVisible(), false)
    await waitFor('the revocation reached the coordinator', () => coordinator.revocations.revokers(leaseId).includes(tab.did))
  })

  it('a lease that ends by itself says so', async () => {
    const p = await browser.newPage()
    try {
      await p.goto(coordinator.webUrl!)
      await statusIs(p, 'consent')
      await p.getByRole('button', { name: 'Grant lease and join' }).click()
      await statusIs(p, 'running', 'error')
      assert.equal((await hook(p)).status, 'running')
      // what the tab's lease timer does when the lease's time is up
      await p.evaluate(async () => { await (globalThis as unknown as { webfabricParticipant: { tab: { stop: (r: string) => Promise<void> } } }).webfabricParticipant.tab.stop('expired') })
      await statusIs(p, 'stopped')
      assert.equal(await p.locator('#status').innerText(), 'Your lease ended: all work stopped.')
      assert.match(await p.locator('main').innerText(), /Your lease ended at .*: all work stopped, and nothing more runs on this device\./)
      assert.equal(await p.locator('#revoke').isVisible(), false)
    } finally {
      await p.close()
    }
  })

  it('a duplicated tab (its sessionStorage copied) becomes a participant of its own; a reload keeps the identity', async () => {
    const kept = await page.evaluate(() => sessionStorage.getItem('webfabric.keyring'))
    assert.ok(kept != null, 'the first tab kept its keyring secret')
    // a tab of the same browser profile (browser.newPage() would open another profile)
    const copy = await page.context().newPage()
    try {
      // what "Duplicate tab" does: the new tab starts with a copy of the old one's sessionStorage
      await copy.addInitScript(secret => { if (sessionStorage.getItem('webfabric.keyring') == null) sessionStorage.setItem('webfabric.keyring', secret) }, kept)
      await copy.goto(coordinator.webUrl!)
      await statusIs(copy, 'consent')
      await copy.getByRole('button', { name: 'Grant lease and join' }).click()
      await statusIs(copy, 'running', 'error')
      const h = await hook(copy)
      assert.equal(h.status, 'running', `joined (${h.error?.message})`)
      assert.notEqual(h.tab!.did, tab.did, 'the copy took an identity of its own')
      assert.notEqual(await copy.evaluate(() => sessionStorage.getItem('webfabric.keyring')), kept)
    } finally {
      await copy.close()
    }
    // the first tab, reloaded, is the same participant again (its lock went with the old page)
    await page.reload()
    await statusIs(page, 'consent')
    await page.getByRole('button', { name: 'Grant lease and join' }).click()
    await statusIs(page, 'running', 'error')
    assert.equal((await hook(page)).tab?.did, tab.did)
  })

  it('the dashboard says when the admin connection drops, and reconnects', async () => {
    // a stand-in node: the admin server alone, closed and started again on the same port
    const ops = {
      info: () => ({ peerId: '12D3KooWStandIn', did: origin.identity.did, origin: origin.identity.did, manifest: { name: 'stand-in', version: 1 }, roles: ['compute'], addrs: [], pid: 1 }),
      members: () => [],
      stats: async () => ({ connections: 0 }),
      receipts: async () => [],
      storageHeld: async () => [],
      jobs: async () => []
    } as unknown as AdminOps
    let server: AdminServer = await startAdminServer({ token: 'tok', ops })
    const port = Number(new URL(server.url).port)
    const dash = await browser.newPage()
    try {
      await dash.goto(`${new URL('/dashboard', coordinator.webUrl!)}#admin=${encodeURIComponent(server.url)}&token=tok`)
      await dash.waitForFunction(() => /Connected to stand-in/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 10_000 })
      await server.close()
      await dash.waitForFunction(() => /Lost the connection/.test(document.querySelector('[role=alert]')?.textContent ?? ''), undefined, { timeout: 10_000 })
      server = await startAdminServer({ port, token: 'tok', ops })
      await dash.waitForFunction(() => /Connected to stand-in/.test(document.getElementById('status')?.textContent ?? '') &&
        (document.querySelector('[role=alert]')?.textContent ?? '') === '', undefined, { timeout: 15_000 })
    } finally {
      await dash.close()
      await server.close()
    }
  })
})
