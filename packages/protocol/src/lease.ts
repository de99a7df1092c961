// Leases (the whitepaper's WebComputeLease and its storage / ingress kin):
// capability tokens a participant issues to an origin over its own device.
// The participant is the root authority of `device:<participant did>/<kind>`,
// so verifying a lease needs no other trust anchor than the resource name.
import type { Capability, Caveats, RevocationLookup, VerifiedCapability } from './capability.ts'
import { issue, validateCaveats, verifyCapability } from './capability.ts'
import { MalformedError } from './errors.ts'
import type { Identity } from './identity.ts'
import { isEd25519Did } from './identity.ts'

/** What a lease lends: CPU time, disk space, or inbound service traffic. */
export type LeaseKind = 'compute' | 'storage' | 'ingress'

/** Every lease kind. */
export const LEASE_KINDS: readonly LeaseKind[] = ['compute', 'storage', 'ingress']

/** The abilities a lease of each kind grants its origin. */
export const LEASE_ABILITIES: Readonly<Record<LeaseKind, readonly string[]>> = {
  compute: ['compute/run'],
  storage: ['storage/put', 'storage/get', 'storage/delete'],
  ingress: ['ingress/serve']
}

const DEVICE_PREFIX = 'device:'

/** Options of `grantLease`; times in integer ms. */
export interface GrantLeaseOptions {
  /** The origin's did: the lease's audience. */
  origin: string
  kind: LeaseKind
  /** QoS limits, carried as the token's caveats. */
  qos: Caveats
  durationMs: number
  now: number
  nonce?: string
}

/** Options of `verifyLease`. */
export interface VerifyLeaseOptions {
  now: number
  /** The origin the lease must be addressed to. */
  origin: string
  /** Held revocations (see VerifyOptions.revocations). */
  revocations?: RevocationLookup
  /** Trusted revocation check (see VerifyOptions.isRevoked). */
  isRevoked?: (id: string) => boolean
  skewMs?: number
  /** When given, the lease must grant this ability (e.g. 'storage/put'). */
  ability?: string
}

/** A verified lease: the capability verification plus who lends what to whom. */
export interface VerifiedLease extends VerifiedCapability {
  participant: string
  origin: string
  kind: LeaseKind
  qos: Caveats
}

/** A plain, JSON-able summary of a lease for CLI and dashboard output (not verified by itself). */
export interface LeaseSummary {
  id: string
  kind: LeaseKind
  participant: string
  origin: string
  issuer: string
  resource: string
  abilities: string[]
  qos: Caveats
  notBefore: number
  expiresAt: number
  notBeforeIso: string
  expiresAtIso: string
  durationMs: number
  delegated: boolean
}

/** The resource a lease of `kind` on `participant`'s device covers: `device:<did>/<kind>`. */
export function leaseResource (participant: string, kind: LeaseKind): string {
  if (!isEd25519Did(participant)) throw new MalformedError('a lease names its participant by Ed25519 did:key', { field: 'participant' })
  if (!LEASE_KINDS.includes(kind)) throw new MalformedError(`lease kind must be one of ${LEASE_KINDS.join(', ')}`, { field: 'kind' })
  return `${DEVICE_PREFIX}${participant}/${kind}`
}

/** The participant and kind of a lease resource; MalformedError (field 'res') for anything else. */
export function parseLeaseResource (res: string): { participant: string, kind: LeaseKind } {
  const slash = typeof res === 'string' ? res.lastIndexOf('/') : -1
  if (slash === -1 || !res.startsWith(DEVICE_PREFIX)) {
    throw new MalformedError('not a lease resource (device:<participant did>/<kind>)', { field: 'res' })
  }
  const participant = res.slice(DEVICE_PREFIX.length, slash)
  const kind = res.slice(slash + 1) as LeaseKind
  if (!isEd25519Did(participant) || !LEASE_KINDS.includes(kind)) {
    throw new MalformedError('not a lease resource (device:<participant did>/<kind>)', { field: 'res' })
  }
  return { participant, kind }
}

/** The participant grants `opts.origin` a lease of its device: kind, QoS limits, from now for durationMs. */
export async function grantLease (participant: Identity, opts: GrantLeaseOptions): Promise<Capability> {
  if (!Number.isSafeInteger(opts.durationMs) || opts.durationMs <= 0) {
    throw new MalformedError('lease duration must be a positive integer of ms', { field: 'durationMs' })
  }
  if (!Number.isSafeInteger(opts.now) || opts.now < 0) throw new MalformedError('now must be integer ms since the epoch', { field: 'now' })
  return issue(participant, {
    audience: opts.origin,
    resource: leaseResource(participant.did, opts.kind),
    abilities: [...LEASE_ABILITIES[opts.kind]],
    caveats: validateCaveats({ ...opts.qos }, 'qos'),
    notBefore: opts.now,
    expiresAt: opts.now + opts.durationMs,
    nonce: opts.nonce,
    now: opts.now
  })
}

/**
 * Verifies a lease presented by (and addressed to) `opts.origin`: the root issuer must be the
 * participant named in the resource. Throws what verifyCapability throws.
 */
export async function verifyLease (c: Capability, opts: VerifyLeaseOptions): Promise<VerifiedLease> {
  const { participant, kind } = parseLeaseResource(c?.payload?.res)
  const v = await verifyCapability(c, {
    now: opts.now,
    root: participant,
    audience: opts.origin,
    revocations: opts.revocations,
    isRevoked: opts.isRevoked,
    skewMs: opts.skewMs,
    need: opts.ability === undefined ? undefined : { resource: c.payload.res, ability: opts.ability }
  })
  return { ...v, participant, origin: v.audience, kind, qos: v.caveats }
}

/** A JSON-able summary of a lease token for display; MalformedError if it is not a lease. Verifies nothing. */
export function describeLease (c: Capability): LeaseSummary {
  const p = c.payload
  const { participant, kind } = parseLeaseResource(p?.res)
  return {
    id: c.id,
    kind,
    participant,
    origin: p.aud,
    issuer: p.iss,
    resource: p.res,
    abilities: [...p.can],
    qos: { ...p.cav },
    notBefore: p.nbf,
    expiresAt: p.exp,
    notBeforeIso: new Date(p.nbf).toISOString(),
    expiresAtIso: new Date(p.exp).toISOString(),
    durationMs: p.exp - p.nbf,
    delegated: p.prf.length > 0
  }
}
