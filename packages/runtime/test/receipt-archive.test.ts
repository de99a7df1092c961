// A browser's receipt archive (IndexedDB, under fake-indexeddb here): a new
// tab's log starts with the receipts earlier tabs kept, verdicts that come
// later are kept too, and only the newest are kept, oldest dropped first.
// The real browser run is in tab-compute.browser.test.ts.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { TabReceipt } from '../src/browser/types.ts'
import { TabReceiptLog, idbReceiptArchive } from '../src/browser/receipts.ts'

// a devDependency; a variable specifier keeps the type-checker from requiring its types
const FAKE = 'fake-indexeddb'
const { IDBFactory } = await import(FAKE) as { IDBFactory: new () => IDBFactory }

const receipt = (i: number): TabReceipt => ({
  v: 1, origin: 'o', job: 'j', task: `t${i}`, assignment: `a${i}`, module: 'm', input: 'i', output: 'x', status: 'ok', fuel: i, commitment: `c${i}`,
  wallMs: 1, lease: 'l', worker: 'w', coordinator: 'k', cid: `cid-${i}`
} as unknown as TabReceipt)
const quiet = { receipt: () => {}, accepted: () => {} }

describe('receipt archive', () => {
  it('keeps what a tab ran, with later verdicts, for the next tab of the browser', async () => {
    const indexedDB = new IDBFactory()
    const first = idbReceiptArchive('r', { indexedDB })
    assert.deepEqual(await first.load(10), [])
    for (let i = 0; i < 3; i++) first.save(receipt(i))
    first.save({ ...receipt(1), accepted: true, acceptedAt: 99 })
    await first.flush()
    first.close()

    const log = new TabReceiptLog(quiet, idbReceiptArchive('r', { indexedDB }))
    assert.equal(await log.loadArchived(), 3)
    const list = log.list()
    assert.deepEqual(list.map(r => r.cid), ['cid-0', 'cid-1', 'cid-2'], 'oldest first, a verdict keeps its receipt\'s place')
    assert.equal(list[1].accepted, true)
    assert.equal((list[1] as unknown as Record<string, unknown>).kept, undefined, 'the archive\'s bookkeeping stays inside it')
  })

  it('keeps only the newest, dropping the oldest', async () => {
    const indexedDB = new IDBFactory()
    const a = idbReceiptArchive('r', { indexedDB })
    await a.load(10)
    for (let i = 0; i < 6; i++) a.save(receipt(i))
    await a.flush()
    assert.deepEqual((await a.load(4)).map(r => r.cid), ['cid-2', 'cid-3', 'cid-4', 'cid-5'])
    assert.deepEqual((await a.load(10)).map(r => r.cid), ['cid-2', 'cid-3', 'cid-4', 'cid-5'], 'the dropped ones are gone')
    a.save(receipt(6))
    await a.flush()
    assert.deepEqual((await a.load(10)).at(-1)?.cid, 'cid-6', 'a receipt saved after a load sorts after it')
  })
})
