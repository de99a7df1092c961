// Shared fixtures: an origin, its signed manifest, and real fabric nodes in
// this process (real libp2p on 127.0.0.1, real data directories).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type Capability,
  IDENTITY_ROTATION_MS,
  Identity,
  type SignedManifest,
  defaultManifest,
  epochAt,
  issue,
  signManifest
} from '@webfabric/protocol'
import { FabricNode, type FabricNodeInit, type StorageService, loadKeyring } from '@webfabric/runtime'
import { parseReadCap } from '@webfabric/storage'

export interface TestOrigin {
  identity: Identity
  manifest: SignedManifest
  dir: string
  cleanup: () => Promise<void>
}

export async function makeOrigin (): Promise<TestOrigin> {
  const identity = await Identity.generate()
  const manifest = await signManifest(identity, { ...defaultManifest(identity.did, 'test fabric', Date.now()), rendezvous: [] })
  const dir = await mkdtemp(join(tmpdir(), 'wf-runtime-'))
  return { identity, manifest, dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** The did a node directory will have for this origin (known before the node starts). */
export async function didOf (origin: TestOrigin, dataDir: string): Promise<string> {
  return (await (await loadKeyring(dataDir)).identityFor(origin.identity.did, epochAt(Date.now(), IDENTITY_ROTATION_MS))).did
}

export async function grant (origin: TestOrigin, audience: string, resource: string, abilities: string[], ttlMs = 3600e3): Promise<Capability> {
  const now = Date.now()
  return await issue(origin.identity, { audience, resource, abilities, expiresAt: now + ttlMs, now })
}

let counter = 0

/** Start a node; by default it may gossip membership and use every topic. */
export async function startNode (origin: TestOrigin, opts: Partial<FabricNodeInit> & { topics?: { resource: string, abilities: string[] } | null } = {}): Promise<FabricNode> {
  const dataDir = opts.dataDir ?? join(origin.dir, `node-${++counter}`)
  const did = await didOf(origin, dataDir)
  const creds = [await grant(origin, did, 'fabric/membership', ['membership/gossip'])]
  if (opts.topics !== null) {
    const t = opts.topics ?? { resource: 'topic/*', abilities: ['pubsub/*'] }
    creds.push(await grant(origin, did, t.resource, t.abilities))
  }
  const node = new FabricNode({
    manifest: origin.manifest,
    allowLoopback: true,
    membership: { intervalMs: 100, ttlMs: 1500 },
    admin: false,
    ...opts,
    dataDir,
    credentials: opts.credentials ?? creds.map(c => c.bytes)
  })
  await node.start()
  return node
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Poll until `fn` returns true, or fail with `what` after `ms`. */
export async function waitFor (what: string, fn: () => boolean | Promise<boolean>, ms = 15000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await fn()) return
    await sleep(50)
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

/** Start a coordinator: a rendezvous the origin granted membership and `compute/assign` (plus `opts`). */
export async function startCoordinator (origin: TestOrigin, opts: Partial<FabricNodeInit> = {}): Promise<FabricNode> {
  const dataDir = opts.dataDir ?? join(origin.dir, 'coordinator')
  const did = await didOf(origin, dataDir)
  const creds = await Promise.all([
    grant(origin, did, 'fabric/membership', ['membership/gossip']),
    grant(origin, did, 'fabric/compute', ['compute/assign'])
  ])
  return await startNode(origin, { rendezvous: true, roles: ['rendezvous'], ...opts, dataDir, credentials: creds.map(c => c.bytes) })
}

// -- storage ---------------------------------------------------------------

/** Membership timing of the storage tests: fast heartbeats, a departure seen within 4 s. */
export const STORAGE_MEMBERSHIP = { intervalMs: 250, ttlMs: 4000 }

/** `n` pseudo-random bytes from `seed` (an LCG: the same bytes every run). */
export function bytesOf (n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; out[i] = x >>> 24 }
  return out
}

/** `data` as a stream of pieces that do not line up with chunk boundaries. */
export async function * pieces (data: Uint8Array, size = 700_000): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size)
}

/** Every plaintext byte of the object `cap` names. */
export async function readAll (svc: StorageService, cap: string): Promise<Uint8Array> {
  const { chunks } = await svc.get(parseReadCap(cap))
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return new Uint8Array(Buffer.concat(parts))
}

/** A rendezvous that is also the fabric's storage client (storage/put + get). */
export async function storageClient (origin: TestOrigin, opts: Partial<FabricNodeInit> = {}): Promise<FabricNode> {
  const dataDir = join(origin.dir, 'client')
  const did = await didOf(origin, dataDir)
  const creds = await Promise.all([
    grant(origin, did, 'fabric/membership', ['membership/gossip']),
    grant(origin, did, 'fabric/storage', ['storage/put', 'storage/get'])
  ])
  return await startNode(origin, { dataDir, rendezvous: true, roles: ['rendezvous'], credentials: creds.map(c => c.bytes), membership: STORAGE_MEMBERSHIP, ...opts })
}

/** A fresh origin, a storage client (the rendezvous) and `n` holders, once the client sees them all. */
export async function storageFabric (n: number): Promise<{ origin: TestOrigin, client: FabricNode, holders: FabricNode[] }> {
  const origin = await makeOrigin()
  const client = await storageClient(origin)
  const holders: FabricNode[] = []
  for (let i = 0; i < n; i++) holders.push(await holderNode(origin, client.addrs()))
  await waitFor(`the client sees ${n} storage members`, () => client.storage!.service.storageMembers().length === n)
  return { origin, client, holders }
}

/** A storage holder (storage/hold + get) with repair timing short enough for tests. */
export async function holderNode (origin: TestOrigin, bootstrap: string[], opts: Partial<FabricNodeInit> = {}): Promise<FabricNode> {
  const dataDir = join(origin.dir, `holder-${Math.random().toString(36).slice(2, 8)}`)
  const did = await didOf(origin, dataDir)
  const creds = await Promise.all([
    grant(origin, did, 'fabric/membership', ['membership/gossip']),
    grant(origin, did, 'fabric/storage', ['storage/hold', 'storage/get'])
  ])
  return await startNode(origin, { dataDir, bootstrap, roles: ['storage'], credentials: creds.map(c => c.bytes), membership: STORAGE_MEMBERSHIP, storage: { repair: { graceMs: 2000, antiEntropyMs: 1000 } }, ...opts })
}
