// Storage vs Helia (IPFS in JS): add SIZE bytes on one node and fetch them on
// another over TCP on 127.0.0.1, Helia and ours in the same process and the
// same run, sides alternating round by round. Goal (issue 4): at least Helia's
// throughput, with our encryption on.
//
//   npx node bench/helia.ts [--mib 100] [--rounds 3] [--only helia|ours|remote] [--v8-default] [--processes] [--warmup] [--json]
//
// --only runs one side (to profile it with `node --cpu-prof`); no ratios then.
//
// Sides, per round (the data: deterministic incompressible bytes, an AES-CTR
// keystream made 4 MiB at a time as the add reads it, the same on both sides;
// its making and the fetch's sha256 check are inside the timings of both):
// - helia: two nodes from `createHelia` (libp2p reduced to TCP on 127.0.0.1,
//   noise, yamux and identify; no bootstrap, mDNS, DHT, delegated routers or
//   HTTP gateways, so nothing leaves loopback; Helia's default in-memory
//   blockstore and datastore), fresh each round and connected before timing.
//   add: `unixfs(a).addByteStream` (Helia's defaults: 1 MiB chunks, raw leaves,
//   CIDv1); fetch: `unixfs(b).cat(cid)` over bitswap, which hashes every block
//   it receives against its CID.
// - ours: a holder (roles ['storage'], hold + put + get, an on-disk blockstore
//   under the OS temp dir), a reader (get) and a client (put + get, also the
//   membership seed), started once with the runtime's test fixtures as
//   packages/runtime/test/storage.test.ts does. add: the holder's own
//   `service.put` with replicas r = 1 — placement ranks the holder itself (it is
//   the only storage member), so the blocks go into its own store, as Helia's
//   add goes into the adding node's blockstore (1 MiB chunks, AES-256-GCM,
//   hashed, each block fsynced and the holding saved before the put
//   resolves); fetch: the reader locates the object and `service.get`s it
//   from the holder (which re-hashes each block it reads from disk), verifies
//   every block and decrypts it. The holding is released after each round,
//   untimed.
// - remote: the same with the add done by the client: every block is shipped
//   to the holder over the network (encrypted, hashed again there, fsynced,
//   acknowledged), then fetched by the reader as above — the add a node that
//   holds no data makes.
// `ours` is the like-for-like comparison: on both sides the add stays on the
// adding node and only the fetch crosses the network. What still differs:
// our add encrypts every chunk and writes it to disk with fsync (Helia's
// nodes keep blocks in memory), our blocks are verified twice and decrypted on
// the way out, and our chunk crypto runs on a worker thread (storage's Node
// crypto workers: a core beside the main thread), where Helia hashes on its
// main thread — hence the CPU row: CPU per MiB of every thread of the process.
// A fabric node sets V8 to count external memory in its global heap limit
// (runtime's v8-gc.ts); the process is set so before either side runs, so
// Helia's nodes run on the same V8 settings as ours (--v8-default: neither).
// --processes runs each side's round in a process of its own instead, as each
// ships: Helia on V8's defaults, ours with the setting its node makes (after
// an untimed warm-up round in that process: --warmup).
// All nodes of a side share this process's one main thread, as both Helia
// nodes do. End-to-end = add + fetch; the figures are medians over
// rounds, and ratios are ours ÷ Helia (≥ 1 meets the goal).
import { execFile } from 'node:child_process'
import { createCipheriv, createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { type FabricNode, tuneV8ForBytes } from '@webfabric/runtime'
import { parseReadCap } from '@webfabric/storage'
import { createHelia } from 'helia'
import { type TestOrigin, didOf, grant, makeOrigin, startNode, waitFor } from '../packages/runtime/test/fixtures.ts'
import { fmt, median, table } from './lib/stats.ts'

const MiB = 2 ** 20
const execFileAsync = promisify(execFile)
const PIECE = 4 * MiB
const MEMBERSHIP = { intervalMs: 250, ttlMs: 4000 }

const { values } = parseArgs({ options: { mib: { type: 'string' }, rounds: { type: 'string' }, only: { type: 'string' }, 'v8-default': { type: 'boolean' }, processes: { type: 'boolean' }, warmup: { type: 'boolean' }, json: { type: 'boolean' } } })
const v8Default = values['v8-default'] === true
const processes = values.processes === true
// (both sides on the same V8 settings: the ones a fabric node sets, unless --v8-default)
if (!v8Default) tuneV8ForBytes()
const mib = Number(values.mib ?? 100)
const rounds = Number(values.rounds ?? 3)
const json = values.json === true
const only = values.only
if (only != null && only !== 'helia' && only !== 'ours' && only !== 'remote') throw new Error(`--only takes helia, ours or remote, not ${only}`)
const say = (s: string): void => { if (!json) console.error(s) }
const load = (): number => Number(loadavg()[0].toFixed(2))

/**
 * Deterministic incompressible bytes, a fresh 4 MiB piece at a time (an AES-256-CTR keystream
 * under a fixed key): both sides may keep references to the pieces they are given.
 */
function * source (bytes: number): Generator<Uint8Array> {
  const cipher = createCipheriv('aes-256-ctr', new Uint8Array(32), new Uint8Array(16))
  const zeros = new Uint8Array(PIECE)
  for (let done = 0; done < bytes; done += PIECE) {
    const b = cipher.update(zeros.subarray(0, Math.min(PIECE, bytes - done)))
    yield new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
  }
}

async function * asAsync (it: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> { yield * it }

/** Seconds of one add and one fetch (wall clock, and CPU of the whole process: every thread), and what the fetch returned. */
interface Timing { addS: number, fetchS: number, addCpuS: number, fetchCpuS: number, sha: string, got: number }

/** CPU seconds this process (all its threads) spent since `from` (a process.cpuUsage() reading). */
const cpuSince = (from: NodeJS.CpuUsage): number => { const d = process.cpuUsage(from); return (d.user + d.system) / 1e6 }

/** A Helia node that speaks only TCP on loopback (noise, yamux) and asks no one outside. */
async function heliaNode (): Promise<ReturnType<typeof createHelia>> {
  const helia = createHelia({
    libp2p: {
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: [],
      services: { identify: identify() }
    },
    http: { delegatedRouters: [], recursiveGateways: [] }
  })
  await helia.start()
  return helia
}

async function heliaRound (bytes: number): Promise<Timing> {
  const a = await heliaNode()
  const b = await heliaNode()
  try {
    await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])
    let t = performance.now()
    let c = process.cpuUsage()
    const cid = await unixfs(a).addByteStream(asAsync(source(bytes)))
    const addS = (performance.now() - t) / 1000
    const addCpuS = cpuSince(c)
    t = performance.now()
    c = process.cpuUsage()
    const h = createHash('sha256')
    let got = 0
    for await (const piece of unixfs(b).cat(cid)) { h.update(piece); got += piece.length }
    const fetchS = (performance.now() - t) / 1000
    return { addS, fetchS, addCpuS, fetchCpuS: cpuSince(c), sha: h.digest('hex'), got }
  } finally {
    await b.stop()
    await a.stop()
  }
}

/** The client (put + get, also the membership seed), one holder (hold + put + get) and a reader (get). */
interface Fabric { origin: TestOrigin, client: FabricNode, holder: FabricNode, reader: FabricNode }

async function fabricNode (origin: TestOrigin, name: string, abilities: string[], opts: { roles: string[], rendezvous?: boolean, bootstrap?: string[] }): Promise<FabricNode> {
  const dataDir = join(origin.dir, name)
  const did = await didOf(origin, dataDir)
  const creds = await Promise.all([
    grant(origin, did, 'fabric/membership', ['membership/gossip']),
    grant(origin, did, 'fabric/storage', abilities)
  ])
  return await startNode(origin, { dataDir, ...opts, credentials: creds.map(c => c.bytes), membership: MEMBERSHIP, v8Tuning: !v8Default })
}

async function startFabric (): Promise<Fabric> {
  const origin = await makeOrigin()
  const client = await fabricNode(origin, 'client', ['storage/put', 'storage/get'], { roles: ['rendezvous'], rendezvous: true })
  const holder = await fabricNode(origin, 'holder', ['storage/hold', 'storage/put', 'storage/get'], { roles: ['storage'], bootstrap: client.addrs() })
  const reader = await fabricNode(origin, 'reader', ['storage/get'], { roles: [], bootstrap: client.addrs() })
  await waitFor('every node sees the holder', () =>
    [client, holder, reader].every(n => n.storage!.service.storageMembers().length === 1))
  return { origin, client, holder, reader }
}

/** An add by the holder into its own store (`writer` = holder) or by the client to the holder, then the reader's fetch. */
async function oursRound (f: Fabric, writer: FabricNode, bytes: number): Promise<Timing> {
  let t = performance.now()
  let c = process.cpuUsage()
  const put = await writer.storage!.service.put(asAsync(source(bytes)), { redundancy: { kind: 'replicas', r: 1 }, size: bytes })
  const addS = (performance.now() - t) / 1000
  const addCpuS = cpuSince(c)
  if (put.holders[0] !== f.holder.peerId) throw new Error('the object was not placed on the holder')
  try {
    t = performance.now()
    c = process.cpuUsage()
    const { chunks } = await f.reader.storage!.service.get(parseReadCap(put.cap))
    const h = createHash('sha256')
    let got = 0
    for await (const piece of chunks) { h.update(piece); got += piece.length }
    const fetchS = (performance.now() - t) / 1000
    return { addS, fetchS, addCpuS, fetchCpuS: cpuSince(c), sha: h.digest('hex'), got }
  } finally {
    // the next round starts from an empty holder (the default quota is 1 GiB)
    await f.holder.storage!.service.release(put.root)
  }
}

async function version (pkg: string): Promise<string> {
  try {
    return JSON.parse(await readFile(join(import.meta.dirname, '..', 'node_modules', pkg, 'package.json'), 'utf8')).version
  } catch {
    return '?'
  }
}

async function main (): Promise<void> {
  const bytes = mib * MiB
  const want = createHash('sha256')
  for (const piece of source(bytes)) want.update(piece)
  const sha = want.digest('hex')
  const versions = {
    helia: await version('helia'),
    unixfs: await version('@helia/unixfs'),
    libp2p: await version('libp2p'),
    node: process.version,
    v8: v8Default ? 'default' : processes ? 'Helia default, ours external memory in the global limit' : 'external memory in the global limit'
  }
  const loadBefore = load()
  say(`helia ${versions.helia}, @helia/unixfs ${versions.unixfs}, libp2p ${versions.libp2p}, node ${versions.node}, V8 GC: ${versions.v8}; ${mib} MiB, ${rounds} round(s); load ${loadBefore}`)
  type Side = 'helia' | 'ours' | 'remote'
  type Row = { add: number, fetch: number, e2e: number, cpuMsPerMiB: number }
  const per: Record<Side, Row[]> = { helia: [], ours: [], remote: [] }
  if (processes) {
    // each side's round in a process of its own, as each ships: Helia on V8's defaults, ours with the
    // V8 setting a fabric node makes (unless --v8-default); sides alternate as in one process
    say('each side in a process of its own: Helia on V8\'s defaults, ours as a fabric node sets V8')
    for (let r = 0; r < rounds; r++) {
      const order: Side[] = r % 2 === 0 ? ['helia', 'ours', 'remote'] : ['remote', 'ours', 'helia']
      for (const side of order.filter(s => only == null || s === only)) {
        // (a child's first round would also time its warm-up — compiling, starting workers: one untimed round first)
        const args = [import.meta.filename, '--only', side, '--rounds', '1', '--warmup', '--mib', String(mib), '--json', ...(side === 'helia' || v8Default ? ['--v8-default'] : [])]
        const { stdout } = await execFileAsync(process.execPath, args, { maxBuffer: 1 << 20 })
        const row = (JSON.parse(stdout) as { perRound: Record<Side, Row[]> }).perRound[side][0]
        per[side].push(row)
        say(`round ${r + 1} ${side.padEnd(6)}: add ${fmt(row.add)} MiB/s, fetch ${fmt(row.fetch)} MiB/s, end-to-end ${fmt(row.e2e)} MiB/s; CPU ${fmt(row.cpuMsPerMiB, 1)} ms/MiB; sha256 ok; load ${load()}`)
      }
    }
  }
  if (only !== 'helia' && !processes) say('starting our client, holder and reader…')
  const fabric = only === 'helia' || processes ? undefined : await startFabric()
  try {
    if (values.warmup === true && !processes) {
      // one untimed round of each side run here, of at most 16 MiB
      const w = Math.min(bytes, 16 * MiB)
      for (const side of (['helia', 'ours', 'remote'] as Side[]).filter(s => only == null || s === only)) {
        if (side === 'helia') await heliaRound(w)
        else await oursRound(fabric!, side === 'ours' ? fabric!.holder : fabric!.client, w)
      }
    }
    for (let r = 0; r < (processes ? 0 : rounds); r++) {
      const order: Side[] = r % 2 === 0 ? ['helia', 'ours', 'remote'] : ['remote', 'ours', 'helia']
      for (const side of order.filter(s => only == null || s === only)) {
        const t = side === 'helia' ? await heliaRound(bytes) : await oursRound(fabric!, side === 'ours' ? fabric!.holder : fabric!.client, bytes)
        if (t.got !== bytes || t.sha !== sha) throw new Error(`${side}: the fetch returned different bytes (${t.got} of ${bytes})`)
        // CPU: milliseconds of CPU (all threads of this process) per MiB, end to end
        const row = { add: mib / t.addS, fetch: mib / t.fetchS, e2e: mib / (t.addS + t.fetchS), cpuMsPerMiB: 1000 * (t.addCpuS + t.fetchCpuS) / mib }
        per[side].push(row)
        say(`round ${r + 1} ${side.padEnd(6)}: add ${fmt(row.add)} MiB/s (${fmt(t.addS, 2)} s), fetch ${fmt(row.fetch)} MiB/s (${fmt(t.fetchS, 2)} s), end-to-end ${fmt(row.e2e)} MiB/s; CPU add ${fmt(t.addCpuS, 2)} s, fetch ${fmt(t.fetchCpuS, 2)} s; sha256 ok; load ${load()}`)
      }
    }
  } finally {
    if (fabric != null) {
      for (const n of [fabric.reader, fabric.holder, fabric.client]) await n.stop()
      await fabric.origin.cleanup()
    }
  }
  const med = (side: Side): Row => ({
    add: median(per[side].map(x => x.add)),
    fetch: median(per[side].map(x => x.fetch)),
    e2e: median(per[side].map(x => x.e2e)),
    cpuMsPerMiB: median(per[side].map(x => x.cpuMsPerMiB))
  })
  const helia = med('helia')
  const ours = med('ours')
  const remote = med('remote')
  const ratio = { add: ours.add / helia.add, fetch: ours.fetch / helia.fetch, e2e: ours.e2e / helia.e2e }
  const remoteRatio = { add: remote.add / helia.add, fetch: remote.fetch / helia.fetch, e2e: remote.e2e / helia.e2e }
  const result = { mib, rounds, processes, versions, load: { before: loadBefore, after: load() }, mibPerSec: { helia, ours, remote }, ratio, remoteRatio, perRound: per }
  if (json) {
    console.log(JSON.stringify(result))
  } else {
    console.log(table(['median MiB/s', 'helia', 'ours', 'ours/helia', 'remote', 'remote/helia'], [
      ['add', fmt(helia.add), fmt(ours.add), fmt(ratio.add, 2), fmt(remote.add), fmt(remoteRatio.add, 2)],
      ['fetch', fmt(helia.fetch), fmt(ours.fetch), fmt(ratio.fetch, 2), fmt(remote.fetch), fmt(remoteRatio.fetch, 2)],
      ['end-to-end', fmt(helia.e2e), fmt(ours.e2e), fmt(ratio.e2e, 2), fmt(remote.e2e), fmt(remoteRatio.e2e, 2)],
      ['CPU ms/MiB (all threads)', fmt(helia.cpuMsPerMiB, 1), fmt(ours.cpuMsPerMiB, 1), fmt(ours.cpuMsPerMiB / helia.cpuMsPerMiB, 2), fmt(remote.cpuMsPerMiB, 1), fmt(remote.cpuMsPerMiB / helia.cpuMsPerMiB, 2)]
    ]))
    console.log(`load (1 min): ${loadBefore} before, ${result.load.after} after`)
  }
}

await main()
