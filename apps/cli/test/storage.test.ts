// Storage with real processes: `webfabric up` starts a rendezvous (the storage
// client) and eight storage nodes as separate OS processes with on-disk
// blockstores. A 200 MiB file goes in with Reed-Solomon 4+2 (six holders);
// two holders are SIGKILLed; the file comes back byte-identical and repair
// rebuilds their shards on the two spare nodes: six live shards again. A block
// flipped on disk is detected, served from others and healed. Bad input —
// a wrong key, a truncated capability, a put over quota — fails by name. The
// bytes of put and get travel on the admin API's byte channel (raw HTTP bodies).
import assert from 'node:assert/strict'
import { type ChildProcess, execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { BIN, type FabricJson, cliFails, runCli, startUp, stopUp } from './fixtures.ts'

const execFileP = promisify(execFile)

const MiB = 2 ** 20

async function cli (...args: string[]): Promise<{ stdout: string, stderr: string }> {
  return await runCli(args, 600_000)
}

async function sha256 (path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const piece of createReadStream(path)) h.update(piece as Buffer)
  return h.digest('hex')
}

/** A file of `mib` MiB of incompressible bytes, written in 4 MiB pieces. */
async function makeFile (path: string, mib: number, seed: number): Promise<void> {
  const fh = await open(path, 'w')
  const piece = Buffer.alloc(4 * MiB)
  let x = seed >>> 0
  for (let written = 0; written < mib * MiB; written += piece.length) {
    for (let i = 0; i < piece.length; i += 4) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; piece.writeUInt32LE(x, i) }
    await fh.write(piece, 0, Math.min(piece.length, mib * MiB - written))
  }
  await fh.close()
}

async function sleep (ms: number): Promise<void> { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('webfabric put/get on a local fabric (real processes)', () => {
  let dir: string
  let up: ChildProcess
  let fabric: FabricJson

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wf-storage-'))
    ;({ up, fabric } = await startUp(dir, ['--nodes', '8', '--interval', '250', '--ttl', '3000', '--storage-mib', '200']))
  })

  after(async () => {
    await stopUp(up)
    await rm(dir, { recursive: true, force: true })
  })

  it('stores 200 MiB with 4+2, survives two holders killed with SIGKILL, and repair restores 6 live shards', async () => {
    const file = join(dir, 'big.bin')
    await makeFile(file, 200, 42)
    const put = JSON.parse((await cli('put', file, '--erasure', '4+2', '--fabric', dir, '--json')).stdout)
    assert.match(put.cap, /^wf-read:bafy/)
    assert.equal(put.size, 200 * MiB)
    assert.equal(put.holders.length, 6)
    const healthy = JSON.parse((await cli('stat', put.cap, '--fabric', dir, '--json')).stdout)
    assert.equal(healthy.healthy, 6)

    // kill -9 two holders
    const victims = fabric.nodes.filter(n => put.holders.slice(2, 4).includes(n.peerId))
    assert.equal(victims.length, 2)
    for (const v of victims) process.kill(v.pid, 'SIGKILL')

    const out = join(dir, 'back.bin')
    const got = JSON.parse((await cli('get', put.cap, '-o', out, '--fabric', dir, '--json')).stdout)
    assert.equal(got.size, 200 * MiB)
    assert.equal(await sha256(out), await sha256(file))
    await rm(out)

    // repair: the fabric notices the two holders gone and rebuilds their shards elsewhere
    let s = healthy
    const deadline = Date.now() + 240_000
    while (Date.now() < deadline) {
      s = JSON.parse((await runCli(['stat', put.cap, '--fabric', dir, '--json'], 60_000).catch(e => ({ stdout: e.stdout as string }))).stdout || '{}')
      if (s.healthy === 6 && s.version > 1) break
      await sleep(2000)
    }
    assert.equal(s.healthy, 6, `repair did not restore 6 shards: ${JSON.stringify(s)}`)
    assert.ok(s.version > 1)
    for (const v of victims) assert.ok(!s.holders.some((h: { peer: string }) => h.peer === v.peerId), 'the dead holders were replaced')
    const again = join(dir, 'again.bin')
    await cli('get', put.cap, '-o', again, '--fabric', dir)
    assert.equal(await sha256(again), await sha256(file))
    await rm(again)
    await rm(file)
  })

  it('detects a block flipped on disk, serves from another holder, and heals it', async () => {
    const file = join(dir, 'small.bin')
    await makeFile(file, 3, 7)
    const put = JSON.parse((await cli('put', file, '--replicas', '3', '--fabric', dir, '--json')).stdout)
    const holder = fabric.nodes.find(n => n.peerId === put.holders[0])!
    // flip a byte in every block file of this holder that is larger than the root (the chunk blocks)
    const blocksDir = join(dir, holder.name, 'storage', 'blocks')
    const flipped: string[] = []
    for (const d of await readdir(blocksDir)) {
      for (const f of await readdir(join(blocksDir, d))) {
        const p = join(blocksDir, d, f)
        const bytes = await readFile(p)
        if (bytes.length !== MiB + 16) continue // chunk blocks of this object are 1 MiB + the GCM tag
        bytes[1234] ^= 0x55
        await writeFile(p, bytes)
        flipped.push(p)
      }
    }
    assert.ok(flipped.length >= 3)
    const out = join(dir, 'small.back')
    await cli('get', put.cap, '-o', out, '--fabric', dir)
    assert.equal(await sha256(out), await sha256(file))
    const scrub = JSON.parse((await cli('scrub', '--node', holder.name, '--fabric', dir, '--json')).stdout)
    assert.equal(scrub.unhealed.length, 0)
    // healed: the node's scrub finds nothing wrong any more
    const second = JSON.parse((await cli('scrub', '--node', holder.name, '--fabric', dir, '--json')).stdout)
    assert.equal(second.corrupt, 0)
    const status = JSON.parse((await cli('status', '--node', holder.name, '--fabric', dir, '--json')).stdout)
    assert.ok(status.stats.storageCorruptFound >= flipped.length, JSON.stringify(status.stats))
    assert.ok(status.stats.storageHealed >= flipped.length)
  })

  it('bad input: a wrong key, a truncated capability and a put over quota each fail by name, and nothing stored is damaged', async () => {
    const file = join(dir, 'tiny.bin')
    await makeFile(file, 1, 3)
    const put = JSON.parse((await cli('put', file, '--fabric', dir, '--json')).stdout)
    const [prefix, root, key] = put.cap.split(':')
    const wrongKey = `${prefix}:${root}:${key[0] === 'A' ? 'B' : 'A'}${key.slice(1)}`
    const wrong = await cliFails('get', wrongKey, '-o', join(dir, 'x'), '--fabric', dir)
    assert.equal(wrong.code, 1)
    assert.match(wrong.stderr, /WrongKeyError|StorageUnavailableError/)
    const truncated = await cliFails('get', put.cap.slice(0, 40), '--fabric', dir)
    assert.match(truncated.stderr, /MalformedCapabilityError/)
    // 200 MiB of quota per holder: one copy of 260 MiB fits nowhere
    const big = join(dir, 'big2.bin')
    await makeFile(big, 260, 9)
    const over = await cliFails('put', big, '--replicas', '1', '--fabric', dir)
    assert.match(over.stderr, /QuotaExceededError/)
    await rm(big)
    // the earlier object still reads back intact
    const out = join(dir, 'tiny.back')
    await cli('get', put.cap, '-o', out, '--fabric', dir)
    assert.equal(await sha256(out), await sha256(file))
  })

  it('put and get move the bytes on the admin API\'s byte channel: to a file and to standard output, byte-identical', async () => {
    const file = join(dir, 'channel.bin')
    await makeFile(file, 9, 21)
    const stats = async (): Promise<Record<string, number>> => JSON.parse((await cli('status', '--node', 'rendezvous', '--fabric', dir, '--json')).stdout).stats
    const before = await stats()
    const put = JSON.parse((await cli('put', file, '--replicas', '2', '--fabric', dir, '--json')).stdout)
    assert.equal(put.size, 9 * MiB)
    const out = join(dir, 'channel.back')
    assert.equal(JSON.parse((await cli('get', put.cap, '-o', out, '--fabric', dir, '--json')).stdout).size, 9 * MiB)
    assert.equal(await sha256(out), await sha256(file))
    const { stdout } = await execFileP(process.execPath, [BIN, 'get', put.cap, '--fabric', dir], { encoding: 'buffer', maxBuffer: 64 * MiB })
    assert.equal(createHash('sha256').update(stdout).digest('hex'), await sha256(file))
    // the node counted them on the channel (not as base64 in RPC messages)
    const after = await stats()
    assert.equal(after.adminUploadBytes - before.adminUploadBytes, 9 * MiB)
    assert.equal(after.adminDownloadBytes - before.adminDownloadBytes, 18 * MiB)
    await rm(out)
    await rm(file)
  })
})
