// A put whose stripe waits on one slow holder (its window of unacknowledged blocks full while its
// disk stalls): the healthy holders keep hearing from the writer (keepalive frames), so they wait
// with it. Without the keepalive they gave the put up after STORE_IDLE_MS of silence and the whole
// put failed ("too many holders failed"); seen in CI on a machine at load 12.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { FabricNode } from '@webfabric/runtime'
import type { Blockstore } from '@webfabric/storage'
import { type TestOrigin, bytesOf, pieces, readAll, storageFabric } from './fixtures.ts'

/**
 * The slow holder's disk comes back once the healthy holders have had nothing to store for this long:
 * longer than a holder's idle limit (STORE_IDLE_MS, 30 s), well within the writer's wait for acks (2 × that).
 */
const QUIET_MS = 33_000

describe('storage: a put that waits on one slow holder', () => {
  let origin: TestOrigin
  let client: FabricNode
  let holders: FabricNode[] = []
  let release: (() => void) | undefined

  before(async () => {
    ;({ origin, client, holders } = await storageFabric(6))
  })

  after(async () => {
    release?.()
    for (const n of [...holders, client]) await n?.stop()
    await origin?.cleanup()
  })

  it('the healthy holders wait with the writer: none is dropped, and the put is acknowledged and reads back byte-identical', async () => {
    // fault injection: the first holder to receive a block stalls its writes until the others have
    // been without a block for QUIET_MS (the stripe waits on the slow holder's full window meanwhile)
    let slow: FabricNode | undefined
    const healthy = new Set<string>()
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
        if (slow === h) {
          await gate
        } else {
          healthy.add(h.peerId)
          lastHealthyPut = performance.now()
        }
        return await put(...args)
      }
    }
    // three copies of 12 MiB: more than a holder's window (STORE_WINDOW_BYTES, 8 MiB), so the stripe
    // waits on the slow holder within a few MiB (its silence stays far inside the writer's patience)
    const data = bytesOf(12 * 2 ** 20 + 7, 41)
    const r = await client.storage!.service.put(pieces(data), { redundancy: { kind: 'replicas', r: 3 } })
    assert.ok(slow != null, 'no holder received a block')
    assert.equal(healthy.size >= 2, true)
    // the holders that were not slow all kept their copy (the slow one may have been replaced: a
    // writer stops waiting on a holder whose stream takes nothing for STORE_IDLE_MS)
    for (const peer of healthy) assert.ok(r.holders.includes(peer), `healthy holder ${peer} was dropped from the put`)
    assert.equal(new Set(r.holders).size, 3)
    release?.()
    assert.deepEqual(await readAll(client.storage!.service, r.cap), data)
  })
})
