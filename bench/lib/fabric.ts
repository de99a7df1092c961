// A throwaway origin and real fabric nodes in this process, for benchmarks
// (the same recipe as packages/runtime/test/fixtures.ts, which benches do not import).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  IDENTITY_ROTATION_MS,
  Identity,
  type SignedManifest,
  defaultManifest,
  epochAt,
  issue,
  signManifest
} from '@webfabric/protocol'
import { FabricNode, type FabricNodeInit, loadKeyring } from '@webfabric/runtime'

/** An origin with its signed manifest and a scratch directory for node data. */
export interface BenchOrigin {
  identity: Identity
  manifest: SignedManifest
  dir: string
  cleanup: () => Promise<void>
}

export async function makeOrigin (): Promise<BenchOrigin> {
  const identity = await Identity.generate()
  const manifest = await signManifest(identity, { ...defaultManifest(identity.did, 'bench fabric', Date.now()), rendezvous: [] })
  const dir = await mkdtemp(join(tmpdir(), 'wf-bench-'))
  return { identity, manifest, dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

let counter = 0

/**
 * Start a fabric node holding a membership capability and `topics` (default:
 * every pub-sub ability on every topic), all issued by the origin for one hour.
 */
export async function startFabricNode (
  origin: BenchOrigin,
  opts: Partial<FabricNodeInit> & { topics?: { resource: string, abilities: string[] } } = {}
): Promise<FabricNode> {
  const dataDir = opts.dataDir ?? join(origin.dir, `node-${++counter}`)
  const now = Date.now()
  const did = (await (await loadKeyring(dataDir)).identityFor(origin.identity.did, epochAt(now, IDENTITY_ROTATION_MS))).did
  const topics = opts.topics ?? { resource: 'topic/*', abilities: ['pubsub/*'] }
  const creds = [
    await issue(origin.identity, { audience: did, resource: 'fabric/membership', abilities: ['membership/gossip'], expiresAt: now + 3600e3, now }),
    await issue(origin.identity, { audience: did, resource: topics.resource, abilities: topics.abilities, expiresAt: now + 3600e3, now })
  ]
  const node = new FabricNode({
    manifest: origin.manifest,
    allowLoopback: true,
    admin: false,
    ...opts,
    dataDir,
    credentials: opts.credentials ?? creds.map(c => c.bytes)
  })
  await node.start()
  return node
}
