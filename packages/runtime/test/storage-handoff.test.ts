// A holder that leaves for good hands its shares off: its co-holders' leaders
// rebuild its positions at once instead of waiting out the grace. The grace
// here is ten minutes, so the object can only be back at full redundancy
// within the test because of the hand-off.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { FabricNode, StorageService } from '@webfabric/runtime'
import { parseReadCap } from '@webfabric/storage'
import { type TestOrigin, bytesOf, holderNode, makeOrigin, pieces, readAll, storageClient, waitFor } from './fixtures.ts'

const LONG_GRACE = { storage: { repair: { graceMs: 600_000, antiEntropyMs: 1000 } } }

describe('a leaving holder hands its shares off', () => {
  let origin: TestOrigin
  let client: FabricNode
  let holders: FabricNode[] = []

  before(async () => {
    origin = await makeOrigin()
    client = await storageClient(origin)
    for (let i = 0; i < 4; i++) holders.push(await holderNode(origin, client.addrs(), LONG_GRACE))
    await waitFor('the client sees 4 storage members', () => client.storage!.service.storageMembers().length === 4)
  })

  after(async () => {
    for (const n of [...holders, client]) await n?.stop()
    await origin?.cleanup()
  })

  const svc = (): StorageService => client.storage!.service

  it('its positions are rebuilt on the holders that remain, long before the grace', async () => {
    const data = bytesOf(2 ** 20 + 777, 9)
    const r = await svc().put(pieces(data), { redundancy: { kind: 'replicas', r: 3 } })
    const leaving = holders.find(h => r.holders.includes(h.peerId.toString()))!
    await leaving.storage!.repair!.handOff()
    // it takes no more stores from now on (a leader would restore in place)
    assert.equal(leaving.storage!.service.leaving, true)
    await leaving.stop()
    holders = holders.filter(h => h !== leaving)
    await waitFor('3 live positions again, none on the holder that left', async () => {
      try {
        const s = await svc().stat(parseReadCap(r.cap))
        return s.healthy === 3 && !s.holders.some(h => h.peer === leaving.peerId.toString())
      } catch { return false }
    }, 60_000)
    assert.deepEqual(await readAll(svc(), r.cap), data)
  })

  it('with no holder to spare when it leaves, its position is rebuilt on the first that joins', async () => {
    // 3 holders remain: a 2+2 object takes all of them and the one leaving
    holders.push(await holderNode(origin, client.addrs(), LONG_GRACE))
    const live = (): boolean => {
      const seen = new Set(svc().storageMembers().map(m => m.peer))
      return seen.size === holders.length && holders.every(h => seen.has(h.peerId.toString()))
    }
    await waitFor('the client sees exactly the 4 live holders', live)
    const data = bytesOf(3 * 2 ** 20 + 4321, 77)
    const r = await svc().put(pieces(data), { redundancy: { kind: 'erasure', k: 2, m: 2 } })
    const leaving = holders[1]
    await leaving.storage!.repair!.handOff()
    await leaving.stop()
    holders = holders.filter(h => h !== leaving)
    // a node claims the storage role only once its storage runs, so the
    // leader's first try on it cannot fail (and bar it for minutes)
    holders.push(await holderNode(origin, client.addrs(), LONG_GRACE))
    await waitFor('4 live positions again, none on the holder that left', async () => {
      try {
        const s = await svc().stat(parseReadCap(r.cap))
        return s.healthy === 4 && !s.holders.some(h => h.peer === leaving.peerId.toString())
      } catch { return false }
    }, 60_000)
    assert.deepEqual(await readAll(svc(), r.cap), data)
  })
})
