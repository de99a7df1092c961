// A put whose stripe waits on one slow holder (its window of unacknowledged blocks full while its
// disk stalls): the healthy holders keep hearing from the writer (keepalive frames), so they wait
// with it. Without the keepalive they gave the put up after STORE_IDLE_MS of silence and the whole
// put failed ("too many holders failed"); seen in CI on a machine at load 12.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { FabricNode } from '@webfabric/runtime'
import type { Blockstore } from '@webfabric/storage'
import { type TestOrigin, bytesOf, holderNode, makeOrigin, pieces, readAll, storageClient, waitFor } from './fixtures.ts'

/**
 * The slow holder's disk comes back once the healthy holders have had nothing to store for this long:
 * longer than a holder's idle limit (STORE_IDLE_MS, 30 s), well within the writer's wait for acks (2 × that).
 */
const QUIET_MS = 33_000

describe('storage: a put that waits on one slow holder', () => {
  let origin: TestOrigin
  let client: FabricNode
  const holders: FabricNode[] = []
  let release: (() => void) | undefined

  before(async () => {
    origin = await makeOrigin()
    client = await storageClient(origin)
    for (let i = 0; i < 6; i++) holders.push(await holderNode(origin, client.addrs()))
    await waitFor('the client sees 6 storage members', () => client.storage!.service.storageMembers().length === 6)
  })

  after(async () => {
    release?.()
    for (const n of [...holders, client]) await n?.stop()
    await origin?.cleanup()
  })

  it('the healthy holders wait with the writer: the put is acknowledged by all six and reads back byte-identical', async () => {
    // fault injection: the first holder to receive a block stalls its writes until the others have
    // been without a block for QUIET_MS (the stripe waits on the slow holder's full window meanwhile)
    let slow: FabricNode | undefined
    let lastHealthyPut = performance.now()
    const gate = new Promise<void>(resolve => {
      const timer = setInterval(() => { if (performance.now() - lastHealthyPut > QUIET_MS) release?.() }, 250)
      release = () => { clearInterval(timer); resolve() }
    })
    for (const h of holders) {
      const store = h.storage!.store as Blockstore
      const put = store.put.bind(store)
      store.put = async (...args: Parameters<Blockstore['put']>) => {
        slow ??= h
        if (slow === h) await gate
        else lastHealthyPut = performance.now()
        return await put(...args)
      }
    }
    // 10 MiB per position: more than a holder's window (STORE_WINDOW_BYTES, 8 MiB), so the stripe waits
    const data = bytesOf(40 * 2 ** 20 + 7, 41)
    const r = await client.storage!.service.put(pieces(data), { redundancy: { kind: 'erasure', k: 4, m: 2 } })
    assert.ok(slow != null, 'no holder received a block')
    assert.equal(r.holders.length, 6)
    // the put waited for the slow holder rather than dropping it (it recovered within the writer's patience)
    assert.equal(r.holders.includes(slow.peerId), true)
    assert.equal(new Set(r.holders).size, 6)
    release?.()
    assert.deepEqual(await readAll(client.storage!.service, r.cap), data)
  })
})
