// LocalAnchorLog: the provider compliance suite on a real file, then what a
// file log must do — verify the whole chain when reopened, drop a torn last
// entry with a warning, name a tampered entry, survive kill -9. Run with
// ANCHOR_LOG_CHILD=<path>, this file is the child the kill -9 test kills.
import assert from 'node:assert/strict'
import { killMidway } from './fixtures/kill-midway.ts'
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Identity, decode, encode, fromBase64url, toBase64url } from '@webfabric/protocol'
import { type AnchorReceipt, type SignedAnchor, nextAnchor } from '../src/anchor/index.ts'
import { LocalAnchorLog } from '../src/anchor/local-log.ts'
import { anchorProviderCompliance, makeRoots } from './anchor.test.ts'
import { rejectsNamed } from './fixtures/assert.ts'

const CHILD_PATH = process.env.ANCHOR_LOG_CHILD

if (CHILD_PATH !== undefined) {
  // The child: publish anchors as fast as it can, printing each receipt once acknowledged, until killed.
  const log = new LocalAnchorLog(CHILD_PATH)
  const id = await Identity.generate()
  const roots = await makeRoots(50)
  let latest: SignedAnchor | undefined
  for (let i = 0; ; i++) {
    const a = await nextAnchor(id, latest, roots.slice(0, i % 50), i)
    process.stdout.write(`${JSON.stringify(await log.publish(a))}\n`)
    latest = a
  }
} else {
  const root = await mkdtemp(join(tmpdir(), 'wf-anchor-log-'))
  after(() => rm(root, { recursive: true, force: true }))
  let n = 0
  const freshPath = (): string => join(root, `d${n++}`, 'anchors.log')

  anchorProviderCompliance('LocalAnchorLog', async () => ({ provider: new LocalAnchorLog(freshPath(), { log: () => {} }), cleanup: async () => {} }))

  /** A log at a fresh path holding `count` anchors of one issuer; returns the path, anchors and receipts. */
  async function filled (count: number): Promise<{ path: string, id: Identity, anchors: SignedAnchor[], receipts: AnchorReceipt[] }> {
    const path = freshPath()
    const log = new LocalAnchorLog(path)
    const id = await Identity.generate()
    const roots = await makeRoots(10)
    const anchors: SignedAnchor[] = []
    const receipts: AnchorReceipt[] = []
    for (let i = 0; i < count; i++) {
      anchors.push(await nextAnchor(id, anchors.at(-1), roots.slice(0, i + 1), 1000 + i))
      receipts.push(await log.publish(anchors[i]))
    }
    await log.close()
    return { path, id, anchors, receipts }
  }

  async function lines (path: string): Promise<string[]> {
    return (await readFile(path, 'utf8')).split('\n').filter(l => l.length > 0)
  }

  describe('LocalAnchorLog on disk', () => {
    it('writes one line per entry and, reopened, verifies the chain and serves what it held', async () => {
      const { path, id, anchors, receipts } = await filled(5)
      assert.equal((await lines(path)).length, 5)
      const log = new LocalAnchorLog(path)
      assert.deepEqual(await log.open(), { entries: 5, droppedBytes: 0 })
      assert.deepEqual(await log.latest(id.did), anchors[4])
      for (const r of receipts) assert.equal(await log.verify(r), true)
      const seqs = []
      for await (const a of log.history(id.did)) seqs.push(a.body.seq)
      assert.deepEqual(seqs, [1, 2, 3, 4, 5])
      // and continues the chain
      await log.publish(await nextAnchor(id, anchors[4], [], 9999))
      await log.close()
      assert.equal((await lines(path)).length, 6)
    })

    it('drops a truncated last line (a crash mid-append) with a warning, and continues from the entry before', async () => {
      const { path, id, anchors, receipts } = await filled(4)
      const text = await readFile(path, 'utf8')
      const cut = text.length - 1 - Math.floor((text.length - text.lastIndexOf('\n', text.length - 2)) / 2)
      await writeFile(path, text.slice(0, cut))
      const warnings: string[] = []
      const log = new LocalAnchorLog(path, { log: (m) => warnings.push(m) })
      const report = await log.open()
      assert.equal(report.entries, 3)
      assert.ok(report.droppedBytes > 0)
      assert.equal(warnings.length, 1)
      assert.match(warnings[0], /dropped \d+ bytes of an unfinished last entry/)
      assert.deepEqual(await log.latest(id.did), anchors[2])
      assert.equal(await log.verify(receipts[3]), false)
      assert.equal(await log.verify(receipts[2]), true)
      // the file was cut back to whole entries, so the next append is clean
      assert.ok((await readFile(path, 'utf8')).endsWith('\n'))
      await log.publish(anchors[3])
      await log.close()
      const again = new LocalAnchorLog(path, { log: (m) => warnings.push(m) })
      assert.deepEqual(await again.open(), { entries: 4, droppedBytes: 0 })
      await again.close()
    })

    it('drops bytes after the last newline, and a last line that does not decode', async () => {
      const { path, id, anchors } = await filled(3)
      await appendFile(path, 'AAAA')
      const warnings: string[] = []
      let log = new LocalAnchorLog(path, { log: (m) => warnings.push(m) })
      assert.deepEqual(await log.open(), { entries: 3, droppedBytes: 4 })
      await log.close()
      // a whole line of zeros: what an append whose data never reached the disk leaves
      await appendFile(path, new Uint8Array([0, 0, 0, 0, 0, 0, 0x0a]))
      log = new LocalAnchorLog(path, { log: (m) => warnings.push(m) })
      assert.deepEqual(await log.open(), { entries: 3, droppedBytes: 7 })
      assert.deepEqual(await log.latest(id.did), anchors[2])
      await log.close()
      assert.equal(warnings.length, 2)
    })

    it('names a tampered middle entry with AnchorChainError and refuses to open', async () => {
      const { path } = await filled(5)
      const original = await lines(path)
      // a re-encoded entry whose anchor says something else (its signature no longer holds)
      const entry = decode(fromBase64url(original[2])) as { anchor: SignedAnchor }
      entry.anchor.body.count = 1000
      const forged = [...original]
      forged[2] = toBase64url(encode(entry))
      await writeFile(path, `${forged.join('\n')}\n`)
      let err = await rejectsNamed(() => new LocalAnchorLog(path).open(), 'AnchorChainError') as Error & { index: number }
      assert.equal(err.index, 2)
      assert.equal((err.cause as Error).name, 'InvalidSignatureError')
      // one character changed
      const flipped = [...original]
      flipped[1] = `${original[1].slice(0, 40)}${original[1][40] === 'A' ? 'B' : 'A'}${original[1].slice(41)}`
      await writeFile(path, `${flipped.join('\n')}\n`)
      err = await rejectsNamed(() => new LocalAnchorLog(path).open(), 'AnchorChainError') as Error & { index: number }
      assert.ok(err.index === 1 || err.index === 2, `index ${err.index}`)
      // an entry removed, or two swapped
      await writeFile(path, `${[original[0], original[2], original[3]].join('\n')}\n`)
      err = await rejectsNamed(() => new LocalAnchorLog(path).open(), 'AnchorChainError') as Error & { index: number }
      assert.equal(err.index, 1)
      await writeFile(path, `${[original[0], original[2], original[1]].join('\n')}\n`)
      await rejectsNamed(() => new LocalAnchorLog(path).open(), 'AnchorChainError')
      // an empty line in the middle
      await writeFile(path, `${original[0]}\n\n${original[1]}\n`)
      err = await rejectsNamed(() => new LocalAnchorLog(path).open(), 'AnchorChainError') as Error & { index: number }
      assert.equal(err.index, 1)
    })

    it('refuses a last line that decodes but does not verify (tampering, not a torn append)', async () => {
      const { path } = await filled(3)
      const original = await lines(path)
      const entry = decode(fromBase64url(original[2])) as { anchor: SignedAnchor }
      entry.anchor.body.at = 1
      await writeFile(path, `${[original[0], original[1], toBase64url(encode(entry))].join('\n')}\n`)
      const err = await rejectsNamed(() => new LocalAnchorLog(path, { log: () => {} }).open(), 'AnchorChainError') as Error & { index: number }
      assert.equal(err.index, 2)
    })

    it('cannot see entries cut from the end, but their receipts no longer verify', async () => {
      const { path, receipts } = await filled(4)
      const original = await lines(path)
      await writeFile(path, `${original.slice(0, 2).join('\n')}\n`)
      const log = new LocalAnchorLog(path)
      assert.deepEqual(await log.open(), { entries: 2, droppedBytes: 0 })
      assert.deepEqual(await Promise.all(receipts.map(r => log.verify(r))), [true, true, false, false])
      await log.close()
    })

    it('survives kill -9 while publishing: every acknowledged anchor is there, and the chain verifies', async () => {
      const path = freshPath()
      const lines = await killMidway(fileURLToPath(import.meta.url), { ANCHOR_LOG_CHILD: path }, l => l.startsWith('{'), 40)
      const acked = lines.map(l => JSON.parse(l) as AnchorReceipt)
      const log = new LocalAnchorLog(path, { log: () => {} })
      const report = await log.open()
      assert.ok(report.entries >= acked.length)
      for (const r of acked) assert.equal(await log.verify(r), true, `receipt ${r.index} no longer verifies`)
      await log.close()
    })
  })
}
