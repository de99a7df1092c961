// An anchor: an issuer's signed commitment to the set of roots it pins —
// the digest of the set, its size, a sequence number and a link to the
// issuer's previous anchor, so the issuer's anchors form a signed hash chain
// that any provider (or anyone) can check. Pure and browser-safe.
import {
  type Identity,
  InvalidSignatureError,
  MalformedError,
  cidOf,
  decode,
  encode,
  isEd25519Did,
  publicKeyFromDid,
  signingInput,
  verifySignature
} from '@webfabric/protocol'
import { CID } from 'multiformats/cid'

/** Signature domain of anchors. */
export const ANCHOR_DOMAIN = 'webfabric/anchor/v1'
/** Largest encoded signed anchor accepted. */
export const MAX_ANCHOR_BYTES = 1024

/** What an issuer signs. Times in ms since the epoch, passed in by the caller. */
export interface AnchorBody {
  v: 1
  /** the signer's did:key */
  issuer: string
  /** 1 for the issuer's first anchor, then one more for each */
  seq: number
  /** rootsDigest of the pinned roots */
  roots: CID
  /** how many distinct roots the digest covers */
  count: number
  at: number
  /** CID (anchorCid) of the issuer's anchor seq - 1; null for seq 1 */
  prev: CID | null
}

/** An anchor body and its issuer's Ed25519 signature. */
export interface SignedAnchor { body: AnchorBody, sig: Uint8Array }

const BODY_KEYS = ['at', 'count', 'issuer', 'prev', 'roots', 'seq', 'v']

function asCid (x: unknown, field: string): CID {
  let c: CID | null = null
  try {
    c = typeof x === 'string' ? CID.parse(x) : CID.asCID(x)
  } catch (err) {
    throw new MalformedError(`${field} is not a CID: ${(err as Error)?.message}`, { field, cause: err })
  }
  if (c == null) throw new MalformedError(`${field} is not a CID`, { field })
  return c
}

function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.byteLength - b.byteLength
}

/**
 * The set of `roots` in one canonical form: each as a CIDv1, sorted by bytes, without
 * duplicates (a v0 and a v1 of the same content count once). MalformedError on a non-CID.
 */
export function canonicalRoots (roots: ReadonlyArray<CID | string>): CID[] {
  if (!Array.isArray(roots)) throw new MalformedError('roots is a list of CIDs', { field: 'roots' })
  const all = roots.map((r, i) => asCid(r, `roots[${i}]`).toV1() as CID)
  all.sort((a, b) => compareBytes(a.bytes, b.bytes))
  return all.filter((c, i) => i === 0 || compareBytes(c.bytes, all[i - 1].bytes) !== 0)
}

/** The digest of a set of roots: the CID of the DAG-CBOR list canonicalRoots(roots). Order and duplicates do not matter. */
export async function rootsDigest (roots: ReadonlyArray<CID | string>): Promise<CID> {
  return await cidOf(encode(canonicalRoots(roots)))
}

/** Check an anchor body's shape; throws MalformedError naming the field. */
export function validateAnchorBody (x: unknown): AnchorBody {
  if (x == null || typeof x !== 'object' || Array.isArray(x)) throw new MalformedError('an anchor body is a map', { field: 'body' })
  const b = x as Record<string, unknown>
  if (Object.keys(b).sort().join() !== BODY_KEYS.join()) throw new MalformedError(`an anchor body has exactly the fields ${BODY_KEYS.join(', ')}`, { field: 'body' })
  if (b.v !== 1) throw new MalformedError('unknown anchor version', { field: 'v' })
  if (!isEd25519Did(b.issuer)) throw new MalformedError('the issuer is named by its did:key', { field: 'issuer' })
  for (const f of ['seq', 'count', 'at'] as const) {
    if (typeof b[f] !== 'number' || !Number.isSafeInteger(b[f]) || (b[f] as number) < 0) throw new MalformedError(`anchor field ${f} must be a non-negative integer`, { field: f })
  }
  if ((b.seq as number) < 1) throw new MalformedError('anchor seq starts at 1', { field: 'seq' })
  if (CID.asCID(b.roots) == null) throw new MalformedError('anchor roots is the CID of the roots digest', { field: 'roots' })
  if (b.seq === 1 ? b.prev !== null : CID.asCID(b.prev) == null) {
    throw new MalformedError('anchor prev is null for seq 1 and the CID of the previous anchor after it', { field: 'prev' })
  }
  return b as unknown as AnchorBody
}

/** What signAnchor needs besides the identity. */
export interface AnchorInit {
  seq: number
  /** the pinned roots (any order, duplicates allowed) */
  roots: ReadonlyArray<CID | string>
  /** time of the commitment, ms since the epoch */
  at: number
  /** anchorCid of the issuer's previous anchor; null for seq 1 */
  prev: CID | null
}

/** Sign an anchor over `init.roots` as `identity` (the issuer). */
export async function signAnchor (identity: Identity, init: AnchorInit): Promise<SignedAnchor> {
  const roots = canonicalRoots(init.roots)
  const body = validateAnchorBody({
    v: 1,
    issuer: identity.did,
    seq: init.seq,
    roots: await cidOf(encode(roots)),
    count: roots.length,
    at: init.at,
    prev: init.prev
  })
  return { body, sig: await identity.sign(signingInput(ANCHOR_DOMAIN, body)) }
}

/**
 * The anchor that follows `latest` (the issuer's latest, from provider.latest; undefined
 * before the first): seq one more, prev linking to it. `latest` must be `identity`'s.
 */
export async function nextAnchor (identity: Identity, latest: SignedAnchor | undefined, roots: ReadonlyArray<CID | string>, at: number): Promise<SignedAnchor> {
  if (latest === undefined) return await signAnchor(identity, { seq: 1, roots, at, prev: null })
  if (latest.body?.issuer !== identity.did) throw new MalformedError('the previous anchor belongs to another issuer', { field: 'prev' })
  return await signAnchor(identity, { seq: latest.body.seq + 1, roots, at, prev: await anchorCid(latest) })
}

/** Verify an anchor's shape and its issuer's signature; throws MalformedError or InvalidSignatureError. */
export async function verifyAnchor (anchor: SignedAnchor): Promise<AnchorBody> {
  const body = validateAnchorBody(anchor?.body)
  if (!(anchor.sig instanceof Uint8Array)) throw new MalformedError('an anchor signature is bytes', { field: 'sig' })
  if (!await verifySignature(publicKeyFromDid(body.issuer), signingInput(ANCHOR_DOMAIN, body), anchor.sig)) {
    throw new InvalidSignatureError('anchor signature does not verify under its issuer\'s key: it was altered or forged; discard it')
  }
  return body
}

/** Canonical bytes of a signed anchor. */
export function encodeAnchor (anchor: SignedAnchor): Uint8Array {
  return encode({ body: anchor.body, sig: anchor.sig })
}

/** Decode a signed anchor (shape only; verifyAnchor checks the signature). */
export function decodeAnchor (bytes: Uint8Array): SignedAnchor {
  return anchorOf(decode(bytes, { maxBytes: MAX_ANCHOR_BYTES }))
}

/** A decoded value as a SignedAnchor (shape only); MalformedError otherwise. */
export function anchorOf (x: unknown): SignedAnchor {
  const a = x as { body?: unknown, sig?: unknown } | null
  if (a == null || typeof a !== 'object' || Object.keys(a).length !== 2 || !(a.sig instanceof Uint8Array)) {
    throw new MalformedError('a signed anchor is { body, sig }', { field: 'anchor' })
  }
  return { body: validateAnchorBody(a.body), sig: a.sig }
}

/** The content id of a signed anchor: what the next anchor's prev names. */
export async function anchorCid (anchor: SignedAnchor): Promise<CID> {
  return await cidOf(encodeAnchor(anchor))
}
