// Origin keys and capability files on disk.
import { join } from 'node:path'
import {
  Identity,
  type Capability,
  type SignedManifest,
  decodeCapability,
  fromBase64url,
  issue,
  signedManifestFromJSON,
  toBase64url
} from '@webfabric/protocol'
import { readJson, writeJson } from '@webfabric/runtime/datadir'

/** Load an origin (or any) identity from a key file written by `webfabric keygen`. */
export async function loadKey (path: string): Promise<Identity> {
  const f = await readJson<{ seed?: string }>(path)
  if (f == null) throw new Error(`key file ${path} does not exist; create one with \`webfabric keygen --out ${path}\``)
  if (typeof f.seed !== 'string') throw new Error(`${path} is not a webfabric key file (no "seed")`)
  return await Identity.fromSeed(fromBase64url(f.seed))
}

/** Write a key file (owner-only). */
export async function saveKey (path: string, id: Identity): Promise<void> {
  await writeJson(path, { did: id.did, seed: toBase64url(id.seed) }, { secret: true })
}

/** Load the key file, creating it on first use. */
export async function loadOrCreateKey (path: string): Promise<Identity> {
  const f = await readJson(path)
  if (f != null) return await loadKey(path)
  const id = await Identity.generate()
  await saveKey(path, id)
  return id
}

/** Read a signed manifest JSON file. */
export async function loadSignedManifest (path: string): Promise<SignedManifest> {
  const json = await readJson<unknown>(path)
  if (json == null) throw new Error(`manifest file ${path} does not exist`)
  return signedManifestFromJSON(json)
}

/**
 * Read capabilities from files: each holds `{ credentials: [base64url, …] }`
 * (written by `webfabric up`) or `{ token }` (written by `cap issue --out`).
 */
export async function loadCredentials (paths: string[]): Promise<Uint8Array[]> {
  const caps: Uint8Array[] = []
  for (const path of paths) {
    const f = await readJson<{ credentials?: unknown, token?: unknown }>(path)
    if (f == null) throw new Error(`credentials file ${path} does not exist`)
    const list = typeof f.token === 'string' ? [f.token] : f.credentials
    if (!Array.isArray(list) || !list.every(c => typeof c === 'string')) {
      throw new Error(`${path} must hold { "credentials": [ base64url capability, … ] } or { "token": base64url capability }`)
    }
    caps.push(...list.map(c => fromBase64url(c)))
  }
  return caps
}

/** Write a credentials file. */
export async function saveCredentials (path: string, caps: Capability[]): Promise<void> {
  await writeJson(path, { credentials: caps.map(c => toBase64url(c.bytes)) }, { secret: true })
}

/** Read one capability token from a file (`{ token }`) or a literal base64url string. */
export async function loadToken (fileOrToken: string): Promise<Capability> {
  let text = fileOrToken
  if (!/^[A-Za-z0-9_-]{40,}$/.test(fileOrToken)) {
    const f = await readJson<{ token?: string }>(fileOrToken)
    if (f == null || typeof f.token !== 'string') throw new Error(`${fileOrToken} is neither a token nor a file holding { "token": … }`)
    text = f.token
  }
  return await decodeCapability(fromBase64url(text))
}

/** The standard grants of a fabric member: membership gossip and every topic. */
export async function memberCredentials (origin: Identity, audience: string, ttlMs: number, topics: { resource: string, abilities: string[] } = { resource: 'topic/*', abilities: ['pubsub/*'] }): Promise<Capability[]> {
  const now = Date.now()
  const membership = await issue(origin, { audience, resource: 'fabric/membership', abilities: ['membership/gossip'], expiresAt: now + ttlMs, now })
  const pubsub = await issue(origin, { audience, resource: topics.resource, abilities: topics.abilities, expiresAt: now + ttlMs, now })
  return [membership, pubsub]
}

/** The capability that makes a node a compute coordinator: it may assign tasks to the origin's workers. */
export async function coordinatorCredential (origin: Identity, audience: string, ttlMs: number): Promise<Capability> {
  const now = Date.now()
  return await issue(origin, { audience, resource: 'fabric/compute', abilities: ['compute/assign', 'compute/spawn'], expiresAt: now + ttlMs, now })
}

/** A storage capability: holders get storage/hold + storage/get; clients storage/put + storage/get. */
export async function storageCredential (origin: Identity, audience: string, ttlMs: number, role: 'holder' | 'client'): Promise<Capability> {
  const now = Date.now()
  const abilities = role === 'holder' ? ['storage/hold', 'storage/get'] : ['storage/put', 'storage/get']
  return await issue(origin, { audience, resource: 'fabric/storage', abilities, expiresAt: now + ttlMs, now })
}

export const originKeyPath = (dir: string): string => join(dir, 'origin.json')
