// Storage commands: `put` a file (prints its read capability), `get` it back,
// `stat` its redundancy health, `pin`/`unpin` it, and `scrub` a node's blocks.
// They talk to a node holding storage/put + storage/get (the rendezvous of a
// local fabric) through its admin API: the session, progress and result over
// RPC, the file's bytes as one raw HTTP body on the admin API's byte channel
// (by a single-use ticket), with a progress bar.
import { createReadStream, createWriteStream } from 'node:fs'
import { rename, stat as fsStat, unlink } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { resolve } from 'node:path'
import { downloadBody, uploadBody } from '@webfabric/runtime/admin'
import type { PutOptions, PutResult } from '@webfabric/runtime'
import type { AdminClient } from '@webfabric/runtime/admin'
import type { Redundancy } from '@webfabric/storage'
import { UsageError, out, parse, table } from '../cli-util.ts'
import { connectNode, fabricDir } from '../fabric-file.ts'

const common = { fabric: { type: 'string' as const }, node: { type: 'string' as const }, json: { type: 'boolean' as const } }

/** Bytes per read of the file being put (the node gathers them into its own pieces). */
const READ_PIECE = 2 ** 20

/** `--replicas r` or `--erasure k+m` (default r = 3). */
export function parseRedundancy (replicas: string | undefined, erasure: string | undefined): Redundancy {
  if (replicas != null && erasure != null) throw new UsageError('give --replicas or --erasure, not both')
  if (erasure != null) {
    const m = /^(\d+)\+(\d+)$/.exec(erasure)
    if (m == null) throw new UsageError('--erasure takes k+m, e.g. 4+2')
    return { kind: 'erasure', k: Number(m[1]), m: Number(m[2]) }
  }
  const r = replicas == null ? 3 : Number(replicas)
  if (!Number.isSafeInteger(r) || r < 1) throw new UsageError('--replicas takes a positive integer')
  return { kind: 'replicas', r }
}

function human (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let x = n
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++ }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]}`
}

/** A progress line redrawn in place on a terminal, printed every 2 s otherwise; silent with --json. */
export function progress (label: string, json: boolean): { update: (bytes: number, total?: number) => void, end: () => void } {
  const tty = process.stderr.isTTY === true
  const started = performance.now()
  let last = 0
  const line = (bytes: number, total?: number): string => {
    const secs = (performance.now() - started) / 1000
    const rate = secs > 0 ? `${human(bytes / secs)}/s` : ''
    if (total == null || total === 0) return `${label} ${human(bytes)}  ${rate}`
    const width = 30
    const filled = Math.min(width, Math.round(width * bytes / total))
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${human(bytes)}/${human(total)}  ${rate}`
  }
  return {
    update (bytes, total) {
      if (json) return
      if (tty) process.stderr.write(`\r${line(bytes, total)}\x1b[K`)
      else if (performance.now() - last > 2000) { last = performance.now(); console.error(line(bytes, total)) }
    },
    end () { if (!json && tty) process.stderr.write('\n') }
  }
}

function describe (r: Redundancy): string {
  return r.kind === 'replicas' ? `${r.r} replica(s)` : `Reed-Solomon ${r.k}+${r.m}`
}

/**
 * Store a file through a node's admin API: the session and progress over RPC, the bytes as one raw
 * upload on the byte channel. Used by `put`, and by `run` for inputs too large to send inline.
 */
export async function storeFile (api: AdminClient, url: string, file: string, size: number, opts: Omit<PutOptions, 'size' | 'onProgress' | 'signal'>, onBytes?: (bytes: number) => void): Promise<PutResult> {
  // progress comes from the node (bytes shipped to the holders); the bytes go as one raw upload
  const writer = await api.storagePut({ ...opts, size }, p => { onBytes?.(p.bytes) })
  const { path } = await writer.upload()
  const sent = uploadBody(url, path, createReadStream(file, { highWaterMark: READ_PIECE }), size).then(() => undefined, (e: Error) => e)
  // an upload that failed on this side (the file, the connection) ends the put now, not when its ticket expires
  void sent.then(e => { if (e != null) Promise.resolve(writer.abort(e.message)).catch(() => {}) })
  try {
    return await writer.finish()
  } catch (err) {
    // the node's account names the cause (e.g. QuotaExceededError), unless all it saw was the upload cut
    const local = await sent
    throw local != null && /^UploadAbortedError/.test((err as Error).message) ? local : err
  }
}

/**
 * Read the object `cap` names through a node's admin API into `target` (written under a temporary
 * name and renamed at the end, so a failed read never leaves half a file), or to standard output.
 * Resolves to its size. Used by `get`, and by `run` for outputs workers stored in the fabric.
 */
export async function fetchObject (api: AdminClient, url: string, cap: string, target: string | undefined, onBytes?: (bytes: number, size: number) => void): Promise<number> {
  const tmp = target != null ? `${resolve(target)}.part-${process.pid}` : undefined
  try {
    let size = 0
    const reader = await api.storageGet(cap, p => { onBytes?.(p.bytes, size) })
    const d = await reader.download()
    size = d.size
    const done = Promise.resolve(reader.finish())
    done.catch(() => {})
    let got = 0
    try {
      const body = await downloadBody(url, d.path)
      body.on('data', (piece: Buffer) => { got += piece.length })
      await pipeline(body, tmp != null ? createWriteStream(tmp) : process.stdout, { end: tmp != null })
      await done
    } catch (err) {
      // a body cut short: the get's own error (from the node) says why, unless all it saw was the cut
      void Promise.resolve(reader.close()).catch(() => {})
      const why = await done.then(() => undefined, (e: Error) => e)
      throw why != null && !/^DownloadAbortedError/.test(why.message) ? why : err
    }
    if (got !== size) throw new Error(`the object is ${size} bytes but ${got} arrived`)
    if (tmp != null) await rename(tmp, resolve(target!))
    return got
  } catch (err) {
    if (tmp != null) await unlink(tmp).catch(() => {})
    throw err
  }
}

export async function put (args: string[]): Promise<number> {
  const usage = `webfabric put FILE [--replicas r | --erasure k+m] [--chunk-size BYTES] [--no-pin] [--fabric D] [--node NAME] [--json]
  store FILE on the fabric, encrypted; prints its read capability (keep it: it is the only way to read the file)
  --replicas r     r full copies on r holders (default 3); survives the loss of r-1
  --erasure k+m    Reed-Solomon: k data + m parity shards per chunk on k+m holders; survives the loss of m
  --no-pin         let holders drop it when their storage lease ends`
  const { values, positionals } = parse(args, { ...common, replicas: { type: 'string' }, erasure: { type: 'string' }, 'chunk-size': { type: 'string' }, 'no-pin': { type: 'boolean' } }, usage)
  if (positionals.length !== 1) throw new UsageError(usage)
  const file = resolve(positionals[0])
  const info = await fsStat(file).catch(() => { throw new UsageError(`${positionals[0]} does not exist`) })
  if (!info.isFile()) throw new UsageError(`${positionals[0]} is not a regular file`)
  const redundancy = parseRedundancy(values.replicas, values.erasure)
  const chunkSize = values['chunk-size'] != null ? Number(values['chunk-size']) : undefined
  const json = values.json === true
  const { api, close, node, url } = await connectNode(fabricDir(values.fabric), values.node ?? 'rendezvous')
  const bar = progress('put', json)
  try {
    const r = await storeFile(api, url, file, info.size, { redundancy, ...(chunkSize != null ? { chunkSize } : {}), pin: values['no-pin'] !== true }, bytes => { bar.update(bytes, info.size) })
    bar.end()
    out(json, { file: positionals[0], ...r }, () => [
      r.cap,
      `  ${human(r.size)} in ${r.chunks} chunk(s), ${describe(r.redundancy)} on ${r.holders.length} holder(s), stored through ${node.name} in ${(r.wallMs / 1000).toFixed(1)} s`,
      '  keep the capability: anyone holding it can read the file, and nothing else can'
    ].join('\n'))
  } finally {
    close()
  }
  return 0
}

export async function get (args: string[]): Promise<number> {
  const usage = `webfabric get CAP [-o FILE] [--fabric D] [--node NAME] [--json]
  read the file a read capability names; every block is verified, the key checked before anything is fetched
  -o FILE          write it to FILE (default: standard output)`
  const { values, positionals } = parse(args, { ...common, o: { type: 'string', short: 'o' }, output: { type: 'string' } }, usage)
  if (positionals.length !== 1) throw new UsageError(usage)
  const target = values.o ?? values.output
  const json = values.json === true
  if (target == null && json) throw new UsageError('--json needs -o FILE (the file\'s bytes go to standard output otherwise)')
  const { api, close, url } = await connectNode(fabricDir(values.fabric), values.node ?? 'rendezvous')
  const bar = progress('get', json || target == null)
  const started = performance.now()
  try {
    const got = await fetchObject(api, url, positionals[0], target, (bytes, size) => { bar.update(bytes, size) })
    bar.end()
    if (target != null) out(json, { file: target, size: got, wallMs: Math.round(performance.now() - started) }, () => `${human(got)} written to ${target} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  } finally {
    close()
  }
  return 0
}

export async function stat (args: string[]): Promise<number> {
  const usage = 'webfabric stat CAP [--fabric D] [--node NAME] [--json]\n  where an object is held and how healthy its redundancy is'
  const { values, positionals } = parse(args, common, usage)
  if (positionals.length !== 1) throw new UsageError(usage)
  const { api, close } = await connectNode(fabricDir(values.fabric), values.node ?? 'rendezvous')
  try {
    const s = await api.storageStat(positionals[0])
    const state = s.healthy === s.positions ? 'healthy' : s.healthy >= s.need ? 'degraded (readable; repair restores it)' : 'unreadable until holders return'
    out(values.json === true, s, () => [
      `${s.root}`,
      `  ${human(s.size)} in ${s.chunks} chunk(s), ${describe(s.redundancy)}, placement version ${s.version}`,
      `  ${s.healthy}/${s.positions} positions held (${s.need} needed to read): ${state}`,
      table(['POS', 'HOLDER', 'LIVE', 'HOLDS', 'PINNED'], s.holders.map(h => [String(h.position), h.peer, h.live ? 'yes' : 'no', h.holds ? 'yes' : 'no', h.pinned == null ? '-' : h.pinned ? 'yes' : 'no']))
    ].join('\n'))
    return s.healthy >= s.need ? 0 : 1
  } finally {
    close()
  }
}

async function pinCommand (args: string[], pin: boolean): Promise<number> {
  const usage = `webfabric ${pin ? 'pin' : 'unpin'} CAP [--fabric D] [--node NAME] [--json]\n  ${pin ? 'keep the object on its holders (and repaired) regardless of their leases' : 'let its holders drop the object when their storage lease ends'}`
  const { values, positionals } = parse(args, common, usage)
  if (positionals.length !== 1) throw new UsageError(usage)
  const { api, close } = await connectNode(fabricDir(values.fabric), values.node ?? 'rendezvous')
  try {
    const r = await api.storagePin(positionals[0], pin)
    out(values.json === true, r, () => `${r.root} ${pin ? 'pinned' : 'unpinned'} on ${r.answered}/${r.holders} holder(s)`)
    return r.answered === r.holders ? 0 : 1
  } finally {
    close()
  }
}

export async function pin (args: string[]): Promise<number> { return await pinCommand(args, true) }
export async function unpin (args: string[]): Promise<number> { return await pinCommand(args, false) }

export async function scrub (args: string[]): Promise<number> {
  const usage = 'webfabric scrub --node NAME [--fabric D] [--json]\n  re-verify every block a node holds now; corrupt blocks are healed from the other holders'
  const { values, positionals } = parse(args, common, usage)
  if (positionals.length !== 0 || values.node == null) throw new UsageError(usage)
  const { api, close, node } = await connectNode(fabricDir(values.fabric), values.node)
  try {
    const r = await api.storageScrub()
    out(values.json === true, { node: node.name, ...r }, () => `${node.name}: ${r.checked} block(s) checked, ${r.corrupt} corrupt, ${r.healed} healed${r.unhealed.length > 0 ? `, ${r.unhealed.length} object(s) left for repair` : ''}`)
    return r.unhealed.length === 0 ? 0 : 1
  } finally {
    close()
  }
}
