// Receipts: every execution yields a receipt signed by the worker that ran it
// (what ran, for whom, under which lease, with what result and cost); the
// coordinator countersigns the receipts whose results it accepted. Receipts
// are what a participant reads to see everything its device ran, and what
// an origin keeps as proof of the work it was given. A countersignature
// covers a batch of receipts. Pure and browser-safe.
import {
  type Identity,
  MalformedError,
  InvalidSignatureError,
  decode,
  encode,
  cidString,
  isEd25519Did,
  publicKeyFromDid,
  signingInput,
  verifySignature
} from '@webfabric/protocol'

/** Signature domain of worker receipts. */
export const RECEIPT_DOMAIN = 'webfabric/receipt/v1'
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

/** A receipt: the body and the worker's Ed25519 signature over it. */
export interface Receipt { body: ReceiptBody, sig: Uint8Array }

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
  return { body: checked, sig: await identity.sign(signingInput(RECEIPT_DOMAIN, checked)) }
}

/** Verify a receipt's shape and its worker's signature; throws InvalidSignatureError or MalformedError. */
export async function verifyReceipt (r: Receipt): Promise<ReceiptBody> {
  const body = validateReceiptBody(r?.body)
  if (!(r.sig instanceof Uint8Array)) throw new MalformedError('a receipt signature is bytes', { field: 'sig' })
  const ok = await verifySignature(publicKeyFromDid(body.worker), signingInput(RECEIPT_DOMAIN, body), r.sig)
  if (!ok) throw new InvalidSignatureError('receipt signature does not verify under its worker\'s key: it was altered or forged')
  return body
}

/** Canonical bytes of a receipt. */
export function encodeReceipt (r: Receipt): Uint8Array {
  return encode({ body: r.body, sig: r.sig })
}

/** Decode (shape only; call verifyReceipt to check the signature). */
export function decodeReceipt (bytes: Uint8Array): Receipt {
  const x = decode(bytes, { maxBytes: MAX_RECEIPT_BYTES }) as { body?: unknown, sig?: unknown }
  if (x == null || typeof x !== 'object' || !(x.sig instanceof Uint8Array)) throw new MalformedError('a receipt is { body, sig }', { field: 'receipt' })
  return { body: validateReceiptBody(x.body), sig: x.sig }
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
