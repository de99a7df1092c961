// Runs in Chromium (bundled by scripts/browser.ts): the storage package's
// browser side — the erasure codec's wasm SIMD kernel, objects sealed and
// opened with WebCrypto, and the IndexedDB blockstore — each returning what
// the Node test compares with its own computation.
import {
  blockCid,
  blockId,
  CorruptBlockError,
  createErasureCodec,
  IdbBlockstore,
  ObjectReader,
  ObjectWriter,
  QuotaBlockstore,
  type Redundancy
} from '../../src/index.ts'

/** Deterministic bytes (the Node side makes the same). */
export function bytesOf (n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; out[i] = x >>> 24 }
  return out
}

/** Encodes a fixed stripe with k+m; returns the backend and the CIDs of every shard, and whether 2 lost data shards come back. */
export async function erasure (k: number, m: number, shardBytes: number): Promise<{ backend: string, cids: string[], restored: boolean }> {
  const codec = createErasureCodec(k, m)
  const data = Array.from({ length: k }, (_, i) => bytesOf(shardBytes, 100 + i))
  const parity = codec.encode(data)
  const all = [...data, ...parity]
  const cids = await Promise.all(all.map(async s => (await blockCid(s)).toString()))
  const holes: Array<Uint8Array | undefined> = all.slice()
  holes[0] = undefined
  holes[1] = undefined
  const back = codec.reconstruct(holes)
  const restored = back.every((s, i) => s.length === all[i].length && s.every((b, j) => b === all[i][j]))
  return { backend: codec.backend, cids, restored }
}

/** Seals an object with a given key in the browser; returns its root CID (the Node side seals the same and compares). */
export async function sealWithKey (size: number, key: number[], redundancy: Redundancy): Promise<{ root: string, blocks: string[] }> {
  const w = await ObjectWriter.create({ redundancy, chunkSize: 64 * 1024, key: new Uint8Array(key) })
  const blocks: string[] = []
  for (const c of await w.write(bytesOf(size, 7))) blocks.push(...c.blocks.map(b => b.cid.toString()))
  const done = await w.finish()
  for (const c of done.chunks) blocks.push(...c.blocks.map(b => b.cid.toString()))
  return { root: done.root.cid.toString(), blocks }
}

/** Writes and reads back an object with fresh keys; a wrong key must be refused by name. */
export async function roundTrip (size: number): Promise<{ same: boolean, wrongKey: string }> {
  const data = bytesOf(size, 9)
  const w = await ObjectWriter.create({ redundancy: { kind: 'erasure', k: 4, m: 2 }, chunkSize: 64 * 1024 })
  const chunks = [...await w.write(data)]
  const done = await w.finish()
  chunks.push(...done.chunks)
  const r = await ObjectReader.open(done.cap, done.root.bytes)
  const parts: Uint8Array[] = []
  for (const c of chunks) parts.push(await r.chunk(c.index, c.blocks.map((b, p) => p < 2 ? undefined : b.bytes)))
  const back = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { back.set(p, at); at += p.length }
  let wrongKey = 'accepted'
  try {
    await ObjectReader.open({ root: done.cap.root, key: done.cap.key.map((b, i) => i === 0 ? b ^ 1 : b) }, done.root.bytes)
  } catch (err) {
    wrongKey = (err as Error).name
  }
  return { same: back.length === data.length && back.every((b, i) => b === data[i]), wrongKey }
}

/** The IndexedDB blockstore: put, get, has, stat, survive a reopen, detect a tampered block, delete, quota. */
export async function indexedDb (): Promise<Record<string, unknown>> {
  const name = `wf-test-${Math.random().toString(36).slice(2)}`
  const blocks = await Promise.all([1, 2, 3].map(async i => { const bytes = bytesOf(100_000 * i, i); return { cid: await blockCid(bytes), bytes } }))
  let store = new IdbBlockstore(name)
  for (const b of blocks) await store.put(b.cid, b.bytes)
  const stat = await store.stat()
  await store.close()
  // a new instance over the same database: what was stored is still there
  store = new IdbBlockstore(name)
  const reopened = (await store.get(blocks[1].cid)).every((b, i) => b === blocks[1].bytes[i])
  const has = await store.has(blocks[2].cid)
  // tamper with a block behind the store's back
  const db = await new Promise<IDBDatabase>((resolve, reject) => { const r = indexedDB.open(name); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error) })
  const bad = blocks[0].bytes.slice()
  bad[10] ^= 0xff
  await new Promise<void>((resolve, reject) => {
    const tx = db.transaction('blocks', 'readwrite')
    tx.objectStore('blocks').put(bad, blockId(blocks[0].cid).key)
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error)
  })
  db.close()
  let tampered = 'served'
  try {
    await store.get(blocks[0].cid)
  } catch (err) {
    tampered = (err as Error).name
  }
  const scrubbed: string[] = []
  for await (const f of store.scrub()) scrubbed.push(f.cid.toString())
  await store.delete(blocks[0].cid)
  const afterDelete = await store.stat()
  const quota = new QuotaBlockstore(store, { limitBytes: afterDelete.bytes + 1000 })
  let overQuota = 'accepted'
  try {
    const big = bytesOf(5000, 77)
    await quota.put(await blockCid(big), big)
  } catch (err) {
    overQuota = (err as Error).name
  }
  await store.close()
  await new Promise<void>(resolve => { const r = indexedDB.deleteDatabase(name); r.onsuccess = () => resolve(); r.onerror = () => resolve() })
  return { stat, reopened, has, tampered, corruptName: CorruptBlockError.name, scrubbed, tamperedCid: blocks[0].cid.toString(), afterDelete, overQuota }
}
