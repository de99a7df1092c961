// IdbBlockstore under fake-indexeddb (an in-memory IndexedDB for Node): the
// compliance suite, and what persists across close and reopen. The real
// browser run belongs to the browser tests. Skipped, saying why, when
// fake-indexeddb is not installed.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { IdbBlockstore } from '../src/blockstore/index.ts'
import { blockstoreCompliance, makeBlock } from './blockstore-compliance.test.ts'
import { rejectsNamed } from './fixtures/assert.ts'

// A variable specifier: the type-checker must not require the package, which is only a devDependency.
const FAKE = 'fake-indexeddb'
const fake = await import(FAKE).catch(() => undefined) as { IDBFactory: new () => IDBFactory } | undefined
const skip = fake === undefined ? 'fake-indexeddb is not installed: add it as a devDependency to test IdbBlockstore in Node' : false

if (fake !== undefined) {
  let n = 0
  blockstoreCompliance('IdbBlockstore', async (init) => {
    const store = new IdbBlockstore(`compliance-${n++}`, { ...init, indexedDB: new fake.IDBFactory() })
    return { store, cleanup: async () => {} }
  })
}

describe('IdbBlockstore', () => {
  it('keeps blocks and counters across close and reopen', { skip }, async () => {
    const factory = new fake!.IDBFactory()
    const store = new IdbBlockstore('persist', { indexedDB: factory })
    const a = await makeBlock(1500)
    const b = await makeBlock(500)
    await store.put(a.cid, a.bytes)
    await store.put(b.cid, b.bytes)
    await store.delete(b.cid)
    await store.close()
    const again = new IdbBlockstore('persist', { indexedDB: factory })
    assert.deepEqual(await again.stat(), { blocks: 1, bytes: 1500 })
    assert.deepEqual(await again.get(a.cid), a.bytes)
    assert.equal(await again.has(b.cid), false)
    await again.close()
  })

  it('iterates past one batch of keys', { skip }, async () => {
    const store = new IdbBlockstore('many', { indexedDB: new fake!.IDBFactory() })
    const blocks = await Promise.all(Array.from({ length: 1050 }, () => makeBlock(8)))
    await Promise.all(blocks.map(b => store.put(b.cid, b.bytes)))
    const seen = new Set<string>()
    for await (const cid of store.cids()) seen.add(cid.toString())
    assert.equal(seen.size, 1050)
    assert.ok(blocks.every(b => seen.has(b.cid.toString())))
    await store.close()
  })

  it('reports a record that is not a block\'s bytes as corrupt', { skip }, async () => {
    const factory = new fake!.IDBFactory()
    const store = new IdbBlockstore('foreign', { indexedDB: factory })
    const a = await makeBlock(32)
    await store.put(a.cid, a.bytes)
    await store.close()
    // Another writer (an old version, a bug) replaced the bytes with something else.
    const key = (await import('multiformats/bases/base32')).base32.baseEncode(a.cid.multihash.bytes)
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = factory.open('foreign')
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error)
    })
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction('blocks', 'readwrite')
      tx.objectStore('blocks').put('not bytes', key)
      tx.oncomplete = () => resolve()
      tx.onerror = () => reject(tx.error)
    })
    db.close()
    const again = new IdbBlockstore('foreign', { indexedDB: factory })
    await rejectsNamed(() => again.get(a.cid), 'CorruptBlockError')
    const findings = []
    for await (const f of again.scrub()) findings.push(f)
    assert.equal(findings.length, 1)
    await again.close()
  })

  it('says what to do when there is no IndexedDB', async () => {
    const store = new IdbBlockstore('none')
    const err = await rejectsNamed(() => store.open(), 'Error')
    assert.match(err.message, /MemoryBlockstore/)
  })
})
