// The person's choice of lease on the participant page: bounds for each
// control, taken from the origin's manifest (the origin asks for at most its
// QoS defaults; the person may lend less) and from the device (a lease never
// takes the core the page and the rest of the device need), and the check
// that a choice lies within them. Browser-safe.
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
const CPU_STEP = 0.05

/** This device's cores, as the browser reports them (1 when it does not say). */
function deviceCores (): number {
  return globalThis.navigator?.hardwareConcurrency ?? 1
}

/**
 * The largest CPU share a tab may lend on a device with `cores` cores: all but one core's worth,
 * so the page and the rest of the device always keep a core (half of a lone core). Measured on 2
 * cores: lending both let a keypress wait 23 ms at p99, lending one 7 ms (bench/RESULTS.md).
 */
export function deviceShareLimit (cores: number = deviceCores()): number {
  const n = Number.isFinite(cores) && cores >= 1 ? Math.floor(cores) : 1
  const limit = n >= 2 ? (n - 1) / n : 0.5
  // whole steps, without the float noise of step arithmetic (13 × 0.05 = 0.6500000000000001)
  return Math.round(Math.floor(limit / CPU_STEP + 1e-9) * CPU_STEP * 100) / 100
}

/** The bounds of a lease on this origin and device: from a little up to what the manifest asks for and the device can spare. */
export function leaseBounds (manifest: PolicyManifest, cores: number = deviceCores()): LeaseBounds {
  const q = manifest.qos
  const cpuMax = Math.min(q.cpuShare, deviceShareLimit(cores))
  const cpuMin = Math.min(CPU_STEP, cpuMax)
  const memMin = Math.min(16, q.memoryMiB)
  const durMin = Math.min(MINUTE, q.leaseMaxMs)
  return {
    cpuShare: { min: cpuMin, max: cpuMax, step: CPU_STEP, default: cpuMax },
    memoryMiB: { min: memMin, max: q.memoryMiB, step: 16, default: q.memoryMiB },
    storageMiB: { min: 0, max: q.storageMiB, step: 64, default: 0 },
    durationMs: { min: durMin, max: q.leaseMaxMs, step: MINUTE, default: Math.min(HOUR, q.leaseMaxMs) }
  }
}

/** The defaults of every control. */
export function defaultLeaseChoice (manifest: PolicyManifest, cores: number = deviceCores()): TabLeaseChoice {
  const b = leaseBounds(manifest, cores)
  return { cpuShare: b.cpuShare.default, memoryMiB: b.memoryMiB.default, storageMiB: b.storageMiB.default, durationMs: b.durationMs.default }
}

const LABELS: Record<keyof LeaseBounds, string> = {
  cpuShare: 'CPU share',
  memoryMiB: 'memory per task (MiB)',
  storageMiB: 'storage (MiB)',
  durationMs: 'duration (ms)'
}

/** Returns the choice when every field lies within the bounds; otherwise throws LeaseChoiceError naming the field. */
export function checkLeaseChoice (manifest: PolicyManifest, choice: TabLeaseChoice, cores: number = deviceCores()): TabLeaseChoice {
  if (choice == null || typeof choice !== 'object') throw new LeaseChoiceError('a lease choice is { cpuShare, memoryMiB, storageMiB, durationMs }')
  const b = leaseBounds(manifest, cores)
  for (const key of Object.keys(b) as Array<keyof LeaseBounds>) {
    const v = choice[key]
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new LeaseChoiceError(`${LABELS[key]} must be a number`, { field: key })
    if (v < b[key].min || v > b[key].max) {
      const why = key === 'cpuShare' && b.cpuShare.max < manifest.qos.cpuShare ? 'this device keeps one core for itself' : `the origin asks for at most ${b[key].max}`
      throw new LeaseChoiceError(`${LABELS[key]} must lie from ${b[key].min} to ${b[key].max} (${why}); ${v} was asked`, { field: key })
    }
  }
  if (choice.cpuShare <= 0) throw new LeaseChoiceError('CPU share must be above 0', { field: 'cpuShare' })
  return { cpuShare: choice.cpuShare, memoryMiB: choice.memoryMiB, storageMiB: choice.storageMiB, durationMs: choice.durationMs }
}
