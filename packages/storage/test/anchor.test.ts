// Anchors: the roots digest, signing and verifying commitments, and the
// AnchorProvider compliance suite (`anchorProviderCompliance`), which
// anchor-local-log.test.ts runs against the file log. Run directly, this
// file checks MemoryAnchorLog with it.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Identity, encode } from '@webfabric/protocol'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import {
  type AnchorProvider,
  type SignedAnchor,
  MemoryAnchorLog,
  anchorCid,
  canonicalRoots,
  decodeAnchor,
  encodeAnchor,
  nextAnchor,
  rootsDigest,
  signAnchor,
  verifyAnchor
} from '../src/anchor/index.ts'
import { rejectsNamed } from './fixtures/assert.ts'


/** `n` distinct root CIDs. */
export async function makeRoots (n: number, tag = 'root'): Promise<CID[]> {
  return await Promise.all(Array.from({ length: n }, async (_, i) => CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`${tag}-${i}`)))))
}

/** A provider made for one test, and how to dispose of it. */
export interface ProviderUnderTest {
  provider: AnchorProvider
  cleanup: () => Promise<void>
}

/** Runs the AnchorProvider compliance suite against providers made by `factory`. */
export function anchorProviderCompliance (name: string, factory: () => Promise<ProviderUnderTest>): void {
  async function withProvider (fn: (p: AnchorProvider) => Promise<void>): Promise<void> {
    const { provider, cleanup } = await factory()
    try {
      await fn(provider)
    } finally {
      await provider.close()
      await cleanup()
    }
  }

  describe(`AnchorProvider compliance: ${name}`, () => {
    it('publishes a chain of anchors and serves latest, history and receipts', () => withProvider(async (p) => {
      const id = await Identity.generate()
      assert.equal(await p.latest(id.did), undefined)
      const roots = await makeRoots(5)
      const receipts = []
      let latest: SignedAnchor | undefined
      for (let i = 1; i <= 4; i++) {
        const a = await nextAnchor(id, latest, roots.slice(0, i), 1000 * i)
        receipts.push(await p.publish(a))
        latest = a
      }
      assert.deepEqual(await p.latest(id.did), latest)
      const history = []
      for await (const a of p.history(id.did)) history.push(a.body.seq)
      assert.deepEqual(history, [1, 2, 3, 4])
      const later = []
      for await (const a of p.history(id.did, { fromSeq: 3 })) later.push(a.body.seq)
      assert.deepEqual(later, [3, 4])
      assert.equal(receipts[3].seq, 4)
      assert.equal(receipts[3].issuer, id.did)
      assert.equal(receipts[3].provider, p.name)
      assert.equal(receipts[3].anchor, (await anchorCid(latest!)).toString())
      assert.deepEqual(receipts.map(r => r.index), [0, 1, 2, 3])
      for (const r of receipts) assert.equal(await p.verify(r), true)
      assert.equal(await p.verify({ ...receipts[1], entry: receipts[2].entry }), false)
      assert.equal(await p.verify({ ...receipts[1], index: 7 }), false)
      assert.equal(await p.verify({ ...receipts[1], provider: 'elsewhere' }), false)
    }))

    it('keeps each issuer\'s chain separately in one log', () => withProvider(async (p) => {
      const [alice, bob] = await Promise.all([Identity.generate(), Identity.generate()])
      const roots = await makeRoots(3)
      const a1 = await nextAnchor(alice, undefined, roots, 1)
      const b1 = await nextAnchor(bob, undefined, roots, 2)
      const a2 = await nextAnchor(alice, a1, roots.slice(1), 3)
      const b2 = await nextAnchor(bob, b1, [], 4)
      for (const a of [a1, b1, a2, b2]) await p.publish(a)
      assert.deepEqual(await p.latest(alice.did), a2)
      assert.deepEqual(await p.latest(bob.did), b2)
      const bobs = []
      for await (const a of p.history(bob.did)) bobs.push(a)
      assert.deepEqual(bobs, [b1, b2])
    }))

    it('refuses a replayed or older anchor with StaleAnchorError', () => withProvider(async (p) => {
      const id = await Identity.generate()
      const roots = await makeRoots(2)
      const a1 = await nextAnchor(id, undefined, roots, 1)
      const a2 = await nextAnchor(id, a1, roots, 2)
      await p.publish(a1)
      await p.publish(a2)
      const err = await rejectsNamed(() => p.publish(a2), 'StaleAnchorError') as Error & { seq: number, latestSeq: number, issuer: string }
      assert.deepEqual([err.seq, err.latestSeq, err.issuer], [2, 2, id.did])
      await rejectsNamed(() => p.publish(a1), 'StaleAnchorError')
      // a different commitment re-using an old seq is just as stale
      await rejectsNamed(async () => p.publish(await signAnchor(id, { seq: 2, roots: [], at: 9, prev: await anchorCid(a1) })), 'StaleAnchorError')
      assert.deepEqual(await p.latest(id.did), a2)
    }))

    it('refuses anchors that do not link to the issuer\'s latest with AnchorChainError', () => withProvider(async (p) => {
      const id = await Identity.generate()
      const roots = await makeRoots(2)
      // a first anchor must be seq 1
      await rejectsNamed(async () => p.publish(await signAnchor(id, { seq: 2, roots, at: 1, prev: roots[0] })), 'AnchorChainError')
      const a1 = await nextAnchor(id, undefined, roots, 1)
      await p.publish(a1)
      // a fork: seq 2 whose prev is not a1
      await rejectsNamed(async () => p.publish(await signAnchor(id, { seq: 2, roots, at: 2, prev: roots[1] })), 'AnchorChainError')
      // a gap: seq 3 after 1
      await rejectsNamed(async () => p.publish(await signAnchor(id, { seq: 3, roots, at: 3, prev: await anchorCid(a1) })), 'AnchorChainError')
      assert.deepEqual(await p.latest(id.did), a1)
      await p.publish(await nextAnchor(id, a1, roots, 4))
    }))

    it('refuses a bad signature with InvalidSignatureError', () => withProvider(async (p) => {
      const [id, mallory] = await Promise.all([Identity.generate(), Identity.generate()])
      const a1 = await nextAnchor(id, undefined, await makeRoots(2), 1)
      await rejectsNamed(() => p.publish({ body: { ...a1.body, count: 3 }, sig: a1.sig }), 'InvalidSignatureError')
      const flipped = new Uint8Array(a1.sig)
      flipped[5] ^= 1
      await rejectsNamed(() => p.publish({ body: a1.body, sig: flipped }), 'InvalidSignatureError')
      // signed by mallory in id's name
      const forged = await nextAnchor(mallory, undefined, [], 1)
      await rejectsNamed(() => p.publish({ body: { ...forged.body, issuer: id.did }, sig: forged.sig }), 'InvalidSignatureError')
      assert.equal(await p.latest(id.did), undefined)
      await p.publish(a1)
    }))

    it('refuses malformed anchors with MalformedError, whatever they are', () => withProvider(async (p) => {
      const id = await Identity.generate()
      const a1 = await nextAnchor(id, undefined, [], 1)
      const bad: unknown[] = [
        null, undefined, 42, 'anchor', [], {}, { body: a1.body }, { body: a1.body, sig: 'x' },
        { body: { ...a1.body, seq: 0 }, sig: a1.sig },
        { body: { ...a1.body, seq: 1.5 }, sig: a1.sig },
        { body: { ...a1.body, issuer: 'did:web:example.com' }, sig: a1.sig },
        { body: { ...a1.body, roots: 'bafy' }, sig: a1.sig },
        { body: { ...a1.body, extra: 1 }, sig: a1.sig },
        { body: { ...a1.body, prev: a1.body.roots }, sig: a1.sig },
        { body: a1.body, sig: a1.sig, more: 1 }
      ]
      for (const b of bad) await rejectsNamed(() => p.publish(b as SignedAnchor), 'MalformedError')
      await p.publish(a1)
    }))

    it('publishes anchors handed over at once, in call order', () => withProvider(async (p) => {
      const id = await Identity.generate()
      const roots = await makeRoots(3)
      const chain: SignedAnchor[] = []
      for (let i = 0; i < 6; i++) chain.push(await nextAnchor(id, chain.at(-1), roots, i))
      const receipts = await Promise.all(chain.map(a => p.publish(a)))
      assert.deepEqual(receipts.map(r => r.seq), [1, 2, 3, 4, 5, 6])
      assert.deepEqual(await p.latest(id.did), chain[5])
    }))
  })
}

// Only when run itself: files that import the suite run it against their own providers.
if (import.meta.main) {
  describe('rootsDigest', () => {
    it('does not depend on order or duplicates, and counts distinct roots', async () => {
      const roots = await makeRoots(20)
      const d = await rootsDigest(roots)
      await fc.assert(fc.asyncProperty(fc.shuffledSubarray(roots, { minLength: 20 }), fc.array(fc.nat({ max: 19 }), { maxLength: 10 }), async (shuffled, dups) => {
        const withDups = [...shuffled, ...dups.map(i => roots[i])]
        assert.ok((await rootsDigest(withDups)).equals(d))
        assert.equal(canonicalRoots(withDups).length, 20)
      }), { numRuns: 30 })
    })

    it('takes CIDs or their strings, and v0 and v1 of one content as one root', async () => {
      const roots = await makeRoots(3)
      const dagPb = CID.createV0(roots[0].multihash as never)
      const v1 = dagPb.toV1()
      assert.ok((await rootsDigest(roots.map(r => r.toString()))).equals(await rootsDigest(roots)))
      assert.ok((await rootsDigest([dagPb, v1.toString()])).equals(await rootsDigest([v1])))
    })

    it('differs for different sets, and is the CID of the sorted DAG-CBOR list', async () => {
      const roots = await makeRoots(4)
      assert.ok(!(await rootsDigest(roots)).equals(await rootsDigest(roots.slice(1))))
      const empty = await rootsDigest([])
      assert.equal(empty.code, 0x71)
      assert.ok(empty.equals(CID.createV1(0x71, await sha256.digest(encode([])))))
    })

    it('refuses what is not a CID with MalformedError', async () => {
      await rejectsNamed(() => rootsDigest(['not a cid']), 'MalformedError')
      await rejectsNamed(() => rootsDigest([{} as CID]), 'MalformedError')
      await rejectsNamed(() => rootsDigest('bafy' as unknown as string[]), 'MalformedError')
    })
  })

  describe('signed anchors', () => {
    it('sign, encode, decode and verify', async () => {
      const id = await Identity.generate()
      const roots = await makeRoots(3)
      const a = await signAnchor(id, { seq: 1, roots: [roots[2], roots[0], roots[1], roots[0]], at: 1234, prev: null })
      assert.equal(a.body.issuer, id.did)
      assert.equal(a.body.count, 3)
      assert.ok(a.body.roots.equals(await rootsDigest(roots)))
      const back = decodeAnchor(encodeAnchor(a))
      assert.deepEqual(back, a)
      assert.deepEqual(await verifyAnchor(back), a.body)
      const b = await nextAnchor(id, a, roots, 2000)
      assert.equal(b.body.seq, 2)
      assert.ok(b.body.prev!.equals(await anchorCid(a)))
    })

    it('refuses a tampered anchor, and a next anchor built on someone else\'s', async () => {
      const id = await Identity.generate()
      const a = await nextAnchor(id, undefined, [], 1)
      await rejectsNamed(() => verifyAnchor({ body: { ...a.body, at: 2 }, sig: a.sig }), 'InvalidSignatureError')
      const other = await Identity.generate()
      await rejectsNamed(() => nextAnchor(other, a, [], 2), 'MalformedError')
      await rejectsNamed(() => signAnchor(id, { seq: 2, roots: [], at: 1, prev: null }), 'MalformedError')
      await rejectsNamed(() => signAnchor(id, { seq: 1, roots: [], at: -1, prev: null }), 'MalformedError')
    })
  })

  anchorProviderCompliance('MemoryAnchorLog', async () => ({ provider: new MemoryAnchorLog(), cleanup: async () => {} }))
}
