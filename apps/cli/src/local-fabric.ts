// A local fabric: one rendezvous plus N nodes, each a separate OS process
// running `webfabric start`, all on 127.0.0.1. The origin key, the signed
// manifest and each node's credentials are made here, in the fabric's directory.
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  IDENTITY_ROTATION_MS,
  defaultManifest,
  epochAt,
  signManifest,
  signedManifestToJSON,
  validateManifest
} from '@webfabric/protocol'
import { ensureDir, libp2pKeyOf, loadKeyring, readJson, writeJson } from '@webfabric/runtime'
import { buildWebApp } from '@webfabric/web/build'
import type { FabricFile, FabricNodeEntry } from './fabric-file.ts'
import { coordinatorCredential, loadOrCreateKey, memberCredentials, originKeyPath, saveCredentials, storageCredential } from './keys.ts'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'webfabric.js')

/** The line `webfabric start --json` prints once the node runs. */
interface ReadyEvent { event: 'ready', peerId: string, did: string, roles: string[], addrs: string[], admin: string, web?: string }

/** The dashboard's URL: the node's web app, with its admin endpoint and token in the fragment (never sent to a server). */
export function dashboardUrl (webUrl: string, adminUrl?: string, token?: string): string {
  const u = new URL('dashboard', webUrl)
  if (adminUrl != null && token != null) u.hash = `admin=${encodeURIComponent(adminUrl)}&token=${encodeURIComponent(token)}`
  return u.toString()
}

/** Options of {@link startLocalFabric}. */
export interface LocalFabricInit {
  dir: string
  nodes: number
  /** membership timing for every node (ms) */
  intervalMs?: number
  ttlMs?: number
  /** called with progress lines */
  log?: (line: string) => void
  /** how long credentials last (default 7 days) */
  credentialTtlMs?: number
  /** sandbox domains per node (default: the node's own choice) */
  slots?: number
  /** names of nodes that return wrong results (demos and tests of byzantine tolerance) */
  saboteurs?: string[]
  /** storage each node lends, MiB (default: the manifest's default) */
  storageMiB?: number
  /** the rendezvous serves the participant page and dashboard (the app is built first when needed) */
  web?: { port?: number, root?: string }
  /** how the rendezvous's ports are chosen (tests; default: a port the OS had free a moment before) */
  choosePort?: () => Promise<number>
}

/** A running local fabric. */
export interface LocalFabric {
  file: FabricFile
  children: Map<string, ChildProcess>
  /** Stop every node and remove fabric.json. */
  stop: () => Promise<void>
}

/** Tries at starting the rendezvous when its port was taken between choosing it and binding it. */
const RENDEZVOUS_ATTEMPTS = 3

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

/** Start a local fabric and write `dir/fabric.json`. */
export async function startLocalFabric (init: LocalFabricInit): Promise<LocalFabric> {
  const { dir } = init
  const log = init.log ?? (() => {})
  if (!Number.isInteger(init.nodes) || init.nodes < 1 || init.nodes > 64) throw new RangeError('--nodes must be an integer from 1 to 64')
  await ensureDir(dir)
  const existing = await readJson<FabricFile>(join(dir, 'fabric.json'))
  if (existing != null && alive(existing.upPid) && existing.upPid !== process.pid) {
    throw new Error(`a fabric is already running in ${dir} (webfabric up, pid ${existing.upPid}); stop it (Ctrl-C) or use another --dir`)
  }
  await rm(join(dir, 'fabric.json'), { force: true })

  const origin = await loadOrCreateKey(originKeyPath(dir))
  const now = Date.now()
  const epoch = epochAt(now, IDENTITY_ROTATION_MS)
  const ttl = init.credentialTtlMs ?? 7 * 86400e3

  // the rendezvous's peer id is known before it starts, so the manifest can name it
  const rvDir = join(dir, 'rendezvous')
  const rvIdentity = await (await loadKeyring(rvDir)).identityFor(origin.did, epoch)
  const rvPeer = peerIdFromPrivateKey(await libp2pKeyOf(rvIdentity)).toString()
  const manifestPath = join(dir, 'manifest.signed.json')
  /** Ports for the rendezvous, and a manifest (the next version) that names them; returns its listen addresses. */
  const placeRendezvous = async (): Promise<string[]> => {
    const choose = init.choosePort ?? freePort
    const [tcpPort, wsPort] = [await choose(), await choose()]
    const listen = [`/ip4/127.0.0.1/tcp/${tcpPort}`, `/ip4/127.0.0.1/tcp/${wsPort}/ws`]
    const previous = await readJson<{ manifest?: { version?: number } }>(manifestPath)
    const base = defaultManifest(origin.did, 'local fabric', now)
    const manifest = validateManifest({
      ...base,
      version: (previous?.manifest?.version ?? 0) + 1,
      roles: ['compute', 'storage', 'rendezvous'],
      qos: { ...base.qos, ...(init.storageMiB != null ? { storageMiB: init.storageMiB } : {}) },
      rendezvous: listen.map(a => `${a}/p2p/${rvPeer}`)
    })
    await writeJson(manifestPath, signedManifestToJSON(await signManifest(origin, manifest)))
    return listen
  }
  const rvListen = await placeRendezvous()

  const specs: Array<{ name: string, dataDir: string, args: string[] }> = []
  // the rendezvous is also the fabric's compute coordinator and its storage client (put, get); it
  // holds no data, but its storage/hold grant is what it delegates to tabs that lend storage
  await saveCredentials(join(rvDir, 'credentials.json'), [
    ...await memberCredentials(origin, rvIdentity.did, ttl),
    await coordinatorCredential(origin, rvIdentity.did, ttl),
    await storageCredential(origin, rvIdentity.did, ttl, 'client'),
    await storageCredential(origin, rvIdentity.did, ttl, 'holder')
  ])
  const webArgs: string[] = []
  if (init.web != null) {
    webArgs.push('--web-root', init.web.root ?? await buildWebApp({ log }))
    if (init.web.port != null) webArgs.push('--web-port', String(init.web.port))
  }
  const rendezvousArgs = (listen: string[]): string[] => ['--rendezvous', ...listen.flatMap(a => ['--listen', a]), ...webArgs]
  specs.push({ name: 'rendezvous', dataDir: rvDir, args: rendezvousArgs(rvListen) })
  for (let i = 1; i <= init.nodes; i++) {
    const name = `node-${i}`
    const dataDir = join(dir, name)
    const id = await (await loadKeyring(dataDir)).identityFor(origin.did, epoch)
    // every node computes and holds data, and may store a task output too large to send back inline
    await saveCredentials(join(dataDir, 'credentials.json'), [...await memberCredentials(origin, id.did, ttl), await storageCredential(origin, id.did, ttl, 'holder'), await storageCredential(origin, id.did, ttl, 'client')])
    specs.push({ name, dataDir, args: ['--roles', 'compute,storage', ...(init.saboteurs?.includes(name) === true ? ['--saboteur', 'wrong'] : [])] })
  }

  const children = new Map<string, ChildProcess>()
  const entries: FabricNodeEntry[] = []
  let stopping = false
  const launch = async (spec: typeof specs[number]): Promise<void> => {
    const args = [BIN, 'start', '--dir', spec.dataDir, '--manifest', manifestPath,
      '--credentials', join(spec.dataDir, 'credentials.json'), '--allow-loopback', '--json', ...spec.args]
    if (init.intervalMs != null) args.push('--interval', String(init.intervalMs))
    if (init.ttlMs != null) args.push('--ttl', String(init.ttlMs))
    if (init.slots != null && spec.name !== 'rendezvous') args.push('--slots', String(init.slots))
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    children.set(spec.name, child)
    const logFile = createWriteStream(join(spec.dataDir, 'node.log'), { flags: 'a' })
    child.stderr!.pipe(logFile)
    const ready = await new Promise<ReadyEvent>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! })
      rl.on('line', line => {
        logFile.write(`${line}\n`)
        try {
          const ev = JSON.parse(line)
          if (ev.event === 'ready') resolve(ev)
        } catch {}
      })
      child.once('exit', (code, signal) => reject(new Error(`${spec.name} exited before it was ready (${code ?? signal}); see ${join(spec.dataDir, 'node.log')}`)))
    })
    child.removeAllListeners('exit')
    child.once('exit', (code, signal) => { if (!stopping) log(`${spec.name} (pid ${child.pid}) exited (${signal ?? code})`) })
    entries.push({ name: spec.name, peerId: ready.peerId, did: ready.did, pid: child.pid!, roles: ready.roles, admin: ready.admin, dataDir: spec.dataDir, addrs: ready.addrs, ...(ready.web != null ? { web: ready.web } : {}) })
    log(`${spec.name} ready: ${ready.peerId} (pid ${child.pid})`)
  }

  const stop = async (): Promise<void> => {
    stopping = true
    await rm(join(dir, 'fabric.json'), { force: true })
    await Promise.all([...children.values()].map(async c => {
      if (c.exitCode != null || c.signalCode != null) return
      const exited = new Promise(resolve => c.once('exit', resolve))
      c.kill('SIGTERM')
      const t = setTimeout(() => c.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    }))
  }

  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await launch(specs[0])
        break
      } catch (err) {
        // a port freePort found was taken (by another process) before the rendezvous bound it: place it
        // again, on new ports under a new manifest version, before any other node has read the manifest
        const why = await readFile(join(rvDir, 'node.log'), 'utf8').catch(() => '')
        if (attempt >= RENDEZVOUS_ATTEMPTS || !/EADDRINUSE/.test(why)) throw err
        log(`the rendezvous's port was taken before it could listen; trying other ports (attempt ${attempt + 1} of ${RENDEZVOUS_ATTEMPTS})`)
        specs[0] = { ...specs[0], args: rendezvousArgs(await placeRendezvous()) }
      }
    }
    await Promise.all(specs.slice(1).map(launch))
  } catch (err) {
    await stop()
    throw err
  }
  entries.sort((a, b) => specs.findIndex(s => s.name === a.name) - specs.findIndex(s => s.name === b.name))
  const file: FabricFile = { origin: origin.did, manifest: manifestPath, startedAt: new Date(now).toISOString(), upPid: process.pid, nodes: entries }
  const web = entries.find(n => n.web != null)
  if (web?.web != null) {
    const admin = await readJson<{ url: string, token: string }>(join(web.dataDir, 'admin.json'))
    file.participantUrl = web.web
    file.dashboardUrl = dashboardUrl(web.web, admin?.url, admin?.token)
  }
  // owner-only: the dashboard URL carries an admin token
  await writeJson(join(dir, 'fabric.json'), file, { secret: true })
  return { file, children, stop }
}
