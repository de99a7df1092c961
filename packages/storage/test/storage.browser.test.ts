// The storage package in a real browser (Debian's Chromium via playwright-core):
// the erasure codec takes its wasm SIMD path and produces the same shards as
// Node, an object sealed in the page under a given key has the same root CID
// as in Node, objects round-trip with WebCrypto, and the IndexedDB blockstore
// persists across instances, detects tampering, deletes and enforces quotas.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type BrowserPage, openInBrowser } from '../../../scripts/browser.ts'
import { blockCid, createErasureCodec, ObjectWriter, type Redundancy } from '../src/index.ts'
import { bytesOf } from './browser/entry.ts'

const ENTRY = fileURLToPath(new URL('./browser/entry.ts', import.meta.url))

describe('storage in Chromium', () => {
  let page: BrowserPage

  before(async () => { page = await openInBrowser(ENTRY) })
  after(async () => { await page?.close() })

  for (const [k, m] of [[4, 2], [10, 4]]) {
    it(`Reed-Solomon ${k}+${m} runs on wasm SIMD in the page and makes the same shards as Node`, async () => {
      const r = await page.call<{ backend: string, cids: string[], restored: boolean }>('erasure', k, m, 65_536)
      assert.equal(r.backend, 'wasm-simd')
      assert.equal(r.restored, true)
      const codec = createErasureCodec(k, m)
      const data = Array.from({ length: k }, (_, i) => bytesOf(65_536, 100 + i))
      const mine = await Promise.all([...data, ...codec.encode(data)].map(async s => (await blockCid(s)).toString()))
      assert.deepEqual(r.cids, mine)
    })
  }

  for (const redundancy of [{ kind: 'replicas', r: 3 }, { kind: 'erasure', k: 4, m: 2 }] as Redundancy[]) {
    it(`an object sealed in the page under a given key is the same object as in Node (${redundancy.kind})`, async () => {
      const key = Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 255)
      const r = await page.call<{ root: string, blocks: string[] }>('sealWithKey', 300_000, key, redundancy)
      const w = await ObjectWriter.create({ redundancy, chunkSize: 64 * 1024, key: new Uint8Array(key) })
      const blocks: string[] = []
      for (const c of await w.write(bytesOf(300_000, 7))) blocks.push(...c.blocks.map(b => b.cid.toString()))
      const done = await w.finish()
      for (const c of done.chunks) blocks.push(...c.blocks.map(b => b.cid.toString()))
      assert.equal(r.root, done.root.cid.toString())
      assert.deepEqual(r.blocks, blocks)
    })
  }

  it('objects round-trip in the page with two shards missing, and a wrong key is refused by name', async () => {
    const r = await page.call<{ same: boolean, wrongKey: string }>('roundTrip', 500_000)
    assert.equal(r.same, true)
    assert.equal(r.wrongKey, 'WrongKeyError')
  })

  it('the IndexedDB blockstore persists across instances, detects a tampered block, deletes, and enforces a quota', async () => {
    const r = await page.call<Record<string, unknown>>('indexedDb')
    assert.deepEqual(r.stat, { blocks: 3, bytes: 600_000 })
    assert.equal(r.reopened, true)
    assert.equal(r.has, true)
    assert.equal(r.tampered, 'CorruptBlockError')
    assert.deepEqual(r.scrubbed, [r.tamperedCid])
    assert.deepEqual(r.afterDelete, { blocks: 2, bytes: 500_000 })
    assert.equal(r.overQuota, 'QuotaExceededError')
  })
})
