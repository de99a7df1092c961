// Receipts: every execution yields a receipt signed by the worker that ran it
// (what ran, for whom, under which lease, with what result and cost); the
// coordinator countersigns the receipts whose results it accepted. Receipts
// are what a participant reads to see everything its device ran, and what
// an origin keeps as proof of the work it was given. A worker may sign a
// batch of receipts with one signature over the Merkle root of their hashes;
// each receipt then carries its path to that root, so it stays verifiable on
// its own. A countersignature covers a batch of receipts. Pure and browser-safe.
import { sha256 } from 'multiformats/hashes/sha2'
import { type LaidReceipt, encodeReceiptBodyBytes, encodeReceiptBytes, readReceiptBytes } from './receipt-codec.ts'
import {
  type Identity,
  MalformedError,
  InvalidSignatureError,
  decode,
  encode,
  bytesEqual,
  cidString,
  concatBytes,
  isEd25519Did,
  publicKeyFromDid,
  signingInput,
  utf8Bytes,
  verifySignature
} from '@webfabric/protocol'

/** Signature domain of worker receipts. */
export const RECEIPT_DOMAIN = 'webfabric/receipt/v1'
/** Signature domain of a worker's batch of receipts: { n, root } of their Merkle tree. */
export const RECEIPT_BATCH_DOMAIN = 'webfabric/receipt-batch/v1'
/** Most receipts one batch signature covers (a path then has at most 8 hashes). */
export const MAX_RECEIPT_BATCH = 256
/** Signature domain of a coordinator's acceptance of a receipt. */
export const ACCEPTANCE_DOMAIN = 'webfabric/acceptance/v1'
/** Largest encoded receipt or acceptance accepted. */
export const MAX_RECEIPT_BYTES = 4096
/** Most receipts one acceptance may answer. */
export const MAX_ACCEPTANCE_RECEIPTS = 512
/** Largest encoded acceptance accepted. */
export const MAX_ACCEPTANCE_BYTES = 64 * 1024

/** What a worker signs about one execution. Times in ms since the epoch; CIDs as strings. */
export interface ReceiptBody {
  v: 1
  /** the origin the work was done for */
  origin: string
  job: string
  task: string
  assignment: string
  module: string
  input: string
  output: string
  /** the VM's outcome: ok, trap, abort, out-of-fuel, output-limit */
  status: string
  fuel: number
  /** the trace commitment anyone can check by replaying */
  commitment: string
  /** wall-clock time the execution took on the worker */
  wallMs: number
  /** id of the compute lease the work ran under */
  lease: string
  /** the worker's did (the signer) */
  worker: string
  /** the coordinator that assigned the work */
  coordinator: string
  at: number
}

/**
 * Where a receipt sits in the batch its worker signed: the batch's size `n`, the receipt's index
 * `i`, and the sibling hashes from its leaf up to the root (RFC 9162 Merkle tree, audit path).
 */
export interface ReceiptProof { n: number, i: number, path: Uint8Array[] }

/**
 * A receipt: the body and the worker's Ed25519 signature — over the body itself when `proof` is
 * absent, over the root of its batch ({ n, root }, domain RECEIPT_BATCH_DOMAIN) when present.
 */
export interface Receipt { body: ReceiptBody, sig: Uint8Array, proof?: ReceiptProof }

/**
 * The coordinator's countersignature over a batch of receipts (by CID): the
 * results it accepted and those it rejected. One signature covers many
 * receipts, so countersigning costs a worker one verification per batch.
 */
export interface AcceptanceBody {
  v: 1
  coordinator: string
  at: number
  accepted: string[]
  rejected: string[]
}

/** An acceptance and the coordinator's signature. */
export interface Acceptance { body: AcceptanceBody, sig: Uint8Array }

const STRING_FIELDS = ['origin', 'job', 'task', 'assignment', 'module', 'input', 'output', 'status', 'commitment', 'lease', 'worker', 'coordinator'] as const
const NUMBER_FIELDS = ['fuel', 'wallMs', 'at'] as const
const MAX_FIELD_CHARS = 256

/** Check a receipt body's shape; throws MalformedError naming the field. */
export function validateReceiptBody (x: unknown): ReceiptBody {
  if (x == null || typeof x !== 'object' || Array.isArray(x)) throw new MalformedError('a receipt body is a map', { field: 'body' })
  const b = x as Record<string, unknown>
  const keys = Object.keys(b)
  if (keys.length !== STRING_FIELDS.length + NUMBER_FIELDS.length + 1) throw new MalformedError('a receipt body has exactly the v1 fields', { field: 'body' })
  if (b.v !== 1) throw new MalformedError('unknown receipt version', { field: 'v' })
  for (const f of STRING_FIELDS) {
    if (typeof b[f] !== 'string' || (b[f] as string).length > MAX_FIELD_CHARS) throw new MalformedError(`receipt field ${f} must be a string of at most ${MAX_FIELD_CHARS} characters`, { field: f })
  }
  for (const f of NUMBER_FIELDS) {
    if (typeof b[f] !== 'number' || !Number.isSafeInteger(b[f]) || (b[f] as number) < 0) throw new MalformedError(`receipt field ${f} must be a non-negative integer`, { field: f })
  }
  if (!isEd25519Did(b.worker)) throw new MalformedError('the worker is named by its did:key', { field: 'worker' })
  if (!isEd25519Did(b.coordinator)) throw new MalformedError('the coordinator is named by its did:key', { field: 'coordinator' })
  return b as unknown as ReceiptBody
}

/** Sign a receipt as its worker; `identity.did` must be `body.worker`. */
export async function signReceipt (identity: Identity, body: ReceiptBody): Promise<Receipt> {
  const checked = validateReceiptBody(body)
  if (checked.worker !== identity.did) throw new MalformedError('a receipt is signed by the worker it names', { field: 'worker' })
  return { body: checked, sig: await identity.sign(receiptSigningInput(checked)) }
}

/**
 * Sign several receipts with one signature, as their worker: the signature covers the Merkle root
 * of the bodies' hashes, and each receipt carries its path to the root. One body is signed as it is
 * (no proof). Every body must name `identity.did` as its worker; at most MAX_RECEIPT_BATCH.
 */
export async function signReceipts (identity: Identity, bodies: ReceiptBody[]): Promise<Receipt[]> {
  if (bodies.length === 1) return [await signReceipt(identity, bodies[0])]
  if (bodies.length === 0 || bodies.length > MAX_RECEIPT_BATCH) throw new MalformedError(`a batch signs 1..${MAX_RECEIPT_BATCH} receipts`, { field: 'receipts' })
  const checked = bodies.map(b => validateReceiptBody(b))
  for (const b of checked) if (b.worker !== identity.did) throw new MalformedError('a receipt is signed by the worker it names', { field: 'worker' })
  const leaves = await Promise.all(checked.map(leafHash))
  const levels = await merkleLevels(leaves)
  const root = levels[levels.length - 1][0]
  const sig = await identity.sign(signingInput(RECEIPT_BATCH_DOMAIN, { n: leaves.length, root }))
  return checked.map((body, i) => ({ body, sig, proof: { n: leaves.length, i, path: auditPath(levels, i) } }))
}

/**
 * Remembers batch roots already verified, so the receipts of one batch cost one signature
 * check between them. Holds only successes; at most `max` of them, the oldest forgotten first.
 */
export class VerifiedRoots {
  private readonly max: number
  private readonly roots = new Map<string, Promise<boolean>>()
  constructor (max = 1024) { this.max = max }

  /** Whether `sig` is `worker`'s signature of the batch { n, root }: checked once, then remembered. */
  async check (worker: string, n: number, root: Uint8Array, sig: Uint8Array): Promise<boolean> {
    const key = `${worker} ${n} ${hex(root)} ${hex(sig)}`
    let ok = this.roots.get(key)
    if (ok == null) {
      ok = verifySignature(publicKeyFromDid(worker), signingInput(RECEIPT_BATCH_DOMAIN, { n, root }), sig)
      this.roots.set(key, ok)
      if (this.roots.size > this.max) this.roots.delete(this.roots.keys().next().value as string)
      // a failure is not remembered: the next receipt claiming this root is checked again
      void ok.then(good => { if (!good) this.roots.delete(key) })
    }
    return await ok
  }
}

/**
 * Verify a receipt's shape and its worker's signature (over its batch's root, through its path, when it
 * carries a proof); throws InvalidSignatureError or MalformedError. `roots` saves re-checking a batch's signature.
 */
export async function verifyReceipt (r: Receipt, roots?: VerifiedRoots): Promise<ReceiptBody> {
  const body = validateReceiptBody(r?.body)
  if (!(r.sig instanceof Uint8Array)) throw new MalformedError('a receipt signature is bytes', { field: 'sig' })
  return await verifyParts(body, encodeReceiptBodyBytes(body), r.sig, r.proof == null ? undefined : validateProof(r.proof), roots)
}

/**
 * decodeReceipt and verifyReceipt in one, from a receipt's encoded bytes: the same checks, the same
 * errors, but the body is hashed as it lies in the (canonical) bytes instead of encoded again.
 */
export async function verifyReceiptBytes (bytes: Uint8Array, roots?: VerifiedRoots): Promise<{ receipt: Receipt, body: ReceiptBody }> {
  const laid = readLaid(bytes)
  if (laid == null) {
    const receipt = decodeReceipt(bytes)
    return { receipt, body: await verifyReceipt(receipt, roots) }
  }
  const { receipt } = laid
  return { receipt, body: await verifyParts(receipt.body, bytes.subarray(laid.bodyStart, laid.bodyEnd), receipt.sig, receipt.proof, roots) }
}

/** The signature check of a validated receipt whose body encodes to `bodyBytes`. */
async function verifyParts (body: ReceiptBody, bodyBytes: Uint8Array, sig: Uint8Array, proof: ReceiptProof | undefined, roots?: VerifiedRoots): Promise<ReceiptBody> {
  let ok: boolean
  if (proof == null) {
    ok = await verifySignature(publicKeyFromDid(body.worker), concatBytes(RECEIPT_PREFIX, bodyBytes), sig)
  } else {
    const { n, i, path } = proof
    const root = await rootFromPath(await hash(0, RECEIPT_PREFIX, bodyBytes), i, n, path)
    if (root == null) throw new InvalidSignatureError('receipt path does not lead to a root of its batch: it was altered or forged')
    ok = roots != null ? await roots.check(body.worker, n, root, sig) : await verifySignature(publicKeyFromDid(body.worker), signingInput(RECEIPT_BATCH_DOMAIN, { n, root }), sig)
  }
  if (!ok) throw new InvalidSignatureError('receipt signature does not verify under its worker\'s key: it was altered or forged')
  return body
}

/** Canonical bytes of a receipt (its shape is checked first). */
export function encodeReceipt (r: Receipt): Uint8Array {
  const body = validateReceiptBody(r?.body)
  if (!(r.sig instanceof Uint8Array)) throw new MalformedError('a receipt signature is bytes', { field: 'sig' })
  return encodeReceiptBytes(r.proof == null ? { body, sig: r.sig } : { body, sig: r.sig, proof: validateProof(r.proof) })
}

/** Decode (shape only; call verifyReceipt to check the signature). Refuses bytes that are not the receipt's canonical encoding. */
export function decodeReceipt (bytes: Uint8Array): Receipt {
  const laid = readLaid(bytes)
  if (laid != null) return laid.receipt
  const x = decode(bytes, { maxBytes: MAX_RECEIPT_BYTES, canonical: false }) as { body?: unknown, sig?: unknown, proof?: unknown }
  if (x == null || typeof x !== 'object' || !(x.sig instanceof Uint8Array) || Object.keys(x).length !== (x.proof === undefined ? 2 : 3)) {
    throw new MalformedError('a receipt is { body, sig } or { body, sig, proof }', { field: 'receipt' })
  }
  const r: Receipt = { body: validateReceiptBody(x.body), sig: x.sig }
  if (x.proof !== undefined) r.proof = validateProof(x.proof)
  // canonical form, checked on the receipt's own encoder (the same bytes as the general one, a tenth of its cost)
  if (!bytesEqual(encodeReceiptBytes(r), bytes)) {
    throw new MalformedError('DAG-CBOR is not in canonical form (key order, integer width or float width): re-encode it canonically', { field: 'bytes' })
  }
  return r
}

/**
 * The common case of decodeReceipt: a valid receipt in its canonical layout, read without the general
 * decoder or a re-encoding (readReceiptBytes accepts canonical bytes only). Undefined for anything
 * else — too long, another layout, an invalid value — which the general path then decides, with its errors.
 */
function readLaid (bytes: Uint8Array): LaidReceipt | undefined {
  if (bytes.byteLength > MAX_RECEIPT_BYTES) return undefined
  const laid = readReceiptBytes(bytes)
  if (laid == null) return undefined
  try {
    validateReceiptBody(laid.receipt.body)
    if (laid.receipt.proof !== undefined) validateProof(laid.receipt.proof)
  } catch {
    return undefined
  }
  return laid
}

function validateProof (x: unknown): ReceiptProof {
  const p = x as Record<string, unknown>
  const int = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)
  if (p == null || typeof p !== 'object' || Array.isArray(p) || Object.keys(p).length !== 3 || !int(p.n) || !int(p.i) || !Array.isArray(p.path) ||
    p.n < 2 || p.n > MAX_RECEIPT_BATCH || p.i < 0 || p.i >= p.n || p.path.length > 8 || !p.path.every(h => h instanceof Uint8Array && h.byteLength === 32)) {
    throw new MalformedError(`a receipt proof is { n: 2..${MAX_RECEIPT_BATCH}, i: 0..n-1, path: up to 8 hashes of 32 bytes }`, { field: 'proof' })
  }
  return p as unknown as ReceiptProof
}

// -- the batch's Merkle tree (RFC 9162 §2.1: leaves 0x00 || data, nodes 0x01 || left || right) --

async function hash (prefix: number, ...parts: Uint8Array[]): Promise<Uint8Array> {
  let n = 1
  for (const p of parts) n += p.byteLength
  const buf = new Uint8Array(n)
  buf[0] = prefix
  let at = 1
  for (const p of parts) { buf.set(p, at); at += p.byteLength }
  return (await sha256.digest(buf)).digest
}

async function leafHash (body: ReceiptBody): Promise<Uint8Array> {
  return await hash(0, RECEIPT_PREFIX, encodeReceiptBodyBytes(body))
}

/** signingInput(RECEIPT_DOMAIN, …)'s first bytes: the domain and its zero byte. */
const RECEIPT_PREFIX = concatBytes(utf8Bytes(RECEIPT_DOMAIN), new Uint8Array([0]))

/** signingInput(RECEIPT_DOMAIN, body), the body encoded by the receipt's own encoder. */
function receiptSigningInput (body: ReceiptBody): Uint8Array {
  return concatBytes(RECEIPT_PREFIX, encodeReceiptBodyBytes(body))
}

/** The tree bottom-up: levels[0] the leaves, each next level the parents (an odd last node moves up as it is). */
async function merkleLevels (leaves: Uint8Array[]): Promise<Uint8Array[][]> {
  const levels = [leaves]
  while (levels[levels.length - 1].length > 1) {
    const below = levels[levels.length - 1]
    const up: Uint8Array[] = []
    for (let j = 0; j + 1 < below.length; j += 2) up.push(await hash(1, below[j], below[j + 1]))
    if (below.length % 2 === 1) up.push(below[below.length - 1])
    levels.push(up)
  }
  return levels
}

/** Sibling hashes from leaf i to the root (a node promoted without a sibling adds none). */
function auditPath (levels: Uint8Array[][], i: number): Uint8Array[] {
  const path: Uint8Array[] = []
  for (let l = 0; l < levels.length - 1; l++) {
    const sibling = i ^ 1
    if (sibling < levels[l].length) path.push(levels[l][sibling])
    i >>= 1
  }
  return path
}

/** The root that leaf i of n leads to through `path` (RFC 9162 §2.1.3.2), or undefined when the path does not fit the tree. */
async function rootFromPath (leaf: Uint8Array, i: number, n: number, path: Uint8Array[]): Promise<Uint8Array | undefined> {
  let fn = i
  let sn = n - 1
  let r = leaf
  for (const p of path) {
    if (sn === 0) return undefined
    if ((fn & 1) === 1 || fn === sn) {
      r = await hash(1, p, r)
      while ((fn & 1) === 0 && fn !== 0) { fn >>= 1; sn >>= 1 }
    } else {
      r = await hash(1, r, p)
    }
    fn >>= 1
    sn >>= 1
  }
  return sn === 0 ? r : undefined
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

function hex (b: Uint8Array): string {
  let s = ''
  for (let i = 0; i < b.length; i++) s += HEX[b[i]]
  return s
}

/** The receipt's content id (what an acceptance names). */
export async function receiptCid (r: Receipt): Promise<string> {
  return await cidString(encodeReceipt(r))
}

/**
 * receiptCid from a receipt's encoded bytes, without encoding it again: `encoded` must be
 * encodeReceipt's output, or bytes decodeReceipt accepted (it refuses non-canonical ones).
 */
export async function receiptCidOfBytes (encoded: Uint8Array): Promise<string> {
  return await cidString(encoded)
}

/**
 * Countersign receipts (by CID) as their coordinator: the results it accepted
 * and those it rejected. The caller has verified each receipt (and that it
 * names this coordinator) when its result arrived.
 */
export async function acceptReceipts (coordinator: Identity, verdicts: { accepted: string[], rejected: string[] }, now: number): Promise<Acceptance> {
  const body: AcceptanceBody = { v: 1, coordinator: coordinator.did, at: Math.floor(now), accepted: [...verdicts.accepted], rejected: [...verdicts.rejected] }
  validateAcceptanceBody(body)
  return { body, sig: await coordinator.sign(signingInput(ACCEPTANCE_DOMAIN, body)) }
}

function validateAcceptanceBody (x: unknown): AcceptanceBody {
  const b = x as Record<string, unknown>
  const cids = (l: unknown): boolean => Array.isArray(l) && l.every(c => typeof c === 'string' && c.length > 0 && c.length <= MAX_FIELD_CHARS)
  if (b == null || typeof b !== 'object' || b.v !== 1 || !isEd25519Did(b.coordinator) || typeof b.at !== 'number' || !Number.isSafeInteger(b.at) ||
    !cids(b.accepted) || !cids(b.rejected) || Object.keys(b).length !== 5) {
    throw new MalformedError('an acceptance body is { v: 1, coordinator, at, accepted: [receipt CID], rejected: [receipt CID] }', { field: 'acceptance' })
  }
  if ((b.accepted as string[]).length + (b.rejected as string[]).length > MAX_ACCEPTANCE_RECEIPTS) {
    throw new MalformedError(`an acceptance answers at most ${MAX_ACCEPTANCE_RECEIPTS} receipts`, { field: 'acceptance' })
  }
  return b as unknown as AcceptanceBody
}

/** Verify an acceptance's shape and its coordinator's signature; throws MalformedError or InvalidSignatureError. */
export async function verifyAcceptance (a: Acceptance): Promise<AcceptanceBody> {
  const body = validateAcceptanceBody(a?.body)
  if (!(a.sig instanceof Uint8Array)) throw new MalformedError('an acceptance signature is bytes', { field: 'sig' })
  if (!await verifySignature(publicKeyFromDid(body.coordinator), signingInput(ACCEPTANCE_DOMAIN, body), a.sig)) {
    throw new InvalidSignatureError('acceptance signature does not verify under the coordinator\'s key')
  }
  return body
}

/** What an acceptance says of one receipt: true (accepted), false (rejected), undefined (not in it). */
export function verdictOf (a: AcceptanceBody, receiptCidString: string): boolean | undefined {
  if (a.accepted.includes(receiptCidString)) return true
  if (a.rejected.includes(receiptCidString)) return false
  return undefined
}

/** Canonical bytes of an acceptance. */
export function encodeAcceptance (a: Acceptance): Uint8Array {
  return encode({ body: a.body, sig: a.sig })
}

/** Decode an acceptance (shape only; verifyAcceptance checks it). */
export function decodeAcceptance (bytes: Uint8Array): Acceptance {
  const x = decode(bytes, { maxBytes: MAX_ACCEPTANCE_BYTES }) as { body?: AcceptanceBody, sig?: unknown }
  if (x == null || typeof x !== 'object' || x.body == null || !(x.sig instanceof Uint8Array)) throw new MalformedError('an acceptance is { body, sig }', { field: 'acceptance' })
  return { body: x.body, sig: x.sig }
}
