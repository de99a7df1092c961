// A node's load in its heartbeats: the share of its sandbox domains busy or
// queued for, sampled every couple of seconds and announced when it moves by a
// tenth or more (a heartbeat is signed and gossiped each time, so not on every
// change). Coordinators weigh it when they assign; the dashboard shows it.
// Browser-safe: nodes and tabs both use it.
import type { SandboxPoolBase } from '@webfabric/compute'
import type { MembershipService } from './membership-service.ts'

/** How often the load is sampled, ms. */
export const LOAD_SAMPLE_MS = 2000

/** Starts reporting; returns the function that stops it. */
export function reportLoad (membership: MembershipService, pool: SandboxPoolBase, everyMs = LOAD_SAMPLE_MS): () => void {
  let last = 0
  const timer = setInterval(() => {
    const cpu = Math.round(Math.min(1, pool.load / pool.size) * 20) / 20
    if (Math.abs(cpu - last) < 0.1 && !(cpu === 0 && last !== 0)) return
    last = cpu
    membership.update({ load: { cpu } })
  }, everyMs)
  return () => clearInterval(timer)
}
