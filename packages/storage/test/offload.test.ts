// Chunk crypto on worker threads (Node): the same bytes as inline, inputs
// taken only when handed over, failures reported per job, and a stopped
// worker neither hangs its jobs nor the ones after it.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { after, before, describe, it } from 'node:test'
import { importAesKey, open, openNow, openPieces, seal, sealAndDigest, sealNow } from '../src/object/aes-gcm.ts'
import { cryptoWorkersRunning, OFFLOAD_MIN_BYTES, offload, offloads, setCryptoWorkers, stopCryptoWorkers } from '../src/object/offload.ts'
import { joinAndDigest } from '../src/object/sha256.ts'
import { ObjectWriter } from '../src/object/writer.ts'

const key = Uint8Array.from({ length: 32 }, (_, i) => 7 * i)
const ivOf = (n: number): Uint8Array => Uint8Array.from({ length: 12 }, (_, i) => (n + i) & 0xff)
const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 17 + (i >> 9)) & 0xff)
const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())

describe('chunk crypto off the main thread', () => {
  // (one worker even on a one-core machine, where none runs by default)
  before(() => { setCryptoWorkers(1) })
  after(() => { setCryptoWorkers(Math.max(0, Math.min(4, availableParallelism() - 1))) })

  it('seals, hashes and opens a large chunk to the very bytes the inline path makes', async () => {
    const k = await importAesKey(key)
    const plain = bytes(OFFLOAD_MIN_BYTES * 4 + 3)
    const inline = sealNow(k, ivOf(1), plain)
    assert.deepEqual(await seal(k, ivOf(1), plain), inline)
    const both = await sealAndDigest(k, ivOf(1), plain)
    assert.deepEqual(both.cipher, inline)
    assert.deepEqual(both.digest, sha(inline))
    assert.deepEqual(await open(k, ivOf(1), inline), openNow(k, ivOf(1), inline))
    assert.deepEqual(await open(k, ivOf(1), inline), plain)
  })

  it('reads the caller\'s bytes before returning and takes a buffer only when it is handed over', async () => {
    const k = await importAesKey(key)
    const plain = bytes(OFFLOAD_MIN_BYTES * 2)
    const want = sealNow(k, ivOf(2), plain)
    const sealing = seal(k, ivOf(2), plain)
    plain.fill(0) // reused at once: the seal already has its own copy
    assert.deepEqual(await sealing, want)
    const kept = want.slice()
    assert.equal((await open(k, ivOf(2), kept)).byteLength, plain.byteLength)
    assert.equal(kept.byteLength, want.byteLength, 'not handed over: the caller keeps its bytes')
    const given = want.slice()
    assert.equal((await open(k, ivOf(2), given, true)).byteLength, plain.byteLength)
    assert.equal(given.byteLength, 0, 'handed over: the buffer moved to the worker')
  })

  it('refuses a tampered ciphertext, whole or in pieces, without releasing plaintext', async () => {
    const k = await importAesKey(key)
    const sealed = sealNow(k, ivOf(3), bytes(OFFLOAD_MIN_BYTES * 3))
    const bad = sealed.slice()
    bad[12345] ^= 1
    await assert.rejects(open(k, ivOf(3), bad), /unable to authenticate|auth/i)
    await assert.rejects(openPieces(k, ivOf(3), [bad.subarray(0, 1000), bad.subarray(1000)]), /unable to authenticate|auth/i)
    await assert.rejects(open(k, ivOf(4), sealed), /unable to authenticate|auth/i, 'the wrong iv')
    // the worker goes on working after a failed job
    assert.equal((await openPieces(k, ivOf(3), [sealed.subarray(0, 1000), sealed.subarray(1000)]))[0].byteLength, sealed.byteLength - 16)
  })

  it('joins and hashes pieces, taking a lone whole buffer only when handed over', async () => {
    const all = bytes(OFFLOAD_MIN_BYTES * 2 + 5)
    const cut = [all.subarray(0, 10), all.subarray(10, 70_000), all.subarray(70_000)]
    const r = await joinAndDigest(cut)
    assert.deepEqual(r.bytes, all)
    assert.deepEqual(r.digest, sha(all))
    assert.equal(all.byteLength, OFFLOAD_MIN_BYTES * 2 + 5, 'pieces are copied, never taken')
    const lone = all.slice()
    assert.deepEqual((await joinAndDigest([lone], true)).digest, sha(all))
    assert.equal(lone.byteLength, 0)
    const small = bytes(100)
    assert.deepEqual(await joinAndDigest([small]), { bytes: small, digest: sha(small) })
  })

  it('refuses to transfer a view of a larger buffer (it would move bytes the caller still uses)', async () => {
    const big = bytes(OFFLOAD_MIN_BYTES * 2)
    await assert.rejects(offload({ op: 'sha256', bytes: big.subarray(1) as Uint8Array<ArrayBuffer> }), RangeError)
    assert.equal(big.byteLength, OFFLOAD_MIN_BYTES * 2)
  })

  it('a stopped worker fails the jobs it owed with OffloadWorkerError, and later jobs start a new one', async () => {
    const k = await importAesKey(key)
    const plain = bytes(OFFLOAD_MIN_BYTES * 16)
    const owed = Array.from({ length: 8 }, async (_, i) => await seal(k, ivOf(i), plain))
    const stopping = stopCryptoWorkers()
    const settled = await Promise.allSettled(owed)
    await stopping
    // each either finished before the stop or failed by name; none hangs (the last of 16 MiB queued is always cut)
    const failed = settled.filter(s => s.status === 'rejected')
    assert.ok(failed.length > 0, 'the stop cut no job')
    for (const s of failed) assert.equal((s.reason as Error).name, 'OffloadWorkerError')
    for (const [i, s] of settled.entries()) if (s.status === 'fulfilled') assert.deepEqual(s.value, sealNow(k, ivOf(i), plain))
    assert.deepEqual(await seal(k, ivOf(9), plain), sealNow(k, ivOf(9), plain))
  })

  it('overlapping writes make the same object, chunk for chunk, as one write after another', async () => {
    const data = bytes(5 * 65_536 + 1234, 5)
    const cut = (w: ObjectWriter): Array<Promise<unknown>> => [0, 100_000, 150_000, 300_000, data.length].slice(1).map((end, i, ends) =>
      w.write(data.subarray(i === 0 ? 0 : ends[i - 1], end)))
    const a = await ObjectWriter.create({ redundancy: { kind: 'replicas', r: 1 }, chunkSize: 65_536, key })
    for (const p of cut(a)) await p
    const b = await ObjectWriter.create({ redundancy: { kind: 'replicas', r: 1 }, chunkSize: 65_536, key })
    await Promise.all(cut(b)) // every write started before any resolved
    const [x, y] = [await a.finish(), await b.finish()]
    assert.equal(y.root.cid.toString(), x.root.cid.toString())
    assert.deepEqual(y.rootValue.chunks.map(c => c.blocks.map(String)), x.rootValue.chunks.map(c => c.blocks.map(String)))
  })

  it('with no workers (one core) works everything inline: same bytes, nothing taken', async () => {
    setCryptoWorkers(0)
    try {
      assert.equal(offloads(OFFLOAD_MIN_BYTES * 4), false)
      const k = await importAesKey(key)
      const plain = bytes(OFFLOAD_MIN_BYTES * 4)
      const sealed = await seal(k, ivOf(5), plain)
      assert.deepEqual(sealed, sealNow(k, ivOf(5), plain))
      const given = sealed.slice()
      assert.deepEqual(await open(k, ivOf(5), given, true), plain)
      assert.equal(given.byteLength, sealed.byteLength, 'inline, nothing needs taking')
      const lone = sealed.slice()
      assert.deepEqual((await joinAndDigest([lone], true)).digest, sha(sealed))
      assert.equal(lone.byteLength, sealed.byteLength)
      assert.throws(() => { setCryptoWorkers(-1) }, RangeError)
    } finally {
      setCryptoWorkers(1)
    }
  })

  it('a worker stopped while its successor starts does not take the successor out of the pool', async () => {
    const k = await importAesKey(key)
    const plain = bytes(OFFLOAD_MIN_BYTES * 2)
    await seal(k, ivOf(6), plain)
    assert.equal(cryptoWorkersRunning(), 1)
    const stopping = stopCryptoWorkers()
    await seal(k, ivOf(6), plain) // starts the next worker before the old one's exit arrives
    await stopping
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(cryptoWorkersRunning(), 1)
    await Promise.all([1, 2, 3].map(async i => await seal(k, ivOf(i), plain)))
    assert.equal(cryptoWorkersRunning(), 1)
  })

  it('a worker that cannot load fails the jobs it took, and later work runs inline', async () => {
    const k = await importAesKey(key)
    const plain = bytes(OFFLOAD_MIN_BYTES * 2)
    await stopCryptoWorkers()
    setCryptoWorkers(1, { url: new URL('data:text/javascript,throw new Error("no crypto here")') })
    try {
      await assert.rejects(seal(k, ivOf(7), plain), { name: 'OffloadWorkerError' })
      assert.equal(offloads(OFFLOAD_MIN_BYTES * 2), false, 'workers are off after one failed to load')
      assert.deepEqual(await seal(k, ivOf(7), plain), sealNow(k, ivOf(7), plain))
    } finally {
      setCryptoWorkers(1)
    }
  })
})
