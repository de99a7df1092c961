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

  it('writes the saves of a batch window together, each receipt once, its verdict in its place', async () => {
    const indexedDB = new IDBFactory()
    const a = idbReceiptArchive('r', { indexedDB, batchMs: 60_000 })
    await a.load(10)
    let transactions = 0
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open('r', 1)
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error)
    })
    const count = async (): Promise<number> => await new Promise((resolve, reject) => {
      const req = db.transaction('receipts').objectStore('receipts').count()
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error)
    })
    // fake-indexeddb's database class: every connection's transactions are counted
    const proto = Object.getPrototypeOf(db) as IDBDatabase
    const original = proto.transaction
    proto.transaction = function (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
      if (args[1] === 'readwrite') transactions++
      return original.apply(this, args)
    } as IDBDatabase['transaction']
    try {
      for (let i = 0; i < 5; i++) a.save(receipt(i))
      a.save({ ...receipt(0), accepted: false, acceptedAt: 7 })
      assert.equal(await count(), 0, 'nothing is written before the window ends or a flush')
      await a.flush()
      assert.equal(transactions, 1, 'one transaction for the whole batch')
      assert.equal(await count(), 5)
      a.save({ ...receipt(3), accepted: true, acceptedAt: 8 })
      await a.flush()
      assert.equal(transactions, 2)
    } finally {
      proto.transaction = original
      db.close()
    }
    const list = await a.load(10)
    assert.deepEqual(list.map(r => r.cid), ['cid-0', 'cid-1', 'cid-2', 'cid-3', 'cid-4'], 'a verdict keeps its receipt\'s place')
    assert.equal(list[0].accepted, false)
    assert.equal(list[3].accepted, true)
    a.close()
  })

  it('writes a batch when its window ends, without a flush', async () => {
    const indexedDB = new IDBFactory()
    const a = idbReceiptArchive('r', { indexedDB, batchMs: 20 })
    await a.load(10)
    a.save(receipt(1))
    const b = idbReceiptArchive('r', { indexedDB })
    for (let i = 0; i < 100 && (await b.load(10)).length === 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
    assert.deepEqual((await b.load(10)).map(r => r.cid), ['cid-1'])
    a.close()
    b.close()
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
