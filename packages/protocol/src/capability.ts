// Capability tokens: a small UCAN-like core on WebCrypto Ed25519 and DAG-CBOR.
// A token says "iss lets aud do `can` on `res`, within caveats `cav`, from
// nbf until exp", signed by iss; a delegation embeds its one parent token in
// `prf`, so a token carries its whole proof chain and verifies offline.
// Delegation may only attenuate. See README.md for the format and rules.
import { CID } from 'multiformats/cid'
import { bytesEqual, cidString, decode, encode, isBytes, signingInput } from './encoding.ts'
import {
  BrokenChainError,
  EscalationError,
  InvalidSignatureError,
  MalformedError,
  MissingAbilityError,
  RevokedError,
  TokenExpiredError,
  TokenNotYetValidError,
  UnauthorizedRevocationError,
  WrongAudienceError
} from './errors.ts'
import type { Identity } from './identity.ts'
import { isEd25519Did, publicKeyFromDid, verifySignature } from './identity.ts'
import { Lru } from './lru.ts'

/** Signature domain of capability payloads (see signingInput). */
export const CAPABILITY_DOMAIN = 'webfabric/capability/v1'
/** Signature domain of revocations. */
export const REVOCATION_DOMAIN = 'webfabric/revocation/v1'
/** Default size limit of an encoded token, proofs included (16 KiB). */
export const MAX_CAPABILITY_BYTES = 16 * 1024
/** Most tokens in one proof chain, root and leaf included. */
export const MAX_CHAIN_LENGTH = 8
/** Size limit of an encoded revocation. */
export const MAX_REVOCATION_BYTES = 1024
/** The only caveat keys a token may carry. */
export const CAVEAT_KEYS = ['cpuShare', 'memoryMiB', 'storageMiB', 'bandwidthKiBps'] as const

const MAX_RESOURCE_LENGTH = 1024
const MAX_ABILITY_LENGTH = 128
const MAX_ABILITIES = 32
const MAX_DID_LENGTH = 256
const MAX_NONCE_LENGTH = 64
// The largest time a Date can hold: every token time stays printable as ISO 8601.
const MAX_TIME = 8_640_000_000_000_000
const PAYLOAD_KEYS = ['v', 'iss', 'aud', 'res', 'can', 'cav', 'nbf', 'exp', 'nnc', 'prf']

/** QoS limits a token grants; each is an upper bound (cpuShare is a fraction of one core, 0..1). */
export interface Caveats {
  cpuShare?: number
  memoryMiB?: number
  storageMiB?: number
  bandwidthKiBps?: number
}

/** What an issuer signs. Times are integer milliseconds since the epoch; prf holds the encoded parent token, if any. */
export interface CapabilityPayload {
  v: 1
  iss: string
  aud: string
  res: string
  can: string[]
  cav: Caveats
  nbf: number
  exp: number
  nnc: string
  prf: Uint8Array[]
}

/** A signed token: `bytes` = encode({ payload, sig }), `id` = CID string of `bytes`. */
export interface Capability {
  payload: CapabilityPayload
  sig: Uint8Array
  bytes: Uint8Array
  id: string
}

/** Options of `issue`. Times are integer ms; `now` (default Date.now()) is the default not-before. */
export interface IssueOptions {
  audience: string
  resource: string
  abilities: string[]
  caveats?: Caveats
  notBefore?: number
  expiresAt: number
  proofs?: Capability[]
  nonce?: string
  now?: number
}

/** Options of `delegate`: anything left out is inherited from the parent (not-before: max(now, parent's)). */
export interface DelegateOptions {
  audience: string
  resource?: string
  abilities?: string[]
  caveats?: Caveats
  notBefore?: number
  expiresAt?: number
  nonce?: string
  now?: number
}

/** Options of `verifyCapability`. */
export interface VerifyOptions {
  /** The verifier's clock, integer ms. */
  now: number
  /** The dids accepted as the chain's root issuer (the authority over the resource). */
  root: string | string[]
  /** When given, the leaf token must be addressed to this did. */
  audience?: string
  /** When given, the leaf token must grant this ability on this resource. */
  need?: { resource: string, ability: string }
  /**
   * Held revocations: a token of the chain is refused when one was signed by its issuer or by an
   * issuer above it in the chain (others are ignored, so nobody can revoke what they did not grant).
   */
  revocations?: RevocationLookup
  /** Trusted revocation check by token id, applied to every token of the chain: answer true only for revocations whose authority you checked (verifyRevocation). */
  isRevoked?: (id: string) => boolean
  /** Tolerated clock skew in ms, applied to both ends of every window (default 0). */
  skewMs?: number
}

/** The outcome of a successful verification: what the token grants, effectively. */
export interface VerifiedCapability {
  capability: Capability
  /** Root issuer: the authority the grant comes from. */
  issuer: string
  audience: string
  resource: string
  abilities: string[]
  /** The tightest limits along the chain. */
  caveats: Caveats
  notBefore: number
  expiresAt: number
  /** Token ids, root first, leaf (this token) last. */
  chain: string[]
}

/** A signed statement by `iss` that token `tok` is revoked as of `at` (ms); `iss` must issue somewhere in its chain. */
export interface Revocation {
  v: 1
  iss: string
  tok: string
  at: number
  sig: Uint8Array
}

// ---------------------------------------------------------------- shape

function isPlainObject (x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || isBytes(x)) return false
  const proto = Object.getPrototypeOf(x)
  return proto === Object.prototype || proto === null
}

function bad (field: string, message: string): MalformedError {
  return new MalformedError(`${field}: ${message}`, { field })
}

function exactKeys (x: Record<string, unknown>, keys: readonly string[], prefix: string): void {
  for (const k of Object.keys(x)) if (!keys.includes(k)) throw bad(prefix + k, 'unknown field')
  for (const k of keys) if (!Object.hasOwn(x, k)) throw bad(prefix + k, 'missing')
}

function hasControlChars (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}

/** Resource and ability syntax: printable, bounded, '*' only as the whole string or a final '/*' segment. */
function checkPattern (s: unknown, field: string, max: number): string {
  if (typeof s !== 'string' || s.length === 0 || s.length > max) throw bad(field, `must be a string of 1..${max} characters`)
  if (hasControlChars(s)) throw bad(field, 'must not contain control characters')
  const star = s.indexOf('*')
  if (star !== -1 && !(s === '*' || (star === s.length - 1 && s.endsWith('/*') && s.length > 2))) {
    throw bad(field, "'*' is allowed only as the whole value or as a final '/*' segment")
  }
  return s
}

function checkDid (s: unknown, field: string): string {
  if (typeof s !== 'string' || s.length > MAX_DID_LENGTH || !/^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$/.test(s)) {
    throw bad(field, 'must be a did')
  }
  return s
}

function checkTime (x: unknown, field: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0 || x > MAX_TIME) {
    throw bad(field, 'must be an integer of ms since the epoch, within the range of Date')
  }
  return x
}

/** Validates caveats: only CAVEAT_KEYS, each a finite non-negative number, cpuShare at most 1. */
export function validateCaveats (x: unknown, field = 'cav'): Caveats {
  if (!isPlainObject(x)) throw bad(field, 'must be a map of caveats')
  for (const [k, v] of Object.entries(x)) {
    if (!(CAVEAT_KEYS as readonly string[]).includes(k)) throw bad(`${field}.${k}`, `unknown caveat (allowed: ${CAVEAT_KEYS.join(', ')})`)
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`${field}.${k}`, 'must be a finite non-negative number')
    if (k === 'cpuShare' && v > 1) throw bad(`${field}.${k}`, 'must be at most 1 (a fraction of one core)')
  }
  return x as Caveats
}

/** Validates an untrusted payload's shape; MalformedError naming the field (prefixed for embedded proofs). */
function validatePayload (x: unknown, prefix = ''): CapabilityPayload {
  if (!isPlainObject(x)) throw bad(`${prefix}payload`, 'must be a map')
  exactKeys(x, PAYLOAD_KEYS, prefix)
  if (x.v !== 1) throw bad(`${prefix}v`, 'unsupported token version (expected 1)')
  if (!isEd25519Did(x.iss)) throw bad(`${prefix}iss`, 'must be an Ed25519 did:key')
  checkDid(x.aud, `${prefix}aud`)
  checkPattern(x.res, `${prefix}res`, MAX_RESOURCE_LENGTH)
  if (!Array.isArray(x.can) || x.can.length === 0 || x.can.length > MAX_ABILITIES) {
    throw bad(`${prefix}can`, `must list 1..${MAX_ABILITIES} abilities`)
  }
  x.can.forEach((a, i) => { checkPattern(a, `${prefix}can[${i}]`, MAX_ABILITY_LENGTH) })
  if (new Set(x.can).size !== x.can.length) throw bad(`${prefix}can`, 'must not repeat an ability')
  validateCaveats(x.cav, `${prefix}cav`)
  const nbf = checkTime(x.nbf, `${prefix}nbf`)
  const exp = checkTime(x.exp, `${prefix}exp`)
  if (nbf > exp) throw bad(`${prefix}nbf`, 'not-before is after expiry')
  if (typeof x.nnc !== 'string' || x.nnc.length > MAX_NONCE_LENGTH) throw bad(`${prefix}nnc`, `must be a string of at most ${MAX_NONCE_LENGTH} characters`)
  if (!Array.isArray(x.prf) || !x.prf.every(isBytes)) throw bad(`${prefix}prf`, 'must be a list of encoded tokens')
  if (x.prf.length > 1) throw bad(`${prefix}prf`, 'at most one proof: multiple proofs are not supported')
  return x as unknown as CapabilityPayload
}

function checkSig (x: unknown, field: string): Uint8Array {
  if (!isBytes(x) || x.byteLength !== 64) throw bad(field, 'must be a 64-byte Ed25519 signature')
  return x
}

// The checked proof chains (root first) of the token objects this module built: every such
// object is frozen and its bytes and id derived from its payload and sig, so meeting it again
// needs no second decode. (Tokens are values: do not write into their byte arrays.)
const chains = new WeakMap<Capability, readonly Capability[]>()

/** A frozen token from already-validated parts. */
async function makeToken (payload: CapabilityPayload, sig: Uint8Array, bytes: Uint8Array): Promise<Capability> {
  Object.freeze(payload.can)
  Object.freeze(payload.cav)
  Object.freeze(payload.prf)
  Object.freeze(payload)
  return Object.freeze({ payload, sig, bytes, id: await cidString(bytes) })
}

/** Decodes one token (not its proofs) from bytes: canonical, size-limited, shape-checked. */
async function parseOne (bytes: Uint8Array, maxBytes: number, prefix: string): Promise<Capability> {
  const value = decode(bytes, { maxBytes })
  if (!isPlainObject(value)) throw bad(`${prefix}token`, 'must be a map of payload and sig')
  exactKeys(value, ['payload', 'sig'], prefix)
  const payload = validatePayload(value.payload, prefix)
  const sig = checkSig(value.sig, `${prefix}sig`)
  return makeToken(payload, sig, bytes)
}

/** The chain of a token built here, root first, leaf last: each proof decoded and shape-checked. */
async function chainFrom (leaf: Capability, maxBytes: number): Promise<readonly Capability[]> {
  const known = chains.get(leaf)
  if (known !== undefined) return known
  const chain = [leaf]
  let cur = leaf
  let prefix = ''
  while (cur.payload.prf.length === 1) {
    if (chain.length >= MAX_CHAIN_LENGTH) throw bad('prf', `proof chain longer than ${MAX_CHAIN_LENGTH} tokens`)
    prefix += 'prf[0].'
    cur = await parseOne(cur.payload.prf[0], maxBytes, prefix)
    chain.push(cur)
  }
  chain.reverse()
  for (let i = 0; i < chain.length; i++) chains.set(chain[i], Object.freeze(chain.slice(0, i + 1)))
  return chains.get(leaf)!
}

/**
 * The chain of any token object: known ones directly; others (built by hand, or across a realm)
 * are re-validated — shape, and bytes and id that match payload and sig — into a frozen copy.
 */
async function chainOf (c: Capability): Promise<readonly Capability[]> {
  const known = chains.get(c)
  if (known !== undefined) return known
  if (!isPlainObject(c)) throw bad('capability', 'must be a Capability object')
  const p = validatePayload(c.payload)
  const payload: CapabilityPayload = { ...p, can: [...p.can], cav: { ...p.cav }, prf: p.prf.map(b => new Uint8Array(b)) }
  const sig = new Uint8Array(checkSig(c.sig, 'sig'))
  const bytes = encode({ payload, sig })
  if (!isBytes(c.bytes) || !bytesEqual(bytes, c.bytes)) throw bad('bytes', 'do not match payload and sig')
  const leaf = await makeToken(payload, sig, bytes)
  if (c.id !== leaf.id) throw bad('id', 'does not match the token bytes')
  return chainFrom(leaf, Math.max(MAX_CAPABILITY_BYTES, bytes.byteLength))
}

// ---------------------------------------------------------------- coverage

/**
 * True when pattern `parent` covers `child`: '*' covers everything; 'a/b/*' covers whatever
 * lies strictly below 'a/b/' at any depth (including 'a/b/c/*') but not 'a/b' itself; else equality.
 */
export function resourceCovers (parent: string, child: string): boolean {
  if (parent === '*' || parent === child) return true
  if (parent.length > 2 && parent.endsWith('/*')) {
    const prefix = parent.slice(0, -1)
    return child.length > prefix.length && child.startsWith(prefix)
  }
  return false
}

/** True when ability `parent` covers `child`, by the same rules as resourceCovers ('pubsub/*' covers 'pubsub/publish'). */
export function abilityCovers (parent: string, child: string): boolean {
  return resourceCovers(parent, child)
}

/** Throws EscalationError unless `child` (a delegation) narrows `parent` in every respect. */
function checkAttenuation (parent: CapabilityPayload, child: CapabilityPayload): void {
  if (!resourceCovers(parent.res, child.res)) {
    throw new EscalationError(`delegation widens the resource: '${child.res}' is not within '${parent.res}'`)
  }
  for (const a of child.can) {
    if (!parent.can.some(p => abilityCovers(p, a))) {
      throw new EscalationError(`delegation adds ability '${a}', which its proof does not grant (${parent.can.join(', ')})`)
    }
  }
  for (const k of CAVEAT_KEYS) {
    const limit = parent.cav[k]
    if (limit === undefined) continue
    const v = child.cav[k]
    if (v === undefined) throw new EscalationError(`delegation drops caveat ${k} (parent limits it to ${limit}): keep it, at most as large`)
    if (v > limit) throw new EscalationError(`delegation raises caveat ${k} to ${v}, above its proof's ${limit}`)
  }
  if (child.nbf < parent.nbf || child.exp > parent.exp) {
    throw new EscalationError(`delegation's window [${child.nbf}, ${child.exp}) is not within its proof's [${parent.nbf}, ${parent.exp})`)
  }
}

function checkLink (parent: Capability, child: CapabilityPayload): void {
  if (child.iss !== parent.payload.aud) {
    throw new BrokenChainError(`proof ${parent.id} is addressed to ${parent.payload.aud}, but the token delegating it is issued by ${child.iss}`)
  }
  checkAttenuation(parent.payload, child)
}

// ---------------------------------------------------------------- issue

function randomNonce (): string {
  const b = crypto.getRandomValues(new Uint8Array(12))
  let s = ''
  for (const x of b) s += x.toString(16).padStart(2, '0')
  return s
}

async function sealPayload (issuer: Identity, payload: CapabilityPayload, proofChain: readonly Capability[]): Promise<Capability> {
  const sig = await issuer.sign(signingInput(CAPABILITY_DOMAIN, payload))
  const bytes = encode({ payload, sig })
  if (bytes.byteLength > MAX_CAPABILITY_BYTES) {
    throw bad('bytes', `token would be ${bytes.byteLength} bytes, over the ${MAX_CAPABILITY_BYTES}-byte limit`)
  }
  const token = await makeToken(payload, sig, bytes)
  chains.set(token, Object.freeze([...proofChain, token]))
  return token
}

/**
 * Signs a token. With a proof, checks eagerly that the new token links to it (BrokenChainError) and
 * only attenuates it (EscalationError), so an invalid delegation cannot be minted by accident.
 */
export async function issue (issuer: Identity, opts: IssueOptions): Promise<Capability> {
  const proofs = opts.proofs ?? []
  if (proofs.length > 1) throw bad('prf', 'at most one proof: multiple proofs are not supported')
  const proofChain = proofs.length === 1 ? await chainOf(proofs[0]) : []
  const now = opts.now ?? Date.now()
  const cav: Caveats = {}
  for (const [k, v] of Object.entries(opts.caveats ?? {})) if (v !== undefined) (cav as Record<string, unknown>)[k] = v
  const payload = validatePayload({
    v: 1,
    iss: issuer.did,
    aud: opts.audience,
    res: opts.resource,
    can: opts.abilities === undefined ? undefined : [...opts.abilities],
    cav,
    nbf: opts.notBefore ?? now,
    exp: opts.expiresAt,
    nnc: opts.nonce ?? randomNonce(),
    prf: proofChain.length === 0 ? [] : [proofChain[proofChain.length - 1].bytes]
  })
  if (proofChain.length > 0) {
    checkLink(proofChain[proofChain.length - 1], payload)
    if (proofChain.length >= MAX_CHAIN_LENGTH) throw bad('prf', `proof chain would exceed ${MAX_CHAIN_LENGTH} tokens`)
  }
  return sealPayload(issuer, payload, proofChain)
}

/** `holder` (the parent's audience) delegates `parent` to `opts.audience`, narrowed by `opts`. */
export async function delegate (holder: Identity, parent: Capability, opts: DelegateOptions): Promise<Capability> {
  if (!isPlainObject(parent) || !isPlainObject(parent.payload)) throw bad('prf', 'the parent must be a Capability')
  const now = opts.now ?? Date.now()
  return issue(holder, {
    audience: opts.audience,
    resource: opts.resource ?? parent.payload.res,
    abilities: opts.abilities ?? parent.payload.can,
    caveats: opts.caveats ?? parent.payload.cav,
    notBefore: opts.notBefore ?? Math.max(now, parent.payload.nbf),
    expiresAt: opts.expiresAt ?? parent.payload.exp,
    nonce: opts.nonce,
    now,
    proofs: [parent]
  })
}

// ---------------------------------------------------------------- codec

/** The wire bytes of a token (its proofs are inside). */
export function encodeCapability (c: Capability): Uint8Array {
  return c.bytes
}

/**
 * Decodes a token and its embedded proof chain, checking canonical encoding, shape and limits
 * (default 16 KiB, MAX_CHAIN_LENGTH tokens). Throws MalformedError only; it checks no signature.
 */
export async function decodeCapability (bytes: Uint8Array, opts: { maxBytes?: number } = {}): Promise<Capability> {
  const maxBytes = opts.maxBytes ?? MAX_CAPABILITY_BYTES
  const own = isBytes(bytes) ? new Uint8Array(bytes) : bytes
  const c = await parseOne(own, maxBytes, '')
  await chainFrom(c, maxBytes)
  return c
}

// ---------------------------------------------------------------- verify

// Ids of tokens whose signature verified. Sound because an id is the sha2-256 CID of the
// canonical bytes of { payload, sig }: the same id means the same payload and signature.
const verifiedSignatures = new Lru<string, true>(4096)

async function checkSignature (c: Capability): Promise<void> {
  if (verifiedSignatures.get(c.id) === true) return
  const ok = await verifySignature(publicKeyFromDid(c.payload.iss), signingInput(CAPABILITY_DOMAIN, c.payload), c.sig)
  if (!ok) throw new InvalidSignatureError(`token ${c.id} does not carry a valid signature of its issuer ${c.payload.iss}: it was altered or forged; discard it`)
  verifiedSignatures.set(c.id, true)
}

function tightest (chain: readonly Capability[]): Caveats {
  const out: Record<string, number> = {}
  for (const t of chain) {
    for (const k of CAVEAT_KEYS) {
      const v = t.payload.cav[k]
      if (v !== undefined) out[k] = out[k] === undefined ? v : Math.min(out[k], v)
    }
  }
  return out as Caveats
}

/**
 * Verifies a token and its whole proof chain, in this order: root issuer in `root` and links
 * (BrokenChainError), attenuation (EscalationError), signatures (InvalidSignatureError), revocation
 * (RevokedError), time windows (TokenNotYetValidError / TokenExpiredError), audience, need.
 */
export async function verifyCapability (c: Capability, opts: VerifyOptions): Promise<VerifiedCapability> {
  if (typeof opts?.now !== 'number' || !Number.isFinite(opts.now)) throw bad('now', 'verification needs the current time in ms')
  const skew = opts.skewMs ?? 0
  if (typeof skew !== 'number' || !Number.isFinite(skew) || skew < 0) throw bad('skewMs', 'must be a non-negative number of ms')
  const roots = typeof opts.root === 'string' ? [opts.root] : opts.root
  if (!Array.isArray(roots)) throw bad('root', 'must be a did or a list of dids')

  const chain = await chainOf(c)
  const leaf = chain[chain.length - 1]
  const root = chain[0]
  if (!roots.includes(root.payload.iss)) {
    throw new BrokenChainError(`root token ${root.id} is issued by ${root.payload.iss}, which is not an accepted authority here (${roots.join(', ') || 'none'})`)
  }
  for (let i = 1; i < chain.length; i++) {
    if (chain[i].payload.iss !== chain[i - 1].payload.aud) {
      throw new BrokenChainError(`token ${chain[i].id} is issued by ${chain[i].payload.iss}, but its proof ${chain[i - 1].id} is addressed to ${chain[i - 1].payload.aud}`)
    }
  }
  // Structural checks first, so junk chains are refused before any signature work.
  for (let i = 1; i < chain.length; i++) checkAttenuation(chain[i - 1].payload, chain[i].payload)
  // Root first: the root is usually cached, and verification stops at the first forgery.
  for (const t of chain) await checkSignature(t)
  const issuers = new Set<string>()
  for (const t of chain) {
    issuers.add(t.payload.iss)
    let revoked = opts.isRevoked?.(t.id) === true
    if (!revoked && opts.revocations !== undefined) {
      for (const by of opts.revocations.revokers(t.id)) if (issuers.has(by)) revoked = true
    }
    if (revoked) throw new RevokedError(`token ${t.id} was revoked: ask for a new grant`, { tokenId: t.id })
  }
  for (const t of chain) {
    if (opts.now < t.payload.nbf - skew) {
      throw new TokenNotYetValidError(`token ${t.id} is valid from ${new Date(t.payload.nbf).toISOString()}, not yet: wait, or check the clocks`)
    }
    if (opts.now >= t.payload.exp + skew) {
      throw new TokenExpiredError(`token ${t.id} expired at ${new Date(t.payload.exp).toISOString()}: ask its issuer for a fresh one`)
    }
  }
  const p = leaf.payload
  if (opts.audience !== undefined && p.aud !== opts.audience) {
    throw new WrongAudienceError(`token is addressed to ${p.aud}, not to ${opts.audience}: only its audience may use it`)
  }
  if (opts.need !== undefined) {
    const { resource, ability } = opts.need
    if (typeof resource !== 'string' || typeof ability !== 'string') throw bad('need', 'must name a resource and an ability')
    if (!resourceCovers(p.res, resource) || !p.can.some(a => abilityCovers(a, ability))) {
      throw new MissingAbilityError(`token grants ${p.can.join(', ')} on '${p.res}', not ${ability} on '${resource}'`)
    }
  }
  return {
    capability: leaf,
    issuer: root.payload.iss,
    audience: p.aud,
    resource: p.res,
    abilities: [...p.can],
    caveats: tightest(chain),
    notBefore: Math.max(...chain.map(t => t.payload.nbf)),
    expiresAt: Math.min(...chain.map(t => t.payload.exp)),
    chain: chain.map(t => t.id)
  }
}

/** The token's proof chain, root first, leaf (`c`) last; shape-checked, signatures not checked. */
export async function capabilityChain (c: Capability): Promise<Capability[]> {
  return [...await chainOf(c)]
}

// ---------------------------------------------------------------- revocation

function revocationBody (r: Revocation): Omit<Revocation, 'sig'> {
  return { v: r.v, iss: r.iss, tok: r.tok, at: r.at }
}

function validateRevocation (x: unknown): Revocation {
  if (!isPlainObject(x)) throw bad('revocation', 'must be a map')
  exactKeys(x, ['v', 'iss', 'tok', 'at', 'sig'], '')
  if (x.v !== 1) throw bad('v', 'unsupported revocation version (expected 1)')
  if (!isEd25519Did(x.iss)) throw bad('iss', 'must be an Ed25519 did:key')
  if (typeof x.tok !== 'string' || x.tok.length > 128) throw bad('tok', 'must be a token id (CID string)')
  try {
    CID.parse(x.tok)
  } catch (err) {
    throw new MalformedError('tok: must be a token id (CID string)', { field: 'tok', cause: err })
  }
  checkTime(x.at, 'at')
  checkSig(x.sig, 'sig')
  return x as unknown as Revocation
}

/** Signs the revocation of `capability`; `issuer` must be an issuer somewhere in its chain (UnauthorizedRevocationError). */
export async function revoke (issuer: Identity, capability: Capability, now: number): Promise<Revocation> {
  const chain = await capabilityChain(capability)
  if (!chain.some(t => t.payload.iss === issuer.did)) {
    throw new UnauthorizedRevocationError(`${issuer.did} issued no token in the chain of ${capability.id}, so it cannot revoke it`)
  }
  const body = { v: 1 as const, iss: issuer.did, tok: capability.id, at: checkTime(now, 'at') }
  const sig = await issuer.sign(signingInput(REVOCATION_DOMAIN, body))
  return { ...body, sig }
}

/**
 * Checks that `rev` is a well-formed (MalformedError), authorized (UnauthorizedRevocationError) and
 * correctly signed (InvalidSignatureError) revocation of exactly `capability`; resolves when it is.
 */
export async function verifyRevocation (rev: Revocation, capability: Capability): Promise<void> {
  const r = validateRevocation(rev)
  const chain = await capabilityChain(capability)
  if (r.tok !== capability.id) throw bad('tok', `revocation names token ${r.tok}, not ${capability.id}`)
  if (!chain.some(t => t.payload.iss === r.iss)) {
    throw new UnauthorizedRevocationError(`revocation of ${r.tok} is signed by ${r.iss}, which issued no token of its chain: ignore it`)
  }
  const ok = await verifySignature(publicKeyFromDid(r.iss), signingInput(REVOCATION_DOMAIN, revocationBody(r)), r.sig)
  if (!ok) throw new InvalidSignatureError(`revocation of ${r.tok} does not carry a valid signature of ${r.iss}: discard it`)
}

/**
 * True when `rev` is well-formed and signed by its `iss`; false otherwise, never a throw. It does not
 * check that `iss` may revoke the token (that needs the token: see verifyRevocation and RevocationSet).
 */
export async function verifyRevocationSignature (rev: Revocation): Promise<boolean> {
  try {
    const r = validateRevocation(rev)
    return await verifySignature(publicKeyFromDid(r.iss), signingInput(REVOCATION_DOMAIN, revocationBody(r)), r.sig)
  } catch {
    return false
  }
}

/** The wire bytes of a revocation. */
export function encodeRevocation (rev: Revocation): Uint8Array {
  return encode({ ...revocationBody(rev), sig: rev.sig })
}

/** Decodes and shape-checks a revocation (MalformedError only); it checks no signature. */
export function decodeRevocation (bytes: Uint8Array, opts: { maxBytes?: number } = {}): Revocation {
  return validateRevocation(decode(bytes, { maxBytes: opts.maxBytes ?? MAX_REVOCATION_BYTES }))
}

/** Who revoked a token: the signers of the signature-checked revocations held for it. */
export interface RevocationLookup {
  revokers (tokenId: string): Iterable<string>
}

/** Default bound of a RevocationSet. */
export const MAX_REVOCATIONS = 100_000

/**
 * The revocations a node holds, by token id and signer. Add revocations whose signature verified
 * (verifyRevocationSignature): the set cannot know a token's chain, so it keeps every signer, and
 * verifyCapability({ revocations }) honours only those that issued in the verified chain.
 */
export class RevocationSet implements RevocationLookup {
  readonly maxSize: number
  readonly #byToken = new Map<string, Map<string, Revocation>>()
  #size = 0
  #version = 0

  constructor (init: { maxSize?: number } = {}) {
    this.maxSize = init.maxSize ?? MAX_REVOCATIONS
  }

  /** Records a revocation; false when this signer already revoked that token or the set is full. */
  add (rev: Revocation): boolean {
    let bySigner = this.#byToken.get(rev.tok)
    if (bySigner?.has(rev.iss) === true || this.#size >= this.maxSize) return false
    if (bySigner === undefined) {
      bySigner = new Map()
      this.#byToken.set(rev.tok, bySigner)
    }
    bySigner.set(rev.iss, rev)
    this.#size++
    this.#version++
    return true
  }

  /**
   * Grows by one with every revocation added, never otherwise. A verdict reached while the set
   * was at one version still stands revocation-wise as long as the version has not moved.
   */
  get version (): number {
    return this.#version
  }

  /**
   * True when some signed revocation names `tokenId` — whether or not its signer had the authority.
   * Fine for invalidating caches; to refuse tokens, pass the set as verifyCapability's `revocations`.
   */
  has (tokenId: string): boolean {
    return this.#byToken.has(tokenId)
  }

  /** The dids that signed a revocation of `tokenId`. */
  revokers (tokenId: string): string[] {
    return [...(this.#byToken.get(tokenId)?.keys() ?? [])]
  }

  /** Every held revocation, in the order added. */
  list (): Revocation[] {
    const out: Revocation[] = []
    for (const bySigner of this.#byToken.values()) out.push(...bySigner.values())
    return out
  }

  /** Number of revocations held. */
  get size (): number {
    return this.#size
  }
}
