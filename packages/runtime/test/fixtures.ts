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
import { FabricNode, type FabricNodeInit, loadKeyring } from '@webfabric/runtime'

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
