// The object layer on its own: chunk, encrypt, code, root, capability — and
// every way a read can go wrong, each with its own error.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import {
  type ChunkBlocks,
  decodeRoot,
  formatReadCap,
  ObjectReader,
  ObjectWriter,
  parseReadCap,
  positionsOf,
  type Redundancy,
  encodeRoot,
  verifyBlock
} from '../src/index.ts'
import * as webSha from '../src/object/sha256.browser.ts'
import * as nodeSha from '../src/object/sha256.ts'

function bytesOf (n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; out[i] = x >>> 24 }
  return out
}

async function write (data: Uint8Array, redundancy: Redundancy, chunkSize = 64 * 1024, pieces = 3) {
  const w = await ObjectWriter.create({ redundancy, chunkSize })
  const chunks: ChunkBlocks[] = []
  const step = Math.ceil(data.length / pieces) || 1
  for (let i = 0; i < data.length; i += step) chunks.push(...await w.write(data.subarray(i, i + step)))
  const done = await w.finish()
  chunks.push(...done.chunks)
  return { ...done, all: chunks }
}

async function read (cap: ReturnType<typeof parseReadCap>, rootBytes: Uint8Array, chunks: ChunkBlocks[], drop: (c: number, p: number) => boolean = () => false): Promise<Uint8Array> {
  const r = await ObjectReader.open(cap, rootBytes)
  const parts: Uint8Array[] = []
  for (const c of chunks) {
    const n = positionsOf(r.root.redundancy)
    const blocks = r.root.redundancy.kind === 'replicas' ? [c.blocks[0].bytes] : Array.from({ length: n }, (_, p) => drop(c.index, p) ? undefined : c.blocks[p].bytes)
    parts.push(await r.chunk(c.index, blocks))
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

describe('objects', () => {
  for (const redundancy of [{ kind: 'replicas', r: 3 }, { kind: 'erasure', k: 4, m: 2 }, { kind: 'erasure', k: 10, m: 4 }] as Redundancy[]) {
    it(`round-trips with ${JSON.stringify(redundancy)}, across chunk edges`, async () => {
      for (const size of [0, 1, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 300_000]) {
        const data = bytesOf(size, size + 7)
        const w = await write(data, redundancy)
        const back = await read(w.cap, w.root.bytes, w.all)
        assert.deepEqual(back, data, `size ${size}`)
        assert.equal(w.rootValue.chunks.length, Math.ceil(size / (64 * 1024)))
      }
    })
  }

  it('seals whole chunks where they lie in the caller\'s pieces: the same blocks as from pieces across chunk edges, the pieces unchanged', async () => {
    const key = new Uint8Array(32).fill(9)
    const data = bytesOf(4 * 64 * 1024 + 100, 3)
    const kept = new Uint8Array(data)
    const blocksOf = async (step: number): Promise<string[]> => {
      const w = await ObjectWriter.create({ redundancy: { kind: 'replicas', r: 1 }, chunkSize: 64 * 1024, key })
      const out: ChunkBlocks[] = []
      for (let i = 0; i < data.length; i += step) out.push(...await w.write(data.subarray(i, i + step)))
      out.push(...(await w.finish()).chunks)
      return out.map(c => c.blocks[0].cid.toString())
    }
    // 2 chunks per piece (sealed in place), and pieces that cut chunks (copied into the writer's buffer first)
    assert.deepEqual(await blocksOf(2 * 64 * 1024), await blocksOf(50_000))
    assert.deepEqual(await blocksOf(64 * 1024 + 1), await blocksOf(data.length))
    assert.deepEqual(data, kept)
  })

  it('reads an erasure-coded object with any m shards of every chunk missing', async () => {
    const data = bytesOf(500_000, 3)
    const w = await write(data, { kind: 'erasure', k: 4, m: 2 })
    for (const lost of [[0, 1], [2, 5], [4, 5], [0, 3], [3]]) {
      assert.deepEqual(await read(w.cap, w.root.bytes, w.all, (_c, p) => lost.includes(p)), data, `lost ${lost}`)
    }
    await assert.rejects(read(w.cap, w.root.bytes, w.all, (_c, p) => p < 3), { name: 'TooFewSharesError' })
  })

  it('stores only ciphertext: no block contains a run of the plaintext', async () => {
    const data = new TextEncoder().encode('attack at dawn; '.repeat(10_000))
    const w = await write(data, { kind: 'replicas', r: 1 })
    const needle = new TextEncoder().encode('attack at dawn')
    for (const c of w.all) {
      const hay = Buffer.from(c.blocks[0].bytes)
      assert.equal(hay.indexOf(Buffer.from(needle)), -1)
    }
    assert.equal(Buffer.from(w.root.bytes).indexOf(Buffer.from(needle)), -1)
  })

  it('encrypts the same content under a fresh key each time (no convergence leaks equality)', async () => {
    const data = bytesOf(70_000)
    const a = await write(data, { kind: 'replicas', r: 1 })
    const b = await write(data, { kind: 'replicas', r: 1 })
    assert.notEqual(a.root.cid.toString(), b.root.cid.toString())
    assert.notEqual(a.all[0].blocks[0].cid.toString(), b.all[0].blocks[0].cid.toString())
  })

  it('a capability round-trips through its text form', async () => {
    const w = await write(bytesOf(10), { kind: 'replicas', r: 3 })
    const text = formatReadCap(w.cap)
    assert.match(text, /^wf-read:bafy[a-z2-7]+:[A-Za-z0-9_-]{43}$/)
    const back = parseReadCap(text)
    assert.equal(back.root.toString(), w.root.cid.toString())
    assert.deepEqual(back.key, w.cap.key)
  })

  it('refuses a wrong key before reading anything (WrongKeyError)', async () => {
    const w = await write(bytesOf(100_000), { kind: 'replicas', r: 3 })
    const wrong = { root: w.cap.root, key: w.cap.key.slice() }
    wrong.key[0] ^= 1
    await assert.rejects(ObjectReader.open(wrong, w.root.bytes), { name: 'WrongKeyError' })
  })

  it('refuses a tampered chunk (TamperedBlockError) and a tampered root', async () => {
    const data = bytesOf(100_000)
    const w = await write(data, { kind: 'erasure', k: 4, m: 2 })
    const evil = w.all.map(c => ({ ...c, blocks: c.blocks.map(b => ({ ...b, bytes: b.bytes.slice() })) }))
    evil[1].blocks[2].bytes[5] ^= 0x40
    await assert.rejects(read(w.cap, w.root.bytes, evil), { name: 'TamperedBlockError' })
    const root = w.root.bytes.slice()
    root[root.length - 3] ^= 1
    await assert.rejects(ObjectReader.open(w.cap, root), { name: 'TamperedBlockError' })
  })

  it('reads blocks that arrived in pieces: verified and decrypted where they lie, tampering refused', async () => {
    const data = bytesOf(200_000)
    const cut = (b: Uint8Array, size: number): Uint8Array[] => Array.from({ length: Math.ceil(b.byteLength / size) }, (_, i) => b.subarray(i * size, (i + 1) * size))
    for (const redundancy of [{ kind: 'replicas', r: 2 }, { kind: 'erasure', k: 3, m: 2 }] as Redundancy[]) {
      const w = await write(data, redundancy)
      const r = await ObjectReader.open(w.cap, w.root.bytes)
      const parts: Uint8Array[] = []
      for (const c of w.all) {
        const blocks = c.blocks.map(b => cut(b.bytes, 1000))
        for (const p of await r.chunkPieces(c.index, blocks)) parts.push(p)
        assert.deepEqual(await r.chunk(c.index, blocks), data.subarray(c.index * 64 * 1024, (c.index + 1) * 64 * 1024))
        await verifyBlock(c.blocks[0].cid, blocks[0])
      }
      assert.deepEqual(new Uint8Array(parts.flatMap(p => [...p])), data, redundancy.kind)
      // a flipped byte in one piece: refused before any plaintext, verified or not (the tag checks)
      const c = w.all[1]
      const evil = c.blocks.map(b => cut(b.bytes.slice(), 1000))
      evil[0][3][7] ^= 1
      await assert.rejects(verifyBlock(c.blocks[0].cid, evil[0]), { name: 'TamperedBlockError' })
      await assert.rejects(r.chunkPieces(c.index, evil), { name: 'TamperedBlockError' })
      if (redundancy.kind === 'replicas') await assert.rejects(r.chunkPieces(c.index, evil, { verified: true }), { name: 'CorruptObjectError' })
    }
  })

  it('hashes pieces as their joined bytes, in Node and in browsers', async () => {
    const data = bytesOf(70_001, 9)
    const whole = new Uint8Array(createHash('sha256').update(data).digest())
    for (const cuts of [[], [0], [1], [65_536], [3, 3, 70_000]]) {
      const ps: Uint8Array[] = []
      let at = 0
      for (const c of [...cuts, data.byteLength]) { ps.push(data.subarray(at, c)); at = c }
      assert.deepEqual(await nodeSha.sha256Pieces(ps), whole, `node: ${cuts.join(', ')}`)
      assert.deepEqual(await webSha.sha256Pieces(ps), whole, `web: ${cuts.join(', ')}`)
    }
  })

  it('refuses forged and truncated capabilities (MalformedCapabilityError)', async () => {
    const w = await write(bytesOf(10), { kind: 'replicas', r: 3 })
    const text = formatReadCap(w.cap)
    for (const bad of [text.slice(0, -5), text.slice(0, 30), text.replace('wf-read:', 'wf-write:'), `${text}:x`, 'wf-read::', '', 'hello', 42, null,
      text.replace(/:([^:]+)$/, ':!!!!')]) {
      assert.throws(() => parseReadCap(bad), { name: 'MalformedCapabilityError' }, String(bad))
    }
    // a raw-codec CID where a root belongs
    const rawCid = w.all[0].blocks[0].cid.toString()
    assert.throws(() => parseReadCap(text.replace(w.root.cid.toString(), rawCid)), { name: 'MalformedCapabilityError' })
  })

  it('validates every field of a root (MalformedRootError names it)', async () => {
    const w = await write(bytesOf(200_000), { kind: 'replicas', r: 2 })
    const good = decodeRoot(w.root.bytes)
    const variants: Array<[string, object]> = [
      ['size', { ...good, size: good.size + 1 }],
      ['chunks[0].cipherLength', { ...good, chunks: [{ ...good.chunks[0], cipherLength: 10 }, ...good.chunks.slice(1)] }],
      ['chunks[0].blocks', { ...good, chunks: [{ ...good.chunks[0], blocks: [] }, ...good.chunks.slice(1)] }],
      ['keyCheck', { ...good, keyCheck: new Uint8Array(3) }],
      ['chunkSize', { ...good, chunkSize: 12 }]
    ]
    for (const [field, v] of variants) {
      let bytes: Uint8Array
      try {
        bytes = (await encodeRoot(v as never)).bytes
      } catch {
        continue
      }
      assert.throws(() => decodeRoot(bytes), (err: Error & { field?: string }) => err.name === 'MalformedRootError' && err.field === field, field)
    }
    assert.throws(() => decodeRoot(new Uint8Array([1, 2, 3])), { name: 'MalformedRootError' })
    const links = good.chunks[0].blocks
    assert.ok(links[0] instanceof CID)
  })

  it('refuses bad writer options (StorageOptionsError)', async () => {
    await assert.rejects(ObjectWriter.create({ redundancy: { kind: 'replicas', r: 0 } }), { name: 'StorageOptionsError' })
    await assert.rejects(ObjectWriter.create({ redundancy: { kind: 'erasure', k: 0, m: 2 } }), { name: 'StorageOptionsError' })
    await assert.rejects(ObjectWriter.create({ redundancy: { kind: 'erasure', k: 30, m: 30 } }), { name: 'StorageOptionsError' })
    await assert.rejects(ObjectWriter.create({ redundancy: { kind: 'replicas', r: 3 }, chunkSize: 100 }), { name: 'StorageOptionsError' })
    await assert.rejects(ObjectWriter.create({ redundancy: { kind: 'replicas', r: 3 }, key: new Uint8Array(5) }), { name: 'StorageOptionsError' })
  })
})
