// Storage over real libp2p in one process: a client node (storage/put + get)
// and six holders with on-disk blockstores. Objects round-trip with replicas
// and Reed-Solomon, survive holders going away, heal a block flipped on disk,
// and every bad input — wrong key, forged capability, over quota, garbage
// frames, a caller without the capability — fails with its own error.
import assert from 'node:assert/strict'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { encode } from '@webfabric/protocol'
import { type FabricNode, STORAGE_PROTOCOL, type StorageService } from '@webfabric/runtime'
import { anchorCid, blockId, blocksOfPosition, formatReadCap, parseReadCap, type QuotaBlockstore, type Redundancy, rootsDigest, type SignedAnchor, verifyAnchor } from '@webfabric/storage'
import { LocalAnchorLog } from '@webfabric/storage/local-log'
import { STORAGE_MEMBERSHIP, type TestOrigin, bytesOf, didOf, grant, holderNode, makeOrigin, pieces, readAll, startNode, storageFabric, waitFor } from './fixtures.ts'
import { lengthPrefixed, sendRaw } from './raw-streams.ts'

const MEMBERSHIP = STORAGE_MEMBERSHIP

describe('storage on real libp2p (in one process)', () => {
  let origin: TestOrigin
  let client: FabricNode
  let holders: FabricNode[] = []

  before(async () => {
    ;({ origin, client, holders } = await storageFabric(6))
  })

  after(async () => {
    for (const n of [...holders, client]) await n?.stop()
    await origin?.cleanup()
  })

  const svc = (): StorageService => client.storage!.service

  for (const redundancy of [{ kind: 'replicas', r: 3 }, { kind: 'erasure', k: 4, m: 2 }] as Redundancy[]) {
    it(`puts and gets byte-identical data with ${redundancy.kind === 'replicas' ? 'r=3' : '4+2'}; stat shows every position held`, async () => {
      const data = bytesOf(3 * 2 ** 20 + 12345, 11)
      const progress: number[] = []
      const r = await svc().put(pieces(data), { redundancy, onProgress: p => progress.push(p.bytes) })
      assert.equal(r.size, data.length)
      assert.equal(r.holders.length, redundancy.kind === 'replicas' ? 3 : 6)
      assert.equal(new Set(r.holders).size, r.holders.length)
      assert.equal(progress.at(-1), data.length)
      assert.deepEqual(await readAll(svc(), r.cap), data)
      const s = await svc().stat(parseReadCap(r.cap))
      assert.equal(s.healthy, s.positions)
      assert.ok(s.holders.every(h => h.holds && h.pinned === true))
    })
  }

  it('an empty file round-trips', async () => {
    const r = await svc().put(pieces(new Uint8Array(0)), { redundancy: { kind: 'replicas', r: 2 } })
    assert.equal((await readAll(svc(), r.cap)).length, 0)
  })

  it('reads a 4+2 object with two of its holders stopped', async () => {
    const data = bytesOf(2 * 2 ** 20, 5)
    const r = await svc().put(pieces(data), { redundancy: { kind: 'erasure', k: 4, m: 2 } })
    const gone = holders.filter(h => r.holders.slice(0, 2).includes(h.peerId))
    assert.equal(gone.length, 2)
    for (const h of gone) await h.stop()
    holders = holders.filter(h => !gone.includes(h))
    assert.deepEqual(await readAll(svc(), r.cap), data)
    // bring the fabric back to six holders for the tests that follow
    for (let i = 0; i < 2; i++) holders.push(await holderNode(origin, client.addrs()))
    await waitFor('exactly the 6 live holders in the view', () => {
      const seen = client.storage!.service.storageMembers().map(m => m.peer)
      return seen.length === 6 && holders.every(h => seen.includes(h.peerId))
    })
  })

  it('repairs an object whose holder left: a new holder gets the position, the record moves on, stat is healthy', async () => {
    const data = bytesOf(2 * 2 ** 20 + 5, 21)
    const r = await svc().put(pieces(data), { redundancy: { kind: 'erasure', k: 2, m: 1 } })
    const gone = holders.find(h => h.peerId === r.holders[1])!
    await gone.stop()
    holders = holders.filter(h => h !== gone)
    await waitFor('repair restores 3 live positions', async () => {
      try {
        const s = await svc().stat(parseReadCap(r.cap))
        return s.healthy === 3 && s.version > 1 && !s.holders.some(h => h.peer === gone.peerId)
      } catch {
        return false
      }
    }, 60_000)
    assert.deepEqual(await readAll(svc(), r.cap), data)
    // the new holder knows who wrote the object: its writer can still unpin it everywhere
    assert.equal((await svc().pin(parseReadCap(r.cap), false)).answered, 3)
    holders.push(await holderNode(origin, client.addrs()))
  })

  it('detects a block flipped on disk, serves the object from the others, and heals the block', async () => {
    const data = bytesOf(1 * 2 ** 20, 9)
    const r = await svc().put(pieces(data), { redundancy: { kind: 'replicas', r: 3 } })
    const victim = holders.find(h => h.peerId === r.holders[0])!
    const root = parseReadCap(r.cap).root.toString()
    const file = await someBlockFile(join(victim.init.dataDir, 'storage'), root, victim)
    const bytes = await readFile(file)
    bytes[100] ^= 0xff
    await writeFile(file, bytes)
    assert.deepEqual(await readAll(svc(), r.cap), data)
    // the read or the scrub finds the flipped block; either way it is deleted and healed
    await victim.storage!.scrub()
    await waitFor('the victim found and healed its block', async () => {
      const s = await victim.storage!.stats()
      return s.storageCorruptFound >= 1 && s.storageHealed >= 1
    })
    assert.deepEqual(new Uint8Array(await readFile(file)), new Uint8Array(bytes.map((b, i) => i === 100 ? b ^ 0xff : b)))
    const again = await victim.storage!.scrub()
    assert.equal(again.corrupt, 0)
    assert.deepEqual(await readAll(svc(), r.cap), data)
  })

  it('refuses a wrong key (WrongKeyError) and a capability of nothing stored (StorageUnavailableError)', async () => {
    const r = await svc().put(pieces(bytesOf(1000, 1)), { redundancy: { kind: 'replicas', r: 3 } })
    const cap = parseReadCap(r.cap)
    const wrong = formatReadCap({ root: cap.root, key: cap.key.map((b, i) => i === 0 ? b ^ 1 : b) })
    await assert.rejects(readAll(svc(), wrong), { name: 'WrongKeyError' })
    const other = await svc().put(pieces(bytesOf(1000, 2)), { redundancy: { kind: 'replicas', r: 3 } })
    // a forged capability: another object's root with this key: located by the key's index, found nowhere
    const forged = formatReadCap({ root: parseReadCap(other.cap).root, key: cap.key })
    await assert.rejects(readAll(svc(), forged), (err: Error) => ['StorageUnavailableError', 'WrongKeyError'].includes(err.name))
    assert.throws(() => parseReadCap(r.cap.slice(0, -4)), { name: 'MalformedCapabilityError' })
  })

  it('unpinned data is collected when the lease it was stored under ends; pinned data stays', async () => {
    const keep = await svc().put(pieces(bytesOf(300_000, 31)), { redundancy: { kind: 'replicas', r: 2 } })
    const drop = await svc().put(pieces(bytesOf(300_000, 32)), { redundancy: { kind: 'replicas', r: 2 }, pin: false })
    const unpin = await svc().put(pieces(bytesOf(300_000, 33)), { redundancy: { kind: 'replicas', r: 2 } })
    assert.equal((await svc().pin(parseReadCap(unpin.cap), false)).answered, 2)
    const roots = [keep, drop, unpin].map(r => parseReadCap(r.cap).root.toString())
    const owners = holders.filter(h => h.storage!.service.held().some(x => roots.includes(x.root)))
    const bytes = async (): Promise<number> => { let n = 0; for (const h of owners) n += (await h.storage!.stats()).storageBytes; return n }
    const before = await bytes()
    // long after every lease ends
    const later = Date.now() + 400 * 86400e3
    for (const h of owners) await h.storage!.service.collect(later)
    const stillHeld = (root: string): number => holders.filter(h => h.storage!.service.held().some(x => x.root === root)).length
    assert.equal(stillHeld(roots[0]), 2, 'pinned: kept')
    assert.equal(stillHeld(roots[1]), 0, 'put unpinned: collected')
    assert.equal(stillHeld(roots[2]), 0, 'unpinned later: collected')
    assert.deepEqual(await readAll(svc(), keep.cap), bytesOf(300_000, 31))
    await assert.rejects(readAll(svc(), drop.cap), { name: 'StorageUnavailableError' })
    // the collected objects' blocks are gone from disk, not just forgotten: two objects × two copies
    assert.ok(before - await bytes() >= 4 * 300_000, `freed ${before - await bytes()} bytes`)
  })

  it('anchors each holder\'s pinned roots: a signed, hash-chained commitment that follows pin changes', async () => {
    const r = await svc().put(pieces(bytesOf(50_000, 41)), { redundancy: { kind: 'replicas', r: 2 } })
    const h = holders.find(x => x.peerId === r.holders[0])!
    const root = parseReadCap(r.cap).root.toString()
    const matches = async (): Promise<boolean> => {
      const a = await h.storage!.anchorNow()
      const latest = await readLatest(h)
      return a != null && latest != null && latest.body.roots.toString() === (await rootsDigest(h.storage!.service.pinnedRoots())).toString()
    }
    await waitFor('the anchor commits to the pinned set', matches)
    const before = (await readLatest(h))!
    assert.ok(h.storage!.service.pinnedRoots().includes(root))
    await svc().pin(parseReadCap(r.cap), false)
    await waitFor('a new anchor without the unpinned root', async () => (await readLatest(h))!.body.seq > before.body.seq && await matches())
    const after = (await readLatest(h))!
    assert.equal(after.body.prev?.toString(), (await anchorCid(before)).toString(), 'chained to the previous commitment')
    await verifyAnchor(after)
  })

  it('anchors asked for at once are published one after the other, each chained to the one before', async () => {
    // a new pinned root on a holder: it has something new to anchor (its debounced anchor is due too)
    const r = await svc().put(pieces(bytesOf(20_000, 42)), { redundancy: { kind: 'replicas', r: 2 } })
    const h = holders.find(x => x.peerId === r.holders[0])!
    const [a, b, c] = await Promise.all([h.storage!.anchorNow(), h.storage!.anchorNow(), h.storage!.anchorNow()])
    assert.ok(a != null && b != null && c != null)
    const latest = (await readLatest(h))!
    assert.equal(latest.body.roots.toString(), (await rootsDigest(h.storage!.service.pinnedRoots())).toString())
    await verifyAnchor(latest)
  })

  it('puts with 2 MiB and 4 MiB chunks (blocks larger than a quarter of the flow-control window)', async () => {
    for (const chunkSize of [2 * 2 ** 20, 4 * 2 ** 20]) {
      const data = bytesOf(10 * 2 ** 20 + 3, chunkSize)
      const r = await svc().put(pieces(data), { redundancy: { kind: 'replicas', r: 2 }, chunkSize })
      assert.deepEqual(await readAll(svc(), r.cap), data)
    }
  })

  it('an aborted put is never acknowledged and leaves no holding behind', async () => {
    const ac = new AbortController()
    async function * src (): AsyncGenerator<Uint8Array> {
      yield bytesOf(2 * 2 ** 20, 1)
      ac.abort(new Error('the writer went away'))
      yield bytesOf(2 * 2 ** 20, 2)
    }
    const before = holders.map(h => h.storage!.service.held().length)
    await assert.rejects(svc().put(src(), { redundancy: { kind: 'replicas', r: 3 }, signal: ac.signal }), /the writer went away/)
    assert.deepEqual(holders.map(h => h.storage!.service.held().length), before)
  })

  it('a writer cannot replace the placement record of an object already held (RecordConflictError)', async () => {
    const r = await svc().put(pieces(bytesOf(200_000, 51)), { redundancy: { kind: 'replicas', r: 2 } })
    const target = holders.find(h => h.peerId === r.holders[0])!
    const held = target.storage!.service.held().find(h => h.root === parseReadCap(r.cap).root.toString())!
    const rootBlock = (await target.storage!.service.localRootBlock(held.root))!.rootBytes
    const forged = { ...held.record, version: 2 ** 40, holders: [target.peerId, client.peerId] }
    // the client holds storage/put: it opens a store for the root it wrote, sends no blocks (all held), and a forged record
    const svcAny = svc() as unknown as { open: (peer: string) => Promise<never>, init: { clientCredential: Uint8Array } }
    const { StoreSession } = await import('@webfabric/runtime')
    const session = await StoreSession.open(await svcAny.open(target.peerId), { k: 'store', c: svcAny.init.clientCredential, r: held.record.redundancy, p: 0, pin: true })
    await assert.rejects(session.end(rootBlock, forged), { name: 'RecordConflictError' })
    assert.equal(target.storage!.service.held().find(h => h.root === held.root)!.record.version, 1)
    assert.deepEqual(await readAll(svc(), r.cap), bytesOf(200_000, 51))
  })

  it('only the writer may unpin an object (NotAuthorizedError for others)', async () => {
    const r = await svc().put(pieces(bytesOf(10_000, 61)), { redundancy: { kind: 'replicas', r: 2 } })
    const dataDir = join(origin.dir, 'other-writer')
    const did = await didOf(origin, dataDir)
    const creds = await Promise.all([grant(origin, did, 'fabric/membership', ['membership/gossip']), grant(origin, did, 'fabric/storage', ['storage/put', 'storage/get'])])
    const other = await startNode(origin, { dataDir, bootstrap: client.addrs(), roles: ['rendezvous'], credentials: creds.map(c => c.bytes), membership: MEMBERSHIP })
    try {
      await waitFor('the other writer sees the holders', () => other.storage!.service.storageMembers().length >= 6)
      await assert.rejects(other.storage!.service.pin(parseReadCap(r.cap), false), { name: 'NotAuthorizedError' })
      assert.ok(holders.filter(h => r.holders.includes(h.peerId)).every(h => h.storage!.service.held().find(x => x.root === r.root)?.pinned === true))
    } finally {
      await other.stop()
    }
  })

  it('collection deletes nothing while a holding\'s root is unreadable', async () => {
    const r = await svc().put(pieces(bytesOf(300_000, 71)), { redundancy: { kind: 'replicas', r: 2 } })
    const h = holders.find(x => x.peerId === r.holders[0])!
    const before = (await h.storage!.stats()).storageBlocks
    await h.storage!.store!.delete(parseReadCap(r.cap).root)
    assert.equal(await h.storage!.service.collect(), 0)
    assert.equal((await h.storage!.stats()).storageBlocks, before - 1)
    await h.storage!.service.heal(r.root)
    assert.deepEqual(await readAll(svc(), r.cap), bytesOf(300_000, 71))
  })

  it('refuses a put when too few storage members exist (InsufficientHoldersError)', async () => {
    await assert.rejects(svc().put(pieces(bytesOf(10, 1)), { redundancy: { kind: 'replicas', r: 9 } }), { name: 'InsufficientHoldersError' })
  })

  it('a caller without a storage capability is refused and disconnected; garbage frames too', async () => {
    const stranger = await startNode(origin, { bootstrap: client.addrs(), roles: ['compute'], membership: MEMBERSHIP })
    try {
      const target = holders[0]
      const before = target.storage!.service.refused
      await sendRaw(stranger, target, STORAGE_PROTOCOL, lengthPrefixed(encode({ k: 'fetch', c: new Uint8Array(10), root: 'x', cids: ['y'] })))
      await waitFor('the fetch without a capability is refused', () => target.storage!.service.refused > before)
      const mid = target.storage!.service.refused
      await sendRaw(stranger, target, STORAGE_PROTOCOL, lengthPrefixed(new Uint8Array([0xff, 0x00, 0x13])))
      await waitFor('the garbage frame is refused', () => target.storage!.service.refused > mid)
    } finally {
      await stranger.stop()
    }
  })
})

describe('storage quotas', () => {
  it('a put over every holder\'s quota fails with QuotaExceededError and stores nothing acknowledged', async () => {
    const origin = await makeOrigin()
    // 1 MiB of storage per holder
    const { signManifest, defaultManifest } = await import('@webfabric/protocol')
    origin.manifest = await signManifest(origin.identity, { ...defaultManifest(origin.identity.did, 'tiny', Date.now()), rendezvous: [], qos: { ...defaultManifest(origin.identity.did, 'tiny', Date.now()).qos, storageMiB: 1 } })
    const dataDir = join(origin.dir, 'client')
    const did = await didOf(origin, dataDir)
    const creds = await Promise.all([grant(origin, did, 'fabric/membership', ['membership/gossip']), grant(origin, did, 'fabric/storage', ['storage/put', 'storage/get'])])
    const client = await startNode(origin, { dataDir, rendezvous: true, roles: ['rendezvous'], credentials: creds.map(c => c.bytes), membership: MEMBERSHIP })
    const hs = [await holderNode(origin, client.addrs()), await holderNode(origin, client.addrs())]
    try {
      await waitFor('2 storage members', () => client.storage!.service.storageMembers().length === 2)
      await assert.rejects(client.storage!.service.put(pieces(bytesOf(3 * 2 ** 20, 4)), { redundancy: { kind: 'replicas', r: 2 }, size: 3 * 2 ** 20 }), { name: 'QuotaExceededError' })
      for (const h of hs) assert.equal(h.storage!.service.held().length, 0)
      // a put within quota still works afterwards
      const r = await client.storage!.service.put(pieces(bytesOf(100_000, 4)), { redundancy: { kind: 'replicas', r: 2 } })
      assert.deepEqual(await readAll(client.storage!.service, r.cap), bytesOf(100_000, 4))
    } finally {
      for (const n of [...hs, client]) await n.stop()
      await origin.cleanup()
    }
  })
})

describe('a holder that puts: the positions placement gives itself go into its own store', () => {
  /** A node with the storage role that may also put (storage/hold + put + get), under `origin`. */
  async function holdingWriter (origin: TestOrigin, dataDir: string, bootstrap?: string[]): Promise<FabricNode> {
    const did = await didOf(origin, dataDir)
    const creds = await Promise.all([grant(origin, did, 'fabric/membership', ['membership/gossip']), grant(origin, did, 'fabric/storage', ['storage/hold', 'storage/put', 'storage/get'])])
    return await startNode(origin, { dataDir, bootstrap, rendezvous: bootstrap == null, roles: bootstrap == null ? ['storage', 'rendezvous'] : ['storage'], credentials: creds.map(c => c.bytes), membership: MEMBERSHIP })
  }

  it('stores r=1 on itself, durably by the time the put resolves; gets, stats, pins and survives a restart', async () => {
    const origin = await makeOrigin()
    const dataDir = join(origin.dir, 'solo')
    let node = await holdingWriter(origin, dataDir)
    try {
      await waitFor('the node sees itself as a storage member', () => node.storage!.service.storageMembers().length === 1)
      const data = bytesOf(3 * 2 ** 20 + 777, 91)
      const r = await node.storage!.service.put(pieces(data), { redundancy: { kind: 'replicas', r: 1 } })
      assert.deepEqual(r.holders, [node.peerId])
      // at acknowledgement: every block in the store and the holding in the holdings file
      const root = (await node.storage!.service.localRoot(r.root))!
      for (const cid of blocksOfPosition(root, 0)) assert.ok(await node.storage!.store!.has(cid), `block ${cid} is stored`)
      const saved = JSON.parse(await readFile(join(dataDir, 'storage', 'holdings.json'), 'utf8')) as Array<{ root: string, writer: string }>
      assert.equal(saved.find(h => h.root === r.root)?.writer, node.peerId)
      assert.deepEqual(await readAll(node.storage!.service, r.cap), data)
      const s = await node.storage!.service.stat(parseReadCap(r.cap))
      assert.equal(s.healthy, 1)
      assert.equal((await node.storage!.service.pin(parseReadCap(r.cap), false)).answered, 1)
      assert.equal(node.storage!.service.held().find(h => h.root === r.root)?.pinned, false)
      await node.stop()
      node = await holdingWriter(origin, dataDir)
      await waitFor('the restarted node sees itself', () => node.storage!.service.storageMembers().length === 1)
      assert.deepEqual(await readAll(node.storage!.service, r.cap), data)
    } finally {
      await node.stop()
      await origin.cleanup()
    }
  })

  it('stores one position on itself and the other on another holder (r=2), which reads it back alone', async () => {
    const origin = await makeOrigin()
    const writer = await holdingWriter(origin, join(origin.dir, 'writer'))
    const other = await holderNode(origin, writer.addrs())
    try {
      await waitFor('both storage members seen', () => writer.storage!.service.storageMembers().length === 2 && other.storage!.service.storageMembers().length === 2)
      const data = bytesOf(2 * 2 ** 20 + 5, 92)
      const r = await writer.storage!.service.put(pieces(data), { redundancy: { kind: 'replicas', r: 2 } })
      assert.deepEqual(new Set(r.holders), new Set([writer.peerId, other.peerId]))
      for (const n of [writer, other]) assert.ok(n.storage!.service.held().some(h => h.root === r.root))
      await writer.stop()
      assert.deepEqual(await readAll(other.storage!.service, r.cap), data)
    } finally {
      for (const n of [other, writer]) await n.stop()
      await origin.cleanup()
    }
  })

  it('over its own quota the put fails with QuotaExceededError, holds nothing and keeps no block; an aborted put neither', async () => {
    const origin = await makeOrigin()
    const { signManifest, defaultManifest } = await import('@webfabric/protocol')
    const base = defaultManifest(origin.identity.did, 'tiny', Date.now())
    origin.manifest = await signManifest(origin.identity, { ...base, rendezvous: [], qos: { ...base.qos, storageMiB: 2 } })
    const node = await holdingWriter(origin, join(origin.dir, 'solo'))
    try {
      await waitFor('the node sees itself', () => node.storage!.service.storageMembers().length === 1)
      const svc = node.storage!.service
      // a failed put has taken back its writes (settled, collected) by the time it rejects: the
      // quota is free again at once, not after blocks still being written land and a later collection
      const quotaUsed = async (): Promise<number> => (await (node.storage!.store as QuotaBlockstore).usage()).used
      // refused up front when the size is given, and block by block when it is not
      await assert.rejects(svc.put(pieces(bytesOf(3 * 2 ** 20, 4)), { redundancy: { kind: 'replicas', r: 1 }, size: 3 * 2 ** 20 }), { name: 'QuotaExceededError' })
      await assert.rejects(svc.put(pieces(bytesOf(3 * 2 ** 20, 4)), { redundancy: { kind: 'replicas', r: 1 } }), { name: 'QuotaExceededError' })
      assert.equal(await quotaUsed(), 0)
      const ac = new AbortController()
      async function * src (): AsyncGenerator<Uint8Array> {
        yield bytesOf(2 ** 20 + 10, 1)
        ac.abort(new Error('the writer went away'))
        yield bytesOf(1000, 2)
      }
      await assert.rejects(svc.put(src(), { redundancy: { kind: 'replicas', r: 1 }, signal: ac.signal }), /the writer went away/)
      assert.equal(await quotaUsed(), 0)
      assert.equal(svc.held().length, 0)
      await waitFor('what the failed puts left is collected', async () => (await node.storage!.stats()).storageBlocks === 0)
      const r = await svc.put(pieces(bytesOf(100_000, 4)), { redundancy: { kind: 'replicas', r: 1 } })
      assert.deepEqual(await readAll(svc, r.cap), bytesOf(100_000, 4))
    } finally {
      await node.stop()
      await origin.cleanup()
    }
  })
})

/** The latest commitment in a node's anchor log, read from the file by a fresh reader. */
async function readLatest (node: FabricNode): Promise<SignedAnchor | undefined> {
  const log = new LocalAnchorLog(join(node.init.dataDir, 'storage', 'anchors.log'))
  try {
    await log.open()
    return await log.latest(node.did)
  } finally {
    await log.close()
  }
}

/** The on-disk file of the first block `node` holds of `root` (blocks/<xy>/<base32 multihash>). */
async function someBlockFile (storeDir: string, root: string, node: FabricNode): Promise<string> {
  const held = node.storage!.service.held().find(h => h.root === root)
  assert.ok(held, 'the node holds the object')
  const value = await node.storage!.service.localRoot(root)
  const cid = blocksOfPosition(value!, held.position)[0]
  const key = blockId(cid).key
  const dirs = await readdir(join(storeDir, 'blocks'))
  for (const d of dirs) {
    if ((await readdir(join(storeDir, 'blocks', d))).includes(key)) return join(storeDir, 'blocks', d, key)
  }
  throw new Error(`block ${cid} not found on disk under ${storeDir}`)
}
