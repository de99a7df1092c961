// The blockstore compliance suite: what every Blockstore must do, run against
// each implementation by the other blockstore*.test.ts files through
// `blockstoreCompliance(name, factory)`. Run directly, it checks MemoryBlockstore.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { type Blockstore, type BlockstoreInit, MemoryBlockstore, type ScrubProgress } from '../src/blockstore/index.ts'
import { rejectsNamed } from './fixtures/assert.ts'

/** A store made for one test, and how to dispose of it. */
export interface StoreUnderTest {
  store: Blockstore
  cleanup: () => Promise<void>
}

/** Makes a fresh, empty store with the given options. */
export type StoreFactory = (init: BlockstoreInit) => Promise<StoreUnderTest>

/** `n` random bytes (WebCrypto hands out at most 64 KiB per call). */
export function randomBytes (n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)))
  return out
}

/** A raw-codec block of `bytes` (random ones of `size` when not given). */
export async function makeBlock (size = 1024, bytes = randomBytes(size)): Promise<{ cid: CID, bytes: Uint8Array }> {
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}


async function collect<T> (it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

const keyOf = (cid: CID): string => cid.multihash.bytes.join(',')

/** Runs the compliance suite against stores made by `factory`. */
export function blockstoreCompliance (name: string, factory: StoreFactory): void {
  async function withStore (init: BlockstoreInit, fn: (store: Blockstore) => Promise<void>): Promise<void> {
    const { store, cleanup } = await factory(init)
    try {
      await fn(store)
    } finally {
      await store.close()
      await cleanup()
    }
  }

  describe(`Blockstore compliance: ${name}`, () => {
    it('returns what was put, and counts it', () => withStore({}, async (store) => {
      const a = await makeBlock(1000)
      const b = await makeBlock(24)
      assert.deepEqual(await store.stat(), { blocks: 0, bytes: 0 })
      assert.equal(await store.put(a.cid, a.bytes), a.cid)
      await store.put(b.cid, b.bytes)
      assert.deepEqual(await store.get(a.cid), a.bytes)
      assert.deepEqual(await store.get(b.cid), b.bytes)
      assert.equal(await store.has(a.cid), true)
      assert.deepEqual(await store.stat(), { blocks: 2, bytes: 1024 })
    }))

    it('stores an empty block and a 4 MiB block', () => withStore({}, async (store) => {
      const empty = await makeBlock(0)
      const big = await makeBlock(4 * 1024 * 1024)
      await store.put(empty.cid, empty.bytes)
      await store.put(big.cid, big.bytes)
      assert.deepEqual(await store.get(empty.cid), empty.bytes)
      assert.deepEqual(await store.get(big.cid), big.bytes)
      assert.deepEqual(await store.stat(), { blocks: 2, bytes: 4 * 1024 * 1024 })
    }))

    it('refuses a get of a block it does not hold with BlockNotFoundError naming the CID', () => withStore({}, async (store) => {
      const a = await makeBlock()
      const err = await rejectsNamed(() => store.get(a.cid), 'BlockNotFoundError') as Error & { cid: string }
      assert.equal(err.cid, a.cid.toString())
      assert.equal(await store.has(a.cid), false)
    }))

    it('keeps one copy of a block put twice, or many times at once', () => withStore({}, async (store) => {
      const a = await makeBlock(500)
      await store.put(a.cid, a.bytes)
      await store.put(a.cid, a.bytes)
      const b = await makeBlock(300)
      await Promise.all(Array.from({ length: 16 }, () => store.put(b.cid, b.bytes)))
      assert.deepEqual(await store.stat(), { blocks: 2, bytes: 800 })
      assert.deepEqual(await store.get(b.cid), b.bytes)
      assert.equal((await collect(store.cids())).length, 2)
    }))

    it('stores many different blocks put at once', () => withStore({}, async (store) => {
      const blocks = await Promise.all(Array.from({ length: 40 }, (_, i) => makeBlock(100 + i)))
      await Promise.all(blocks.map(b => store.put(b.cid, b.bytes)))
      for (const b of blocks) assert.deepEqual(await store.get(b.cid), b.bytes)
      assert.equal((await store.stat()).blocks, 40)
    }))

    it('deletes, frees the bytes, and ignores deletes of blocks it does not hold', () => withStore({}, async (store) => {
      const a = await makeBlock(100)
      const b = await makeBlock(200)
      await store.put(a.cid, a.bytes)
      await store.put(b.cid, b.bytes)
      await store.delete(a.cid)
      await store.delete(a.cid)
      await store.delete((await makeBlock()).cid)
      assert.equal(await store.has(a.cid), false)
      await rejectsNamed(() => store.get(a.cid), 'BlockNotFoundError')
      assert.deepEqual(await store.stat(), { blocks: 1, bytes: 200 })
      await store.put(a.cid, a.bytes)
      assert.deepEqual(await store.get(a.cid), a.bytes)
    }))

    it('iterates every held block as a CIDv1 with the same multihash', () => withStore({}, async (store) => {
      const blocks = await Promise.all(Array.from({ length: 25 }, () => makeBlock(64)))
      for (const b of blocks) await store.put(b.cid, b.bytes)
      await store.delete(blocks[0].cid)
      const seen = await collect(store.cids())
      assert.equal(seen.length, 24)
      assert.ok(seen.every(c => c.version === 1 && c.code === raw.code))
      assert.deepEqual(new Set(seen.map(keyOf)), new Set(blocks.slice(1).map(b => keyOf(b.cid))))
    }))

    it('treats CIDs with the same sha2-256 multihash (v0, dag-cbor, raw) as one block', () => withStore({}, async (store) => {
      const a = await makeBlock(77)
      const v0 = CID.createV0(a.cid.multihash as never)
      const cbor = CID.createV1(0x71, a.cid.multihash)
      await store.put(v0, a.bytes)
      assert.equal(await store.has(a.cid), true)
      assert.deepEqual(await store.get(cbor), a.bytes)
      await store.put(cbor, a.bytes)
      assert.deepEqual(await store.stat(), { blocks: 1, bytes: 77 })
    }))

    it('refuses bytes that do not hash to the CID, storing nothing', () => withStore({}, async (store) => {
      const a = await makeBlock(100)
      const other = randomBytes(100)
      const err = await rejectsNamed(() => store.put(a.cid, other), 'CorruptBlockError') as Error & { cid: string }
      assert.equal(err.cid, a.cid.toString())
      assert.equal(await store.has(a.cid), false)
      assert.deepEqual(await store.stat(), { blocks: 0, bytes: 0 })
      // the right bytes are still accepted afterwards
      await store.put(a.cid, a.bytes)
      assert.deepEqual(await store.get(a.cid), a.bytes)
    }))

    it('detects held bytes that do not match their CID, on get and in a scrub', () => withStore({ verifyOnPut: false }, async (store) => {
      const good = await Promise.all(Array.from({ length: 5 }, () => makeBlock(256)))
      for (const b of good) await store.put(b.cid, b.bytes)
      const bad = await makeBlock(256)
      const rotten = new Uint8Array(bad.bytes)
      rotten[100] ^= 0x01
      await store.put(bad.cid, rotten)
      const err = await rejectsNamed(() => store.get(bad.cid), 'CorruptBlockError') as Error & { cid: string }
      assert.equal(err.cid, bad.cid.toString())
      assert.deepEqual(await store.get(bad.cid, { verify: false }), rotten)
      const progress: ScrubProgress[] = []
      const findings = await collect(store.scrub({ onProgress: (e) => progress.push(e) }))
      assert.equal(findings.length, 1)
      assert.equal(keyOf(findings[0].cid), keyOf(bad.cid))
      assert.equal(findings[0].error.name, 'CorruptBlockError')
      assert.deepEqual(progress.at(-1), { type: 'blockstore:scrub:block', checked: 6, corrupt: 1 })
      // repair: delete the bad copy, put a good one
      await store.delete(bad.cid)
      await store.put(bad.cid, bad.bytes)
      assert.equal((await collect(store.scrub())).length, 0)
    }))

    it('can skip verification on get when told to', () => withStore({ verifyOnPut: false, verifyOnGet: false }, async (store) => {
      const a = await makeBlock(10)
      const wrong = randomBytes(10)
      await store.put(a.cid, wrong)
      assert.deepEqual(await store.get(a.cid), wrong)
      await rejectsNamed(() => store.get(a.cid, { verify: true }), 'CorruptBlockError')
    }))

    it('refuses malformed CIDs and non-bytes with named errors, and stays whole', () => withStore({}, async (store) => {
      const a = await makeBlock(10)
      await store.put(a.cid, a.bytes)
      const sha512 = CID.createV1(raw.code, createDigest(0x13, new Uint8Array(64)))
      const identity = CID.createV1(raw.code, createDigest(0x00, new Uint8Array(4)))
      const notCids: unknown[] = [undefined, null, 'bafkreigh2akiscaildc', 42, {}, { '/': 'x' }, a.cid.bytes, sha512, identity]
      for (const bad of notCids) {
        await rejectsNamed(() => store.put(bad as CID, a.bytes), 'InvalidCidError')
        await rejectsNamed(() => store.get(bad as CID), 'InvalidCidError')
        await rejectsNamed(() => store.has(bad as CID), 'InvalidCidError')
        await rejectsNamed(() => store.delete(bad as CID), 'InvalidCidError')
      }
      for (const bad of [undefined, 'bytes', [1, 2, 3], new ArrayBuffer(10), { length: 10 }]) {
        await rejectsNamed(() => store.put(a.cid, bad as Uint8Array), 'InvalidBlockError')
      }
      assert.deepEqual(await store.stat(), { blocks: 1, bytes: 10 })
      assert.deepEqual(await store.get(a.cid), a.bytes)
    }))

    it('refuses a block over its size limit with BlockTooLargeError, storing nothing', () => withStore({ maxBlockBytes: 1000 }, async (store) => {
      const ok = await makeBlock(1000)
      const big = await makeBlock(1001)
      await store.put(ok.cid, ok.bytes)
      const err = await rejectsNamed(() => store.put(big.cid, big.bytes), 'BlockTooLargeError') as Error & { size: number, limit: number }
      assert.equal(err.size, 1001)
      assert.equal(err.limit, 1000)
      assert.equal(await store.has(big.cid), false)
      assert.deepEqual(await store.stat(), { blocks: 1, bytes: 1000 })
    }))

    it('owns its copies: changing the caller\'s buffers changes nothing stored', () => withStore({}, async (store) => {
      const a = await makeBlock(64)
      const mine = new Uint8Array(a.bytes)
      const putting = store.put(a.cid, mine)
      mine.fill(0)
      await putting
      const got = await store.get(a.cid)
      got.fill(7)
      assert.deepEqual(await store.get(a.cid), a.bytes)
    }))

    it('takes bytes handed over (owned) as well as copied ones: the same checks, the same block stored', () => withStore({}, async (store) => {
      const a = await makeBlock(5000)
      const b = await makeBlock(300)
      // a view into a larger buffer, as a received frame's block is
      const frame = new Uint8Array(6000)
      frame.set(a.bytes, 100)
      await store.put(a.cid, frame.subarray(100, 5100), { owned: true })
      await rejectsNamed(() => store.put(b.cid, randomBytes(300), { owned: true }), 'CorruptBlockError')
      await rejectsNamed(() => store.put(b.cid, 'bytes' as unknown as Uint8Array, { owned: true }), 'InvalidBlockError')
      await store.put(b.cid, new Uint8Array(b.bytes), { owned: true })
      assert.deepEqual(await store.get(a.cid), a.bytes)
      assert.deepEqual(await store.get(b.cid), b.bytes)
      assert.deepEqual(await store.stat(), { blocks: 2, bytes: 5300 })
    }))

    it('honours an aborted signal, storing nothing', () => withStore({}, async (store) => {
      const a = await makeBlock(10)
      const signal = AbortSignal.abort()
      await rejectsNamed(() => store.put(a.cid, a.bytes, { signal }), 'AbortError')
      assert.equal(await store.has(a.cid), false)
      await store.put(a.cid, a.bytes)
      await rejectsNamed(() => store.get(a.cid, { signal }), 'AbortError')
      await rejectsNamed(() => collect(store.scrub({ signal })), 'AbortError')
    }))

    it('matches a model under any sequence of puts, deletes and gets', async () => {
      const pool = await Promise.all(Array.from({ length: 6 }, (_, i) => makeBlock(i * 10)))
      const op = fc.record({ kind: fc.constantFrom('put', 'delete', 'get'), at: fc.nat({ max: pool.length - 1 }) })
      await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
        await withStore({}, async (store) => {
          const model = new Map<string, Uint8Array>()
          for (const { kind, at } of ops) {
            const b = pool[at]
            if (kind === 'put') {
              await store.put(b.cid, b.bytes)
              model.set(keyOf(b.cid), b.bytes)
            } else if (kind === 'delete') {
              await store.delete(b.cid)
              model.delete(keyOf(b.cid))
            } else if (model.has(keyOf(b.cid))) {
              assert.deepEqual(await store.get(b.cid), b.bytes)
            } else {
              await rejectsNamed(() => store.get(b.cid), 'BlockNotFoundError')
            }
          }
          let bytes = 0
          for (const v of model.values()) bytes += v.byteLength
          assert.deepEqual(await store.stat(), { blocks: model.size, bytes })
          assert.deepEqual(new Set((await collect(store.cids())).map(keyOf)), new Set(model.keys()))
        })
      }), { numRuns: 25 })
    })
  })
}

// Only when run itself: files that import the suite run it against their own stores.
if (import.meta.main) {
  blockstoreCompliance('MemoryBlockstore', async (init) => ({ store: new MemoryBlockstore(init), cleanup: async () => {} }))
}
