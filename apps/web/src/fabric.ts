// The participant page's seam to @webfabric/runtime/browser: what the page
// needs of a tab node, named once. Until the runtime exports loadOrigin,
// leaseBounds, checkLeaseChoice and joinFabric, this file stands in for them
// (the same contract; joinFabric refuses with a clear message).
import {
  type PolicyManifest,
  type SignedManifest,
  signedManifestFromJSON,
  verifyManifest
} from '@webfabric/protocol'
import type { RevokeReport, TabLeaseChoice, TabLeaseView, TabMeters, TabReceipt } from '../../../packages/runtime/src/browser/types.ts'

export type { RevokeReport, TabLeaseChoice, TabLeaseView, TabMeters, TabReceipt }

/** One member of the fabric as a tab sees it. */
export interface MemberView {
  peerId: string
  roles: string[]
  capacity: Record<string, number>
  load: Record<string, number>
  addrs: string[]
  lastSeen: number
  self: boolean
}

/** What the page uses of a tab node (the runtime's TabNode has all of it). */
export interface ParticipantTab extends EventTarget {
  readonly peerId: string
  readonly did: string
  members (): MemberView[]
  lease (): TabLeaseView
  receipts (): TabReceipt[]
  meters (): TabMeters
  revoke (): Promise<RevokeReport>
  stop (): Promise<void> | void
}

/** Range of one consent control. */
export interface Bound { min: number, max: number, step: number, default: number }
/** Ranges of the consent form's controls. */
export interface LeaseBounds { cpuShare: Bound, memoryMiB: Bound, storageMiB: Bound, durationMs: Bound }

/** Options of joinFabric. */
export interface JoinFabricInit {
  signed: SignedManifest
  manifest: PolicyManifest
  choice: TabLeaseChoice
  keyringSecret?: Uint8Array
  workerUrl: string | URL
  base?: string | URL
  allowInsecureDials?: boolean
}

class JoinRefusedError extends Error {
  static name = 'JoinRefusedError'
  constructor (message: string, options?: ErrorOptions) { super(message, options); this.name = 'JoinRefusedError' }
}

class LeaseChoiceError extends Error {
  static name = 'LeaseChoiceError'
  readonly field?: string
  constructor (message: string, field?: string) { super(message); this.name = 'LeaseChoiceError'; this.field = field }
}

/** Fetches GET /fabric/manifest and verifies the origin's signature (InvalidSignatureError when it does not hold). */
export async function loadOrigin (base: string | URL = location.href): Promise<{ signed: SignedManifest, manifest: PolicyManifest }> {
  let res: Response
  try {
    res = await fetch(new URL('/fabric/manifest', base))
  } catch (err) {
    throw new JoinRefusedError('fetching the manifest: the node cannot be reached', { cause: err })
  }
  if (!res.ok) throw new JoinRefusedError(`fetching the manifest: HTTP ${res.status}`)
  const signed = signedManifestFromJSON(await res.json())
  return { signed, manifest: await verifyManifest(signed) }
}

const MINUTE = 60_000

/** The bounds of each consent control: from a little up to what the manifest asks for. */
export function leaseBounds (manifest: PolicyManifest): LeaseBounds {
  const q = manifest.qos
  return {
    cpuShare: { min: Math.min(0.05, q.cpuShare), max: q.cpuShare, step: 0.05, default: q.cpuShare },
    memoryMiB: { min: Math.min(16, q.memoryMiB), max: q.memoryMiB, step: 16, default: q.memoryMiB },
    storageMiB: { min: 0, max: q.storageMiB, step: 64, default: 0 },
    durationMs: { min: Math.min(MINUTE, q.leaseMaxMs), max: q.leaseMaxMs, step: MINUTE, default: Math.min(60 * MINUTE, q.leaseMaxMs) }
  }
}

/** Returns the choice when every field lies within the bounds; otherwise throws LeaseChoiceError naming the field. */
export function checkLeaseChoice (manifest: PolicyManifest, choice: TabLeaseChoice): TabLeaseChoice {
  const b = leaseBounds(manifest)
  for (const key of Object.keys(b) as Array<keyof LeaseBounds>) {
    const v = choice[key]
    if (typeof v !== 'number' || !Number.isFinite(v) || v < b[key].min || v > b[key].max) {
      throw new LeaseChoiceError(`${key} must lie from ${b[key].min} to ${b[key].max}`, key)
    }
  }
  return { ...choice }
}

/** Enrols the tab, grants the lease and joins (not yet available from the runtime). */
export async function joinFabric (_init: JoinFabricInit): Promise<ParticipantTab> {
  throw new JoinRefusedError('this build of the page cannot join yet: the runtime does not export joinFabric')
}
