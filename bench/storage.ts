// Storage vs the local disk: put and get of one file through a local fabric of
// 3 storage nodes (each its own OS process, on-disk blockstores that fsync)
// with r = 3 and encryption on, against writing the same file to the local
// disk (with fsync) and reading it back, measured in the same run.
//
//   npx node bench/storage.ts [--mib 1024] [--rounds 1] [--json]
//
// Sides, per round:
// - disk: write SIZE bytes in 4 MiB pieces to a file and fsync it; read it back.
// - fabric put: `webfabric put`'s path — the bytes stream in 4 MiB pieces over
//   the rendezvous's admin API (Cap'n Web over a loopback WebSocket), which
//   chunks (1 MiB), encrypts (AES-256-GCM), hashes and ships every chunk to the
//   3 holders; timed to the acknowledgement (all 3 copies fsynced).
// - fabric get: `webfabric get`'s path — located, fetched from the holders,
//   verified, decrypted and streamed back over the admin API; bytes discarded.
// The ratio is fabric MB/s ÷ disk MB/s (1.0 would be "as fast as the disk").
// Note: the disk read is likely served from the page cache (the file was
// just written); the fabric's reads are too, on the holders.
import { createHash } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { connectNode } from '../apps/cli/src/fabric-file.ts'
import { startLocalFabric } from '../apps/cli/src/local-fabric.ts'
import { fmt, median, table } from './lib/stats.ts'

const MiB = 2 ** 20
const PIECE = 4 * MiB

const { values } = parseArgs({ options: { mib: { type: 'string' }, rounds: { type: 'string' }, json: { type: 'boolean' } } })
const mib = Number(values.mib ?? 1024)
const rounds = Number(values.rounds ?? 1)
const json = values.json === true
const say = (s: string): void => { if (!json) console.error(s) }

/** Deterministic incompressible bytes, one piece at a time (so 1 GiB never sits in memory). */
function * source (bytes: number): Generator<Uint8Array> {
  const piece = new Uint8Array(PIECE)
  const view = new DataView(piece.buffer)
  let x = 12345
  for (let done = 0; done < bytes; done += PIECE) {
    for (let i = 0; i < PIECE; i += 4) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; view.setUint32(i, x, true) }
    yield piece.subarray(0, Math.min(PIECE, bytes - done))
  }
}

async function diskRound (dir: string, bytes: number): Promise<{ writeS: number, readS: number, sha: string }> {
  const path = join(dir, 'disk.bin')
  let t = performance.now()
  const fh = await open(path, 'w')
  for (const piece of source(bytes)) await fh.write(piece)
  await fh.sync()
  await fh.close()
  const writeS = (performance.now() - t) / 1000
  t = performance.now()
  const h = createHash('sha256')
  const rh = await open(path, 'r')
  const buf = new Uint8Array(PIECE)
  for (;;) {
    const { bytesRead } = await rh.read(buf, 0, PIECE)
    if (bytesRead === 0) break
    h.update(buf.subarray(0, bytesRead))
  }
  await rh.close()
  const readS = (performance.now() - t) / 1000
  await rm(path)
  return { writeS, readS, sha: h.digest('hex') }
}

async function main (): Promise<void> {
  const bytes = mib * MiB
  const dir = await mkdtemp(join(tmpdir(), 'wf-bench-storage-'))
  say(`starting a local fabric of 3 storage nodes in ${dir}…`)
  const fabric = await startLocalFabric({ dir: join(dir, 'fabric'), nodes: 3, intervalMs: 500, ttlMs: 5000, storageMiB: Math.ceil(mib * 1.1) + 64 })
  const { api, close } = await connectNode(join(dir, 'fabric'), 'rendezvous')
  const rows: Array<{ diskWrite: number, diskRead: number, put: number, get: number }> = []
  try {
    for (let r = 0; r < rounds; r++) {
      const disk = await diskRound(dir, bytes)
      say(`round ${r + 1}: disk write ${fmt(mib / disk.writeS)} MiB/s, read ${fmt(mib / disk.readS)} MiB/s`)

      let t = performance.now()
      const writer = await api.storagePut({ redundancy: { kind: 'replicas', r: 3 }, size: bytes })
      for (const piece of source(bytes)) await writer.write(piece.slice())
      const put = await writer.finish()
      const putS = (performance.now() - t) / 1000
      say(`round ${r + 1}: fabric put ${fmt(mib / putS)} MiB/s (3 copies acknowledged)`)

      t = performance.now()
      const reader = await api.storageGet(put.cap)
      const h = createHash('sha256')
      let got = 0
      for (;;) {
        const piece = await reader.read()
        if (piece == null) break
        h.update(piece)
        got += piece.length
      }
      const getS = (performance.now() - t) / 1000
      if (got !== bytes || h.digest('hex') !== disk.sha) throw new Error('the fabric returned different bytes')
      say(`round ${r + 1}: fabric get ${fmt(mib / getS)} MiB/s (verified, same bytes)`)
      rows.push({ diskWrite: mib / disk.writeS, diskRead: mib / disk.readS, put: mib / putS, get: mib / getS })
      await api.storagePin(put.cap, false)
    }
  } finally {
    close()
    await fabric.stop()
    await rm(dir, { recursive: true, force: true })
  }
  const m = {
    diskWrite: median(rows.map(r => r.diskWrite)),
    diskRead: median(rows.map(r => r.diskRead)),
    put: median(rows.map(r => r.put)),
    get: median(rows.map(r => r.get))
  }
  const result = { mib, rounds, replicas: 3, load: loadavg()[0], mibPerSec: m, putVsDiskWrite: m.put / m.diskWrite, getVsDiskRead: m.get / m.diskRead }
  if (json) {
    console.log(JSON.stringify(result))
  } else {
    console.log(table(['', 'MiB/s', 'vs disk'], [
      ['disk write (fsync)', fmt(m.diskWrite), ''],
      ['fabric put, r=3', fmt(m.put), fmt(result.putVsDiskWrite, 2)],
      ['disk read', fmt(m.diskRead), ''],
      ['fabric get', fmt(m.get), fmt(result.getVsDiskRead, 2)]
    ]))
  }
}

await main()
