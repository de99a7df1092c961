// WebPolicyManifest: what an origin asks of its fabric (bundles, roles, QoS
// defaults, redundancy, consistency, rendezvous), signed by the origin's key.
// The schema is strict — unknown keys are refused — so a manifest means the
// same thing to every participant that accepts it.
import { CID } from 'multiformats/cid'
import { cidString, decode, encode, fromBase64url, isBytes, signingInput, toBase64url } from './encoding.ts'
import { InvalidSignatureError, ManifestSchemaError, StaleManifestError, WrongOriginError } from './errors.ts'
import type { Identity } from './identity.ts'
import { isEd25519Did, publicKeyFromDid, verifySignature } from './identity.ts'

/** Signature domain of manifests (see signingInput). */
export const MANIFEST_DOMAIN = 'webfabric/manifest/v1'
/** Size limit of an encoded signed manifest (64 KiB). */
export const MAX_MANIFEST_BYTES = 64 * 1024
/** The roles a manifest may ask participants to take. */
export const MANIFEST_ROLES = ['compute', 'storage', 'ingress', 'relay', 'rendezvous'] as const

/** One of MANIFEST_ROLES. */
export type ManifestRole = typeof MANIFEST_ROLES[number]

/** A code bundle the origin runs on the fabric, by content id. */
export interface ManifestBundle {
  name: string
  cid: string
  kind: 'wasm' | 'js'
}

/** Default QoS of the origin's leases: cpuShare in (0, 1], sizes in MiB, bandwidth in KiB/s, lease length cap in ms. */
export interface ManifestQos {
  cpuShare: number
  memoryMiB: number
  storageMiB: number
  bandwidthKiBps: number
  leaseMaxMs: number
}

/** Redundancy policy: compute replicas and the quorum of matching results; storage replicas or erasure coding. */
export interface ManifestRedundancy {
  replicas: number
  quorum: number
  storageReplicas: number
  erasure?: { k: number, m: number }
}

/** The origin's policy, version-numbered; a newer version replaces an older one. */
export interface PolicyManifest {
  v: 1
  origin: string
  name: string
  version: number
  issuedAt: number
  bundles: ManifestBundle[]
  roles: ManifestRole[]
  qos: ManifestQos
  redundancy: ManifestRedundancy
  consistency: 'eventual' | 'strong'
  rendezvous: string[]
}

/** A manifest and the origin's Ed25519 signature over signingInput(MANIFEST_DOMAIN, manifest). */
export interface SignedManifest {
  manifest: PolicyManifest
  sig: Uint8Array
}

/** The JSON file form of a signed manifest (what the CLI reads and writes). */
export interface SignedManifestJSON {
  manifest: PolicyManifest
  signature: string
}

/** Options of `verifyManifest`. */
export interface VerifyManifestOptions {
  /** The origin did the manifest must belong to. */
  origin?: string
  /** The version in force; only a strictly newer one is accepted. */
  currentVersion?: number
}

const MAX_TIME = 8_640_000_000_000_000
const DAY_MS = 24 * 60 * 60 * 1000

// ---------------------------------------------------------------- schema

function fail (field: string, message: string): ManifestSchemaError {
  return new ManifestSchemaError(`${field}: ${message}`, { field })
}

function isPlainObject (x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || isBytes(x)) return false
  const proto = Object.getPrototypeOf(x)
  return proto === Object.prototype || proto === null
}

function obj (x: unknown, path: string, keys: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
  if (!isPlainObject(x)) throw fail(path === '' ? 'manifest' : path, 'must be an object')
  const at = (k: string): string => path === '' ? k : `${path}.${k}`
  for (const k of Object.keys(x)) {
    if (!keys.includes(k) && !optional.includes(k)) throw fail(at(k), 'unknown field')
  }
  for (const k of keys) if (!Object.hasOwn(x, k) || x[k] === undefined) throw fail(at(k), 'missing')
  return x
}

function text (x: unknown, path: string, max: number): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > max) throw fail(path, `must be a string of 1..${max} characters`)
  for (let i = 0; i < x.length; i++) {
    const c = x.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) throw fail(path, 'must not contain control characters')
  }
  return x
}

function int (x: unknown, path: string, min: number, max: number): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) throw fail(path, 'must be an integer')
  if (x < min || x > max) throw fail(path, `must be in ${min}..${max}`)
  return x
}

function oneOf<T extends string> (x: unknown, path: string, allowed: readonly T[]): T {
  if (typeof x !== 'string' || !allowed.includes(x as T)) throw fail(path, `must be one of ${allowed.join(', ')}`)
  return x as T
}

function list (x: unknown, path: string, min: number, max: number): unknown[] {
  if (!Array.isArray(x)) throw fail(path, 'must be a list')
  if (x.length < min || x.length > max) throw fail(path, `must hold ${min}..${max} entries`)
  return x
}

function bundle (x: unknown, path: string): ManifestBundle {
  const b = obj(x, path, ['name', 'cid', 'kind'])
  const cid = text(b.cid, `${path}.cid`, 256)
  try {
    CID.parse(cid)
  } catch (err) {
    throw new ManifestSchemaError(`${path}.cid: not a CID (${(err as Error).message})`, { field: `${path}.cid`, cause: err })
  }
  return { name: text(b.name, `${path}.name`, 128), cid, kind: oneOf(b.kind, `${path}.kind`, ['wasm', 'js'] as const) }
}

/**
 * Checks an untrusted value against the manifest schema and returns a fresh copy of it.
 * Unknown keys, wrong types and out-of-range values throw ManifestSchemaError naming the field path.
 */
export function validateManifest (x: unknown): PolicyManifest {
  const m = obj(x, '', ['v', 'origin', 'name', 'version', 'issuedAt', 'bundles', 'roles', 'qos', 'redundancy', 'consistency', 'rendezvous'])
  if (m.v !== 1) throw fail('v', 'unsupported manifest version (expected 1)')
  if (!isEd25519Did(m.origin)) throw fail('origin', 'must be the origin\'s Ed25519 did:key')
  const name = text(m.name, 'name', 128)
  const version = int(m.version, 'version', 1, Number.MAX_SAFE_INTEGER)
  const issuedAt = int(m.issuedAt, 'issuedAt', 0, MAX_TIME)

  const bundles = list(m.bundles, 'bundles', 0, 256).map((b, i) => bundle(b, `bundles[${i}]`))
  const names = new Set<string>()
  bundles.forEach((b, i) => {
    if (names.has(b.name)) throw fail(`bundles[${i}].name`, `repeats bundle name '${b.name}'`)
    names.add(b.name)
  })

  const roles = list(m.roles, 'roles', 1, MANIFEST_ROLES.length).map((r, i) => oneOf(r, `roles[${i}]`, MANIFEST_ROLES))
  if (new Set(roles).size !== roles.length) throw fail('roles', 'must not repeat a role')

  const q = obj(m.qos, 'qos', ['cpuShare', 'memoryMiB', 'storageMiB', 'bandwidthKiBps', 'leaseMaxMs'])
  if (typeof q.cpuShare !== 'number' || !Number.isFinite(q.cpuShare) || q.cpuShare <= 0 || q.cpuShare > 1) {
    throw fail('qos.cpuShare', 'must be a number in (0, 1]: a fraction of one core')
  }
  const qos: ManifestQos = {
    cpuShare: q.cpuShare,
    memoryMiB: int(q.memoryMiB, 'qos.memoryMiB', 1, 1024 * 1024),
    storageMiB: int(q.storageMiB, 'qos.storageMiB', 0, 2 ** 40),
    bandwidthKiBps: int(q.bandwidthKiBps, 'qos.bandwidthKiBps', 0, 2 ** 32),
    leaseMaxMs: int(q.leaseMaxMs, 'qos.leaseMaxMs', 1, 366 * DAY_MS)
  }

  const r = obj(m.redundancy, 'redundancy', ['replicas', 'quorum', 'storageReplicas'], ['erasure'])
  const replicas = int(r.replicas, 'redundancy.replicas', 1, 64)
  const redundancy: ManifestRedundancy = {
    replicas,
    quorum: int(r.quorum, 'redundancy.quorum', 1, replicas),
    storageReplicas: int(r.storageReplicas, 'redundancy.storageReplicas', 1, 64)
  }
  if (r.erasure !== undefined) {
    const e = obj(r.erasure, 'redundancy.erasure', ['k', 'm'])
    const k = int(e.k, 'redundancy.erasure.k', 1, 128)
    const em = int(e.m, 'redundancy.erasure.m', 1, 128)
    redundancy.erasure = { k, m: em }
  }

  const consistency = oneOf(m.consistency, 'consistency', ['eventual', 'strong'] as const)
  const rendezvous = list(m.rendezvous, 'rendezvous', 0, 32).map((a, i) => {
    const s = text(a, `rendezvous[${i}]`, 1024)
    if (!s.startsWith('/') || /\s/.test(s)) throw fail(`rendezvous[${i}]`, 'must be a multiaddr (/ip4/…/tcp/…/ws/p2p/…)')
    return s
  })

  return { v: 1, origin: m.origin as string, name, version, issuedAt, bundles, roles, qos, redundancy, consistency, rendezvous }
}

/** A valid starting manifest: version 1, compute + storage, 2 replicas with quorum 2, 3 storage replicas, eventual consistency. */
export function defaultManifest (origin: string, name: string, now: number): PolicyManifest {
  return validateManifest({
    v: 1,
    origin,
    name,
    version: 1,
    issuedAt: now,
    bundles: [],
    roles: ['compute', 'storage'],
    qos: { cpuShare: 0.5, memoryMiB: 512, storageMiB: 1024, bandwidthKiBps: 1024, leaseMaxMs: DAY_MS },
    redundancy: { replicas: 2, quorum: 2, storageReplicas: 3 },
    consistency: 'eventual',
    rendezvous: []
  })
}

/** The CID string of a manifest's canonical encoding: a stable name for one version of the policy. */
export async function manifestCid (m: PolicyManifest): Promise<string> {
  return cidString(encode(validateManifest(m)))
}

// ---------------------------------------------------------------- sign and verify

/** The origin signs its manifest; refuses a manifest naming another origin (WrongOriginError) or breaking the schema. */
export async function signManifest (origin: Identity, m: PolicyManifest): Promise<SignedManifest> {
  const manifest = validateManifest(m)
  if (manifest.origin !== origin.did) {
    throw new WrongOriginError(`manifest names origin ${manifest.origin}, but the signing key is ${origin.did}: only the origin signs its manifest`)
  }
  return { manifest, sig: await origin.sign(signingInput(MANIFEST_DOMAIN, manifest)) }
}

/**
 * Checks a signed manifest: schema (ManifestSchemaError), expected origin (WrongOriginError),
 * the origin's signature (InvalidSignatureError), then newer than currentVersion (StaleManifestError).
 */
export async function verifyManifest (s: SignedManifest, opts: VerifyManifestOptions = {}): Promise<PolicyManifest> {
  const env = obj(s, '', ['manifest', 'sig'])
  if (!isBytes(env.sig) || env.sig.byteLength !== 64) throw fail('sig', 'must be a 64-byte Ed25519 signature')
  const manifest = validateManifest(env.manifest)
  if (opts.origin !== undefined && manifest.origin !== opts.origin) {
    throw new WrongOriginError(`manifest belongs to origin ${manifest.origin}, not to ${opts.origin}: fetch the manifest of the origin you meant`)
  }
  const ok = await verifySignature(publicKeyFromDid(manifest.origin), signingInput(MANIFEST_DOMAIN, manifest), env.sig)
  if (!ok) throw new InvalidSignatureError(`manifest '${manifest.name}' v${manifest.version} is not signed by its origin ${manifest.origin}: it was altered or forged; discard it`)
  if (opts.currentVersion !== undefined && manifest.version <= opts.currentVersion) {
    throw new StaleManifestError(`manifest version ${manifest.version} is not newer than the current ${opts.currentVersion}: publish it with a higher version`)
  }
  return manifest
}

// ---------------------------------------------------------------- codecs

/** The JSON file form `{ manifest, signature: base64url }`. */
export function signedManifestToJSON (s: SignedManifest): SignedManifestJSON {
  return { manifest: s.manifest, signature: toBase64url(s.sig) }
}

/** Parses the JSON file form (an object, or its text); ManifestSchemaError on any shape problem. Verifies nothing. */
export function signedManifestFromJSON (json: unknown): SignedManifest {
  let value = json
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json)
    } catch (err) {
      throw new ManifestSchemaError(`not JSON: ${(err as Error).message}`, { field: 'manifest', cause: err })
    }
  }
  const env = obj(value, '', ['manifest', 'signature'])
  let sig: Uint8Array
  try {
    sig = fromBase64url(env.signature as string)
  } catch (err) {
    throw new ManifestSchemaError('signature: must be base64url text', { field: 'signature', cause: err })
  }
  if (sig.byteLength !== 64) throw fail('signature', 'must encode a 64-byte Ed25519 signature')
  return { manifest: validateManifest(env.manifest), sig }
}

/** The binary (DAG-CBOR) form of a signed manifest. */
export function encodeSignedManifest (s: SignedManifest): Uint8Array {
  return encode({ manifest: validateManifest(s.manifest), sig: s.sig })
}

/** Decodes the binary form: MalformedError for bad bytes, ManifestSchemaError for a bad shape. Verifies nothing. */
export function decodeSignedManifest (bytes: Uint8Array, opts: { maxBytes?: number } = {}): SignedManifest {
  const env = obj(decode(bytes, { maxBytes: opts.maxBytes ?? MAX_MANIFEST_BYTES }), '', ['manifest', 'sig'])
  if (!isBytes(env.sig) || env.sig.byteLength !== 64) throw fail('sig', 'must be a 64-byte Ed25519 signature')
  return { manifest: validateManifest(env.manifest), sig: env.sig }
}
