// asInterfaceBlockstore: our stores through interface-blockstore v7's
// methods (chunked get and put, the *Many variants, getAll, NotFoundError).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { asInterfaceBlockstore, MemoryBlockstore } from '../src/blockstore/index.ts'
import { makeBlock } from './blockstore-compliance.test.ts'
import { rejectsNamed } from './fixtures/assert.ts'

async function collect<T> (it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

async function join (chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts = await collect(chunks)
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.byteLength }
  return out
}

describe('asInterfaceBlockstore', () => {
  it('puts whole and chunked blocks, and gets them back as chunks', async () => {
    const bs = asInterfaceBlockstore(new MemoryBlockstore())
    const a = await makeBlock(300)
    const b = await makeBlock(300)
    assert.equal(await bs.put(a.cid, a.bytes), a.cid)
    await bs.put(b.cid, (async function * () { yield b.bytes.subarray(0, 100); yield b.bytes.subarray(100) })())
    assert.deepEqual(await join(bs.get(a.cid)), a.bytes)
    assert.deepEqual(await join(bs.get(b.cid)), b.bytes)
    assert.equal(await bs.has(b.cid), true)
  })

  it('reports a missing block as NotFoundError, interface-store\'s name', async () => {
    const bs = asInterfaceBlockstore(new MemoryBlockstore())
    const a = await makeBlock()
    await rejectsNamed(() => join(bs.get(a.cid)), 'NotFoundError')
  })

  it('refuses a streamed block over the limit while collecting it', async () => {
    const bs = asInterfaceBlockstore(new MemoryBlockstore(), { maxBlockBytes: 150 })
    const a = await makeBlock(200)
    await rejectsNamed(() => bs.put(a.cid, [a.bytes.subarray(0, 100), a.bytes.subarray(100)]), 'BlockTooLargeError')
  })

  it('implements putMany, getMany, deleteMany and getAll', async () => {
    const store = new MemoryBlockstore()
    const bs = asInterfaceBlockstore(store)
    const blocks = await Promise.all(Array.from({ length: 4 }, () => makeBlock(50)))
    assert.equal((await collect(bs.putMany(blocks))).length, 4)
    const got = await collect(bs.getMany(blocks.map(b => b.cid)))
    for (let i = 0; i < 4; i++) assert.deepEqual(await join(got[i].bytes), blocks[i].bytes)
    const all = await collect(bs.getAll())
    assert.equal(all.length, 4)
    assert.deepEqual(await collect(bs.deleteMany([blocks[0].cid, blocks[1].cid])), [blocks[0].cid, blocks[1].cid])
    assert.deepEqual(await store.stat(), { blocks: 2, bytes: 100 })
  })
})
