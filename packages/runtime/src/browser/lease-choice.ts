// The person's choice of lease on the participant page: bounds for each
// control, taken from the origin's manifest (the origin asks for at most its
// QoS defaults; the person may lend less), and the check that a choice lies
// within them. Browser-safe.
import type { PolicyManifest } from '@webfabric/protocol'
import type { TabLeaseChoice } from './types.ts'

/** Thrown when a lease choice lies outside the manifest's bounds; `field` names the control. */
export class LeaseChoiceError extends Error {
  static name = 'LeaseChoiceError'
  readonly field?: string
  constructor (message = 'the lease asked for lies outside what the origin allows', options?: ErrorOptions & { field?: string }) {
    super(message, options)
    this.name = 'LeaseChoiceError'
    this.field = options?.field
  }
}

/** Range of one control. */
export interface Bound { min: number, max: number, step: number, default: number }

/** Ranges of the consent form's controls. */
export interface LeaseBounds { cpuShare: Bound, memoryMiB: Bound, storageMiB: Bound, durationMs: Bound }

const MINUTE = 60_000
const HOUR = 60 * MINUTE

/** The bounds of a lease on this origin: from a little up to what the manifest asks for. */
export function leaseBounds (manifest: PolicyManifest): LeaseBounds {
  const q = manifest.qos
  const cpuMin = Math.min(0.05, q.cpuShare)
  const memMin = Math.min(16, q.memoryMiB)
  const durMin = Math.min(MINUTE, q.leaseMaxMs)
  return {
    cpuShare: { min: cpuMin, max: q.cpuShare, step: 0.05, default: q.cpuShare },
    memoryMiB: { min: memMin, max: q.memoryMiB, step: 16, default: q.memoryMiB },
    storageMiB: { min: 0, max: q.storageMiB, step: 64, default: 0 },
    durationMs: { min: durMin, max: q.leaseMaxMs, step: MINUTE, default: Math.min(HOUR, q.leaseMaxMs) }
  }
}

/** The defaults of every control. */
export function defaultLeaseChoice (manifest: PolicyManifest): TabLeaseChoice {
  const b = leaseBounds(manifest)
  return { cpuShare: b.cpuShare.default, memoryMiB: b.memoryMiB.default, storageMiB: b.storageMiB.default, durationMs: b.durationMs.default }
}

const LABELS: Record<keyof LeaseBounds, string> = {
  cpuShare: 'CPU share',
  memoryMiB: 'memory per task (MiB)',
  storageMiB: 'storage (MiB)',
  durationMs: 'duration (ms)'
}

/** Returns the choice when every field lies within the bounds; otherwise throws LeaseChoiceError naming the field. */
export function checkLeaseChoice (manifest: PolicyManifest, choice: TabLeaseChoice): TabLeaseChoice {
  if (choice == null || typeof choice !== 'object') throw new LeaseChoiceError('a lease choice is { cpuShare, memoryMiB, storageMiB, durationMs }')
  const b = leaseBounds(manifest)
  for (const key of Object.keys(b) as Array<keyof LeaseBounds>) {
    const v = choice[key]
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new LeaseChoiceError(`${LABELS[key]} must be a number`, { field: key })
    if (v < b[key].min || v > b[key].max) throw new LeaseChoiceError(`${LABELS[key]} must lie from ${b[key].min} to ${b[key].max} (the origin asks for at most ${b[key].max}); ${v} was asked`, { field: key })
  }
  if (choice.cpuShare <= 0) throw new LeaseChoiceError('CPU share must be above 0', { field: 'cpuShare' })
  return { cpuShare: choice.cpuShare, memoryMiB: choice.memoryMiB, storageMiB: choice.storageMiB, durationMs: choice.durationMs }
}
