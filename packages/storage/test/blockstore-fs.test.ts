// FsBlockstore: the compliance suite on real files, then what only a disk
// store must do — tampered files are caught, a crash leaves no half block,
// the directory is locked to one store. Run with BLOCKSTORE_FS_CHILD=<dir>,
// this file is instead the child process that the kill -9 test kills mid-put.
import assert from 'node:assert/strict'
import { killMidway } from './fixtures/kill-midway.ts'
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { base32 } from 'multiformats/bases/base32'
import type { CID } from 'multiformats/cid'
import { FsBlockstore } from '../src/blockstore/fs.ts'
import { QuotaBlockstore } from '../src/blockstore/index.ts'
import { blockstoreCompliance, makeBlock } from './blockstore-compliance.test.ts'
import { rejectsNamed } from './fixtures/assert.ts'

const CHILD_DIR = process.env.BLOCKSTORE_FS_CHILD

/** Path of a block's file inside the store's directory. */
function fileOf (dir: string, cid: CID): string {
  const key = base32.baseEncode(cid.multihash.bytes)
  return join(dir, 'blocks', key.slice(52, 54), key)
}

async function collect<T> (it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

if (CHILD_DIR !== undefined) {
  // The child: put random blocks of 64 KiB–1 MiB as fast as it can and print each CID once
  // its put resolved (acknowledged), until killed.
  const store = new FsBlockstore(CHILD_DIR)
  await store.open()
  process.stdout.write('ready\n')
  for (;;) {
    const b = await makeBlock(65536 + Math.floor(Math.random() * 1024 * 1024))
    await store.put(b.cid, b.bytes)
    process.stdout.write(`${b.cid.toString()}\n`)
  }
} else {
  const root = await mkdtemp(join(tmpdir(), 'wf-blockstore-fs-'))
  after(() => rm(root, { recursive: true, force: true }))
  let n = 0
  const freshDir = (): string => join(root, `s${n++}`)

  blockstoreCompliance('FsBlockstore', async (init) => {
    const dir = freshDir()
    return { store: new FsBlockstore(dir, init), cleanup: () => rm(dir, { recursive: true, force: true }) }
  })

  blockstoreCompliance('QuotaBlockstore over FsBlockstore', async (init) => {
    const dir = freshDir()
    return { store: new QuotaBlockstore(new FsBlockstore(dir, init), { limitBytes: 64 * 1024 * 1024 }), cleanup: () => rm(dir, { recursive: true, force: true }) }
  })

  describe('FsBlockstore on disk', () => {
    it('keeps a block in blocks/<2 chars>/<base32 multihash>, and finds it again after reopening', async () => {
      const dir = freshDir()
      const store = new FsBlockstore(dir)
      const a = await makeBlock(3000)
      const b = await makeBlock(5)
      await store.put(a.cid, a.bytes)
      await store.put(b.cid, b.bytes)
      assert.deepEqual(new Uint8Array(await readFile(fileOf(dir, a.cid))), a.bytes)
      await store.close()
      const again = new FsBlockstore(dir)
      assert.deepEqual(await again.stat(), { blocks: 2, bytes: 3005 })
      assert.deepEqual(await again.get(a.cid), a.bytes)
      assert.equal((await collect(again.cids())).length, 2)
      await again.close()
    })

    it('detects a flipped byte in a stored file on get and in a scrub, and is repaired by delete and put', async () => {
      const dir = freshDir()
      const store = new FsBlockstore(dir)
      const blocks = await Promise.all(Array.from({ length: 8 }, () => makeBlock(4096)))
      for (const b of blocks) await store.put(b.cid, b.bytes)
      const victim = blocks[3]
      const file = fileOf(dir, victim.cid)
      const onDisk = await readFile(file)
      onDisk[1234] ^= 0x80
      await writeFile(file, onDisk)
      const err = await rejectsNamed(() => store.get(victim.cid), 'CorruptBlockError') as Error & { cid: string }
      assert.equal(err.cid, victim.cid.toString())
      const findings = await collect(store.scrub())
      assert.deepEqual(findings.map(f => f.cid.toString()), [victim.cid.toString()])
      // a put of the held CID does not rewrite it (duplicates are free) ...
      await store.put(victim.cid, victim.bytes)
      await rejectsNamed(() => store.get(victim.cid), 'CorruptBlockError')
      // ... delete and put does
      await store.delete(victim.cid)
      await store.put(victim.cid, victim.bytes)
      assert.deepEqual(await store.get(victim.cid), victim.bytes)
      assert.equal((await collect(store.scrub())).length, 0)
      await store.close()
    })

    it('detects truncated and overgrown block files', async () => {
      const dir = freshDir()
      const store = new FsBlockstore(dir, { maxBlockBytes: 64 * 1024 })
      const short = await makeBlock(2048)
      const long = await makeBlock(2048)
      await store.put(short.cid, short.bytes)
      await store.put(long.cid, long.bytes)
      await truncate(fileOf(dir, short.cid), 1000)
      await appendFile(fileOf(dir, long.cid), new Uint8Array(100 * 1024))
      await rejectsNamed(() => store.get(short.cid), 'CorruptBlockError')
      const err = await rejectsNamed(() => store.get(long.cid), 'CorruptBlockError')
      assert.match(err.message, /over the limit/)
      assert.equal((await collect(store.scrub())).length, 2)
      await store.close()
    })

    it('at open removes unfinished puts a crash left in tmp/ and ignores files that are not blocks', async () => {
      const dir = freshDir()
      const store = new FsBlockstore(dir)
      const a = await makeBlock(100)
      await store.put(a.cid, a.bytes)
      await store.close()
      // What a crash mid-put leaves: a partial temp file (for a block never acknowledged).
      const pending = await makeBlock(5000)
      const pendingKey = base32.baseEncode(pending.cid.multihash.bytes)
      await writeFile(join(dir, 'tmp', `${pendingKey}.abcdef012345`), pending.bytes.subarray(0, 1234))
      // Strays: an editor's backup, a file in a non-shard directory, a misplaced block.
      await writeFile(join(dir, 'blocks', 'notes.txt'), 'hello')
      await mkdir(join(dir, 'blocks', 'zz'), { recursive: true })
      await writeFile(join(dir, 'blocks', 'zz', `${pendingKey}~`), 'junk')
      await writeFile(join(dir, 'blocks', 'zz', pendingKey), pending.bytes)
      const logs: string[] = []
      const again = new FsBlockstore(dir, { log: (m) => logs.push(m) })
      assert.deepEqual(await again.stat(), { blocks: 1, bytes: 100 })
      assert.deepEqual(await readdir(join(dir, 'tmp')), [])
      assert.equal(await again.has(pending.cid), false)
      await rejectsNamed(() => again.get(pending.cid), 'BlockNotFoundError')
      assert.deepEqual((await collect(again.cids())).map(c => c.toString()), [a.cid.toString()])
      assert.ok(logs.some(m => /removed 1 unfinished put/.test(m)), logs.join('\n'))
      assert.ok(logs.some(m => /ignoring 3 file/.test(m)), logs.join('\n'))
      await again.close()
    })

    it('is locked to one store: a second one is refused until the first closes; a dead owner\'s lock is taken over', async () => {
      const dir = freshDir()
      const first = new FsBlockstore(dir)
      await first.open()
      await rejectsNamed(() => new FsBlockstore(dir).open(), 'BlockstoreLockedError')
      await first.close()
      const second = new FsBlockstore(dir)
      await second.open()
      await second.close()
      // a live process (our parent) holds it
      await writeFile(join(dir, 'LOCK'), `${process.ppid}\n`)
      const err = await rejectsNamed(() => new FsBlockstore(dir).open(), 'BlockstoreLockedError')
      assert.match(err.message, new RegExp(`process ${process.ppid}`))
      // a process that is gone held it (pids above the kernel's maximum never exist)
      await writeFile(join(dir, 'LOCK'), '99999999\n')
      const logs: string[] = []
      const third = new FsBlockstore(dir, { log: (m) => logs.push(m) })
      await third.open()
      assert.ok(logs.some(m => /taking over the lock/.test(m)))
      assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid))
      await third.close()
      await assert.rejects(stat(join(dir, 'LOCK')), { code: 'ENOENT' })
    })

    it('lets the event loop run between the blocks it scrubs', async () => {
      const dir = freshDir()
      const store = new FsBlockstore(dir)
      const blocks = await Promise.all(Array.from({ length: 16 }, () => makeBlock(1024 * 1024)))
      for (const b of blocks) await store.put(b.cid, b.bytes)
      let turns = 0
      let spinning = true
      const spin = (): void => { turns++; if (spinning) setImmediate(spin) }
      setImmediate(spin)
      const turnsAtBlock: number[] = []
      for await (const f of store.scrub({ onProgress: () => turnsAtBlock.push(turns) })) assert.fail(`unexpected finding ${f.cid}`)
      spinning = false
      assert.equal(turnsAtBlock.length, 16)
      // every block's read and hash gave the loop at least one turn
      for (let i = 1; i < turnsAtBlock.length; i++) assert.ok(turnsAtBlock[i] > turnsAtBlock[i - 1], `no turn between blocks ${i - 1} and ${i}`)
      await store.close()
    })

    it('survives kill -9 in the middle of puts: every acknowledged block is whole, nothing half-written is served', async () => {
      const dir = freshDir()
      const acked = await killMidway(fileURLToPath(import.meta.url), { BLOCKSTORE_FS_CHILD: dir }, l => l.startsWith('bafk'), 30)
      const store = new FsBlockstore(dir)
      const held = new Set((await collect(store.cids())).map(c => c.toString()))
      for (const cid of acked) assert.ok(held.has(cid), `acknowledged block ${cid} is missing`)
      // the one in flight is either absent or whole: a scrub finds nothing bad
      assert.deepEqual(await collect(store.scrub()), [])
      assert.equal((await store.stat()).blocks, held.size)
      assert.deepEqual(await readdir(join(dir, 'tmp')), [])
      await store.close()
    })
  })
}
