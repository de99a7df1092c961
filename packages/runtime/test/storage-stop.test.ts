// A holder stopped in the middle of a store: stop() cuts the store, waits for its writes and for the
// collection of its blocks, and only then closes the blockstore — nothing touches the store after
// stop() resolves, and the directory is free for the next process (or the same one) to open. And a
// holder that committed a store whose answer never reached the writer: the failed put takes it back.
import assert from 'node:assert/strict'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { FabricNode } from '@webfabric/runtime'
import { ObjectWriter, shareBytes } from '@webfabric/storage'
import { FsBlockstore } from '@webfabric/storage/fs'
import { type TestOrigin, bytesOf, pieces, sleep, storageFabric, waitFor } from './fixtures.ts'

// each test gets a fabric of its own: a client and one holder (the second test stops it)
describe('storage: a holder that stops or loses its answer during a store', () => {
  let origin: TestOrigin
  let client: FabricNode
  let holder: FabricNode

  beforeEach(async () => {
    ;({ origin, client, holders: [holder] } = await storageFabric(1))
  })

  afterEach(async () => {
    for (const n of [holder, client]) await n?.stop()
    await origin?.cleanup()
  })

  it('the put fails, and the writer has the holder abandon what it committed', async () => {
    // fault injection: the holder commits, then its stream breaks before the writer hears 'stored'
    const service = holder.storage!.service as unknown as { commitStore: (...args: unknown[]) => Promise<void> }
    const commit = service.commitStore.bind(service)
    let committed = 0
    service.commitStore = async (...args: unknown[]) => {
      await commit(...args)
      committed++
      throw Object.assign(new Error('the connection dropped before the answer went out'), { name: 'StreamResetError' })
    }
    await assert.rejects(client.storage!.service.put(pieces(bytesOf(3 * 2 ** 20, 8)), { redundancy: { kind: 'replicas', r: 1 } }))
    assert.equal(committed, 1)
    await waitFor('the holder holds nothing of the failed put', () => holder.storage!.service.held().length === 0)
  })

  it('a store whose writer abandoned it before it committed is refused (AbandonedError), and nothing is held', async () => {
    // the race: the writer's put failed and it sent its abandon, which the holder handled before the
    // store's end frame (two streams): without a memory of the abandon, the commit would stand alone
    const w = await ObjectWriter.create({ redundancy: { kind: 'replicas', r: 1 }, chunkSize: 64 * 1024 })
    const blocks = (await w.write(bytesOf(200_000, 9))).flatMap(c => c.blocks)
    const done = await w.finish()
    blocks.push(...done.chunks.flatMap(c => c.blocks))
    const root = done.root.cid.toString()
    const svc = client.storage!.service as unknown as { open: (peer: string) => Promise<never>, abandon: (peer: string, root: string) => Promise<void>, init: { clientCredential: Uint8Array } }
    const { StoreSession } = await import('@webfabric/runtime')
    const session = await StoreSession.open(await svc.open(holder.peerId), { k: 'store', c: svc.init.clientCredential, r: done.rootValue.redundancy, p: 0, pin: true })
    for (const b of blocks) await session.block(b.bytes, b.cid)
    await svc.abandon(holder.peerId, root)
    const record = { root, redundancy: done.rootValue.redundancy, holders: [holder.peerId], version: 1, shareBytes: shareBytes(done.rootValue) }
    await assert.rejects(session.end(done.root.bytes, record), { name: 'AbandonedError' })
    assert.deepEqual(holder.storage!.service.held(), [])
    await waitFor('the refused store\'s blocks are collected', async () => (await holder.storage!.stats()).storageBlocks === 0)
  })

  it('writes and deletes nothing after stop() resolves, and leaves its blockstore unlocked', async () => {
    const put = client.storage!.service.put(pieces(bytesOf(40 * 2 ** 20, 7)), { redundancy: { kind: 'replicas', r: 1 } })
    put.catch(() => {})
    await waitFor('the holder stored two blocks', async () => (await holder.storage!.stats()).storageBytes >= 2 * 2 ** 20)
    await holder.stop()
    await assert.rejects(put)
    // anything still running after stop() (a collection, a late write) would reopen the store and lock it again
    await sleep(1000)
    const dir = join(holder.init.dataDir, 'storage')
    await assert.rejects(access(join(dir, 'LOCK')), { code: 'ENOENT' })
    const store = new FsBlockstore(dir)
    await store.open()
    await store.close()
  })
})
