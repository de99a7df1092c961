// QuotaBlockstore: the compliance suite through the wrapper, then the quota
// itself — refusals store nothing, duplicates are free, deletes free bytes,
// the limit changes at runtime, and concurrent puts never overshoot it.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MemoryBlockstore, MIB, QuotaBlockstore, quotaBytesOfStorageMiB } from '../src/blockstore/index.ts'
import { blockstoreCompliance, makeBlock } from './blockstore-compliance.test.ts'
import { rejectsNamed } from './fixtures/assert.ts'

blockstoreCompliance('QuotaBlockstore over MemoryBlockstore', async (init) => ({
  store: new QuotaBlockstore(new MemoryBlockstore(init), { limitBytes: Number.POSITIVE_INFINITY }),
  cleanup: async () => {}
}))

describe('QuotaBlockstore', () => {
  it('refuses a put over the limit with QuotaExceededError that names limit, use and what to do, storing nothing', async () => {
    const store = new QuotaBlockstore(new MemoryBlockstore(), { limitBytes: 1000 })
    const a = await makeBlock(600)
    const b = await makeBlock(401)
    await store.put(a.cid, a.bytes)
    const err = await rejectsNamed(() => store.put(b.cid, b.bytes), 'QuotaExceededError') as Error & { limit: number, used: number, requested: number }
    assert.deepEqual([err.limit, err.used, err.requested], [1000, 600, 401])
    assert.match(err.message, /1000/)
    assert.match(err.message, /storageMiB/)
    assert.equal(await store.has(b.cid), false)
    assert.deepEqual(await store.stat(), { blocks: 1, bytes: 600 })
    // exactly filling the quota is allowed
    const c = await makeBlock(400)
    await store.put(c.cid, c.bytes)
    assert.deepEqual(await store.usage(), { limit: 1000, used: 1000, available: 0 })
  })

  it('enforces the limit on bytes handed over (owned) too, and still copies the ones that are not', async () => {
    const store = new QuotaBlockstore(new MemoryBlockstore(), { limitBytes: 1000 })
    const a = await makeBlock(600)
    const b = await makeBlock(401)
    await store.put(a.cid, new Uint8Array(a.bytes), { owned: true })
    await rejectsNamed(() => store.put(b.cid, new Uint8Array(b.bytes), { owned: true }), 'QuotaExceededError')
    assert.deepEqual(await store.stat(), { blocks: 1, bytes: 600 })
    const c = await makeBlock(400)
    const mine = new Uint8Array(c.bytes)
    const putting = store.put(c.cid, mine)
    mine.fill(0)
    await putting
    assert.deepEqual(await store.get(c.cid), c.bytes)
  })

  it('charges nothing for a block already held, even when full', async () => {
    const store = new QuotaBlockstore(new MemoryBlockstore(), { limitBytes: 500 })
    const a = await makeBlock(500)
    await store.put(a.cid, a.bytes)
    await store.put(a.cid, a.bytes)
    await Promise.all(Array.from({ length: 5 }, () => store.put(a.cid, a.bytes)))
    assert.deepEqual(await store.stat(), { blocks: 1, bytes: 500 })
  })

  it('lets many puts of one new block through a quota that fits it once', async () => {
    const store = new QuotaBlockstore(new MemoryBlockstore(), { limitBytes: 500 })
    const a = await makeBlock(500)
    await Promise.all(Array.from({ length: 8 }, () => store.put(a.cid, a.bytes)))
    assert.deepEqual(await store.stat(), { blocks: 1, bytes: 500 })
  })

  it('frees quota on delete', async () => {
    const store = new QuotaBlockstore(new MemoryBlockstore(), { limitBytes: 1000 })
    const a = await makeBlock(800)
    const b = await makeBlock(800)
    await store.put(a.cid, a.bytes)
    await rejectsNamed(() => store.put(b.cid, b.bytes), 'QuotaExceededError')
    await store.delete(a.cid)
    await store.put(b.cid, b.bytes)
    assert.deepEqual(await store.stat(), { blocks: 1, bytes: 800 })
  })

  it('takes a new limit at runtime; lowering it below use deletes nothing and refuses puts', async () => {
    const store = new QuotaBlockstore(new MemoryBlockstore(), { limitBytes: 100 })
    const a = await makeBlock(100)
    const b = await makeBlock(100)
    await store.put(a.cid, a.bytes)
    await rejectsNamed(() => store.put(b.cid, b.bytes), 'QuotaExceededError')
    store.setLimit(250)
    await store.put(b.cid, b.bytes)
    store.setLimit(50)
    assert.equal(store.limit, 50)
    assert.deepEqual(await store.usage(), { limit: 50, used: 200, available: 0 })
    const c = await makeBlock(1)
    await rejectsNamed(() => store.put(c.cid, c.bytes), 'QuotaExceededError')
    assert.deepEqual(await store.get(a.cid), a.bytes)
    await store.delete(a.cid)
    await store.delete(b.cid)
    await store.put(c.cid, c.bytes)
  })

  it('never lets concurrent puts together exceed the limit', async () => {
    const store = new QuotaBlockstore(new MemoryBlockstore(), { limitBytes: 550 })
    const blocks = await Promise.all(Array.from({ length: 10 }, () => makeBlock(100)))
    const results = await Promise.allSettled(blocks.map(b => store.put(b.cid, b.bytes)))
    const stored = results.filter(r => r.status === 'fulfilled').length
    const refused = results.filter(r => r.status === 'rejected' && (r.reason as Error).name === 'QuotaExceededError').length
    assert.equal(stored, 5)
    assert.equal(refused, 5)
    assert.deepEqual(await store.stat(), { blocks: 5, bytes: 500 })
  })

  it('does not hold a reservation for a put that failed', async () => {
    const store = new QuotaBlockstore(new MemoryBlockstore(), { limitBytes: 100 })
    const a = await makeBlock(100)
    await rejectsNamed(() => store.put(a.cid, new Uint8Array(100)), 'CorruptBlockError')
    assert.deepEqual(await store.usage(), { limit: 100, used: 0, available: 100 })
    await store.put(a.cid, a.bytes)
  })

  it('reads its limit from a lease\'s storageMiB, and refuses nonsense limits', () => {
    assert.equal(quotaBytesOfStorageMiB(3), 3 * MIB)
    assert.equal(quotaBytesOfStorageMiB(0), 0)
    assert.equal(quotaBytesOfStorageMiB(undefined), Number.POSITIVE_INFINITY)
    for (const bad of [-1, Number.NaN, 0.5, '10' as unknown as number]) {
      assert.throws(() => new QuotaBlockstore(new MemoryBlockstore(), { limitBytes: bad }), RangeError)
    }
    assert.throws(() => quotaBytesOfStorageMiB(-2), RangeError)
  })
})
