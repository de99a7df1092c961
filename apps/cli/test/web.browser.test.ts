// The browser issue's demonstration, end to end with real processes: `webfabric
// up --nodes 2` serves the participant page and the dashboard; three Chromium
// tabs grant leases on the page and join beside the two Node nodes; a k=2 job
// completes, and every trace commitment a tab or a node reports equals the
// VM's. The first tab also lends storage and holds a replica of a file put
// with the CLI. Revoke in that tab mid-job stops it within one fuel slice,
// reaches the fabric and deletes what it stored, and the file still reads
// back whole; closing another tab mid-task is a departure; the job still
// completes with every task accepted. A tampered manifest is refused with a
// clear message and no enrolment. The dashboard shows the members and the
// job's progress. Screenshots of both pages land in test-artifacts/web/.
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { execute, loadModule } from '@webfabric/compute'
import { type AdminClient, connectAdmin } from '@webfabric/runtime/admin'
import { compileTask } from '@webfabric/sdk'
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core'
import { CHROMIUM_ARGS, ensureChromium } from '../../../scripts/chromium.ts'
import { runCli, startUp, stopUp } from './fixtures.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const SPIN = join(ROOT, 'packages/compute/test/fixtures/assembly/spin.ts')
const ARTIFACTS = join(ROOT, 'test-artifacts', 'web')
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer)

interface FabricJson { participantUrl?: string, dashboardUrl?: string, nodes: Array<{ name: string, peerId: string, dataDir: string }> }
interface TabState { status: string, error?: { name: string, message: string }, did?: string, peerId?: string, running?: number, revoke?: { revokedAt: number, stoppedAt: number, slicesAfter: number, leaseId: string, released: { blocks: number, bytes: number } } }
interface Receipt { job: string, task: string, commitment: string, status: string, worker: string }

/** What a participant page shows of itself, read through its test hook. */
async function state (page: Page): Promise<TabState> {
  return await page.evaluate(() => {
    const h = (globalThis as unknown as { webfabricParticipant?: { status: string, error?: { name: string, message: string }, tab?: { did: string, peerId: string, meters: () => { running: number } }, revokeReport?: TabState['revoke'] } }).webfabricParticipant
    return { status: h?.status ?? 'none', error: h?.error, did: h?.tab?.did, peerId: h?.tab?.peerId, running: h?.tab?.meters().running, revoke: h?.revokeReport }
  })
}

async function receiptsOf (page: Page): Promise<Receipt[]> {
  return await page.evaluate(() => (globalThis as unknown as { webfabricParticipant?: { tab?: { receipts: () => Receipt[] } } }).webfabricParticipant?.tab?.receipts() ?? [])
}

async function until (what: string, fn: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await fn()) return
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for: ${what}`)
}

async function admin (node: { dataDir: string }): Promise<{ api: AdminClient, close: () => void }> {
  const cred = JSON.parse(await readFile(join(node.dataDir, 'admin.json'), 'utf8')) as { url: string, token: string }
  return await connectAdmin(cred.url, cred.token)
}

describe('webfabric up with the web app: three tabs and two nodes (Chromium, real processes)', () => {
  let dir: string
  let up: ChildProcess | undefined
  let fabric: FabricJson
  let browser: Browser
  let context: BrowserContext
  let rv: { api: AdminClient, close: () => void }
  const tabs: Page[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wf-web-'))
    await mkdir(ARTIFACTS, { recursive: true })
    ;({ up } = await startUp(dir, ['--nodes', '2', '--slots', '1', '--interval', '250', '--ttl', '5000']))
    fabric = JSON.parse(await readFile(join(dir, 'fabric.json'), 'utf8')) as FabricJson
    rv = await admin(fabric.nodes.find(n => n.name === 'rendezvous')!)
    browser = await chromium.launch({ executablePath: ensureChromium(), args: CHROMIUM_ARGS, headless: true })
    context = await browser.newContext({ viewport: { width: 1100, height: 900 } })
  })

  after(async () => {
    rv?.close()
    await browser?.close().catch(() => {})
    await stopUp(up)
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('records the participant page and the dashboard in fabric.json, owner-only', async () => {
    assert.match(fabric.participantUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/$/)
    assert.ok(fabric.dashboardUrl?.startsWith(`${fabric.participantUrl}dashboard#admin=`))
    assert.equal((await stat(join(dir, 'fabric.json'))).mode & 0o077, 0)
  })

  it('refuses a tampered manifest with a clear message, and grants nothing', async () => {
    const page = await context.newPage()
    let joins = 0
    page.on('request', r => { if (r.url().includes('/fabric/join')) joins++ })
    await page.route('**/fabric/manifest', async route => {
      const res = await route.fetch()
      const json = await res.json() as { manifest: { name: string } }
      json.manifest.name = `${json.manifest.name} (tampered)`
      await route.fulfill({ response: res, json })
    })
    await page.goto(fabric.participantUrl!)
    await until('the page refuses the manifest', async () => (await state(page)).status === 'refused')
    assert.equal((await state(page)).error?.name, 'InvalidSignatureError')
    assert.match(await page.locator('[role=alert]').first().innerText(), /tampered|not signed/i)
    assert.equal(await page.getByRole('button', { name: 'Grant lease and join' }).count(), 0, 'no Grant button')
    assert.equal(joins, 0, 'no enrolment was asked for')
    await page.close()
  })

  it('three tabs grant leases on the page and join beside the two nodes; the first lends storage', async () => {
    for (let i = 0; i < 3; i++) {
      const page = await context.newPage()
      await page.goto(fabric.participantUrl!)
      if (i === 0) await page.locator('#storageMiB').fill('64', { timeout: 30_000 })
      await page.getByRole('button', { name: 'Grant lease and join' }).click({ timeout: 30_000 })
      tabs.push(page)
    }
    for (const page of tabs) await until('the tab runs', async () => (await state(page)).status === 'running')
    const peers = await Promise.all(tabs.map(async p => (await state(p)).peerId!))
    assert.equal(new Set(peers).size, 3, 'each tab is its own participant')
    await until('the rendezvous sees three tabs and two nodes computing', async () => {
      const members = await rv.api.members()
      return members.filter(m => m.roles.includes('compute')).length === 5 && peers.every(p => members.some(m => m.peerId === p))
    })
    await until('the first tab is a storage member', async () => (await rv.api.members()).some(m => m.peerId === peers[0] && m.roles.includes('storage')))
  })

  let file: { path: string, bytes: Uint8Array, cap: string }
  it('a file put with the CLI is replicated onto the tab that lends storage', async () => {
    const bytes = new Uint8Array(3 * 2 ** 20 + 99).map((_, i) => (i * 2654435761) >>> 24)
    const path = join(dir, 'file.bin')
    await writeFile(path, bytes)
    // two nodes and the tab hold storage: three replicas put one on the tab
    const put = JSON.parse((await runCli(['put', path, '--replicas', '3', '--fabric', dir, '--json'])).stdout) as { cap: string, holders: string[] }
    const tabPeer = (await state(tabs[0])).peerId!
    assert.ok(put.holders.includes(tabPeer), 'the tab is a holder')
    const s = JSON.parse((await runCli(['stat', put.cap, '--fabric', dir, '--json'])).stdout) as { healthy: number, holders: Array<{ peer: string, holds: boolean }> }
    assert.equal(s.healthy, 3)
    assert.equal(s.holders.find(h => h.peer === tabPeer)?.holds, true)
    file = { path, bytes, cap: put.cap }
  })

  it('a k=2 job completes through a Revoke and a closed tab; tabs\' commitments equal the nodes\' and the VM\'s', async () => {
    const module = await compileTask(SPIN)
    const inputs = Array.from({ length: 40 }, (_, i) => u32(40_000_000 + i * 7919))
    const dashboard = await context.newPage()
    await dashboard.goto(fabric.dashboardUrl!)
    const nodes = fabric.nodes.map(n => n.peerId)
    const tabPeers = await Promise.all(tabs.map(async p => (await state(p)).peerId!))
    // peer ids are shortened on screen; each cell carries the full id in its title
    await until('the dashboard lists the nodes and the tabs', async () => {
      const html = await dashboard.locator('#members').innerHTML().catch(() => '')
      return [...nodes, ...tabPeers].every(p => html.includes(`title="${p}"`))
    })
    const revocationsBefore = (await rv.api.stats()).revocations
    const job = rv.api.submitJob({ module, inputs, name: 'web-e2e', replicas: 2, quorum: 2 })

    // Revoke in the first tab while it computes
    await until('tab 1 is computing', async () => ((await state(tabs[0])).running ?? 0) > 0)
    await tabs[0].getByRole('button', { name: 'Revoke' }).click()
    await until('tab 1 is revoked', async () => (await state(tabs[0])).status === 'revoked')
    const revoked = await state(tabs[0])
    assert.ok(revoked.revoke != null && revoked.revoke.slicesAfter <= 1, `tab 1 stopped within one fuel slice (${revoked.revoke?.slicesAfter} began after Revoke)`)
    await until('the revocation reached the rendezvous', async () => (await rv.api.stats()).revocations > revocationsBefore)
    assert.ok(revoked.revoke!.released.blocks > 0, 'Revoke deleted the blocks the tab stored')

    // close another tab while it computes (whichever is computing first); the third survives
    let closed = -1
    await until('tab 2 or 3 is computing', async () => {
      for (const i of [1, 2]) if (((await state(tabs[i])).running ?? 0) > 0) { closed = i; return true }
      return false
    })
    const survivor = tabs[3 - closed]
    await tabs[closed].close()

    await until('the dashboard shows the job\'s progress', async () => (await dashboard.locator('#jobs').innerText().catch(() => '')).includes('web-e2e'))
    const report = await job
    assert.equal(report.accepted, inputs.length)
    assert.equal(report.failed, 0)

    assert.match(await tabs[0].locator('main').innerText(), /stored for the fabric were deleted from this browser/)
    const out = join(dir, 'file.out')
    await runCli(['get', file.cap, '-o', out, '--fabric', dir])
    assert.deepEqual(new Uint8Array(await readFile(out)), file.bytes, 'the file reads back whole from the nodes')

    const loaded = await loadModule(module, { profile: 'task' })
    const expected = new Map<string, string>()
    for (const t of report.tasks) expected.set(t.task, (await execute(loaded, { input: inputs[t.index], fuelLimit: 1e10 })).commitment.toString())
    const tabReceipts = [...await receiptsOf(tabs[0]), ...await receiptsOf(survivor)].filter(r => r.job === report.job && r.status === 'ok')
    const nodeReceipts: Receipt[] = []
    for (const n of fabric.nodes.filter(n => n.name !== 'rendezvous')) {
      const c = await admin(n)
      nodeReceipts.push(...(await c.api.receipts({ job: report.job })).filter(r => r.status === 'ok'))
      c.close()
    }
    assert.ok(tabReceipts.length > 0 && nodeReceipts.length > 0, 'tabs and nodes both ran tasks')
    for (const r of [...tabReceipts, ...nodeReceipts]) assert.equal(r.commitment, expected.get(r.task), `commitment of ${r.task} by ${r.worker}`)
    const onTabs = new Set(tabReceipts.map(r => r.task))
    assert.ok(nodeReceipts.some(r => onTabs.has(r.task)), 'some task ran both in a tab and on a node, with the same commitment')

    await until('the dashboard shows the job done', async () => {
      const text = await dashboard.locator('#jobs').innerText().catch(() => '')
      return text.includes('web-e2e') && text.includes(`${inputs.length}/${inputs.length}`)
    })
    await dashboard.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true })
    await until('the surviving tab lists its accepted receipts', async () => (await survivor.locator('text=accepted').count()) > 0)
    await survivor.screenshot({ path: join(ARTIFACTS, 'participant.png'), fullPage: true })
    for (const f of ['participant.png', 'dashboard.png']) assert.ok((await stat(join(ARTIFACTS, f))).size > 1000, `${f} was kept`)
  })
})
