// Storage vs the local disk: put and get of one file through a local fabric of
// 3 storage nodes (each its own OS process, on-disk blockstores that fsync)
// with r = 3 and encryption on, against writing the same file to the local
// disk (with fsync) and reading it back, measured in the same run.
//
//   npx node bench/storage.ts [--mib 1024] [--rounds 1] [--rpc] [--json]
//
// Sides, per round:
// - disk: write SIZE bytes in 4 MiB pieces to a file and fsync it; read it back.
// - fabric put: `webfabric put`'s path — the session over the rendezvous's admin
//   API (Cap'n Web over a loopback WebSocket), the bytes as the raw body of one
//   HTTP upload on its byte channel (with --rpc: in 4 MiB write() calls, base64
//   inside RPC messages, the path before the channel); the node chunks (1 MiB),
//   encrypts (AES-256-GCM), hashes and ships every chunk to the 3 holders;
//   timed to the acknowledgement (all 3 copies fsynced).
// - fabric get: `webfabric get`'s path — located, fetched from the holders,
//   verified, decrypted and streamed back as one HTTP download on the byte
//   channel (with --rpc: read() calls); bytes hashed and discarded.
// The ratio is fabric MB/s ÷ disk MB/s (1.0 would be "as fast as the disk").
// Beside the wall clock, CPU time per MiB (from /proc, independent of the
// machine's load) of the rendezvous (the node serving the admin API), of this
// process (the admin client) and of the 3 holders together.
// Note: the disk read is likely served from the page cache (the file was
// just written); the fabric's reads are too, on the holders.
import { createHash } from 'node:crypto'
import { mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { downloadBody, uploadBody } from '@webfabric/runtime/admin'
import { connectNode } from '../apps/cli/src/fabric-file.ts'
import { startLocalFabric } from '../apps/cli/src/local-fabric.ts'
import { fmt, median, table } from './lib/stats.ts'

const MiB = 2 ** 20
const PIECE = 4 * MiB

const { values } = parseArgs({ options: { mib: { type: 'string' }, rounds: { type: 'string' }, rpc: { type: 'boolean' }, json: { type: 'boolean' } } })
const rpc = values.rpc === true
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

/** CPU seconds a process has used so far (user + system, from /proc/PID/stat; Linux's 100 ticks/s). */
async function cpuSeconds (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** CPU seconds of the rendezvous, this process and the holders, so far. */
async function cpuNow (rendezvous: number, holders: number[]): Promise<{ node: number, client: number, holders: number }> {
  const u = process.cpuUsage()
  const hs = await Promise.all(holders.map(cpuSeconds))
  return { node: await cpuSeconds(rendezvous), client: (u.user + u.system) / 1e6, holders: hs.reduce((a, b) => a + b, 0) }
}

/** CPU ms per MiB between two readings. */
function perMiB (a: { node: number, client: number, holders: number }, b: { node: number, client: number, holders: number }, mib: number): { node: number, client: number, holders: number } {
  return { node: (b.node - a.node) * 1000 / mib, client: (b.client - a.client) * 1000 / mib, holders: (b.holders - a.holders) * 1000 / mib }
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
  const { api, close, url, node } = await connectNode(join(dir, 'fabric'), 'rendezvous')
  const holderPids = fabric.file.nodes.filter(n => n.pid !== node.pid).map(n => n.pid)
  type Cpu = { node: number, client: number, holders: number }
  // the rendezvous must see the holders before the first put (a short --mib leaves no time otherwise)
  for (let tries = 0; (await api.members()).filter(m => m.roles.includes('storage')).length < 3; tries++) {
    if (tries > 600) throw new Error('the rendezvous does not see 3 storage nodes')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const rows: Array<{ diskWrite: number, diskRead: number, put: number, get: number, putCpu: Cpu, getCpu: Cpu }> = []
  try {
    for (let r = 0; r < rounds; r++) {
      const disk = await diskRound(dir, bytes)
      say(`round ${r + 1}: disk write ${fmt(mib / disk.writeS)} MiB/s, read ${fmt(mib / disk.readS)} MiB/s`)

      let cpu0 = await cpuNow(node.pid, holderPids)
      let t = performance.now()
      const writer = await api.storagePut({ redundancy: { kind: 'replicas', r: 3 }, size: bytes })
      if (rpc) {
        for (const piece of source(bytes)) await writer.write(piece.slice())
      } else {
        // source() reuses its buffer: hand the socket copies, as write() did
        const body = (function * () { for (const piece of source(bytes)) yield piece.slice() })()
        // on a refusal, the put's own error (finish) says why
        await uploadBody(url, (await writer.upload()).path, body, bytes).catch(async err => { await writer.finish(); throw err })
      }
      const put = await writer.finish()
      const putS = (performance.now() - t) / 1000
      const putCpu = perMiB(cpu0, await cpuNow(node.pid, holderPids), mib)
      say(`round ${r + 1}: fabric put ${fmt(mib / putS)} MiB/s (3 copies acknowledged); CPU ms/MiB: node ${fmt(putCpu.node, 1)}, client ${fmt(putCpu.client, 1)}, holders ${fmt(putCpu.holders, 1)}`)

      cpu0 = await cpuNow(node.pid, holderPids)
      t = performance.now()
      const reader = await api.storageGet(put.cap)
      const h = createHash('sha256')
      let got = 0
      if (rpc) {
        for (;;) {
          const piece = await reader.read()
          if (piece == null) break
          h.update(piece)
          got += piece.length
        }
      } else {
        for await (const piece of await downloadBody(url, (await reader.download()).path) as AsyncIterable<Buffer>) {
          h.update(piece)
          got += piece.length
        }
        await reader.finish()
      }
      const getS = (performance.now() - t) / 1000
      const getCpu = perMiB(cpu0, await cpuNow(node.pid, holderPids), mib)
      if (got !== bytes || h.digest('hex') !== disk.sha) throw new Error('the fabric returned different bytes')
      say(`round ${r + 1}: fabric get ${fmt(mib / getS)} MiB/s (verified, same bytes); CPU ms/MiB: node ${fmt(getCpu.node, 1)}, client ${fmt(getCpu.client, 1)}, holders ${fmt(getCpu.holders, 1)}`)
      rows.push({ diskWrite: mib / disk.writeS, diskRead: mib / disk.readS, put: mib / putS, get: mib / getS, putCpu, getCpu })
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
  const cpu = (k: 'putCpu' | 'getCpu'): Cpu => ({ node: median(rows.map(r => r[k].node)), client: median(rows.map(r => r[k].client)), holders: median(rows.map(r => r[k].holders)) })
  const cpuMsPerMiB = { put: cpu('putCpu'), get: cpu('getCpu') }
  const result = { mib, rounds, replicas: 3, path: rpc ? 'rpc' : 'channel', load: loadavg()[0], mibPerSec: m, putVsDiskWrite: m.put / m.diskWrite, getVsDiskRead: m.get / m.diskRead, cpuMsPerMiB }
  if (json) {
    console.log(JSON.stringify(result))
  } else {
    const c = (x: Cpu): string[] => [fmt(x.node, 1), fmt(x.client, 1), fmt(x.holders, 1)]
    console.log(table(['', 'MiB/s', 'vs disk', 'CPU ms/MiB: node', 'client', 'holders'], [
      ['disk write (fsync)', fmt(m.diskWrite), '', '', '', ''],
      [`fabric put, r=3 (${result.path})`, fmt(m.put), fmt(result.putVsDiskWrite, 2), ...c(cpuMsPerMiB.put)],
      ['disk read', fmt(m.diskRead), '', '', '', ''],
      [`fabric get (${result.path})`, fmt(m.get), fmt(result.getVsDiskRead, 2), ...c(cpuMsPerMiB.get)]
    ]))
  }
}

await main()
